"""COCO import (normalising and validating) and export."""

from __future__ import annotations

from pathlib import Path

from studio.core.dataset.model import Dataset, record_images_dir, usual_images_dir
from studio.core.errors import DatasetError
from studio.core.formats.common import (
    Collector, ExportOptions, ImportOptions, ImportResult, export_folder, place_source_image,
)
from studio.core.geometry import is_rle, segmentation_area_bbox

NAME = "coco"
DESCRIPTION = "COCO JSON (instances_*.json): boxes, polygons, RLE masks, iscrowd"


def detect(src: Path) -> bool:
    if src.is_file() and src.suffix.lower() == ".json":
        head = src.open("rb").read(4096)
        return b'"images"' in head or b'"annotations"' in head or b'"categories"' in head
    return False


def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    src = Path(src)
    ds = Dataset.load(src)
    col = Collector(options.strict)
    images_dir = Path(images) if images is not None else usual_images_dir(src)
    anns = []
    total = len(ds.annotations)
    for i, a in enumerate(ds.annotations):
        item = f"annotations[{i}] (id {a['id']})"
        if not ds.has_category(a["category_id"]):
            col.bad(src, item, f"unknown category id {a['category_id']!r}")
            continue
        if not ds.has_image(a["image_id"]):
            col.bad(src, item, f"unknown image id {a['image_id']!r}")
            continue
        seg = a.get("segmentation") or []
        if seg and not is_rle(seg):
            if not isinstance(seg, list):
                col.bad(src, item, f"segmentation must be a list of polygons or an RLE object, got {type(seg).__name__}")
                continue
            parts = []
            for j, poly in enumerate(seg):
                fixed = col.polygon(poly, src, f"{item} polygon {j}")
                if fixed:
                    parts.extend(fixed)
            if not parts:
                continue
            seg = parts
        a["segmentation"] = seg
        if seg:
            area, box = segmentation_area_bbox(seg)
            a.setdefault("area", area)
            a.setdefault("bbox", box)
        elif "bbox" not in a:
            col.bad(src, item, "neither bbox nor segmentation")
            continue
        box = a["bbox"]
        if not (isinstance(box, list) and len(box) == 4):
            col.bad(src, item, f"bbox must be [x, y, w, h], got {box!r}")
            continue
        a.setdefault("area", float(box[2]) * float(box[3]))
        a.setdefault("iscrowd", 0)
        anns.append(a)
        if options.progress and i % 1000 == 0:
            options.progress(i, total)
    for k, im in enumerate(ds.images):
        for key in ("width", "height"):
            if not isinstance(im.get(key), int) or im[key] <= 0:
                col.bad(src, f"images[{k}] (id {im['id']})", f"'{key}' must be a positive integer, got {im.get(key)!r}")
    ds.annotations = anns
    ds.reindex()
    return ImportResult(ds, images_dir, col.warnings)


def write(ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions) -> list[Path]:
    """``OUT/annotations.json`` (+ ``OUT/images/`` when copying images)."""
    if options.copy_images and images_dir is None:
        raise DatasetError("--images is needed to copy the images", file=ds.source)
    with export_folder(ds, images_dir, out_dir, options, NAME) as folder:
        for k, im in enumerate(ds.images):
            if options.copy_images:
                place_source_image(folder, images_dir, im, f"images/{im['file_name']}")
            if options.progress:
                options.progress(k + 1, len(ds.images))
        out = ds.copy()
        if options.copy_images:
            record_images_dir(out, Path(out_dir) / "images", out_dir)
        elif images_dir is not None:
            record_images_dir(out, images_dir, out_dir)
        out.save(folder.path("annotations.json"))
    return [Path(out_dir) / "annotations.json"]
