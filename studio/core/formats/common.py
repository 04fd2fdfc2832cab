"""Shared pieces of the importers and exporters."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from studio.core.dataset.model import Dataset, image_path
from studio.core.errors import DatasetError
from studio.core.geometry import repair_polygon
from studio.core.imageio import read_image_size  # noqa: F401  (re-exported for the format modules)
from studio.core.jobs import Progress
from studio.core.output_folder import OutputFolder, output_folder


@dataclass
class ImportOptions:
    """Options every importer understands (each ignores what does not apply to it)."""

    strict: bool = True  # bad items are errors; False skips them with a warning
    default_class: str | None = None  # VIA regions without a class attribute
    class_attr: str | None = None  # VIA region attribute holding the class name
    split: str | None = None  # VOC ImageSets/Main split or YOLO data.yaml split
    labels: list[str] | None = None  # fixed class list (labelme labels.txt); unknown labels are errors
    progress: Progress | None = None


@dataclass
class ImportResult:
    dataset: Dataset
    images_dir: Path  # folder that the images' file_name values are relative to
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Probe:
    """What a format's optional ``probe(src)`` tells about a source before it is imported: what the import
    wizard's first page shows and the choices its options offer. Cheap: no full read of a large source."""

    summary: str  # what the source is: "VIA 1.x/2.x JSON export", "labelme folder"...
    detail: str = ""  # cheap counts: "61 images, 255 regions"
    class_attrs: tuple[str, ...] = ()  # VIA: region attribute keys seen (ImportOptions.class_attr)
    default_class: str | None = None  # VIA: the class regions without a class attribute get
    splits: tuple[str, ...] = ()  # VOC / YOLO: the splits that exist (ImportOptions.split)
    labels_file: Path | None = None  # labelme: the labels.txt the importer will pick up


@dataclass
class ExportOptions:
    copy_images: bool = True  # place images (hard links where possible) in the output folder
    task: str | None = None  # YOLO: "detect" or "segment"; None picks segment when there are masks
    overwrite: bool = False  # replace a previous export in a non-empty output folder (else refused)
    include_pending: bool = False  # write pending model proposals too (else only accepted annotations)
    progress: Progress | None = None


