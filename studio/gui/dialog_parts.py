"""Parts shared by the import wizard and the export and split dialogs: a path field with a Browse
button, a slot that runs one worker at a time, and the colours of messages."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QWidget

from studio.gui import palette
from studio.gui.workers import Jobs, Worker

log = logging.getLogger("studio.gui.dialogs")


def colored(text: str, color: QColor, bold: bool = False) -> str:
    """``text`` HTML-escaped in ``color`` (rich-text labels)."""
    weight = "; font-weight:600" if bold else ""
    return f'<span style="color:{color.name()}{weight}">{html.escape(text)}</span>'


def error_html(message: str) -> str:
    return colored(message, palette.ERROR, bold=True)


def warning_color() -> QColor:
    return palette.WARNING.darker(125)  # the palette's orange is for icons; text needs more contrast


class PathField(QWidget):
    """A path line edit with a browse button; ``mode`` is "open", "save" or "dir"."""

    changed = Signal(str)

    def __init__(
        self, mode: str, caption: str, file_filter: str = "", button: str = "Browse…", parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.mode, self.caption, self.file_filter = mode, caption, file_filter
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton(button)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)
        self.button.clicked.connect(self.browse)
        self.edit.textChanged.connect(self.changed)

    def text(self) -> str:
        return self.edit.text().strip()

    def path(self) -> Path | None:
        return Path(self.text()) if self.text() else None

    def set_path(self, path: str | Path | None) -> None:
        self.edit.setText("" if path is None else str(path))

    def browse(self) -> None:
        start = self.text() or ""
        if self.mode == "dir":
            chosen = QFileDialog.getExistingDirectory(self, self.caption, start)
        elif self.mode == "save":
            chosen, _ = QFileDialog.getSaveFileName(self, self.caption, start, self.file_filter)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter)
        if chosen:
            self.set_path(chosen)


class JobSlot(QObject):
    """At most one job per dialog part: starting one cancels the last and drops its late results.

    Results reach the callbacks only while the slot (a child of the dialog) is alive, so a job that
    ends after its dialog closed touches nothing. Callbacks rather than re-emitted signals: in the
    PySide6 build in use every ``Signal.emit()`` made from Python drops a reference to ``True``.
    """

    def __init__(self, jobs: Jobs, parent: QObject, progress: Callable[[int, int, str], None] | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.worker: Worker | None = None
        self._progress = progress or (lambda _d, _t, _m: None)
        self._done: Callable[[Any], None] = lambda _r: None
        self._failed: Callable[[str], None] = lambda _m: None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        title: str,
        done: Callable[[Any], None],
        failed: Callable[[str], None],
        **kwargs: Any,
    ) -> Worker:
        self.cancel()
        w = Worker(fn, *args, title=title, **kwargs)
        self.worker, self._done, self._failed = w, done, failed
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.ended.connect(self._on_ended)
        self.jobs.start(w, log_failure=False)
        return w

    def cancel(self) -> None:
        w, self.worker = self.worker, None
        if w is not None:
            w.cancel()

    def _current(self) -> bool:
        return self.sender() is not None and self.sender() is self.worker

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if self._current():
            self._progress(done, total, message)

    def _on_finished(self, result: Any) -> None:
        if self._current():
            self.worker = None
            self._done(result)

    def _on_failed(self, message: str, _tb: str) -> None:
        if self._current():
            log.warning("%s failed: %s", self.worker.title, message)
            self.worker = None
            self._failed(message)

    def _on_ended(self) -> None:
        if self._current():  # cancelled from elsewhere (the status bar): nothing to deliver
            self.worker = None
            self._failed("cancelled")


def show_progress(bar: QProgressBar, done: int, total: int) -> None:
    bar.setVisible(True)
    if total > 0:
        bar.setRange(0, total)
        bar.setValue(min(done, total))
    else:
        bar.setRange(0, 0)


def status_label() -> QLabel:
    """The line under a dialog where results and errors appear (rich text, selectable to copy)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def progress_bar() -> QProgressBar:
    """A thin progress bar, hidden until a job reports progress (see :func:`show_progress`)."""
    bar = QProgressBar()
    bar.setMaximumHeight(14)
    bar.setVisible(False)
    return bar
