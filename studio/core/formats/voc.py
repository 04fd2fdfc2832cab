"""Pascal VOC XML import and export (VOC2007 layout).

Layout::

    ROOT/Annotations/<stem>.xml
    ROOT/JPEGImages/<stem>.jpg
    ROOT/ImageSets/Main/{train,val,trainval,test}.txt   (one stem per line)

Boxes follow the VOC convention of 1-based inclusive pixel indexes: a box ``xmin..xmax`` covers the
pixels ``xmin`` to ``xmax``, so in COCO terms ``x = xmin - 1`` and ``w = xmax - xmin + 1``. Export
writes the exact inverse, so a round trip keeps boxes unchanged.

VOC has no polygons: on export every annotation is written as its bounding box. Objects marked
``<difficult>1</difficult>`` keep ``"difficult": 1`` on their annotation; ``truncated`` is ignored
on import and written as 0. Export also writes ``ROOT/labels.txt``; import reads it back so the
class order (the model's class indexes) survives a round trip. VOC has no place for provenance:
:func:`studio.core.formats.export_dataset_report` hands this exporter the accepted annotations only (all of them,
as plain objects, with ``include_pending``).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import common
from studio.core.formats.common import (
    MAX_SIDE,
    Collector,
    ExportOptions,
    ImportOptions,
    ImportResult,
    export_folder,
    export_names,
    place_source_image,
    read_image_size,
)
from studio.core.imageio import IMAGE_SUFFIXES

NAME = "voc"
DESCRIPTION = "Pascal VOC XML (Annotations/, JPEGImages/, ImageSets/Main/): boxes, difficult flag"

SPLITS = ("train", "val", "trainval", "test")
_NOT_CLASSES = frozenset({"__ignore__", "_background_"})  # labelme-style labels.txt entries

log = logging.getLogger(__name__)
DEFAULT_SPLIT = "trainval"


# ----------------------------------------------------------------------------------------------
# detection
def detect(src: Path) -> bool:
    """A folder with ``Annotations/*.xml``, or an ``.xml`` file whose root is ``<annotation>``."""
    src = Path(src)
    if src.is_dir():
        ann_dir = src / "Annotations"
        return ann_dir.is_dir() and any(ann_dir.glob("*.xml"))
    if src.is_file() and src.suffix.lower() == ".xml":
        with src.open("rb") as f:
            return re.search(rb"<annotation[\s>]", f.read(4096)) is not None  # not CVAT's <annotations>
    return False


def probe(src: Path) -> common.Probe:
    """The XML count and the splits of ``ImageSets/Main``."""
    root = src if src.is_dir() else src.parent
    root = root.parent if root.name == "Annotations" else root
    main = root / "ImageSets" / "Main"
    splits = tuple(sorted(p.stem for p in main.glob("*.txt"))) if main.is_dir() else ()
    xml_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
    n = sum(1 for _ in xml_dir.glob("*.xml")) if src.is_dir() else 1
    return common.Probe("Pascal VOC XML", detail=f"{n} XML file(s)", splits=splits)


# ----------------------------------------------------------------------------------------------
# import
@dataclass
class _Object:
    name: str
    box: list[float]  # COCO xywh
    difficult: bool
    item: str


@dataclass
class _Record:
    xml: Path
    file_name: str
    width: int
    height: int
    objects: list[_Object] = field(default_factory=list)


def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    """Read a VOC root (or a folder of XML files, or one XML file) into a dataset."""
    src = Path(src)
    col = Collector(options.strict)
    xml_dir, xml_files = _xml_files(src, options.split)
    images_dir = _images_dir(xml_dir, images)
    records: list[_Record] = []
    for k, xml in enumerate(xml_files):
        rec = _parse_file(xml, images_dir, col)
        if rec is not None:
            records.append(rec)
        if options.progress:
            options.progress(k + 1, len(xml_files))
    ds = _build(records, options.labels, _labels_file(xml_dir), col)
    ds.source = src
    return ImportResult(ds, images_dir, col.warnings)


def _xml_files(src: Path, split: str | None) -> tuple[Path, list[Path]]:
    """The XML folder and the XML files to read, in order (split file order, else sorted)."""
    if src.is_file():
        return src.parent, [src]
    xml_dir = src / "Annotations" if (src / "Annotations").is_dir() else src
    if split is None:
        files = sorted(xml_dir.glob("*.xml"))
        if not files:
            raise DatasetError("no .xml annotation files found", file=xml_dir)
        return xml_dir, files
    main = _voc_root(xml_dir) / "ImageSets" / "Main"
    split_file = main / f"{split}.txt"
    if not split_file.is_file():
        found = sorted(p.stem for p in main.glob("*.txt")) if main.is_dir() else []
        known = ", ".join(found) if found else "none"
        raise DatasetError(f"no split '{split}' (available splits: {known})", file=split_file)
    return xml_dir, [xml_dir / f"{stem}.xml" for stem in _split_stems(split_file)]


def _split_stems(split_file: Path) -> list[str]:
    """Stems listed in an ImageSets file (first token of each non-empty line)."""
    stems = []
    for line in split_file.read_text(encoding="utf-8").splitlines():
        tokens = line.split()
        if tokens:
            stems.append(tokens[0])
    return list(dict.fromkeys(stems))


def _voc_root(xml_dir: Path) -> Path:
    """The dataset root: the parent of ``Annotations/``, else the XML folder itself."""
    return xml_dir.parent if xml_dir.name == "Annotations" else xml_dir


def _images_dir(xml_dir: Path, images: Path | None) -> Path:
    """The ``images`` argument, else ``ROOT/JPEGImages``, else the XML folder."""
    if images is not None:
        return Path(images)
    jpeg = _voc_root(xml_dir) / "JPEGImages"
    return jpeg if jpeg.is_dir() else xml_dir


def _parse_file(xml: Path, images_dir: Path, col: Collector) -> _Record | None:
    """One XML file as a record, or None when it was skipped (non-strict)."""
    if not xml.is_file():
        col.bad(xml, None, "annotation file listed in the split is missing")
        return None
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:  # the message names the line and column
        col.bad(xml, None, f"malformed XML: {e}")
        return None
    if root.tag != "annotation":
        col.bad(xml, None, f"root element is <{root.tag}>, expected <annotation>")
        return None
    file_name = _file_name(root, xml, images_dir)
    size = _size(root, xml, images_dir / file_name, col)
    if size is None:
        return None
    rec = _Record(xml, file_name, size[0], size[1])
    for k, obj in enumerate(root.findall("object")):
        parsed = _parse_object(obj, k, xml, col)
        if parsed is not None:
            rec.objects.append(parsed)
    return rec


def _text(el: ET.Element, path: str) -> str:
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _file_name(root: ET.Element, xml: Path, images_dir: Path) -> str:
    """``<filename>``; when absent or without an extension, the image named like the XML."""
    name = _text(root, "filename")
    if name and PurePosixPath(name).suffix:
        return name
    stem = name or xml.stem
    for suffix in IMAGE_SUFFIXES:
        if (images_dir / f"{stem}{suffix}").is_file():
            return f"{stem}{suffix}"
    return f"{stem}.jpg"


def _size(root: ET.Element, xml: Path, image: Path, col: Collector) -> tuple[int, int] | None:
    """``(width, height)`` from ``<size>``, else (absent, empty or 0) from the image header.

    A value that is there must be a finite number >= 0: ``nan``, ``inf`` or ``abc`` is a bad item."""
    size = []
    for key in ("width", "height"):
        text = _text(root, f"size/{key}")
        v = col.number(text, xml, None, f"<size><{key}>", text=True) if text else 0.0
        if v is None:
            return None
        if not 0 <= v <= MAX_SIDE:
            col.bad(xml, None, f"<size><{key}> must be between 0 and {MAX_SIDE}, got {text!r}")
            return None
        size.append(int(v))
    w, h = size
    if w > 0 and h > 0:
        return w, h
    try:
        return read_image_size(image)
    except DatasetError as e:
        col.bad(xml, None, f"no <size> and the image cannot be read ({e})")
        return None


def _parse_object(obj: ET.Element, k: int, xml: Path, col: Collector) -> _Object | None:
    name = _text(obj, "name")
    item = f"object {k} ({name or 'no name'})"
    if not name:
        col.bad(xml, item, "object without <name>")
        return None
    bnd = obj.find("bndbox")
    if bnd is None:
        col.bad(xml, item, "object without <bndbox>")
        return None
    corners = []
    for key in ("xmin", "ymin", "xmax", "ymax"):
        v = col.number(_text(bnd, key), xml, item, f"<bndbox><{key}>", text=True)
        if v is None:
            return None
        corners.append(v)
    x0, y0, x1, y1 = corners
    if x1 < x0 or y1 < y0:
        col.bad(xml, item, f"empty box (xmin {x0:g}, ymin {y0:g}, xmax {x1:g}, ymax {y1:g})")
        return None
    box = [x0 - 1.0, y0 - 1.0, x1 - x0 + 1.0, y1 - y0 + 1.0]
    difficult = _text(obj, "difficult") in ("1", "true", "True")
    return _Object(name, box, difficult, item)


def _labels_file(xml_dir: Path) -> list[str]:
    """Class names from ``ROOT/labels.txt`` (written by :func:`write`), or [] when absent."""
    path = _voc_root(xml_dir) / "labels.txt"
    if not path.is_file():
        return []
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [n for n in names if n and n not in _NOT_CLASSES]


def _build(records: list[_Record], labels: list[str] | None, known_order: list[str], col: Collector) -> Dataset:
    """Categories, images and box annotations.

    Categories are the fixed ``labels`` when given (other names are bad items); else the names of
    ``labels.txt`` in its order followed by any other names found, sorted; else the sorted names.
    """
    ds = Dataset()
    if labels is not None:
        names = list(labels)
    else:
        found = {o.name for r in records for o in r.objects}
        names = known_order + sorted(found - set(known_order))
    for name in names:
        ds.add_category(name)
    for rec in records:
        # explicit ids: the model's own next-id lookup scans all records (quadratic on big sets)
        im = ds.add_image(rec.file_name, rec.width, rec.height, id=len(ds.images) + 1)
        for obj in rec.objects:
            cid = ds.category_id(obj.name)
            if cid is None:
                col.bad(rec.xml, obj.item, f"label '{obj.name}' is not in the label list")
                continue
            extra = {"difficult": 1} if obj.difficult else {}
            ds.add_annotation(im["id"], cid, bbox=obj.box, id=len(ds.annotations) + 1, **extra)
    return ds


# ----------------------------------------------------------------------------------------------
# export
def write(ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions) -> list[Path]:
    """Write ``OUT/Annotations/*.xml``, ``OUT/ImageSets/Main/trainval.txt``, ``OUT/labels.txt``
    (+ ``OUT/JPEGImages/`` when copying images). Polygons and masks are written as their boxes;
    crowd annotations (``iscrowd`` 1) are skipped, VOC has no such notion.

    Image names with subfolders are flattened (``a/b.jpg`` -> ``a__b.jpg``). When images are not
    copied, ``<filename>`` keeps the original relative name so the XML still points at the image.
    """
    out_dir = Path(out_dir)
    if options.copy_images and images_dir is None:
        raise DatasetError("an images folder is needed to copy the images", file=ds.source)
    stems = [PurePosixPath(n).stem for n in export_names([im["file_name"] for im in ds.images])]
    written: list[Path] = []
    with export_folder(ds, images_dir, out_dir, options, NAME) as folder:
        for k, (im, stem) in enumerate(zip(ds.images, stems)):
            file_name = stem + PurePosixPath(im["file_name"]).suffix
            if options.copy_images:
                place_source_image(folder, images_dir, im, f"JPEGImages/{file_name}")
            else:
                file_name = im["file_name"]
            xml = _annotation_xml(ds, im, file_name, out_dir.name)
            written.append(folder.write_text(f"Annotations/{stem}.xml", xml))
            if options.progress:
                options.progress(k + 1, len(ds.images))
        written.append(folder.write_text(f"ImageSets/Main/{DEFAULT_SPLIT}.txt", "".join(f"{s}\n" for s in stems)))
        written.append(folder.write_text("labels.txt", "".join(f"{n}\n" for n in ds.class_names)))
    crowd = sum(1 for a in ds.annotations if a.get("iscrowd"))
    if crowd:
        log.warning("%s: skipped %d crowd annotation(s) (iscrowd=1 regions are not objects)", out_dir, crowd)
    return written


def _num(v: float) -> str:
    """An int when integral, else a float rounded to 3 decimals."""
    r = round(float(v), 3)
    return str(int(r)) if r == int(r) else repr(r)


def _annotation_xml(ds: Dataset, im: dict, file_name: str, folder: str) -> str:
    root = ET.Element("annotation")
    _sub(root, "folder", folder)
    _sub(root, "filename", file_name)
    size = ET.SubElement(root, "size")
    _sub(size, "width", str(im["width"]))
    _sub(size, "height", str(im["height"]))
    _sub(size, "depth", "3")
    _sub(root, "segmented", "0")
    for ann in ds.anns_for_image(im["id"]):
        if ann.get("iscrowd"):
            continue
        if not ds.has_category(ann["category_id"]):
            raise DatasetError(f"unknown category id {ann['category_id']!r}", item=f"annotation id {ann['id']}")
        _object_xml(root, ds.category(ann["category_id"])["name"], ann)
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def _object_xml(root: ET.Element, name: str, ann: dict) -> None:
    x, y, w, h = (float(v) for v in ann["bbox"])
    obj = ET.SubElement(root, "object")
    _sub(obj, "name", name)
    _sub(obj, "pose", "Unspecified")
    _sub(obj, "truncated", "0")
    _sub(obj, "difficult", "1" if ann.get("difficult") else "0")
    bnd = ET.SubElement(obj, "bndbox")
    for key, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h)):
        _sub(bnd, key, _num(value))


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el


__all__ = ["NAME", "DESCRIPTION", "detect", "read", "write"]
