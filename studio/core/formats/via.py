"""VGG Image Annotator (VIA) import, versions 1.x and 2.x.

Accepted files:

* 1.x project or export: a dict keyed by ``filename + size``; each entry has ``filename``, ``size``
  (the file's byte count, not the image size), ``regions`` (a dict ``{"0": {...}}`` or a list) and
  ``file_attributes``.
* 2.x project: ``_via_img_metadata`` holds the same entries (``regions`` a list), next to
  ``_via_settings`` and ``_via_attributes``. A 2.x "export as JSON" is shaped like 1.x.

Each region has ``shape_attributes`` (``name`` = polygon, rect, circle, ellipse, polyline, point) and
``region_attributes`` (where the class name usually lives). Image sizes come from the image headers,
so the images must be present.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from studio.core.dataset.model import Dataset, read_json
from studio.core.errors import DatasetError
from studio.core.formats import common
from studio.core.formats.common import (
    Collector,
    ImportOptions,
    ImportResult,
    finite_number,
    is_number,
    read_image_size,
)
from studio.core.geometry import Flat, ellipse_polygon, rect_polygon

NAME = "via"
DESCRIPTION = "VGG Image Annotator (VIA) 1.x/2.x JSON: polygons, rects, circles, ellipses"

# folder names that say which split a file belongs to, not what it shows
_SPLIT_NAMES = frozenset(
    {"train", "training", "val", "valid", "validation", "test", "testing", "images", "annotations"}
)
# region attribute keys that most likely hold the class name, in order of preference
_CLASS_KEYS = ("class", "label", "name", "category", "type")
_FALLBACK_CLASS = "object"
_DETECT_HEAD = 65536


def detect(src: Path) -> bool:
    """A ``.json`` file holding a VIA 2.x project, or a dict of VIA image entries."""
    src = Path(src)
    if not (src.is_file() and src.suffix.lower() == ".json"):
        return False
    with src.open("rb") as f:
        head = f.read(_DETECT_HEAD)
    if b'"_via_img_metadata"' in head or b'"_via_settings"' in head:
        return True
    if b'"filename"' not in head or b'"regions"' not in head:
        return False  # cheap rejection before a full parse (COCO uses "file_name")
    try:
        data = orjson.loads(src.read_bytes())
    except orjson.JSONDecodeError:
        return False
    if not isinstance(data, dict) or not data:
        return False
    if "_via_img_metadata" in data:
        return True
    first = next(iter(data.values()))
    return isinstance(first, dict) and "filename" in first and "regions" in first


# ----------------------------------------------------------------------------------------------
# reading
@dataclass
class _Pending:
    """Annotations gathered before the categories are created (sorted by name)."""

    shapes: list[tuple[Any, str, list[Flat]]] = field(default_factory=list)  # (image id, class, parts)


def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    """Read a VIA JSON file; ``images`` defaults to the JSON's folder."""
    src = Path(src)
    entries = list(_entries(read_json(src), src))
    images_dir = Path(images) if images is not None else src.parent
    col = Collector(options.strict)
    namer = _ClassNamer(options, src, col)
    ds = Dataset(source=src)
    pending = _Pending()
    seen: set[str] = set()
    for k, (key, entry) in enumerate(entries):
        _read_entry(ds, pending, entry, key, images_dir, src, col, namer, seen)
        if options.progress:
            options.progress(k + 1, len(entries))
    for name in sorted({name for _, name, _ in pending.shapes}):
        ds.add_category(name)
    for image_id, name, parts in pending.shapes:
        ds.add_annotation(image_id, ds.category_id(name), parts)
    return ImportResult(ds, images_dir, col.warnings)


def _entries(data: Any, src: Path) -> Iterator[tuple[str, dict]]:
    """``(key, entry)`` for every image entry, checking the shape of the file."""
    if not isinstance(data, dict):
        raise DatasetError(f"expected a VIA object at the top level, got {type(data).__name__}", file=src)
    if "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
        if not isinstance(data, dict):
            raise DatasetError(f"expected an object, got {type(data).__name__}", file=src, item="_via_img_metadata")
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise DatasetError(f"expected an image entry object, got {type(entry).__name__}", file=src, item=key)
        name = entry.get("filename")
        if not isinstance(name, str) or not name:
            raise DatasetError("image entry without a 'filename'", file=src, item=key)
        yield key, entry


