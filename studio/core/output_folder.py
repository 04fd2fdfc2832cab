"""The folder a dataset export writes: assembled aside, every path checked, swapped in whole.

Every dataset exporter (the built-in formats and plugins) writes through :func:`output_folder`:

* the target must be a new or empty folder; a non-empty one is refused unless ``overwrite``, and even
  then only when it holds a previous Studio export (its ``.studio-export.json`` marker) and neither
  the source annotation file nor the images folder lies inside it;
* the export is assembled in a temporary sibling folder; each path inside it goes through
  :func:`studio.core.safe_names.safe_join`, so no name from an annotation file can place a file
  outside it;
* on success the temporary folder replaces the target in one step (an atomic exchange on Linux, two
  renames elsewhere); on failure it is removed and the target is as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

import orjson

from studio.core import atomic
from studio.core.errors import DatasetError
from studio.core.safe_names import safe_join

MARKER = ".studio-export"  # JSON inside; no .json suffix, so no importer takes it for an annotation file


class OutputFolder:
    """The temporary folder of one export. ``root`` is where it is assembled, ``final`` where it goes."""

    def __init__(self, root: Path, final: Path):
        self.root = root
        self.final = final

    def path(self, rel: str | PurePath) -> Path:
        """Where to write ``rel`` (checked to stay inside; parent folders created)."""
        p = safe_join(self.root, rel, what="output path")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def final_path(self, rel: str | PurePath) -> Path:
        """Where ``rel`` will be once the export is done."""
        return self.final / (rel.as_posix() if isinstance(rel, PurePath) else rel)

    def write_text(self, rel: str | PurePath, text: str) -> Path:
        self.path(rel).write_text(text, encoding="utf-8")  # the folder as a whole is atomic
        return self.final_path(rel)

    def write_bytes(self, rel: str | PurePath, data: bytes) -> Path:
        self.path(rel).write_bytes(data)
        return self.final_path(rel)

    def write_json(self, rel: str | PurePath, obj: Any, indent: bool = True) -> Path:
        opts = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
        return self.write_bytes(rel, orjson.dumps(obj, option=opts))

    def place_image(self, src: Path, rel: str | PurePath) -> Path:
        """Hard-link ``src`` at ``rel`` (same file system), else copy it."""
        dst = self.path(rel)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return self.final_path(rel)


def folder_state(path: str | Path) -> str:
    """``file``, ``new`` (missing or empty), ``previous_export`` (holds a Studio export) or ``not_empty``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return "file"
    if not path.is_dir() or not any(path.iterdir()):
        return "new"
    return "previous_export" if (path / MARKER).is_file() else "not_empty"


def check_target(path: str | Path, overwrite: bool = False, protect: tuple[Path | None, ...] = ()) -> None:
    """Refuse a target that is a file, a non-empty folder (without ``overwrite``), or, with it, a folder
    that is not a previous Studio export or that holds one of the ``protect`` paths (the sources)."""
    path = Path(path)
    state = folder_state(path)
    if state == "file":
        raise DatasetError("is a file, not a folder: choose a folder to export into", file=path)
    if state == "new":
        return
    if not overwrite:
        raise DatasetError(
            "the folder is not empty: choose a new or empty folder, or pass --overwrite to "
            "replace a previous export in it",
            file=path,
        )
    if state == "not_empty":
        raise DatasetError(
            f"the folder is not empty and holds no previous Studio export (no {MARKER}): it is not "
            "replaced; choose a new or empty folder",
            file=path,
        )
    here = path.resolve()
    for p in protect:
        if p is not None and (Path(p).resolve() == here or Path(p).resolve().is_relative_to(here)):
            raise DatasetError(
                f"the folder holds the export's own source ({p}): replacing it would delete the "
                "source; export into another folder",
                file=path,
            )


@contextlib.contextmanager
def output_folder(
    path: str | Path, *, overwrite: bool = False, fmt: str = "", protect: tuple[Path | None, ...] = ()
) -> Iterator[OutputFolder]:
    """Assemble an export for ``path``; see the module doc. ``fmt`` goes into the marker file."""
    path = Path(path)
    check_target(path, overwrite, protect)
    tmp = atomic.make_temp_dir(path)
    try:
        out = OutputFolder(tmp, path)
        yield out
        out.write_json(MARKER, {"written_by": "studio", "format": fmt, "time": time.time()})
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(new: Path, path: Path) -> None:
    """Put the folder ``new`` at ``path``, replacing what is there in one step where the system can."""
    if not path.exists():
        os.replace(new, path)
    elif not any(path.iterdir()):
        os.rmdir(path)
        os.replace(new, path)
    elif _exchange(new, path):  # new now holds the old content
        shutil.rmtree(new, ignore_errors=True)
    else:
        old = Path(tempfile.mkdtemp(prefix=atomic.temp_prefix(path) + "old", suffix=".tmp", dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
        try:
            os.replace(new, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    atomic.fsync_dir(path.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))
