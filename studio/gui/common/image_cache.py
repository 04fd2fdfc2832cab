"""Decode images off the GUI thread and keep the last few decoded ones.

At most one decode runs at a time; while it runs only the newest request waits behind it, so scrolling
fast through the list never piles up threads.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from studio.core.errors import StudioError
from studio.core.imageio import imread_rgb
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.gui.common.workers import Jobs, Worker

log = logging.getLogger("studio.gui.images")


def decode_qimage(path: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None) -> QImage:
    """Decode a file into an RGB QImage that owns its pixels (QImage is safe off the GUI thread)."""
    arr = imread_rgb(path)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888).copy()


def error_text(worker: Worker, message: str) -> str:
    """ "image file not found: /path/x.jpg" rather than the exception's "file: message" order."""
    e = worker.error
    if isinstance(e, StudioError) and e.file:
        return f"{e.message}: {e.file}"
    return message


class ImageLoader(QObject):
    """``request(path)`` returns a cached QImage at once, or decodes in a worker and emits later."""

    loaded = Signal(str, QImage)  # path, image
    failed = Signal(str, str)  # path, message

    def __init__(self, jobs: Jobs, capacity: int = 20, max_bytes: int = 1 << 30, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.capacity, self.max_bytes = capacity, max_bytes
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._busy: str | None = None
        self._next: str | None = None

    def cached(self, path: str | Path) -> QImage | None:
        key = str(path)
        img = self._cache.get(key)
        if img is not None:
            self._cache.move_to_end(key)
        return img

    def request(self, path: str | Path) -> QImage | None:
        img = self.cached(path)
        if img is not None:
            return img
        key = str(path)
        if self._busy is None:
            self._start(key)
        elif self._busy != key:
            self._next = key  # replaces any older waiting request
        return None

    def pending(self) -> bool:
        return self._busy is not None

    def clear(self) -> None:
        self._cache.clear()

    def _start(self, key: str) -> None:
        self._busy = key
        w = Worker(decode_qimage, key, title=f"decode {Path(key).name}")
        w.finished.connect(lambda img, k=key: self._done(k, img))
        w.failed.connect(lambda msg, _tb, k=key, w=w: self._failed(k, error_text(w, msg)))
        w.ended.connect(self._next_request)
        self.jobs.start(w, show=False, log_failure=False)

    def _done(self, key: str, img: QImage) -> None:
        self._cache[key] = img
        self._cache.move_to_end(key)
        total = sum(i.sizeInBytes() for i in self._cache.values())
        while len(self._cache) > self.capacity or (total > self.max_bytes and len(self._cache) > 1):
            _, old = self._cache.popitem(last=False)
            total -= old.sizeInBytes()
        self.loaded.emit(key, img)

    def _failed(self, key: str, message: str) -> None:
        log.warning("%s", message)
        self.failed.emit(key, message)

    def _next_request(self) -> None:
        self._busy = None
        nxt, self._next = self._next, None
        if nxt is not None and nxt not in self._cache:
            self._start(nxt)
