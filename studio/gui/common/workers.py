"""Run a core job in a thread and turn its progress / outcome into Qt signals.

A core job is any callable ``fn(*args, progress=..., cancel=..., **kwargs)``. :class:`Worker` runs it
in its own ``QThread``, owns its :class:`CancelToken`, and emits exactly one of ``finished(result)``,
``failed(message, traceback)`` or ``cancelled()``, then ``ended()``. :class:`Jobs` keeps running workers
alive, lets the status bar follow them, and cancels and joins them all when the window closes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from studio.core.errors import CancelledError, error_message
from studio.core.jobs import CancelToken

log = logging.getLogger("studio.gui.jobs")

PROGRESS_INTERVAL_S = 0.05  # at most 20 progress signals a second reach the GUI


def background_priority() -> None:
    """Lower the calling worker thread's CPU priority (Linux: nice is per thread) below the GUI thread's.

    On a 2-core machine a decoder, a dataset check and a trainer can keep both cores busy; the kernel
    then shares them with the GUI thread, and a repaint waits for a core. A higher nice makes the kernel
    run the GUI thread first. ``STUDIO_WORKER_NICE`` sets the step (default 5; 0 turns it off).
    Elsewhere, or without the right to change it, nothing happens.
    """
    step = int(os.environ.get("STUDIO_WORKER_NICE", "5") or 0)
    if step <= 0 or not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        base = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the process's (= GUI thread's) nice
        if current < base + step:
            os.setpriority(os.PRIO_PROCESS, tid, min(base + step, 19))
    except OSError:
        pass


class _Thread(QThread):
    def __init__(self, target: Callable[[], None]):
        super().__init__()
        self._target = target

    def run(self) -> None:
        background_priority()
        self._target()


class Worker(QObject):
    """One run of a core job in a thread. Signals are delivered in the GUI thread (queued)."""

    progress = Signal(int, int, str)  # done, total, message
    finished = Signal(object)  # the job's return value
    failed = Signal(str, str)  # one-line message, traceback
    cancelled = Signal()
    ended = Signal()  # after any of the three above

    def __init__(
        self, fn: Callable[..., Any], *args: Any, title: str = "", token: CancelToken | None = None, **kwargs: Any
    ):
        """``token``: the job's cancel token (a subclass such as the trainer's RunControl adds pause)."""
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.title = title or getattr(fn, "__name__", "job")
        self.token = token if token is not None else CancelToken()
        self.error: BaseException | None = None
        self.last_progress: tuple[int, int, str] = (0, 0, "")
        self._last_emit = 0.0
        self._thread = _Thread(self._run)
        self._thread.finished.connect(self._on_thread_finished)
        self._running = False

    # ------------------------------------------------------------------ control (GUI thread)
    def start(self) -> Worker:
        self._running = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self._running

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the thread has ended; True when it has."""
        if timeout_ms < 0:
            return self._thread.wait()
        return self._thread.wait(timeout_ms)

    # ------------------------------------------------------------------ the thread
    def _progress(self, done: int, total: int, message: str = "") -> None:
        self.last_progress = (int(done), int(total), str(message))
        now = time.monotonic()
        if now - self._last_emit >= PROGRESS_INTERVAL_S or (total and done >= total):
            self._last_emit = now
            self.progress.emit(int(done), int(total), str(message))

    def _run(self) -> None:
        try:
            result = self.fn(*self.args, progress=self._progress, cancel=self.token, **self.kwargs)
        except CancelledError:
            self.cancelled.emit()
        except Exception as e:  # reported through the failed signal, never swallowed
            self.error = e
            self.failed.emit(error_message(e), traceback.format_exc())
        else:
            if self.token.cancelled:
                self.cancelled.emit()
            else:
                self.finished.emit(result)

    def _on_thread_finished(self) -> None:
        self._thread.wait()  # finished is emitted just before the thread really exits
        self._running = False
        self.ended.emit()


class Jobs(QObject):
    """The running workers of one window."""

    added = Signal(object)  # Worker, for workers started with show=True
    idle = Signal()  # the last running worker ended

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: list[Worker] = []
        self._shown: set[int] = set()
        self.closed = False

    def start(self, worker: Worker, show: bool = True, log_failure: bool = True) -> Worker:
        """Start ``worker`` and keep it alive until it ends.

        ``show`` puts it in the status bar; ``log_failure`` logs a failure with its traceback (turn it off
        where the caller reports an expected failure itself, such as a missing image file).
        """
        if self.closed:  # the window is closing: no thread may start that nobody will join
            log.debug("not starting %s: shutting down", worker.title)
            return worker
        self._running.append(worker)
        if show:
            self._shown.add(id(worker))
        if log_failure:
            worker.failed.connect(lambda msg, tb, w=worker: log.error("%s failed: %s\n%s", w.title, msg, tb.rstrip()))
        worker.ended.connect(lambda w=worker: self._on_ended(w))
        worker.start()
        if show:
            self.added.emit(worker)
        return worker

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        title: str = "",
        show: bool = True,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[str, str], None] | None = None,
        **kwargs: Any,
    ) -> Worker:
        """Run ``fn`` in a new worker. Pass the result handlers here rather than connecting them to the
        returned worker: a fast job can emit before a connection made after start exists, and a
        cross-thread signal with no connection at emit time is lost."""
        w = Worker(fn, *args, title=title, **kwargs)
        if on_finished is not None:
            w.finished.connect(on_finished)
        if on_failed is not None:
            w.failed.connect(on_failed)
        return self.start(w, show=show)

    def running(self, shown_only: bool = False) -> list[Worker]:
        return [w for w in self._running if not shown_only or id(w) in self._shown]

    def is_idle(self) -> bool:
        return not self._running

    def cancel_all(self) -> None:
        for w in list(self._running):
            w.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel every job, join its thread and deliver its last signals (at window close).

        Delivering the queued signals now, while the receivers still exist, means none arrives later at a
        deleted widget; no job starts after this.
        """
        self.closed = True
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000
        for w in list(self._running):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not w.wait(left):
                log.warning("%s did not stop within %d ms", w.title, timeout_ms)
        QCoreApplication.sendPostedEvents()

    def _on_ended(self, worker: Worker) -> None:
        if worker in self._running:
            self._running.remove(worker)
        self._shown.discard(id(worker))
        if not self._running:
            self.idle.emit()
