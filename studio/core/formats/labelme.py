"""labelme JSON import and export.

A labelme dataset is one JSON per image: ``shapes`` (``label``, ``points``, ``group_id``,
``shape_type``, ``flags``), ``imagePath`` (relative to the JSON), ``imageData`` (null or the image
embedded as base64), ``imageHeight`` and ``imageWidth``.

* Shapes sharing ``(label, group_id)`` with a non-null ``group_id`` are one instance (a multi-part
  polygon); a shape with ``group_id`` null is an instance of its own.
* ``__ignore__`` shapes become the image's ``ignore_regions``; ``_background_`` shapes are dropped.
* A ``labels.txt`` (one label a line, ``__ignore__`` and ``_background_`` first) fixes the class
  list and order; any other label is an error.
* Shape flag ``iscrowd: true`` marks a crowd annotation (COCO ``iscrowd = 1``).
* Provenance (:mod:`studio.core.dataset.provenance`): ``source``, ``status``, ``score`` and ``checkpoint`` are
  extra keys on each shape of an annotation (labelme keeps the shape keys it does not know); a shape without
  them is a manual, accepted one.

An image whose file is missing but whose pixels are embedded (``imageData``) keeps the ``file_name``
that ``imagePath`` gives and gets an ``embedded_in`` key (the JSON, relative to the images folder),
from which :func:`write` extracts the image when copying images.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

from studio.core.dataset.model import Dataset, image_path, read_json
from studio.core.dataset.provenance import provenance_keys, provenance_problem
from studio.core.errors import DatasetError
from studio.core.formats import common
from studio.core.formats.common import (
    Collector,
    ExportOptions,
    ImportOptions,
    ImportResult,
    export_folder,
    is_number,
    positive_int,
    read_image_size,
)
from studio.core.geometry import (
    Flat,
    ellipse_polygon,
    is_rle,
    mask_to_polygons,
    mask_to_rle,
    rect_polygon,
    segmentation_to_mask,
)
from studio.core.output_folder import OutputFolder
from studio.core.safe_names import name_problem

NAME = "labelme"
DESCRIPTION = "labelme JSON folder (one JSON per image): polygons, rectangles, circles, masks, groups"
KEEPS_PROVENANCE = True  # source / status / score / checkpoint as extra shape keys

IGNORE = "__ignore__"
BACKGROUND = "_background_"
LABELS_FILE = "labels.txt"
VERSION = "5.3.1"
_NOT_CLASSES = (IGNORE, BACKGROUND)
_NO_AREA = ("line", "linestrip", "point", "points")
_DETECT_FILES = 20
_DETECT_HEAD = 4096


# ----------------------------------------------------------------------------------------------
# detection
def _looks_like_labelme(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(_DETECT_HEAD)
    if b'"shapes"' not in head:
        return False
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and isinstance(data.get("shapes"), list) and "imagePath" in data


def detect(src: Path) -> bool:
    """A labelme JSON, or a folder whose first JSON files include one."""
    src = Path(src)
    if src.is_file():
        return src.suffix.lower() == ".json" and _looks_like_labelme(src)
    if src.is_dir():
        for k, path in enumerate(_json_files(src, ordered=False)):
            if k >= _DETECT_FILES:
                break
            if _looks_like_labelme(path):
                return True
    return False


def probe(src: Path) -> common.Probe:
    """A labelme folder's JSON count and the labels.txt the importer will pick up (beside it or one up)."""
    root = src if src.is_dir() else src.parent
    n = sum(1 for _ in root.rglob("*.json")) if src.is_dir() else 1
    labels = next((c for c in (root / LABELS_FILE, root.parent / LABELS_FILE) if c.is_file()), None)
    kind = "labelme folder" if src.is_dir() else "labelme JSON file"
    return common.Probe(kind, detail=f"{n} JSON file(s)", labels_file=labels)


def _json_files(root: Path, ordered: bool = True) -> Iterator[Path]:
    """JSON files under ``root`` (sorted unless ``ordered`` is False), skipping hidden folders and files."""
    found = root.rglob("*.json")
    for path in sorted(found) if ordered else found:
        if not any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path


