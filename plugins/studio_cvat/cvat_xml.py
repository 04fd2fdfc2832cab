"""CVAT for images 1.1 XML: import and export (a Studio dataset format contributed by a plugin).

CVAT (cvat.ai) exports a task or project as "CVAT for images 1.1": one ``annotations.xml`` and, when
asked, the images in ``images/``::

    <annotations>
      <version>1.1</version>
      <meta><task><labels><label><name>cat</name>...</label></labels></task></meta>
      <image id="0" name="a.jpg" width="640" height="480">
        <box label="cat" occluded="0" xtl="10.00" ytl="20.00" xbr="110.00" ybr="220.00" z_order="0"/>
        <polygon label="dog" occluded="0" points="10.00,20.00;30.00,40.00;50.00,10.00" z_order="0">
          <attribute name="colour">brown</attribute>
        </polygon>
        <mask label="cat" rle="0, 3, 5, 2" left="10" top="20" width="6" height="4"/>
      </image>
    </annotations>

Import reads boxes (a rotated box becomes its polygon), polygons, ellipses (as 64-point polygons) and
masks (``rle``: counts of alternating 0 / 1 pixels, starting with 0, row by row over the
``width`` x ``height`` window at ``left``, ``top``). Polygons that share a non-zero ``group_id``
and a label are one object with several parts (that is how export writes Studio's multi-part
polygons). ``<attribute>`` children go to the annotation's ``attributes``, ``occluded="1"`` to
``occluded``. Polylines, points, cuboids, skeletons and tags are not objects a detector trains on:
they are skipped with a warning. ``--split`` keeps the images of one project subset. The class
list is the task's (or project's) label list in its order; a shape whose label is not in it is a
bad item. Every error names the file and the item: ``annotations.xml: image 'a.jpg' polygon 2:
degenerate polygon: 2 point(s), a polygon needs at least 3``.

Export writes ``annotations.xml`` (coordinates with two decimals, as CVAT writes them) and, unless
``--no-copy-images``, ``images/``; crowd regions (``iscrowd`` 1) are skipped, CVAT has no such notion.
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import common
from studio.core.formats.common import (
    Collector,
    ExportOptions,
    ImportOptions,
    ImportResult,
    export_folder,
    finite_number,
    place_source_image,
)
from studio.core.geometry import ellipse_polygon, is_rle, mask_to_rle, segmentation_to_mask

NAME = "cvat"
DESCRIPTION = "CVAT for images 1.1 XML (annotations.xml, images/): boxes, polygons, ellipses, masks, attributes"

XML_NAME = "annotations.xml"
ELLIPSE_POINTS = 64
_SKIPPED = ("polyline", "points", "cuboid", "skeleton", "tag")
_HEAD = re.compile(rb"<annotations[\s>]")

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ detection
def detect(src: Path) -> bool:
    """An ``.xml`` file whose root is ``<annotations>`` with ``<image>`` or ``<version>`` in it, or a folder
    holding one as annotations.xml."""
    src = Path(src)
    if src.is_dir():
        src = src / XML_NAME
    if not (src.is_file() and src.suffix.lower() == ".xml"):
        return False
    with src.open("rb") as f:
        head = f.read(8192)
    return _HEAD.search(head) is not None and (b"<image" in head or b"<version>" in head or b"<meta" in head)


def probe(src: Path) -> common.Probe:
    """What the import wizard shows before importing (optional for a format): the image count and the
    project subsets. A file that does not parse is left for the import to report."""
    src = Path(src)
    summary = "CVAT for images 1.1 XML"
    try:
        elements = _parse(src / XML_NAME if src.is_dir() else src).findall("image")
    except DatasetError:
        return common.Probe(summary)
    subsets = tuple(sorted({el.get("subset", "") for el in elements} - {""}))
    return common.Probe(summary, detail=f"{len(elements)} images", splits=subsets)


# ------------------------------------------------------------------------------------------ import
@dataclass
class _Shape:
    label: str
    item: str
    kind: str  # "box", "polygon", "mask"
    parts: list[list[float]] = field(default_factory=list)  # polygon parts (flat)
    bbox: list[float] | None = None  # box-only
    rle: dict | None = None  # mask
    group: int = 0
    extra: dict = field(default_factory=dict)


def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    src = Path(src)
    xml = src / XML_NAME if src.is_dir() else src
    if not xml.is_file():
        raise DatasetError(f"no {XML_NAME} in this folder", file=src)
    col = Collector(options.strict)
    root = _parse(xml)
    labels = list(options.labels) if options.labels is not None else _meta_labels(root)
    if root.find("track") is not None:
        col.bad(xml, "track", "CVAT for video tracks are not read: export the task as 'CVAT for images 1.1'")
    elements = root.findall("image")
    if options.split is not None:
        subsets = sorted({el.get("subset", "") for el in elements} - {""})
        elements = [el for el in elements if el.get("subset", "").lower() == options.split.lower()]
        if not elements:
            raise DatasetError(
                f"no image in subset '{options.split}' (subsets: {', '.join(subsets) or 'none'})", file=xml
            )
    images_dir = (
        Path(images)
        if images is not None
        else (xml.parent / "images" if (xml.parent / "images").is_dir() else xml.parent)
    )
    records: list[tuple[dict, list[_Shape]]] = []
    for k, el in enumerate(elements):
        rec = _image(el, k, xml, col)
        if rec is not None:
            records.append(rec)
        if options.progress:
            options.progress(k + 1, len(elements))
    ds = _build(records, labels, xml, col)
    ds.source = xml
    return ImportResult(ds, images_dir, col.warnings)


def _parse(xml: Path) -> ET.Element:
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        raise DatasetError(f"broken XML ({e})", file=xml) from None
    except OSError as e:
        raise DatasetError(f"cannot read: {e.strerror or e}", file=xml) from None
    if root.tag != "annotations":
        raise DatasetError(
            f"not a CVAT for images file: the root element is <{root.tag}>, CVAT's is <annotations>", file=xml
        )
    return root


def _meta_labels(root: ET.Element) -> list[str]:
    """The task's (or project's, or job's) label list in order; skeleton points (labels with a parent) left out."""
    names: list[str] = []
    for label in root.iterfind("meta//labels/label"):
        name = (label.findtext("name") or "").strip()
        if name and label.find("parent") is None and (label.findtext("type") or "") != "tag" and name not in names:
            names.append(name)
    return names


