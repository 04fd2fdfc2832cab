"""Error types that name the file and the item at fault."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """Base class for user-facing errors. ``str()`` gives a one-line message naming file and item."""

    def __init__(self, message: str, file: str | Path | None = None, item: str | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.item = item
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.item) if p]
        return ": ".join(parts + [self.message])


class DatasetError(StudioError):
    """A dataset file cannot be read or written: broken JSON, wrong schema, bad geometry..."""


class CancelledError(StudioError):
    """A job was cancelled through its cancel token."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)
