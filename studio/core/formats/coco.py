"""COCO import (normalising and validating) and export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.dataset.model import (
    Dataset,
    coco_parts,
    gc_paused,
    read_json,
    record_images_dir,
    usual_images_dir,
)
from studio.core.dataset.provenance import provenance_problem
from studio.core.errors import DatasetError
from studio.core.formats import common
from studio.core.formats.common import (
    Collector,
    ExportOptions,
    ImportOptions,
    ImportResult,
    export_folder,
    finite_numbers,
    integer_id,
    place_source_image,
    positive_int,
)
from studio.core.geometry import rle_problem, segmentation_area_bbox

NAME = "coco"
DESCRIPTION = "COCO JSON (instances_*.json): boxes, polygons, RLE masks, iscrowd"
KEEPS_PROVENANCE = True  # source / status / score / checkpoint are extra annotation keys, kept as they are


def detect(src: Path) -> bool:
    if src.is_file() and src.suffix.lower() == ".json":
        head = src.open("rb").read(4096)
        return b'"images"' in head or b'"annotations"' in head or b'"categories"' in head
    return False


def probe(src: Path) -> common.Probe:
    """The file's size only: counting a large COCO file's records means reading all of it."""
    return common.Probe("COCO JSON", detail=f"{src.stat().st_size / 1e6:.1f} MB")


def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    """Read a COCO file, refusing the values that would corrupt the canonical file or break a later
    step (stats, training, export) with a TypeError:

    * categories: an integer ``id`` (not a string, bool or float) and a non-empty string ``name``,
      each unique. Always errors, also with ``--lenient``: the class list is the model's head.
    * images: an integer ``id``, a non-empty string ``file_name``, positive integer ``width`` and
      ``height``; a repeated id is an error (lenient: the later record is dropped, the annotations
      with that ``image_id`` stay on the first).
    * annotations: an integer ``id`` (a repeated one, lenient: a new free id), integer ``image_id`` and
      ``category_id`` naming an image and a category; ``bbox`` 4 finite numbers with width and height
      > 0; polygons of finite numbers (degenerate ones refused, self-intersections repaired); an RLE
      whose ``counts`` decode to exactly the image's ``size``; ``area`` a finite number >= 0;
      ``iscrowd`` 0 or 1; provenance keys (``source``, ``status``, ``score``, ``checkpoint``: see
      :mod:`studio.core.dataset.provenance`) with known values, kept as they are.

    Bad items are errors naming the file and the item, or with ``--lenient`` skipped with a warning.
    """
    src = Path(src)
    col = Collector(options.strict)
    images_dir = Path(images) if images is not None else usual_images_dir(src)
    with gc_paused():
        raw_images, raw_cats, raw_anns, extra = coco_parts(read_json(src), src)
        cats = _categories(raw_cats, src)
        imgs, dropped = _images(raw_images, src, col)
        anns = _annotations(raw_anns, cats, imgs, dropped, src, col, options)
    ds = Dataset(list(imgs.values()), raw_cats, anns, extra=extra, source=src)
    return ImportResult(ds, images_dir, col.warnings)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _categories(cats: list[dict], src: Path) -> dict[int, dict]:
    """Category id -> record. Every problem is an error (also lenient): the class list is the head."""
    by_id: dict[int, tuple[int, dict]] = {}
    by_name: dict[str, tuple[int, int]] = {}
    for k, c in enumerate(cats):
        item = f"categories[{k}] (id {c['id']!r})"
        try:
            cid = integer_id(c["id"], "category id")
        except ValueError as e:
            raise DatasetError(str(e), file=src, item=item) from None
        name = c["name"]
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(f"category name must be a non-empty string, got {name!r}", file=src, item=item)
        if cid in by_id:
            j, first = by_id[cid]
            raise _used_twice("id", cid, f"categories[{j}], {first['name']!r}", src, item)
        if name in by_name:
            j, first_id = by_name[name]
            raise _used_twice("name", repr(name), f"categories[{j}] (id {first_id})", src, item)
        by_id[cid] = (k, c)
        by_name[name] = (k, cid)
    return {cid: c for cid, (_, c) in by_id.items()}


def _used_twice(key: str, value: Any, other: str, src: Path, item: str) -> DatasetError:
    """The error for a category whose ``key`` ("id" or "name") is ``value``, as the earlier category ``other``'s is."""
    return DatasetError(
        f"category {key} {value} is used twice (also by {other}); category {key}s must be unique", file=src, item=item
    )


def _images(images: list[dict], src: Path, col: Collector) -> tuple[dict[int, dict], set]:
    """Image id -> record, in file order, and the ids of the images skipped (lenient) as bad."""
    kept: dict[int, dict] = {}
    index: dict[int, int] = {}
    dropped: set = set()
    for k, im in enumerate(images):
        item = f"images[{k}] (id {im['id']!r})"
        problem = _image_problem(im)
        if problem is not None:
            col.bad(src, item, problem)
            if _hashable(im["id"]):
                dropped.add(im["id"])
            continue
        iid = im["id"]
        if iid in kept:
            j = index[iid]
            col.bad(
                src,
                item,
                f"image id {iid} is used twice (also by images[{j}], {kept[iid]['file_name']!r})",
                skipped=f"skipped; the annotations with image_id {iid} stay on images[{j}]",
            )
            continue
        kept[iid] = im
        index[iid] = k
    return kept, dropped - set(kept)