def _image(el: ET.Element, k: int, xml: Path, col: Collector) -> tuple[dict, list[_Shape]] | None:
    name = el.get("name")
    if not name:
        col.bad(xml, f"image {k}", "<image> without a name attribute")
        return None
    where = f"image {name!r}"
    try:
        width, height = int(_num(el, "width")), int(_num(el, "height"))
        if width <= 0 or height <= 0:
            raise ValueError
    except ValueError:
        col.bad(
            xml, where, f"width and height must be positive numbers, got {el.get('width')!r} x {el.get('height')!r}"
        )
        return None
    shapes: list[_Shape] = []
    counts: dict[str, int] = {}
    for child in el:
        tag = child.tag
        n = counts.get(tag, 0)
        counts[tag] = n + 1
        item = f"{where} {tag} {n}"
        if tag in _SKIPPED:
            col.warn(
                xml, item, f"skipped: a {tag} is not an object shape (boxes, polygons, ellipses and masks are read)"
            )
            continue
        if tag not in ("box", "polygon", "ellipse", "mask"):
            col.warn(xml, item, f"skipped: unknown element <{tag}>")
            continue
        label = child.get("label")
        if not label:
            col.bad(xml, item, f"<{tag}> without a label attribute")
            continue
        try:
            shape = _shape(child, tag, label, item, xml, col, width, height)
        except ValueError as e:
            col.bad(xml, item, str(e))
            continue
        if shape is not None:
            shapes.append(shape)
    return {"file_name": name, "width": width, "height": height}, shapes


def _num(el: ET.Element, key: str, default: float | None = None) -> float:
    """A finite number attribute (``default`` when absent or empty, if given); ValueError naming it."""
    v = el.get(key)
    if default is not None and not (v or "").strip():
        return default
    return finite_number(v, f"attribute {key}", text=True)


