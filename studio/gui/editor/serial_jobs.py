"""The smart tools' work off the GUI thread, one job at a time and in order.

GrabCut takes a few hundred milliseconds, and so does each anchor of the intelligent scissors (OpenCV builds
the map of cheapest paths from it): done on the GUI thread they would freeze the canvas. :class:`SerialJobs` runs
them in workers, one after another in the order they were asked for (the scissors' anchors must be added in
the order they were clicked, and the object is not thread-safe, so two jobs never touch it at once). ``drop()``
forgets the waiting jobs and the result of the running one (a new box, another image, Esc): what arrives late
is never shown. A job is a callable without arguments, evaluated in the worker when its turn comes, so it reads
what the jobs before it made (the scissors built for the image).

Callbacks rather than signals, as :class:`~studio.gui.common.job_slot.JobSlot` does, and only while the owner is
alive (the instance is a child of it).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.gui.common.workers import Jobs, Worker

log = logging.getLogger("studio.gui.editor")


def _call(job: Callable[[], Any], progress: Progress = no_progress, cancel: CancelToken | None = None) -> Any:
    return job()


@dataclass
class _Job:
    job: Callable[[], Any]
    done: Callable[[Any], None]
    failed: Callable[[str], None]
    title: str
    epoch: int


class SerialJobs(QObject):
    """Jobs run one at a time, in order; ``busy()`` while one runs or waits."""

    def __init__(self, jobs: Jobs, parent: QObject):
        super().__init__(parent)
        self.jobs = jobs
        self._waiting: deque[_Job] = deque()
        self._running: _Job | None = None
        self._worker: Worker | None = None
        self._epoch = 0

    def submit(
        self,
        job: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[str], None],
        title: str = "smart tool",
    ) -> None:
        self._waiting.append(_Job(job, done, failed, title, self._epoch))
        self._next()

    def busy(self) -> bool:
        return self._running is not None or bool(self._waiting)

    def running(self) -> bool:
        """A job runs now (a dropped one too: it still holds what it works on until it ends)."""
        return self._running is not None

    def drop(self) -> None:
        """Forget the waiting jobs and the result of the running one."""
        self._epoch += 1
        self._waiting.clear()

    def wait(self) -> None:
        """Block until every job has run and its result was handed over (tests; a tool that must finish now)."""
        while self._worker is not None:
            worker = self._worker
            worker.wait()
            QCoreApplication.sendPostedEvents()  # its result, queued for this thread
            if worker is self._worker:
                self._finish(worker, "ended", None)

    # ------------------------------------------------------------------ the worker
    def _next(self) -> None:
        if self._running is not None or not self._waiting:
            return
        item = self._waiting.popleft()
        self._running = item
        w = Worker(_call, item.job, title=item.title)
        self._worker = w
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.ended.connect(self._on_ended)
        self.jobs.start(w, show=False, log_failure=True)
        if self.jobs.closed:  # the window is closing: nothing runs, nothing is reported
            self._running = self._worker = None

    # slots (methods, not lambdas: a dead owner's connections go with it)
    def _on_finished(self, result: Any) -> None:
        self._finish(self.sender(), "done", result)

    def _on_failed(self, message: str, _tb: str) -> None:
        self._finish(self.sender(), "failed", message)

    def _on_ended(self) -> None:
        self._finish(self.sender(), "ended", None)

    def _finish(self, worker: QObject | None, outcome: str, value: Any) -> None:
        """``outcome``: "done" (``value`` the result), "failed" (``value`` the message) or "ended" (cancelled: the
        window is closing). The first of the worker's signals hands over; the next job starts."""
        if worker is not self._worker:
            return
        item = self._running
        self._running = self._worker = None
        try:
            if item is not None and item.epoch == self._epoch:
                if outcome == "done":
                    item.done(value)
                elif outcome == "failed":
                    item.failed(value)
        finally:
            self._next()
