"""A new dataset from a folder of unlabelled images (``studio dataset new``), and images added to an open one.

:func:`new_dataset` lists every image under a folder, recursively (the extensions of
:data:`studio.core.imageio.IMAGE_SUFFIXES`; hidden files and folders left out), reads each one's displayed size from
its header (EXIF orientation applied, as the importers do), and writes a COCO file with those images, no
annotations and the classes in the order given (ids 1..N). Images get ids 1..M in natural file-name order
(``img2`` before ``img10``), so the same folder always gives the same ids. The images folder is recorded as
``studio dataset import`` records it. Unreadable files are left out with a warning naming each; an existing file is
never replaced unless asked.

:func:`add_images` adds files or folders to an open dataset through the undoable
:class:`~studio.core.dataset.dataset_edits.AddImages` edit. A dataset names its images relative to one folder, so a file
outside that folder cannot be listed as it is: with ``copy_outside`` it is copied into the folder (never replacing a
file there), as labelme and X-AnyLabeling users, who pick files anywhere, would expect; without it, it is left out
with a warning. Copies stay when the edit is undone (a file more in the folder loses nothing).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import atomic
from studio.core.dataset.dataset_edits import AddImages
from studio.core.dataset.ground_truth import mark_labelling_project
from studio.core.dataset.model import Dataset, record_images_dir
from studio.core.errors import DatasetError, StudioError
from studio.core.imageio import IMAGE_SUFFIXES, read_image_size
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import quoted, safe_join
from studio.core.text import plural

#: lines of a labelme labels.txt that are not classes
NOT_CLASSES = frozenset({"__ignore__", "_background_"})
_DIGITS = re.compile(r"(\d+)")
PROGRESS_EVERY = 32  # images between two progress reports


@dataclass
class NewProjectResult:
    """What :func:`new_dataset` wrote: the dataset, where, and the files it left out."""

    dataset: Dataset
    annotations: Path
    images_dir: Path
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # unreadable image files left out


@dataclass
class ImageScan:
    """New image records found by :func:`scan_images`, before they are added."""

    images: list[dict]  # {"file_name", "width", "height"}, file names relative to the images folder
    listed: int = 0  # files the dataset lists already (skipped)
    copied: list[Path] = field(default_factory=list)  # copies made in the images folder
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- class names
def parse_class_names(text: str) -> list[str]:
    """Class names typed or read from a file: one a line or separated by commas, spaces around dropped, empty
    entries and labelme's ``__ignore__`` / ``_background_`` left out."""
    names = (part.strip() for line in text.splitlines() for part in line.split(","))
    return [n for n in names if n and n not in NOT_CLASSES]


def check_class_names(names: Sequence[str], where: str | Path | None = None) -> list[str]:
    """The names stripped, or a DatasetError naming the first empty or repeated one (case and spaces around
    ignored, as the editor's "add class" compares them)."""
    out: list[str] = []
    seen: dict[str, str] = {}
    for k, raw in enumerate(names, start=1):
        name = str(raw).strip()
        if not name:
            raise DatasetError(f"class name {k} is empty", file=where, item="classes")
        first = seen.get(name.lower())
        if first is not None:
            same = "" if first == name else f" (as {quoted(first)})"
            raise DatasetError(f"class {quoted(name)} is given twice{same}", file=where, item="classes")
        seen[name.lower()] = name
        out.append(name)
    if not out:
        raise DatasetError("no class names given (name at least one)", file=where, item="classes")
    return out


# ----------------------------------------------------------------------------------------------- listing
def natural_key(name: str) -> tuple:
    """Sort key putting ``img2`` before ``img10`` (case ignored, then the exact name to break ties)."""
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), name


