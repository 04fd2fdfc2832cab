"""The latest frame from the model thread to the GUI, dropping the frames the GUI has no time to show.

The model thread ``put``s every result; the GUI ``take``s the newest when it gets to it. ``arrived`` is
emitted only when the box was empty, so a slow GUI gets one queued signal, not a growing backlog of frames
it would show late: a live preview shows now, not a second ago.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Signal


class LatestFrame(QObject):
    """A one-item box shared by a producer thread and the GUI thread (the object lives in the GUI thread, so
    ``arrived`` is delivered there, queued)."""

    arrived = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._item: Any = None
        self.received = 0  # items put since the last clear
        self.dropped = 0  # items replaced before the GUI took them

    def put(self, *item: Any) -> None:
        """Any thread: keep ``item`` (a tuple of the arguments) as the newest, replacing one not yet taken."""
        with self._lock:
            empty = self._item is None
            if not empty:
                self.dropped += 1
            self._item = item
            self.received += 1
        if empty:
            self.arrived.emit()

    def take(self) -> tuple | None:
        """GUI thread: the newest item, or None when there is none (already taken)."""
        with self._lock:
            item, self._item = self._item, None
        return item

    def clear(self) -> None:
        with self._lock:
            self._item = None
            self.received = self.dropped = 0
