"""What every long operation takes: a progress callback and a cancel token."""

from __future__ import annotations

import threading
from typing import Protocol

from studio.core.errors import CancelledError


class Progress(Protocol):
    """``progress(done, total, message="")``: ``total`` 0 means unknown. Every job's ``progress`` parameter
    has this type; dataset importers and exporters call it with two arguments (``ImportOptions.progress``)."""

    def __call__(self, done: int, total: int, message: str = "") -> None: ...


def no_progress(done: int, total: int, message: str = "") -> None:
    """The default progress callback: does nothing."""


class CancelToken:
    """Set from any thread; a job checks it every item (or batch) and stops with CancelledError."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError()