# ----------------------------------------------------------------------------------------------
# reading
@dataclass
class _Instance:
    """Shapes of one instance (same label and group), merged into one segmentation."""

    label: str
    parts: list[Flat] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    iscrowd: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)  # the first of its shapes that has the keys


@dataclass
class _ImageRecord:
    file_name: str
    width: int
    height: int
    instances: list[_Instance]
    ignore: list[Flat]
    extra: dict[str, Any]


def read_labels(path: Path) -> list[str]:
    """Class names of a labels.txt (blank lines, ``__ignore__`` and ``_background_`` dropped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DatasetError(f"cannot read: {e.strerror or e}", file=path) from None
    return [s for s in (line.strip() for line in lines) if s and s not in _NOT_CLASSES]


def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    """Read a labelme JSON or a folder of them (recursively); images are found through ``imagePath``."""
    src = Path(src)
    root = src if src.is_dir() else src.parent
    images_dir = Path(images) if images is not None else root
    labels = options.labels
    col = Collector(options.strict)
    if labels is None:
        # labelme's own layout keeps labels.txt beside the annotated folder (examples/*/labels.txt)
        for cand in (root / LABELS_FILE, root.parent / LABELS_FILE):
            if cand.is_file():
                labels = read_labels(cand)
                col.warn(cand, None, "class list taken from this labels.txt (pass --labels to use another)")
                break
    labels = [s for s in labels if s not in _NOT_CLASSES] if labels is not None else None
    known = set(labels) if labels is not None else None
    files = list(_json_files(root)) if src.is_dir() else [src]
    records: list[_ImageRecord] = []
    seen: dict[str, Path] = {}
    for k, path in enumerate(files):
        rec = _read_file(path, images_dir, src.is_dir(), col, known)
        if rec is not None:
            if rec.file_name in seen:
                col.bad(path, None, f"image {rec.file_name} is already annotated by {seen[rec.file_name]}")
            else:
                seen[rec.file_name] = path
                records.append(rec)
        if options.progress:
            options.progress(k + 1, len(files))
    if src.is_dir() and not records and not col.warnings:
        raise DatasetError("no labelme JSON files found", file=src)
    return ImportResult(_build(records, labels, src), images_dir, col.warnings)


def _build(records: list[_ImageRecord], labels: list[str] | None, src: Path) -> Dataset:
    """The dataset: categories in labels order (or sorted by name), then images and instances."""
    ds = Dataset(source=src)
    names = labels if labels is not None else sorted({i.label for r in records for i in r.instances})
    for name in names:
        ds.add_category(name)
    for rec in records:
        extra = dict(rec.extra)
        if rec.ignore:
            extra["ignore_regions"] = rec.ignore
        image_id = ds.add_image(rec.file_name, rec.width, rec.height, **extra)["id"]
        for inst in rec.instances:
            seg = _segmentation(inst, rec.height, rec.width)
            ds.add_annotation(image_id, ds.category_id(inst.label), seg, iscrowd=int(inst.iscrowd), **inst.provenance)
    return ds


def _segmentation(inst: _Instance, height: int, width: int) -> Any:
    """Polygon parts, or an RLE when any part is a mask (polygons are rasterised into it)."""
    if not inst.masks:
        return inst.parts
    full = np.zeros((height, width), np.uint8)
    for m in inst.masks:
        full |= m
    if inst.parts:
        full |= segmentation_to_mask(inst.parts, height, width)
    return mask_to_rle(full)


def _read_file(
    path: Path, images_dir: Path, in_folder: bool, col: Collector, labels: set[str] | None
) -> _ImageRecord | None:
    """One labelme JSON; None when it is skipped (not labelme, or bad in non-strict mode)."""
    try:
        data = read_json(path)
    except DatasetError as e:
        col.bad(path, None, e.message)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        if in_folder:
            col.warn(path, None, "not a labelme file (no 'shapes' list), ignored")
            return None
        raise DatasetError("not a labelme file: expected an object with a 'shapes' list", file=path)
    located = _locate_image(data, path, images_dir, col)
    if located is None:
        return None
    file_name, width, height, extra = located
    instances: dict[Any, _Instance] = {}
    ignore: list[Flat] = []
    for j, shape in enumerate(data["shapes"]):
        _read_shape(shape, j, path, width, height, col, labels, instances, ignore)
    return _ImageRecord(file_name, width, height, list(instances.values()), ignore, extra)


# ----------------------------------------------------------------------------------------------
# images
def _locate_image(
    data: dict, path: Path, images_dir: Path, col: Collector
) -> tuple[str, int, int, dict[str, Any]] | None:
    """``(file_name, width, height, extra image keys)``; None when the image is skipped."""
    ref = data.get("imagePath")
    if not isinstance(ref, str) or not ref.strip():
        col.bad(path, None, "missing 'imagePath'")
        return None
    ref = ref.strip().replace("\\", "/")
    img = Path(os.path.normpath(path.parent / ref))
    if not img.is_file() and (images_dir / Path(ref).name).is_file():
        img = images_dir / Path(ref).name  # images moved into the --images folder
    file_name = Path(os.path.relpath(img, images_dir)).as_posix()
    extra: dict[str, Any] = {}
    embedded = data.get("imageData")
    if not img.is_file() and isinstance(embedded, str) and embedded:
        extra["embedded_in"] = Path(os.path.relpath(path, images_dir)).as_posix()
        col.warn(
            path,
            None,
            f"image file {img} not found, the image is only embedded in the JSON (imageData); "
            "`studio dataset export --format labelme` with images extracts it",
        )
    size = _image_size(data, img, embedded, path, col)
    if size is None:
        return None
    return file_name, size[0], size[1], extra


def _image_size(data: dict, img: Path, embedded: Any, path: Path, col: Collector) -> tuple[int, int] | None:
    """``(width, height)`` from imageWidth/imageHeight, else (both null or absent) the image file,
    else imageData. A size that is given must be a positive integer."""
    w, h = data.get("imageWidth"), data.get("imageHeight")
    if w is not None or h is not None:
        try:
            return positive_int(w, "imageWidth"), positive_int(h, "imageHeight")
        except ValueError as e:
            col.bad(path, None, str(e))
            return None
    if img.is_file():
        try:
            return read_image_size(img)
        except DatasetError as e:
            col.bad(path, None, f"{e.message}: {img}")
            return None
    if isinstance(embedded, str) and embedded:
        try:
            return _decode_image(embedded).size
        except (ValueError, OSError) as e:
            col.bad(path, None, f"unreadable imageData ({e.__class__.__name__})")
            return None
    col.bad(path, None, f"image size unknown: no imageWidth/imageHeight, no imageData and no file {img}")
    return None


def _b64_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"bad base64: {e}") from None


def _decode_image(text: str) -> Any:
    """A PIL image from base64 text (loaded, so the buffer can go)."""
    im = Image.open(io.BytesIO(_b64_bytes(text)))
    im.load()
    return im


# ----------------------------------------------------------------------------------------------
# shapes
def _points(raw: Any) -> np.ndarray | None:
    """``(n, 2)`` float array of a shape's points, or None when malformed: each point a list of two
    finite numbers (strings, bools and null are refused, not coerced)."""
    if not isinstance(raw, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(is_number(v) for v in p) for p in raw
    ):
        return None
    xy = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(xy).all():
        return None
    return xy


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_shape(
    shape: Any,
    j: int,
    path: Path,
    width: int,
    height: int,
    col: Collector,
    labels: set[str] | None,
    instances: dict[Any, _Instance],
    ignore: list[Flat],
) -> None:
    """Add one shape to its instance (or to the ignore regions)."""
    if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
        col.bad(path, f"shape {j}", "shape without a 'label'")
        return
    label = shape["label"]
    item = f"shape {j} ({label})"
    if label == BACKGROUND:
        return
    if label != IGNORE and labels is not None and label not in labels:
        col.bad(path, item, f"unknown label '{label}' (not in the labels list)")
        return
    stype = shape.get("shape_type") or "polygon"
    if stype in _NO_AREA:
        col.warn(path, item, f"'{stype}' shape has no area (skipped)")
        return
    keys = provenance_keys(shape)
    problem = provenance_problem(keys)
    if problem is not None:
        col.bad(path, item, problem)
        return
    geom = _shape_geometry(shape, stype, path, item, width, height, col)
    if geom is None:
        return
    if label == IGNORE:
        ignore.extend(geom if isinstance(geom, list) else mask_to_polygons(geom))
        return
    group = shape.get("group_id")
    key = (label, group) if group is not None else ("#", j)
    inst = instances.setdefault(key, _Instance(label))
    if isinstance(geom, list):
        inst.parts.extend(geom)
    else:
        inst.masks.append(geom)
    flags = shape.get("flags")
    inst.iscrowd |= isinstance(flags, dict) and flags.get("iscrowd") is True
    if keys and not inst.provenance:
        inst.provenance = keys


def _shape_geometry(
    shape: dict, stype: str, path: Path, item: str, width: int, height: int, col: Collector
) -> list[Flat] | np.ndarray | None:
    """Polygon parts, or a full-image mask for ``mask`` shapes; None when skipped."""
    xy = _points(shape.get("points"))
    if xy is None:
        col.bad(
            path, item, f"'points' must be a list of [x, y] pairs of finite numbers, got {_short(shape.get('points'))}"
        )
        return None
    if stype == "polygon":
        return col.polygon([float(v) for v in xy.reshape(-1)], path, item)
    if stype in ("rectangle", "circle", "mask") and len(xy) < 2:
        col.bad(path, item, f"{stype} needs 2 points, got {len(xy)}")
        return None
    if stype == "rectangle":
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        return col.polygon(rect_polygon(x0, y0, x1, y1), path, item)
    if stype == "circle":
        (cx, cy), (px, py) = xy[0], xy[1]
        r = math.hypot(px - cx, py - cy)
        return col.polygon(ellipse_polygon(cx, cy, r, r), path, item)
    if stype == "mask":
        return _shape_mask(shape, xy, path, item, width, height, col)
    col.bad(path, item, f"unknown shape_type {stype!r}")
    return None


def _shape_mask(
    shape: dict, xy: np.ndarray, path: Path, item: str, width: int, height: int, col: Collector
) -> np.ndarray | None:
    """labelme 5 mask shape: a base64 PNG placed at the top-left of its 2 points, on a full-image mask."""
    text = shape.get("mask")
    if not isinstance(text, str) or not text:
        col.bad(path, item, "mask shape without 'mask' data")
        return None
    try:
        crop = np.asarray(_decode_image(text))
    except (ValueError, OSError) as e:
        col.bad(path, item, f"unreadable mask data ({e.__class__.__name__})")
        return None
    crop = (crop.any(axis=2) if crop.ndim == 3 else crop > 0).astype(np.uint8)
    x0, y0 = (int(v) for v in xy.min(axis=0))
    full = np.zeros((height, width), np.uint8)
    ys, xs = slice(max(y0, 0), min(y0 + crop.shape[0], height)), slice(max(x0, 0), min(x0 + crop.shape[1], width))
    if ys.start < ys.stop and xs.start < xs.stop:
        full[ys, xs] = crop[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    if not full.any():
        col.bad(path, item, "empty mask")
        return None
    return full


# ----------------------------------------------------------------------------------------------
# writing
def _shape(
    label: str,
    points: list[list[float]],
    shape_type: str,
    group_id: int | None,
    crowd: bool,
    origin: dict | None = None,
) -> dict:
    """A labelme shape; ``origin`` holds the annotation's provenance keys (none for a manual one)."""
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": "",
        "shape_type": shape_type,
        "flags": {"iscrowd": True} if crowd else {},
        "mask": None,
        **(origin or {}),
    }


