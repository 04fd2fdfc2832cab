"""Atomic file and folder writes: write to a temporary sibling, then ``os.replace``.

A failure at any point leaves the destination as it was: no half-written file, no partial folder.

Temporary siblings are named ``.<target name>.studio-<pid>-<random>.tmp``. A process killed mid-write
(kill -9, power cut) leaves one behind; the next write to the same target removes those whose process
is gone (:func:`clean_stale_temps`), so they do not pile up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

#: a temporary sibling without a pid (written before Studio named them) counts as stale after this long
LEGACY_STALE_S = 3600.0


def temp_prefix(path: Path) -> str:
    return f".{path.name}.studio-{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine (or when that cannot be told)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists, owned by someone else
    return True


def clean_stale_temps(path: str | Path) -> list[Path]:
    """Remove temporary siblings of ``path`` left by Studio processes that no longer run; returns them.

    Only names of Studio's own making are touched: ``.<name>.studio-<pid>-<random>.tmp`` and the
    checkpoint writer's ``.<name>.<pid>.tmp`` whose process is gone, and the older
    ``.<name>.<8 random characters>.tmp`` when untouched for an hour.
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        return []
    name = re.escape(path.name)
    with_pid = re.compile(rf"^\.{name}\.(?:studio-)?(\d+)(?:-[A-Za-z0-9_]+)?(?:\.old)?\.tmp$")
    legacy = re.compile(rf"^\.{name}\.[A-Za-z0-9_]{{8}}\.tmp$")
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    prefix = f".{path.name}."
    for e in entries:
        if not e.name.startswith(prefix) or not e.name.endswith(".tmp"):
            continue
        m = with_pid.match(e.name)
        if m is not None:
            stale = int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1)))
        elif legacy.match(e.name):
            try:
                stale = time.time() - e.stat(follow_symlinks=False).st_mtime > LEGACY_STALE_S
            except OSError:
                stale = False
        else:
            stale = False
        if not stale:
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            pass
    return removed


def ensure_dir(folder: str | Path) -> Path:
    """Create ``folder`` and its parents; a file in the way is an ENOTDIR naming that file."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocker)) from None
    return folder


def fsync_dir(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    An ``OSError`` about the temporary file (a full disk) is raised naming ``path``, the file the user knows.
    """
    path = Path(path)
    ensure_dir(path.parent)
    clean_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as e:  # a folder that cannot be written: name it, not the random temporary name
        raise OSError(e.errno, e.strerror, str(path.parent)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with naming(path, tmp_path):
            yield tmp_path
            os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: bool = True) -> None:
    opts = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    write_bytes(path, orjson.dumps(obj, option=opts))


def make_temp_dir(path: Path) -> Path:
    """A new temporary sibling folder of ``path`` (stale ones of dead processes removed first)."""
    ensure_dir(path.parent)
    clean_stale_temps(path)
    try:
        return Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path.parent)) from None


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success its content is moved into ``path`` (created if needed).

    Files already in ``path`` with other names are kept; files with the same names are replaced
    one by one with ``os.replace``. On error the temporary folder is removed and ``path`` is untouched.
    (A dataset export replaces its whole folder instead: :mod:`studio.core.output_folder`.)
    """
    path = Path(path)
    tmp = make_temp_dir(path)
    try:
        yield tmp
        if not path.exists():
            os.replace(tmp, path)
            return
        for src in sorted(tmp.rglob("*")):
            rel = src.relative_to(tmp)
            dst = path / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