def is_image_file(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def find_images(folder: str | Path, cancel: CancelToken | None = None) -> list[Path]:
    """Image files under ``folder``, recursively, in natural order of their path relative to it.

    Hidden files and folders (a leading ``.``: macOS's ``._name.jpg`` companions, thumbnail caches) are left out;
    symbolic links to folders are not followed (a link back up would loop).
    """
    folder = Path(folder)
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        if cancel is not None:
            cancel.raise_if_cancelled()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if is_image_file(name):
                path = Path(root) / name
                found.append((path.relative_to(folder).as_posix(), path))
    found.sort(key=lambda t: natural_key(t[0]))
    return [p for _, p in found]


def _sizes(
    files: Sequence[tuple[Path, str]], progress: Progress, cancel: CancelToken | None, message: str
) -> tuple[list[tuple[Path, dict]], list[str]]:
    """``(path, {"file_name", "width", "height"})`` of each readable ``(path, file name)``, and a warning naming
    each unreadable one."""
    records, warnings = [], []
    total = len(files)
    for k, (path, name) in enumerate(files):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            width, height = read_image_size(path)
        except StudioError as e:
            warnings.append(f"{e}: left out")
        else:
            records.append((path, {"file_name": name, "width": int(width), "height": int(height)}))
        if k % PROGRESS_EVERY == 0 or k + 1 == total:
            progress(k + 1, total, message)
    return records, warnings


# ----------------------------------------------------------------------------------------------- a new dataset
def check_new_output(ann_path: str | Path, overwrite: bool = False) -> Path:
    """Refuse an output that is a folder, not a ``.json`` file, or (unless ``overwrite``) an existing file."""
    ann = Path(ann_path)
    if ann.is_dir():
        raise DatasetError("is a folder: name the COCO file to write (-o ANN.json)", file=ann)
    if ann.suffix.lower() != ".json":
        raise DatasetError("the annotation file name must end in .json", file=ann)
    if ann.exists() and not overwrite:
        raise DatasetError("exists already and is not replaced (choose another name, or pass --overwrite)", file=ann)
    return ann


def new_dataset(
    images_dir: str | Path,
    classes: Sequence[str],
    ann_path: str | Path,
    *,
    overwrite: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> NewProjectResult:
    """Write a COCO file listing every image under ``images_dir`` (see the module docstring) and return it.

    Errors (a missing folder, no image found, every image unreadable, a bad class list, an existing output)
    name the folder or file; nothing is written then. The write is atomic.
    """
    images_dir = Path(images_dir)
    ann = check_new_output(ann_path, overwrite)
    names = check_class_names(classes)
    if not images_dir.exists():
        raise DatasetError("no such folder", file=images_dir)
    if not images_dir.is_dir():
        raise DatasetError("is a file: name the folder that holds the images", file=images_dir)
    progress(0, 0, f"listing the images in {images_dir.name}")
    files = find_images(images_dir, cancel)
    if not files:
        kinds = ", ".join(IMAGE_SUFFIXES)
        raise DatasetError(f"no images found (looked for {kinds} files, in sub-folders too)", file=images_dir)
    named = [(p, p.relative_to(images_dir).as_posix()) for p in files]
    records, warnings = _sizes(named, progress, cancel, "reading image sizes")
    if not records:
        raise DatasetError(
            f"none of the {plural(len(files), 'image file')} can be read: {warnings[0]}", file=images_dir
        )
    if cancel is not None:
        cancel.raise_if_cancelled()
    ds = Dataset(source=ann)
    for name in names:
        ds.add_category(name)
    for _path, rec in records:
        ds.add_image(rec["file_name"], rec["width"], rec["height"])
    info = record_images_dir(ds, images_dir, ann.parent)
    info["description"] = f"new dataset from the images in {images_dir.name}"
    mark_labelling_project(ds)  # its images without accepted annotations are not labelled yet: never background
    progress(len(files), len(files), f"writing {ann.name}")
    ds.save(ann)
    return NewProjectResult(ds, ann, images_dir, warnings, len(files) - len(records))


# ----------------------------------------------------------------------------------------------- adding images
def _inside(images_dir: Path, path: Path) -> str | None:
    """``path`` relative to ``images_dir`` (POSIX), or None when it is not inside it (links to folders resolved)."""
    for base, target in (
        (os.path.abspath(images_dir), os.path.abspath(path)),
        (os.path.realpath(images_dir), os.path.realpath(path)),
    ):
        rel = os.path.relpath(target, base)
        if rel != "." and rel != ".." and not rel.startswith(".." + os.sep) and not os.path.isabs(rel):
            return Path(rel).as_posix()
    return None


def outside_images(images_dir: str | Path, sources: Iterable[str | Path]) -> list[Path]:
    """The files or folders of ``sources`` that are not inside ``images_dir`` (they would have to be copied)."""
    return [Path(s) for s in sources if _inside(Path(images_dir), Path(s)) is None]


def _candidates(images_dir: Path, sources: Iterable[str | Path], cancel: CancelToken | None) -> list[tuple[Path, str]]:
    """``(file, name it has or gets in the images folder)`` for every image file of ``sources``."""
    out: list[tuple[Path, str]] = []
    for src in map(Path, sources):
        if src.is_dir():
            same = os.path.realpath(src) == os.path.realpath(images_dir)
            inside = "" if same else _inside(images_dir, src)
            for f in find_images(src, cancel):
                rel = f.relative_to(src).as_posix()
                if inside is None:  # a folder from elsewhere keeps its name and layout inside the images folder
                    out.append((f, f"{src.name}/{rel}"))
                else:
                    out.append((f, f"{inside}/{rel}" if inside else rel))
        elif src.is_file() or src.is_symlink():
            out.append((src, _inside(images_dir, src) or src.name))
        else:
            out.append((src, src.name))  # reported as not found by the size read
    return out


def _copy_target(images_dir: Path, src: Path, name: str) -> tuple[str, bool]:
    """The name a copy of ``src`` gets in the images folder, and whether it must be made: ``name`` when free or when
    that file holds the same bytes already, else the first free one of ``stem-2.ext``, ``stem-3.ext``..."""
    stem, ext = os.path.splitext(name)
    n = 1
    while True:
        cand = name if n == 1 else f"{stem}-{n}{ext}"
        dest = safe_join(images_dir, cand, what="image file name")
        if not dest.exists():
            return cand, True
        if dest.is_file() and filecmp.cmp(src, dest, shallow=False):
            return cand, False
        n += 1


def _copy_in(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` atomically (a crash never leaves half an image in the user's folder)."""
    with atomic.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def scan_images(
    listed: Iterable[str],
    images_dir: str | Path,
    sources: Iterable[str | Path],
    *,
    copy_outside: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ImageScan:
    """The image records to add for ``sources`` (files and folders) to a dataset that lists the file names
    ``listed`` (a copy taken where the dataset is edited: this runs in a worker while the user may edit).

    Files listed already are counted and skipped; unreadable ones are warnings naming the file. A file
    outside ``images_dir`` is copied into it when ``copy_outside`` (readable ones only, never replacing a file),
    else left out with a warning.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DatasetError(
            "the dataset's images folder is not there: open the dataset with its images folder", file=images_dir
        )
    progress(0, 0, "listing the images")
    listed = set(listed)
    scan = ImageScan([])
    files: list[tuple[Path, str]] = []
    for path, name in _candidates(images_dir, sources, cancel):
        inside = _inside(images_dir, path) is not None
        if inside and name in listed:
            scan.listed += 1  # no header read: adding a whole folder again costs a listing only
        elif inside or copy_outside:
            files.append((path, name))
        else:
            scan.warnings.append(f"{path}: outside the images folder {images_dir}: left out (copy it there first)")
    readable, warnings = _sizes(files, progress, cancel, "reading image sizes")
    scan.warnings += warnings
    added: set[str] = set()
    for path, rec in readable:
        name = rec["file_name"]
        if _inside(images_dir, path) is None:  # copy_outside: the copy's name, made now (before it is listed)
            if cancel is not None:
                cancel.raise_if_cancelled()
            name, copy = _copy_target(images_dir, path, name)
            if copy:
                dest = safe_join(images_dir, name, what="image file name")
                _copy_in(path, dest)
                scan.copied.append(dest)
        if name in listed or name in added:
            scan.listed += 1
            continue
        added.add(name)
        scan.images.append({**rec, "file_name": name})
    return scan


def add_images(
    ds: Dataset,
    images_dir: str | Path,
    sources: Iterable[str | Path],
    *,
    copy_outside: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> tuple[list[dict], list[str]]:
    """Add the images of ``sources`` to ``ds`` (one :class:`AddImages` edit): ``(records added, warnings)``.

    The GUI runs :func:`scan_images` in a worker and applies the edit through the editor's undo stack instead.
    """
    listed = [str(im.get("file_name")) for im in ds.images]
    scan = scan_images(listed, images_dir, sources, copy_outside=copy_outside, progress=progress, cancel=cancel)
    warnings = list(scan.warnings)
    if scan.listed:
        warnings.append(f"{plural(scan.listed, 'file')} listed already: skipped")
    if not scan.images:
        return [], warnings
    command = AddImages(scan.images)
    command.apply(ds)
    return command.images, warnings


__all__ = [
    "ImageScan",
    "NewProjectResult",
    "add_images",
    "check_class_names",
    "check_new_output",
    "find_images",
    "natural_key",
    "new_dataset",
    "outside_images",
    "parse_class_names",
    "scan_images",
]