def _pairs(flat: Flat) -> list[list[float]]:
    return [[float(flat[i]), float(flat[i + 1])] for i in range(0, len(flat) - 1, 2)]


def _annotation_shapes(ann: dict, label: str, image: dict, next_group: Iterator[int]) -> list[dict]:
    """labelme shapes of one annotation; several parts share a fresh group_id."""
    crowd = bool(ann.get("iscrowd"))
    origin = provenance_keys(ann)
    seg = ann.get("segmentation") or []
    if is_rle(seg):
        # through the border pixels' centres: labelme fills a polygon's pixels with PIL, outline included, so this
        # gives the mask back (mask_outline's pixel edges would come back a pixel wider)
        seg = mask_to_polygons(segmentation_to_mask(seg, image["height"], image["width"]))
    polys = [p for p in seg if len(p) >= 6]
    if not polys:
        x, y, w, h = (float(v) for v in ann["bbox"])
        return [_shape(label, [[x, y], [x + w, y + h]], "rectangle", None, crowd, origin)]
    group = next(next_group) if len(polys) > 1 else None
    return [_shape(label, _pairs(p), "polygon", group, crowd, origin) for p in polys]


def _image_json(ds: Dataset, im: dict, names: dict[Any, str], image_ref: str) -> dict:
    """The labelme document of one image."""
    groups = iter(range(1, 1 << 30))
    shapes: list[dict] = []
    for ann in ds.anns_for_image(im["id"]):
        shapes.extend(_annotation_shapes(ann, names[ann["category_id"]], im, groups))
    for poly in im.get("ignore_regions") or []:
        shapes.append(_shape(IGNORE, _pairs(poly), "polygon", None, False))
    return {
        "version": VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_ref,
        "imageData": None,
        "imageHeight": int(im["height"]),
        "imageWidth": int(im["width"]),
    }