def _image_problem(im: dict) -> str | None:
    try:
        integer_id(im["id"], "image id")
        for key in ("width", "height"):
            positive_int(im.get(key), f"'{key}'")
    except ValueError as e:
        return str(e)
    name = im["file_name"]
    if not isinstance(name, str) or not name.strip():
        return f"'file_name' must be a non-empty string, got {name!r}"
    regions = im.get("ignore_regions")
    if regions is not None:
        if not isinstance(regions, list):
            return f"'ignore_regions' must be a list of polygons, got {type(regions).__name__}"
        try:
            for j, poly in enumerate(regions):
                finite_numbers(poly, f"ignore_regions[{j}]")
        except ValueError as e:
            return str(e)
    return None


def _annotations(
    anns: list[dict],
    cats: dict[int, dict],
    imgs: dict[int, dict],
    dropped: set,
    src: Path,
    col: Collector,
    options: ImportOptions,
) -> list[dict]:
    """The annotations to keep, checked and completed (bbox and area from the segmentation)."""
    out: list[dict] = []
    first: dict[int, int] = {}  # annotation id -> index in anns of the record that has it
    next_id = max((a["id"] for a in anns if isinstance(a["id"], int) and not isinstance(a["id"], bool)), default=0) + 1
    orphans = 0
    total = len(anns)
    for i, a in enumerate(anns):
        if options.progress and i % 1000 == 0:
            options.progress(i, total)
        item = f"annotations[{i}] (id {a['id']!r})"
        if _hashable(a["image_id"]) and a["image_id"] in dropped:
            orphans += 1
            continue
        if not _annotation_ok(a, cats, imgs, src, item, col):
            continue
        aid = a["id"]
        if aid in first:
            col.bad(
                src,
                item,
                f"annotation id {aid} is used twice (also by annotations[{first[aid]}])",
                skipped=f"given the new id {next_id}",
            )
            a["id"] = next_id
            next_id += 1
        first[a["id"]] = i
        out.append(a)
    if orphans:
        col.warn(src, None, f"{orphans} annotation(s) of the skipped images were skipped with them")
    if options.progress:
        options.progress(total, total)
    return out


def _annotation_ok(a: dict, cats: dict[int, dict], imgs: dict[int, dict], src: Path, item: str, col: Collector) -> bool:
    """Check (and complete) one annotation in place; False when it is bad (raised, or skipped)."""
    try:
        integer_id(a["id"], "annotation id")
        integer_id(a["category_id"], "category_id")
        integer_id(a["image_id"], "image_id")
    except ValueError as e:
        col.bad(src, item, str(e))
        return False
    if a["category_id"] not in cats:
        col.bad(src, item, f"unknown category id {a['category_id']!r}")
        return False
    im = imgs.get(a["image_id"])
    if im is None:
        col.bad(src, item, f"unknown image id {a['image_id']!r}")
        return False
    seg = a.get("segmentation") or []
    if isinstance(seg, dict):
        problem = rle_problem(seg, im["height"], im["width"])
        if problem is not None:
            col.bad(src, item, f"segmentation: {problem}")
            return False
    elif isinstance(seg, list):
        if seg:
            parts = []
            for j, poly in enumerate(seg):
                fixed = col.polygon(poly, src, f"{item} polygon {j}")
                if fixed:
                    parts.extend(fixed)
            if not parts:
                return False
            seg = parts
    else:
        col.bad(src, item, f"segmentation must be a list of polygons or an RLE object, got {type(seg).__name__}")
        return False
    if "bbox" in a:
        if col.box(a["bbox"], src, item) is None:
            return False
    elif not seg:
        col.bad(src, item, "neither bbox nor segmentation")
        return False
    if "area" in a:
        area = col.number(a["area"], src, item, "area")
        if area is None:
            return False
        if area < 0:
            col.bad(src, item, f"area must be >= 0, got {a['area']!r}")
            return False
    problem = provenance_problem(a)
    if problem is not None:
        col.bad(src, item, problem)
        return False
    crowd = a.get("iscrowd", 0)
    if crowd not in (0, 1) or not isinstance(crowd, (int, bool)):
        col.bad(src, item, f"iscrowd must be 0 or 1, got {crowd!r}")
        return False
    a["iscrowd"] = int(crowd)
    a["segmentation"] = seg
    if seg:
        area, box = segmentation_area_bbox(seg)
        a.setdefault("area", area)
        a.setdefault("bbox", box)
    box = a["bbox"]
    a.setdefault("area", float(box[2]) * float(box[3]))
    return True


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