def _read_entry(
    ds: Dataset,
    pending: _Pending,
    entry: dict,
    key: str,
    images_dir: Path,
    src: Path,
    col: Collector,
    namer: _ClassNamer,
    seen: set[str],
) -> None:
    """One image and its regions."""
    fname: str = entry["filename"]
    item = f"image {fname}"
    if fname in seen:
        col.bad(src, item, f"image listed twice (entry '{key}')")
        return
    try:
        width, height = read_image_size(images_dir / fname)
    except DatasetError as e:
        col.bad(src, item, f"{e.message}: {images_dir / fname}")
        return
    seen.add(fname)
    image_id = ds.add_image(fname, width, height)["id"]
    for k, region in _regions(entry.get("regions"), src, item, col):
        ritem = f"{item} region {k}"
        if not isinstance(region, dict) or not isinstance(region.get("shape_attributes"), dict):
            col.bad(src, ritem, "region without 'shape_attributes'")
            continue
        flat = _shape_polygon(region["shape_attributes"], src, ritem, col)
        if flat is None:
            continue
        parts = col.polygon(flat, src, ritem)
        if not parts:
            continue
        name = namer.name(region.get("region_attributes"), ritem)
        if name is not None:
            pending.shapes.append((image_id, name, parts))


def _regions(regions: Any, src: Path, item: str, col: Collector) -> Iterator[tuple[str, Any]]:
    """``(key, region)`` pairs of a dict (1.x) or list (2.x) of regions."""
    if regions is None:
        return
    if isinstance(regions, dict):
        yield from ((str(k), r) for k, r in regions.items())
    elif isinstance(regions, list):
        yield from ((str(k), r) for k, r in enumerate(regions))
    else:
        col.bad(src, item, f"'regions' must be an object or a list, got {type(regions).__name__}")


# ----------------------------------------------------------------------------------------------
# shapes
def _numbers(sa: dict, keys: tuple[str, ...]) -> list[float] | None:
    """The values of ``keys`` as floats, or None when one is missing or not a finite number
    (strings, bools and None are refused, not coerced)."""
    try:
        return [finite_number(sa.get(k), k) for k in keys]
    except ValueError:
        return None


def _shape_polygon(sa: dict, src: Path, item: str, col: Collector) -> Flat | None:
    """A region's outline as a flat polygon; None when the shape is skipped."""
    name = sa.get("name")
    if name == "polygon":
        return _points_polygon(sa, src, item, col)
    if name in ("polyline", "point"):
        col.warn(src, item, f"'{name}' region has no area (skipped)")
        return None
    needs = {"rect": ("x", "y", "width", "height"), "circle": ("cx", "cy", "r"), "ellipse": ("cx", "cy", "rx", "ry")}
    if name not in needs:
        col.bad(src, item, f"unknown region shape {name!r} (expected polygon, rect, circle or ellipse)")
        return None
    v = _numbers(sa, needs[name])
    if v is None:
        got = ", ".join(f"{k} {sa.get(k)!r}" for k in needs[name])
        col.bad(src, item, f"{name} needs finite numbers {', '.join(needs[name])}, got {got}")
        return None
    if name == "rect":
        x, y, w, h = v
        return rect_polygon(x, y, x + w, y + h)
    if name == "circle":
        cx, cy, r = v
        return ellipse_polygon(cx, cy, r, r)
    theta = sa.get("theta", 0.0)
    theta = float(theta) if is_number(theta) and math.isfinite(theta) else 0.0
    return ellipse_polygon(*v, theta=theta)


