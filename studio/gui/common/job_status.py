"""The status bar's job area: what runs now, its progress, and a Cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from studio.gui.common.workers import Jobs, Worker


class JobStatus(QWidget):
    """Follows the newest shown job of ``jobs``; "+N" counts the others still running."""

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.current: Worker | None = None
        self.label = QLabel("Ready")
        self.label.setMinimumWidth(260)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(180)
        self.bar.setMaximumHeight(16)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running job")
        for w in (self.bar, self.cancel_button):  # hidden when idle, but keeping their room: a status bar that
            sp = w.sizePolicy()  # grows when a job starts resizes the whole window's pages
            sp.setRetainSizeWhenHidden(True)  # (the Train page's charts: ~60 ms of axis layout at Start)
            w.setSizePolicy(sp)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel_current)
        jobs.added.connect(self._follow)
        self._refresh()

    def cancel_current(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self.label.setText(f"{self.current.title}: cancelling…")

    def _follow(self, worker: Worker) -> None:
        self.current = worker
        worker.progress.connect(lambda d, t, m, w=worker: self._progress(w, d, t, m))
        worker.ended.connect(self._on_ended)
        self.bar.setRange(0, 0)  # busy until the first progress report
        self._refresh()

    def _progress(self, worker: Worker, done: int, total: int, message: str) -> None:
        if worker is not self.current:
            return
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        self._refresh(message)

    def _on_ended(self) -> None:
        running = self.jobs.running(shown_only=True)
        self.current = running[-1] if running else None
        self._refresh()

    def _refresh(self, message: str = "") -> None:
        busy = self.current is not None and self.current.running
        if not busy:
            self.current = None
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.label.setText("Ready")
            return
        others = len(self.jobs.running(shown_only=True)) - 1
        text = self.current.title + (f": {message}" if message else "")
        self.label.setText(text + (f"  (+{others} more)" if others > 0 else ""))
