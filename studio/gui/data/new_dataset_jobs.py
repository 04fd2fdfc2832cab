"""The jobs behind File > New dataset from image folder, the import wizard's "folder of images" case and the Data
page's Add images: plain Python over :mod:`studio.core.dataset.new_project`, no Qt.

Each takes the ``progress`` and ``cancel`` keywords of :class:`studio.gui.common.workers.Worker` and returns what its
dialog shows, so the dialogs only display.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.core.dataset.new_project import ImageScan, NewProjectResult, find_images, new_dataset, scan_images
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import plain_name_problem
from studio.gui.data.dialog_jobs import SourceInfo, probe_source

SAMPLE = 3  # file names an image-folder probe names


@dataclass(frozen=True)
class ImageFolder:
    """A folder that holds images and no annotation file of a known format."""

    path: Path
    images: int
    sample: tuple[str, ...] = ()  # the first few file names, relative to the folder

    def describe(self) -> str:
        more = ", …" if self.images > len(self.sample) else ""
        names = f" ({', '.join(self.sample)}{more})" if self.sample else ""
        return f"{self.images} image{'s' if self.images != 1 else ''}{names}"


def count_images(
    folder: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> ImageFolder:
    """The images a new dataset of ``folder`` would list (sub-folders included, hidden files left out)."""
    folder = Path(folder)
    progress(0, 0, f"looking for images in {folder.name}")
    files = find_images(folder, cancel) if folder.is_dir() else []
    return ImageFolder(folder, len(files), tuple(p.relative_to(folder).as_posix() for p in files[:SAMPLE]))


def probe_source_or_images(
    src: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> SourceInfo | ImageFolder:
    """The import wizard's detection, which also recognises a folder of images with no labels: a folder no format
    claims, holding images, is an :class:`ImageFolder` (a new dataset is made from it, not imported)."""
    info = probe_source(src, progress, cancel)
    if info.fmt is None and Path(src).is_dir():
        folder = count_images(src, progress, cancel)
        if folder.images:
            return folder
    return info


def default_new_output(images_dir: str | Path, datasets_dir: str | Path | None = None) -> Path:
    """Where a new dataset of ``images_dir`` is proposed: ``<workspace>/datasets/<folder name>.json`` when a workspace
    is open (where it lists its datasets), else ``<folder name>.json`` beside the images folder (not in it: the
    label file stays out of the folder of pictures). A taken name gets ``-2``, ``-3``..."""
    images_dir = Path(images_dir).absolute()
    stem = images_dir.name if images_dir.name and plain_name_problem(images_dir.name) is None else "dataset"
    base = Path(datasets_dir) if datasets_dir is not None else images_dir.parent
    out, n = base / f"{stem}.json", 1
    while out.exists():
        n += 1
        out = base / f"{stem}-{n}.json"
    return out


def create_dataset(
    images_dir: Path,
    classes: Sequence[str],
    out: Path,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> NewProjectResult:
    """Write the new dataset (never replacing a file: the dialog refuses an existing one first)."""
    return new_dataset(images_dir, classes, out, progress=progress, cancel=cancel)


def scan_added_images(
    listed: Iterable[str],
    images_dir: Path,
    sources: Sequence[Path],
    copy_outside: bool,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ImageScan:
    """The records Add images will add (through the editor's undo stack, once back in the GUI thread)."""
    return scan_images(listed, images_dir, sources, copy_outside=copy_outside, progress=progress, cancel=cancel)
