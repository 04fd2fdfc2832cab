"""Untrusted names: a ``file_name`` from an annotation file, a split name, a labelme ``imagePath``.

Annotation files are data that people download and share, so the names in them are never joined to
a folder without a check. Two levels:

* :func:`name_problem` is lexical: a name is usable as a path *relative to a folder* when it is a
  non-empty string with no NUL, not absolute (``/x``, ``\\\\server\\x``, ``C:x``) and with no ``..``
  part (``\\`` counts as a separator too, as on Windows).
* :func:`safe_join` is for writing: on top of the lexical check it resolves the target (symbolic
  links included) and refuses anything that does not end up inside the folder.

Every writer of a folder (dataset exporters, plugins included, through
:class:`studio.core.output_folder.OutputFolder`) goes through :func:`safe_join`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any

from studio.core.errors import DatasetError

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeNameError(DatasetError):
    """A name that would lead out of its folder (absolute, ``..``, a link pointing outside)."""


def quoted(name: Any) -> str:
    """A name as a message shows it: in quotes as typed, or Python's escaped form when it holds control characters."""
    return f"'{name}'" if isinstance(name, str) and name.isprintable() else repr(name)


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be used as a path inside a folder, or None when it can."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a text"
    if not name.strip():
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    posix = name.replace("\\", "/")
    if posix.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(posix):
        return "starts with a drive letter (an absolute Windows path)"
    if ".." in posix.split("/"):
        return "contains '..' (leads out of its folder)"
    return None


def plain_name_problem(name: Any) -> str | None:
    """Like :func:`name_problem`, for a single file name with no folder (a split name, a stem)."""
    problem = name_problem(name)
    if problem is not None:
        return problem
    if "/" in name or "\\" in name:
        return "contains a folder separator"
    if name in (".", "..") or name.startswith("."):
        return "starts with '.' (a hidden or special name)"
    if name != name.strip():
        return "starts or ends with a space"
    return None


def safe_join(root: str | Path, rel: str | PurePath, *, what: str = "path") -> Path:
    """``root / rel`` for writing, refusing anything that is not inside ``root`` once resolved."""
    text = rel.as_posix() if isinstance(rel, PurePath) else rel
    problem = name_problem(text)
    if problem is not None:
        raise UnsafeNameError(f"{what} {quoted(text)} {problem}: refused, it would be written outside {root}")
    base = Path(root).resolve()
    target = base / text.replace("\\", "/")
    resolved = target.resolve()  # follows links that already exist on the way
    if resolved != base and not resolved.is_relative_to(base):
        raise UnsafeNameError(f"{what} {quoted(text)} resolves to {resolved}, outside {root}: refused")
    return target


def unsafe_images(images: Iterable[dict]) -> list[tuple[Any, Any, str]]:
    """``(image id, file_name, problem)`` for each image record whose ``file_name`` is not a safe relative name."""
    out = []
    for im in images:
        name = im.get("file_name")
        problem = name_problem(name)
        if problem is not None:
            out.append((im.get("id"), name, problem))
    return out


def refuse_unsafe_images(images: Iterable[dict], file: Any = None, action: str = "export") -> None:
    """Raise one error naming the first unsafe image (id and name) and how many there are."""
    bad = unsafe_images(images)
    if not bad:
        return
    iid, name, problem = bad[0]
    more = f" ({len(bad) - 1} more image(s) like it)" if len(bad) > 1 else ""
    raise UnsafeNameError(
        f"file name {quoted(name)} {problem}{more}; the {action} is refused so that nothing is read or written outside "
        "the chosen folders: fix the file_name (`studio dataset check` lists every such image)",
        file=file,
        item=f"image id {iid}",
    )
