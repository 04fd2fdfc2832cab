"""Pause, resume and stop a training run from another thread (the app's buttons).

:class:`RunControl` is a :class:`CancelToken` (stop = cancel: the trainer saves a partial ``last.pt``)
that can also be paused. The trainer calls :meth:`wait_while_paused` before each iteration, so a
pause takes effect within one batch and the paused time does not count towards the time limit.
"""

from __future__ import annotations

import threading
import time

from studio.core.jobs import CancelToken


class RunControl(CancelToken):
    def __init__(self) -> None:
        super().__init__()
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        super().cancel()
        self._running.set()  # a paused run wakes up to stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, on_pause=None, on_resume=None) -> float:
        """Block while paused (or until cancelled); returns the seconds spent paused.

        ``on_pause`` / ``on_resume`` are called once each around a real pause (the trainer emits messages).
        """
        if self._running.is_set():
            return 0.0
        t0 = time.monotonic()
        if on_pause is not None:
            on_pause()
        self._running.wait()
        waited = time.monotonic() - t0
        if on_resume is not None and not self.cancelled:
            on_resume()
        return waited
