"""Shared pieces of the importers and exporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, ContextManager, Sequence

from studio.core.dataset.model import Dataset, image_path
from studio.core.errors import DatasetError
from studio.core.geometry import repair_polygon
from studio.core.imageio import read_image_size  # noqa: F401  (re-exported for the format modules)
from studio.core.output_folder import OutputFolder, output_folder

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass
class ImportOptions:
    """Options every importer understands (each ignores what does not apply to it)."""

    strict: bool = True  # bad items are errors; False skips them with a warning
    default_class: str | None = None  # VIA regions without a class attribute
    class_attr: str | None = None  # VIA region attribute holding the class name
    split: str | None = None  # VOC ImageSets/Main split or YOLO data.yaml split
    labels: list[str] | None = None  # fixed class list (labelme labels.txt); unknown labels are errors
    progress: ProgressFn | None = None


@dataclass
class ImportResult:
    dataset: Dataset
    images_dir: Path  # folder that the images' file_name values are relative to
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExportOptions:
    copy_images: bool = True  # place images (hard links where possible) in the output folder
    task: str | None = None  # YOLO: "detect" or "segment"; None picks segment when there are masks
    overwrite: bool = False  # replace a previous export in a non-empty output folder (else refused)
    progress: ProgressFn | None = None


class Collector:
    """Collects warnings, and turns bad items into errors or skips according to ``strict``."""

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.warnings: list[str] = []

    def warn(self, file: Any, item: str | None, message: str) -> None:
        self.warnings.append(str(DatasetError(message, file=file, item=item)))

    def bad(self, file: Any, item: str | None, message: str) -> None:
        """A bad item: raise in strict mode, else record a warning that it was skipped."""
        if self.strict:
            raise DatasetError(message, file=file, item=item)
        self.warn(file, item, message + " (skipped)")

    def polygon(self, flat: list[float], file: Any, item: str) -> list[list[float]] | None:
        """Validate one polygon: parts to keep, or None if it was skipped."""
        try:
            flat = [float(v) for v in flat]
        except (TypeError, ValueError):
            self.bad(file, item, "polygon coordinates must be numbers")
            return None
        fix = repair_polygon(flat)
        if fix.kind == "degenerate":
            self.bad(file, item, f"degenerate polygon: {fix.detail}")
            return None
        if fix.kind == "repaired":
            self.warn(file, item, f"self-intersecting polygon: {fix.detail}")
        return [list(p) for p in fix.parts]


def export_folder(ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions,
                  fmt: str) -> ContextManager[OutputFolder]:
    """The output folder every exporter writes through (see :mod:`studio.core.output_folder`): a new or
    empty folder (a previous export only with ``options.overwrite``), assembled aside and swapped in
    whole, each path checked to stay inside it. The source file and images are protected."""
    return output_folder(out_dir, overwrite=options.overwrite, fmt=fmt, protect=(ds.source, images_dir))


def place_source_image(out: OutputFolder, images_dir: Path | None, im: dict, rel: str) -> Path:
    """Place the image of record ``im`` at ``rel`` in the export (hard link, else copy)."""
    src = image_path(images_dir, im)
    if not src.is_file():
        raise DatasetError("image file not found", file=src, item=f"image id {im['id']}")
    return out.place_image(src, rel)


def class_index(dataset: Dataset) -> dict[Any, int]:
    """Category id -> 0-based contiguous index, ordered by category id."""
    return {c["id"]: i for i, c in enumerate(sorted(dataset.categories, key=lambda c: c["id"]))}


def flat_stems(file_names: list[str]) -> list[str]:
    """One unique, folder-free stem per image name: ``a/b.jpg`` -> ``a__b``; clashes get ``_1``, ``_2``..."""
    used: set[str] = set()
    out = []
    for name in file_names:
        p = PurePosixPath(name.replace("\\", "/"))
        parts = [s for s in p.with_suffix("").parts if s not in ("/", ".", "..")]
        base = "__".join(parts) or "image"
        stem, n = base, 0
        while stem.lower() in used:
            n += 1
            stem = f"{base}_{n}"
        used.add(stem.lower())
        out.append(stem)
    return out


def export_names(file_names: Sequence[str]) -> list[str]:
    """Unique, folder-free file names: shared leading folders dropped, the rest joined with ``__``."""
    split = [PurePosixPath(n.replace("\\", "/")).parts for n in file_names]
    common = 0
    if split:
        shortest = min(len(p) for p in split)
        while common < shortest - 1 and len({p[common] for p in split}) == 1:
            common += 1
    rel = ["/".join(p[common:]) for p in split]
    stems = flat_stems(rel)
    return [stem + PurePosixPath(r).suffix for stem, r in zip(stems, rel)]
