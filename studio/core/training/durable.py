"""Durable writes of the run folder: fsync helpers, and OS errors that name the file the user knows.

A write to a temporary sibling that fails (a full disk) raises an ``OSError`` naming the temporary
file, or no file at all (a failed ``write`` or ``flush``); :func:`naming` re-raises it naming the
destination, so the one-line message (``studio.core.errors.os_error_message``) says which file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


def fsync_file(path: str | Path) -> None:
    """fsync a file already written and closed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def named(e: OSError, dest: str | Path, *temps: str | Path) -> OSError:
    """``e`` naming ``dest`` when it names no file or only one of ``temps``; else ``e`` itself."""
    hidden = {str(t) for t in temps}
    files = [str(f) for f in (e.filename, e.filename2) if f not in (None, "")]
    if files and not any(f in hidden for f in files):
        return e
    return OSError(e.errno, e.strerror or str(e), str(dest))


@contextlib.contextmanager
def naming(dest: str | Path, *temps: str | Path) -> Iterator[None]:
    """Re-raise an ``OSError`` of the block naming ``dest`` (see :func:`named`)."""
    try:
        yield
    except OSError as e:
        out = named(e, dest, *temps)
        if out is e:
            raise
        raise out from e