def _shape(
    el: ET.Element, tag: str, label: str, item: str, xml: Path, col: Collector, width: int, height: int
) -> _Shape | None:
    extra: dict = {}
    attrs = {a.get("name"): (a.text or "") for a in el.findall("attribute") if a.get("name")}
    if attrs:
        extra["attributes"] = attrs
    if el.get("occluded") == "1":
        extra["occluded"] = 1
    group_text = (el.get("group_id") or "0").strip()
    if re.fullmatch(r"[+-]?\d+", group_text) is None:
        raise ValueError(f"attribute group_id must be an integer, got {el.get('group_id')!r}")
    group = int(group_text)
    if tag == "box":
        x0, y0, x1, y1 = (_num(el, k) for k in ("xtl", "ytl", "xbr", "ybr"))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"box has no area: xtl {x0:g}, ytl {y0:g}, xbr {x1:g}, ybr {y1:g}")
        angle = _num(el, "rotation", 0.0)
        if angle % 360 == 0:
            return _Shape(label, item, "box", bbox=[x0, y0, x1 - x0, y1 - y0], group=group, extra=extra)
        flat = _rotated_box(x0, y0, x1, y1, angle)
    elif tag == "ellipse":
        cx, cy, rx, ry = (_num(el, k) for k in ("cx", "cy", "rx", "ry"))
        if rx <= 0 or ry <= 0:
            raise ValueError(f"ellipse has no area: rx {rx:g}, ry {ry:g}")
        flat = list(ellipse_polygon(cx, cy, rx, ry, math.radians(_num(el, "rotation", 0.0)), n=ELLIPSE_POINTS))
    elif tag == "polygon":
        flat = _points(el.get("points"))
    else:
        return _Shape(label, item, "mask", rle=_mask(el, width, height), group=group, extra=extra)
    parts = col.polygon(flat, xml, item)
    if parts is None:
        return None
    return _Shape(label, item, "polygon", parts=parts, group=group, extra=extra)


def _points(text: str | None) -> list[float]:
    if not text or not text.strip():
        raise ValueError("polygon without points")
    flat: list[float] = []
    for pair in text.strip().split(";"):
        xy = pair.split(",")
        if len(xy) != 2:
            raise ValueError(f"points must be 'x,y;x,y;...', got {pair!r}")
        try:
            flat += [float(xy[0]), float(xy[1])]
        except ValueError:
            raise ValueError(f"points must be numbers, got {pair!r}") from None
    return flat


def _rotated_box(x0: float, y0: float, x1: float, y1: float, degrees: float) -> list[float]:
    """The corners of a box rotated clockwise (image axes, y down) by ``degrees`` about its centre."""
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    out: list[float] = []
    for dx, dy in ((-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)):
        out += [cx + dx * c - dy * s, cy + dx * s + dy * c]
    return out


def _mask(el: ET.Element, width: int, height: int) -> dict:
    left, top, w, h = (int(_num(el, k)) for k in ("left", "top", "width", "height"))
    if w <= 0 or h <= 0:
        raise ValueError(f"mask window has no area: width {w}, height {h}")
    try:
        counts = [int(v) for v in (el.get("rle") or "").replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError("rle must be comma-separated integers") from None
    if not counts or any(c < 0 for c in counts) or sum(counts) != w * h:
        raise ValueError(f"rle counts add up to {sum(counts)}, the {w} x {h} window has {w * h} pixels")
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 1
    window = np.repeat(values, counts).reshape(h, w)
    full = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + w, width), min(top + h, height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"mask window ({left}, {top}, {w} x {h}) lies outside the {width} x {height} image")
    full[y0:y1, x0:x1] = window[y0 - top : y1 - top, x0 - left : x1 - left]
    if not full.any():
        raise ValueError("empty mask")
    return mask_to_rle(full)


def _build(records: list[tuple[dict, list[_Shape]]], labels: list[str], xml: Path, col: Collector) -> Dataset:
    ds = Dataset()
    names = list(labels) if labels else sorted({s.label for _, shapes in records for s in shapes})
    for name in names:
        ds.add_category(name)
    for rec, shapes in records:
        im = ds.add_image(rec["file_name"], rec["width"], rec["height"], id=len(ds.images) + 1)
        merged: dict[tuple[int, str], dict] = {}
        for s in shapes:
            cid = ds.category_id(s.label)
            if cid is None:
                col.bad(xml, s.item, f"label {s.label!r} is not in the label list ({', '.join(names)})")
                continue
            if s.kind == "polygon" and s.group and (s.group, s.label) in merged:
                ann = merged[s.group, s.label]
                ds.set_segmentation(ann["id"], ann["segmentation"] + s.parts)
                continue
            aid = len(ds.annotations) + 1
            if s.kind == "box":
                ann = ds.add_annotation(im["id"], cid, bbox=s.bbox, id=aid, **s.extra)
            elif s.kind == "mask":
                ann = ds.add_annotation(im["id"], cid, segmentation=s.rle, id=aid, **s.extra)
            else:
                ann = ds.add_annotation(im["id"], cid, segmentation=s.parts, id=aid, **s.extra)
                if s.group:
                    merged[s.group, s.label] = ann
    return ds