def _json_name(im: dict, used: set[str]) -> str:
    """Relative JSON path beside the image's relative path, unique within the export."""
    rel = Path(im["file_name"]).with_suffix(".json").as_posix()
    if rel in used:
        rel = Path(im["file_name"]).with_name(f"{Path(im['file_name']).stem}_{im['id']}.json").as_posix()
    used.add(rel)
    return rel


def _relative_ref(target: Path, json_dir: Path) -> str:
    """``target`` relative to the JSON's folder (absolute when on another drive)."""
    try:
        return Path(os.path.relpath(target.resolve(), json_dir.resolve())).as_posix()
    except ValueError:
        return target.resolve().as_posix()


def _place(folder: OutputFolder, rel: str, im: dict, images_dir: Path) -> None:
    """Place the image next to its JSON; extract it from its labelme imageData when only embedded."""
    src = image_path(images_dir, im)
    if src.is_file():
        folder.place_image(src, rel)
        return
    holder = im.get("embedded_in")
    if holder:
        problem = name_problem(holder)
        if problem is not None:
            raise DatasetError(f"'embedded_in' {holder!r} {problem}", item=f"image id {im['id']}")
        data = read_json(images_dir / holder)
        embedded = data.get("imageData") if isinstance(data, dict) else None
        if isinstance(embedded, str) and embedded:
            folder.write_bytes(rel, _b64_bytes(embedded))
            return
    raise DatasetError("image file not found", file=src, item=f"image id {im['id']}")


def write(ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions) -> list[Path]:
    """One labelme JSON per image plus ``labels.txt`` in ``out_dir`` (+ the images when copying)."""
    out_dir = Path(out_dir)
    if options.copy_images and images_dir is None:
        raise DatasetError("--images is needed to copy the images", file=ds.source)
    names = {c["id"]: c["name"] for c in ds.categories}
    written: list[Path] = []
    used: set[str] = set()
    with export_folder(ds, images_dir, out_dir, options, NAME) as folder:
        labels = "\n".join([IGNORE, BACKGROUND, *ds.class_names]) + "\n"
        written.append(folder.write_text(LABELS_FILE, labels))
        for k, im in enumerate(ds.images):
            rel = _json_name(im, used)
            if options.copy_images:
                assert images_dir is not None
                _place(folder, (Path(rel).parent / Path(im["file_name"]).name).as_posix(), im, images_dir)
                ref = Path(im["file_name"]).name
            elif images_dir is not None:
                ref = _relative_ref(image_path(images_dir, im), (out_dir / rel).parent)
            else:
                ref = im["file_name"]
            written.append(folder.write_json(rel, _image_json(ds, im, names, ref)))
            if options.progress:
                options.progress(k + 1, len(ds.images))
    return written
