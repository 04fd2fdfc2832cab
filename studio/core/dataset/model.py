"""One canonical dataset model, COCO-compatible.

Records stay plain dicts with COCO keys, so a :class:`Dataset` is written out as a valid COCO file
and read back with no translation, and loading 100k annotations costs one JSON parse (orjson) plus
one indexing pass. Extra keys on any record (``ignore_regions`` on images, ``attributes`` on
annotations...) are kept through load and save.

* image: ``id``, ``file_name`` (relative to the images folder), ``width``, ``height``
  [, ``ignore_regions``: list of flat polygons that are neither objects nor background]
* category: ``id``, ``name`` [, ``supercategory``]
* annotation: ``id``, ``image_id``, ``category_id``, ``bbox`` (xywh), ``area``, ``iscrowd``,
  ``segmentation`` (list of flat polygons, or RLE dict, or empty list for box-only)
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from studio.core import atomic
from studio.core.dataset.json_child import JSONChildError, load_in_child, should_use_child
from studio.core.errors import DatasetError
from studio.core.geometry import bbox_polygon, is_rle, segmentation_area_bbox

_TOP_KEYS = ("images", "annotations", "categories")


def image_path(images_dir: str | Path | None, image: dict) -> Path:
    """Where an image record's file is expected."""
    name = image["file_name"]
    return Path(images_dir) / name if images_dir is not None else Path(name)


def recorded_images_dir(ann: str | Path, ds: Dataset) -> Path | None:
    """The images folder that ``studio dataset import`` recorded in ``info.images_dir``, if any."""
    info = ds.extra.get("info")
    rel = info.get("images_dir") if isinstance(info, dict) else None
    return (Path(ann).parent / rel).resolve() if rel else None


def record_images_dir(ds: Dataset, images_dir: str | Path, ann_folder: str | Path) -> dict:
    """Store ``images_dir`` in ``info.images_dir``, relative to ``ann_folder`` (where the file will be)."""
    info = ds.extra.get("info")
    info = dict(info) if isinstance(info, dict) else {}
    info["images_dir"] = os.path.relpath(Path(images_dir).resolve(), Path(ann_folder).resolve())
    ds.extra["info"] = info
    return info


def usual_images_dir(ann: str | Path) -> Path:
    """Where a COCO file's images usually are: ``../images/<stem>``, ``../images``, ``./images``, its folder."""
    ann = Path(ann)
    here = ann.parent
    for cand in (here.parent / "images" / ann.stem, here.parent / "images", here / "images"):
        if cand.is_dir():
            return cand
    return here


def read_json(path: str | Path, gil_friendly: bool = False) -> Any:
    """Parse a JSON file; errors name the file and the position.

    ``gil_friendly``: parse a large file in a child process so no single call holds this process's GIL
    for long (see json_child); the desktop app loads this way, keeping its GUI thread responsive.
    """
    path = Path(path)
    if gil_friendly and should_use_child(path):
        try:
            return load_in_child(path)
        except JSONChildError as e:
            where = f" at line {e.lineno}, column {e.colno}" if e.lineno is not None else ""
            raise DatasetError(f"broken JSON ({e.msg}{where})" if e.lineno is not None else e.msg, file=path) from None
        except (OSError, RuntimeError):
            pass  # no child process possible here: parse in place below
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError("file not found", file=path) from None
    except OSError as e:
        raise DatasetError(f"cannot read: {e.strerror or e}", file=path) from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise DatasetError(f"broken JSON ({e.msg} at line {e.lineno}, column {e.colno})", file=path) from None


