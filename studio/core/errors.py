"""Error types that name the file and the item at fault."""

from __future__ import annotations

import errno
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


# ------------------------------------------------------------------------------------ OS failures
# errno -> (what happened, what to do); the message names the path first.
_OS_ERRORS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", "check its permissions, or choose a folder you can write to"),
    errno.EPERM: ("operation not permitted", "check its permissions, or choose a folder you can write to"),
    errno.EROFS: ("the file system is read-only", "choose a folder on a writable disk"),
    errno.ENOSPC: ("no space left on the disk", "free some space, or choose a folder on another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free some space, or choose a folder on another disk"),
    errno.EFBIG: ("file too large for this file system", "choose a folder on another disk"),
    errno.ENOTDIR: ("a file is in the way where a folder is expected", "name a folder, or move that file away"),
    errno.EISDIR: ("is a folder where a file is expected", "name a file, not a folder"),
    errno.EEXIST: ("already exists", "choose another name, or move the existing one away"),
    errno.ENOTEMPTY: ("the folder is not empty", "choose an empty or new folder"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENAMETOOLONG: ("the name is too long for this file system", "choose a shorter name"),
    errno.ELOOP: ("too many levels of symbolic links", "check the links in the path"),
    errno.EMFILE: ("too many open files", "close other programs, or raise the limit (ulimit -n)"),
    errno.EXDEV: ("cannot move across disks", "choose a folder on the same disk"),
    errno.EBUSY: ("the file or folder is busy", "close the program that uses it and try again"),
    errno.EIO: ("input/output error", "check the disk"),
}


def os_error_message(e: OSError) -> str:
    """One line for an ``OSError``: the path(s), what happened and what to do.

    ``[Errno 28] No space left on device: '/x/last.pt'`` becomes
    ``/x/last.pt: no space left on the disk; free some space, or choose a folder on another disk``.
    """
    paths = [str(p) for p in (e.filename, e.filename2) if p not in (None, "")]
    what, todo = _OS_ERRORS.get(e.errno or -1, (None, None))
    if what is None:
        what = (e.strerror or str(e) or type(e).__name__).rstrip(".")
        what = what[:1].lower() + what[1:]
    where = " -> ".join(paths)
    text = f"{where}: {what}" if where else what
    return f"{text}; {todo}" if todo else text


def error_message(e: BaseException) -> str:
    """The one-line text the CLI prints and the app shows for any failure of a job."""
    if isinstance(e, StudioError):
        return str(e)
    if isinstance(e, OSError):
        return os_error_message(e)
    if isinstance(e, MemoryError):
        return "out of memory; use smaller images, a smaller batch, or close other programs"
    return f"{type(e).__name__}: {e}"
