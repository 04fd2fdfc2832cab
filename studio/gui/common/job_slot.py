"""One job at a time for a dialog or a panel: a slot that runs one worker and drops late results, and the
thin progress bar that follows it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QProgressBar

from studio.gui.common.workers import Jobs, Worker

log = logging.getLogger("studio.gui.dialogs")


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


def progress_bar() -> QProgressBar:
    """A thin progress bar, hidden until a job reports progress (see :func:`show_progress`)."""
    bar = QProgressBar()
    bar.setMaximumHeight(14)
    bar.setVisible(False)
    return bar