class Dataset:
    """Images, categories and annotations with id indexes."""

    def __init__(
        self,
        images: list[dict] | None = None,
        categories: list[dict] | None = None,
        annotations: list[dict] | None = None,
        extra: dict | None = None,
        source: str | Path | None = None,
    ):
        self.images: list[dict] = images if images is not None else []
        self.categories: list[dict] = categories if categories is not None else []
        self.annotations: list[dict] = annotations if annotations is not None else []
        self.extra: dict = extra if extra is not None else {}
        self.source: Path | None = Path(source) if source is not None else None
        self.reindex()

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def load(cls, path: str | Path, gil_friendly: bool = False) -> Dataset:
        # Parsing creates hundreds of thousands of containers that all stay alive: pausing the
        # cyclic garbage collector meanwhile avoids repeated useless full scans (about 2x faster).
        with _gc_paused():
            return cls.from_dict(read_json(path, gil_friendly), source=path)

    @classmethod
    def from_dict(cls, d: Any, source: str | Path | None = None) -> Dataset:
        """Build from a COCO dict, checking the structure the indexes need (ids, references)."""
        images, cats, anns, extra = coco_parts(d, source)
        return cls(images, cats, anns, extra=extra, source=source)

    def to_dict(self) -> dict:
        out = dict(self.extra)
        out.update(images=self.images, annotations=self.annotations, categories=self.categories)
        return out

    def save(self, path: str | Path, indent: bool = False) -> None:
        """Atomic write of the COCO file."""
        atomic.write_json(path, self.to_dict(), indent=indent)

    def copy(self) -> Dataset:
        return Dataset(
            copy.deepcopy(self.images),
            copy.deepcopy(self.categories),
            copy.deepcopy(self.annotations),
            copy.deepcopy(self.extra),
            self.source,
        )

    # ------------------------------------------------------------------ indexes
    def reindex(self) -> None:
        self._next: dict[str, int] = {}
        self._img = {im["id"]: im for im in self.images}
        self._cat = {c["id"]: c for c in self.categories}
        self._ann = {}
        by_img: dict[Any, list[dict]] = {i: [] for i in self._img}
        for a in self.annotations:
            self._ann[a["id"]] = a
            lst = by_img.get(a["image_id"])
            if lst is None:
                lst = by_img[a["image_id"]] = []
            lst.append(a)
        self._by_img = by_img

    def image(self, image_id: Any) -> dict:
        return self._img[image_id]

    def category(self, category_id: Any) -> dict:
        return self._cat[category_id]

    def annotation(self, ann_id: Any) -> dict:
        return self._ann[ann_id]

    def has_image(self, image_id: Any) -> bool:
        return image_id in self._img

    def has_category(self, category_id: Any) -> bool:
        return category_id in self._cat

    def anns_for_image(self, image_id: Any) -> list[dict]:
        return self._by_img.get(image_id, [])

    @property
    def class_names(self) -> list[str]:
        """Category names ordered by category id (the order every model head uses)."""
        return [c["name"] for c in sorted(self.categories, key=lambda c: c["id"])]

    def category_id(self, name: str) -> int | None:
        for c in self.categories:
            if c["name"] == name:
                return c["id"]
        return None

    def has_masks(self) -> bool:
        """True when any annotation has a polygon or RLE that is more than its own box."""
        for a in self.annotations:
            seg = a.get("segmentation")
            if not seg:
                continue
            if is_rle(seg):
                return True
            if len(seg) > 1 or len(seg[0]) != 8:
                return True
            # COCO files written by box-only tools (the cat set) store the 4 box corners.
            # Compare with a tolerance: x + w in those files carries float rounding error.
            box = bbox_polygon(a.get("bbox", [0, 0, 0, 0]))
            pts = sorted(zip(seg[0][::2], seg[0][1::2]))
            corners = sorted(zip(box[::2], box[1::2]))
            if any(abs(p[0] - c[0]) > 1e-3 or abs(p[1] - c[1]) > 1e-3 for p, c in zip(pts, corners)):
                return True
        return False

    # ------------------------------------------------------------------ editing
    def _next_id(self, kind: str) -> int:
        """Next free integer id for "images", "categories" or "annotations" (O(1) after the first call)."""
        nxt = self._next.get(kind)
        if nxt is None:
            records = {"images": self.images, "categories": self.categories, "annotations": self.annotations}[kind]
            nxt = max((r["id"] for r in records if isinstance(r["id"], int)), default=0) + 1
        self._next[kind] = nxt + 1
        return nxt

    def _claim_id(self, kind: str, rid: Any) -> None:
        """An explicit id was given: keep the counter past it."""
        if isinstance(rid, int) and kind in self._next and rid >= self._next[kind]:
            self._next[kind] = rid + 1

    def add_category(self, name: str, supercategory: str = "") -> int:
        """Id of the category ``name``, created with the next free id if absent."""
        cid = self.category_id(name)
        if cid is not None:
            return cid
        cid = self._next_id("categories")
        cat = {"id": cid, "name": name, "supercategory": supercategory}
        self.categories.append(cat)
        self._cat[cid] = cat
        return cid

    def add_image(self, file_name: str, width: int, height: int, **extra: Any) -> dict:
        iid = extra.pop("id", None)
        if iid is None:
            iid = self._next_id("images")
        else:
            self._claim_id("images", iid)
        im = {"id": iid, "file_name": file_name, "width": int(width), "height": int(height), **extra}
        self.images.append(im)
        self._img[iid] = im
        self._by_img.setdefault(iid, [])
        return im

    def add_annotation(
        self,
        image_id: Any,
        category_id: Any,
        segmentation: Any = None,
        bbox: Sequence[float] | None = None,
        iscrowd: int = 0,
        **extra: Any,
    ) -> dict:
        """Add an annotation; bbox and area follow from the segmentation when it has one."""
        seg = segmentation if segmentation is not None else []
        if seg:
            area, seg_box = segmentation_area_bbox(seg)
            box = list(bbox) if bbox is not None else seg_box
        elif bbox is not None:
            box = [float(v) for v in bbox]
            area = float(box[2] * box[3])
        else:
            raise ValueError("an annotation needs a segmentation or a bbox")
        aid = extra.pop("id", None)
        if aid is None:
            aid = self._next_id("annotations")
        else:
            self._claim_id("annotations", aid)
        ann = {
            "id": aid,
            "image_id": image_id,
            "category_id": category_id,
            "bbox": [float(v) for v in box],
            "area": float(area),
            "iscrowd": int(iscrowd),
            "segmentation": seg,
            **extra,
        }
        self.annotations.append(ann)
        self._ann[aid] = ann
        self._by_img.setdefault(image_id, []).append(ann)
        return ann

    def set_segmentation(self, ann_id: Any, segmentation: Any) -> dict:
        """Replace an annotation's shape and recompute its bbox and area."""
        ann = self._ann[ann_id]
        ann["segmentation"] = segmentation
        ann["area"], ann["bbox"] = segmentation_area_bbox(segmentation)
        return ann

    def insert_category(self, category: dict) -> None:
        """Put back a category record under its own id (undo of a removal); the id must be free."""
        if category["id"] in self._cat:
            raise DatasetError(
                f"category id {category['id']!r} is already used", item=f"category {category.get('name')!r}"
            )
        self.categories.append(category)
        self._cat[category["id"]] = category

    def remove_category(self, category_id: Any) -> dict:
        """Remove a category record (its annotations are the caller's business)."""
        cat = self._cat.pop(category_id)
        self.categories.remove(cat)
        return cat

    def remove_annotation(self, ann_id: Any) -> dict:
        ann = self._ann.pop(ann_id)
        self.annotations.remove(ann)
        self._by_img[ann["image_id"]].remove(ann)
        return ann

    def remove_image(self, image_id: Any) -> None:
        im = self._img.pop(image_id)
        self.images.remove(im)
        gone = {a["id"] for a in self._by_img.pop(image_id, [])}
        self.annotations = [a for a in self.annotations if a["id"] not in gone]
        for aid in gone:
            self._ann.pop(aid, None)

    def subset(self, image_ids: Iterable[Any]) -> Dataset:
        """A deep copy holding only the given images, their annotations and all categories."""
        keep = list(dict.fromkeys(image_ids))
        images = [copy.deepcopy(self._img[i]) for i in keep]
        anns = [copy.deepcopy(a) for i in keep for a in self._by_img.get(i, [])]
        return Dataset(images, copy.deepcopy(self.categories), anns, copy.deepcopy(self.extra), self.source)

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self.images)} images, {len(self.annotations)} annotations, "
            f"{len(self.categories)} categories)"
        )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def coco_parts(d: Any, source: str | Path | None = None) -> tuple[list[dict], list[dict], list[dict], dict]:
    """``(images, categories, annotations, other top-level keys)`` of a COCO dict, after the checks
    :meth:`Dataset.from_dict` makes: the lists exist and their records are objects with the keys the
    indexes need. Values are not checked here (importers do that, see studio.core.formats.coco)."""
    where = str(source) if source is not None else "<dataset>"
    if not isinstance(d, dict):
        raise DatasetError(f"expected a COCO object at the top level, got {type(d).__name__}", file=where)
    missing = [k for k in _TOP_KEYS if k not in d]
    if "images" in missing or ("annotations" in missing and "categories" in missing):
        raise DatasetError(
            f"not a COCO annotation file: missing key(s) {', '.join(repr(k) for k in missing)}", file=where
        )
    for k in _TOP_KEYS:
        if not isinstance(d.get(k, []), list):
            raise DatasetError(f"'{k}' must be a list, got {type(d[k]).__name__}", file=where)
    images, anns, cats = d["images"], d.get("annotations", []), d.get("categories", [])
    _require(images, ("id", "file_name"), "images", where)
    _require(cats, ("id", "name"), "categories", where)
    _require(anns, ("id", "image_id", "category_id"), "annotations", where)
    extra = {k: v for k, v in d.items() if k not in _TOP_KEYS}
    return images, cats, anns, extra


def gc_paused() -> contextlib.AbstractContextManager[None]:
    """Pause the cyclic garbage collector while parsing a large file (see :meth:`Dataset.load`)."""
    return _gc_paused()


def _require(records: list, keys: tuple[str, ...], section: str, where: str) -> None:
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise DatasetError(f"expected an object, got {type(r).__name__}", file=where, item=f"{section}[{i}]")
        for k in keys:
            if k not in r:
                rid = r.get("id")
                item = f"{section}[{i}]" + (f" (id {rid})" if rid is not None else "")
                raise DatasetError(f"missing key '{k}'", file=where, item=item)