def _points_polygon(sa: dict, src: Path, item: str, col: Collector) -> Flat | None:
    """Interleave ``all_points_x`` / ``all_points_y``; a repeated closing point is dropped."""
    xs, ys = sa.get("all_points_x"), sa.get("all_points_y")
    if not isinstance(xs, list) or not isinstance(ys, list):
        col.bad(src, item, "polygon needs lists 'all_points_x' and 'all_points_y'")
        return None
    if len(xs) != len(ys):
        col.bad(src, item, f"polygon has {len(xs)} x and {len(ys)} y coordinates")
        return None
    if len(xs) > 3 and xs[0] == xs[-1] and ys[0] == ys[-1]:
        xs, ys = xs[:-1], ys[:-1]
    return [c for xy in zip(xs, ys) for c in xy]


# ----------------------------------------------------------------------------------------------
# class names
def _attribute_value(value: Any) -> str | None:
    """A class name from one attribute value: a string, or the single checked key of a checkbox dict."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        checked = [k for k, v in value.items() if v is True and isinstance(k, str) and k.strip()]
        if len(checked) == 1:
            return checked[0].strip()
    return None


def probe(src: Path) -> common.Probe:
    """A VIA file's kind (1.x/2.x export or 2.x project), its image and region counts, the region
    attribute keys (the class attribute to choose from) and the default class (the folder name)."""
    data = read_json(src)
    project = isinstance(data, dict) and "_via_img_metadata" in data
    entries = data["_via_img_metadata"] if project else data
    entries = entries if isinstance(entries, dict) else {}
    keys: dict[str, None] = {}
    regions = 0
    for entry in entries.values():
        rs = entry.get("regions") if isinstance(entry, dict) else None
        rs = list(rs.values()) if isinstance(rs, dict) else rs if isinstance(rs, list) else []
        regions += len(rs)
        for r in rs:
            attrs = r.get("region_attributes") if isinstance(r, dict) else None
            if isinstance(attrs, dict):
                keys.update(dict.fromkeys(str(k) for k in attrs))
    return common.Probe(
        "VIA 2.x project" if project else "VIA 1.x/2.x JSON export",
        detail=f"{len(entries)} images, {regions} regions",
        class_attrs=tuple(keys),
        default_class=dataset_folder_name(src),
    )


def dataset_folder_name(src: Path) -> str:
    """The JSON's folder name, skipping split-like names (``balloon/train/x.json`` -> ``balloon``)."""
    for folder in Path(src).resolve().parents:
        if folder.name and folder.name.lower() not in _SPLIT_NAMES:
            return folder.name
    return _FALLBACK_CLASS


class _ClassNamer:
    """Picks the class of each region, falling back to a default or inferred name."""

    def __init__(self, options: ImportOptions, src: Path, col: Collector):
        self.class_attr = options.class_attr
        self.default = options.default_class
        self.src = src
        self.col = col
        self._warned = False

    def name(self, attributes: Any, item: str) -> str | None:
        """Class name of a region; None when the region is skipped."""
        attrs = attributes if isinstance(attributes, dict) else {}
        if self.class_attr is not None:
            value = _attribute_value(attrs.get(self.class_attr))
            if value is None and self.default is None:
                self.col.bad(self.src, item, f"no class in region attribute '{self.class_attr}'")
                return None
            return value if value is not None else self.default
        value = self._guess(attrs)
        return value if value is not None else self._fallback()

    @staticmethod
    def _guess(attrs: dict) -> str | None:
        """The preferred class-like attribute, else the first string attribute."""
        lower = {str(k).lower(): k for k in attrs}
        keys = [lower[k] for k in _CLASS_KEYS if k in lower] + list(attrs)
        for k in keys:
            value = _attribute_value(attrs[k])
            if value is not None:
                return value
        return None

    def _fallback(self) -> str:
        """``default_class``, else the dataset folder name (warned about once)."""
        if self.default is not None:
            return self.default
        name = dataset_folder_name(self.src)
        if not self._warned:
            self._warned = True
            self.col.warn(
                self.src,
                None,
                f"regions have no class attribute; class name '{name}' was inferred from the folder name "
                "(override with --default-class NAME, or --class-attr ATTR to read it from a region attribute)",
            )
        return name