def is_number(value: Any) -> bool:
    """An int or float (numpy's included), not a bool: what a coordinate in a JSON file may be."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def finite_number(value: Any, what: str, *, text: bool = False) -> float:
    """``value`` as a float when it is a finite number, else ValueError naming ``what``.

    A JSON value must be an int or a float: strings (``"10"``), bools and None are refused, not
    coerced. With ``text`` (an XML attribute or element, a line of a text file) a string is parsed.
    NaN and infinities are refused either way: they would reach the canonical file as ``null``.
    """
    if text and isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            raise ValueError(f"{what} must be a number, got {value!r}") from None
    elif is_number(value):
        x = float(value)
    else:
        raise ValueError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(x):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return x


def integer_id(value: Any, what: str) -> int:
    """A COCO id: an int, not a bool, a float or a string; ValueError naming ``what`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if not _ID_RANGE[0] <= value <= _ID_RANGE[1]:
        raise ValueError(f"{what} does not fit in 64 bits, got {value!r}")
    return int(value)


#: the largest image side Studio accepts (pixels); anything larger is a broken size, not a photo
MAX_SIDE = 1_000_000
#: ids are written as JSON integers, which Studio's JSON library keeps to 64 bits
_ID_RANGE = (-(2**63), 2**63 - 1)


def positive_int(value: Any, what: str) -> int:
    """An image size: a positive int up to ``MAX_SIDE`` (not a bool, a float or a string); ValueError naming
    ``what``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if value > MAX_SIDE:
        raise ValueError(f"{what} must be at most {MAX_SIDE} pixels, got {value!r}")
    return int(value)


def finite_numbers(values: Any, what: str, n: int | None = None, *, text: bool = False) -> list[float]:
    """A list (or tuple) of finite numbers (exactly ``n`` when given); ValueError naming ``what``."""
    if not isinstance(values, (list, tuple)) or (n is not None and len(values) != n):
        size = f"{n} " if n is not None else ""
        raise ValueError(f"{what} must be a list of {size}numbers, got {values!r}")
    return [finite_number(v, f"{what}[{i}]", text=text) for i, v in enumerate(values)]


def xywh_box(values: Any, what: str = "bbox") -> list[float]:
    """A COCO ``[x, y, width, height]``: 4 finite numbers, width and height > 0; ValueError otherwise."""
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        raise ValueError(f"{what} must be [x, y, width, height], got {values!r}")
    box = finite_numbers(values, what, 4)
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"{what} has zero or negative size ({box[2]:g} x {box[3]:g})")
    return box


class Collector:
    """Collects warnings, and turns bad items into errors or skips according to ``strict``.

    The value checks (:meth:`number`, :meth:`box`, :meth:`polygon`) return the
    checked value, or None after :meth:`bad` (so a caller in lenient mode skips the item).
    """

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.warnings: list[str] = []

    def warn(self, file: Any, item: str | None, message: str) -> None:
        self.warnings.append(str(DatasetError(message, file=file, item=item)))

    def bad(self, file: Any, item: str | None, message: str, skipped: str = "skipped") -> None:
        """A bad item: raise in strict mode, else record a warning that it was skipped (or, with
        ``skipped``, what was done instead: the warning ends with it in parentheses)."""
        if self.strict:
            raise DatasetError(message, file=file, item=item)
        self.warn(file, item, f"{message} ({skipped})")

    def number(self, value: Any, file: Any, item: str | None, what: str, *, text: bool = False) -> float | None:
        """A finite number (see :func:`finite_number`), or None when the item is bad."""
        try:
            return finite_number(value, what, text=text)
        except ValueError as e:
            self.bad(file, item, str(e))
            return None

    def box(self, values: Any, file: Any, item: str | None, what: str = "bbox") -> list[float] | None:
        """A COCO ``[x, y, w, h]`` box (see :func:`xywh_box`), or None when the item is bad."""
        try:
            return xywh_box(values, what)
        except ValueError as e:
            self.bad(file, item, str(e))
            return None

    def polygon(self, flat: Any, file: Any, item: str) -> list[list[float]] | None:
        """Validate one polygon: parts to keep, or None if it was skipped.

        Coordinates must be finite numbers (ints or floats: strings, bools, None, NaN and infinities
        are refused); self-intersections are repaired with a warning, degenerate polygons are bad.
        """
        if not isinstance(flat, (list, tuple)):
            self.bad(
                file, item, f"a polygon must be a list of coordinates [x1, y1, x2, y2, ...], got {type(flat).__name__}"
            )
            return None
        original = flat
        flat = [float(v) for v in flat if type(v) is float or type(v) is int]  # the usual case, fast
        if len(flat) != len(original) or not math.isfinite(sum(flat)):
            bad = next(((i, v) for i, v in enumerate(original) if not is_number(v)), None)
            if bad is not None:
                self.bad(file, item, f"polygon coordinates must be numbers, got {bad[1]!r} at index {bad[0]}")
                return None
            bad = next(((i, v) for i, v in enumerate(original) if not math.isfinite(v)), None)
            if bad is not None:
                self.bad(file, item, f"polygon coordinates must be finite numbers, got {bad[1]!r} at index {bad[0]}")
                return None
            flat = [float(v) for v in original]  # numpy scalars, huge values whose sum overflows
        fix = repair_polygon(flat)
        if fix.kind == "degenerate":
            self.bad(file, item, f"degenerate polygon: {fix.detail}")
            return None
        if fix.kind == "repaired":
            self.warn(file, item, f"self-intersecting polygon: {fix.detail}")
        return [list(p) for p in fix.parts]


def export_folder(
    ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions, fmt: str
) -> AbstractContextManager[OutputFolder]:
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