# ------------------------------------------------------------------------------------------ export
def write(ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions) -> list[Path]:
    """Write ``OUT/annotations.xml`` (+ ``OUT/images/`` when copying images)."""
    out_dir = Path(out_dir)
    if options.copy_images and images_dir is None:
        raise DatasetError("an images folder is needed to copy the images", file=ds.source)
    names = [im["file_name"] for im in ds.images]  # safe relative names: export_dataset refuses others
    root = ET.Element("annotations")
    _sub(root, "version", "1.1")
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    _sub(task, "name", ds.source.stem if ds.source is not None else "studio")
    _sub(task, "size", str(len(ds.images)))
    _sub(task, "mode", "annotation")
    labels_el = ET.SubElement(task, "labels")
    for cat in sorted(ds.categories, key=lambda c: c["id"]):
        lab = ET.SubElement(labels_el, "label")
        _sub(lab, "name", cat["name"])
        _sub(lab, "type", "any")
        ET.SubElement(lab, "attributes")
    crowd = 0
    written: list[Path] = []
    with export_folder(ds, images_dir, out_dir, options, NAME) as folder:
        group = 0
        for k, (im, name) in enumerate(zip(ds.images, names)):
            if options.copy_images:
                written.append(place_source_image(folder, images_dir, im, f"images/{name}"))
            el = ET.SubElement(root, "image", id=str(k), name=name, width=str(im["width"]), height=str(im["height"]))
            for ann in ds.anns_for_image(im["id"]):
                if ann.get("iscrowd"):
                    crowd += 1
                    continue
                if not ds.has_category(ann["category_id"]):
                    raise DatasetError(
                        f"unknown category id {ann['category_id']!r}", file=ds.source, item=f"annotation id {ann['id']}"
                    )
                label = ds.category(ann["category_id"])["name"]
                seg = ann.get("segmentation") or []
                if is_rle(seg):
                    _mask_el(el, label, ann, segmentation_to_mask(seg, im["height"], im["width"]))
                elif seg:
                    group_id = 0
                    if len(seg) > 1:
                        group += 1
                        group_id = group
                    for part in seg:
                        pts = ";".join(f"{_f(part[i])},{_f(part[i + 1])}" for i in range(0, len(part) - 1, 2))
                        _shape_el(el, "polygon", label, ann, group_id, points=pts)
                else:
                    x, y, w, h = (float(v) for v in ann["bbox"])
                    _shape_el(el, "box", label, ann, 0, xtl=_f(x), ytl=_f(y), xbr=_f(x + w), ybr=_f(y + h))
            if options.progress:
                options.progress(k + 1, len(ds.images))
        ET.indent(root, space="  ")
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
        written.insert(0, folder.write_text(XML_NAME, text))
    if crowd:
        log.warning("%s: skipped %d crowd region(s) (iscrowd=1 is not an object)", out_dir, crowd)
    return written


def _f(v: float) -> str:
    return f"{float(v):.2f}"


def _shape_el(parent: ET.Element, tag: str, label: str, ann: dict, group_id: int, **coords: str) -> ET.Element:
    attrib = {
        "label": label,
        "source": "manual",
        "occluded": "1" if ann.get("occluded") else "0",
        **coords,
        "z_order": "0",
    }
    if group_id:
        attrib["group_id"] = str(group_id)
    el = ET.SubElement(parent, tag, attrib)
    attributes = ann.get("attributes")
    if isinstance(attributes, dict):
        for k, v in attributes.items():
            _sub(el, "attribute", str(v), name=str(k))
    return el


def _mask_el(parent: ET.Element, label: str, ann: dict, mask: np.ndarray) -> None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    flat = mask[y0:y1, x0:x1].reshape(-1).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs  # counts start with background
    _shape_el(
        parent,
        "mask",
        label,
        ann,
        0,
        rle=", ".join(str(r) for r in runs),
        left=str(x0),
        top=str(y0),
        width=str(x1 - x0),
        height=str(y1 - y0),
    )


def _sub(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    el.text = text
    return el


__all__ = ["NAME", "DESCRIPTION", "detect", "read", "write"]
