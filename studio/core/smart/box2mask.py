"""Bulk box -> mask: a polygon for every box-only annotation of a dataset, so that a box-only set
becomes an instance-segmentation one.

Each image is decoded once and each of its box-only annotations goes through
:func:`studio.core.smart.grabcut.box_to_polygon`. An annotation keeps its id, class, status and (unless
``refit_boxes``) its box; it gains the polygon, the polygon's area and ``source: smart`` (a smart tool made
its outline; see :mod:`studio.core.dataset.provenance`). Nothing stops the job but a
cancel: a missing or unreadable image, an image whose size differs from the file's record, a broken
box or a box where GrabCut finds nothing leaves those annotations as they were, with a warning naming
the image file and the annotation id.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from studio.core.dataset.model import Dataset, image_path
from studio.core.dataset.provenance import SMART
from studio.core.errors import StudioError
from studio.core.geometry import bbox_polygon, is_rle, polygons_area
from studio.core.imageio import imread_rgb
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import name_problem, quoted
from studio.core.smart.grabcut import SmartResult, box_to_polygon

#: the ways to make a polygon from a box (``--method``); each is ``fn(image, box, tolerance=...)``
METHODS: dict[str, Callable[..., SmartResult]] = {"grabcut": box_to_polygon}
#: default polygon simplification (pixels): fine enough for a 10 px balloon, coarse enough to edit
TOLERANCE = 1.0


@dataclass
class Box2MaskResult:
    """What :func:`boxes_to_masks` did. ``dataset``: a copy with the converted annotations (the input is
    not changed); ``converted`` / ``failed``: annotation ids; ``skipped``: annotations that already had a
    mask (or are crowd regions); ``warnings``: one line per failure, naming the image file and the
    annotation id."""

    dataset: Dataset
    converted: list[Any] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.converted)} converted, {self.skipped} skipped (masks already, or crowd regions), "
            f"{len(self.failed)} failed (left as boxes)"
        )


def is_box_only(ann: dict) -> bool:
    """No mask: an empty segmentation, or one polygon that is just the box's 4 corners (what box-only
    tools such as the cat set's write)."""
    seg = ann.get("segmentation")
    if not seg:
        return True
    if is_rle(seg) or not isinstance(seg, list) or len(seg) != 1 or len(seg[0]) != 8:
        return False
    box = ann.get("bbox")
    if not _valid_box(box):
        return False
    corners = sorted(zip(bbox_polygon(box)[::2], bbox_polygon(box)[1::2]))
    pts = sorted(zip(seg[0][::2], seg[0][1::2]))
    return all(abs(p[0] - c[0]) <= 1e-3 and abs(p[1] - c[1]) <= 1e-3 for p, c in zip(pts, corners))


def boxes_to_masks(
    ds: Dataset,
    images_dir: str | Path | None,
    *,
    method: str = "grabcut",
    redo_all: bool = False,
    refit_boxes: bool = False,
    tolerance: float = TOLERANCE,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Box2MaskResult:
    """Give every box-only annotation (every annotation with ``redo_all``; crowd regions never) a polygon.

    ``images_dir``: where the images' ``file_name`` are relative to. ``refit_boxes``: replace each
    converted box by the polygon's tight box. ``tolerance``: polygon simplification in pixels.
    """
    if method not in METHODS:
        raise StudioError(f"unknown method {method!r}: use one of {', '.join(METHODS)}", item="--method")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise StudioError(f"the tolerance must be a number of pixels >= 0, got {tolerance!r}", item="--tolerance")
    t0 = time.perf_counter()
    out = ds.copy()
    res = Box2MaskResult(out)
    todo: dict[Any, list[dict]] = {}
    for a in out.annotations:
        if a.get("iscrowd") or not (redo_all or is_box_only(a)):
            res.skipped += 1
        else:
            todo.setdefault(a["image_id"], []).append(a)
    total, done = sum(len(v) for v in todo.values()), 0
    progress(0, total, "box to mask")
    for image_id, anns in todo.items():
        if cancel is not None:
            cancel.raise_if_cancelled()
        _convert_image(out, image_id, anns, images_dir, METHODS[method], refit_boxes, tolerance, res)
        done += len(anns)
        progress(done, total, "box to mask")
    res.seconds = time.perf_counter() - t0
    return res


def _convert_image(
    ds: Dataset,
    image_id: Any,
    anns: list[dict],
    images_dir: str | Path | None,
    method: Callable[..., SmartResult],
    refit_boxes: bool,
    tolerance: float,
    res: Box2MaskResult,
) -> None:
    """Convert one image's annotations, or record why they stay boxes."""
    ids = ", ".join(str(a["id"]) for a in anns)
    if not ds.has_image(image_id):
        return _fail(res, anns, f"image id {image_id!r} is not in the file: annotation(s) {ids} left as boxes")
    im = ds.image(image_id)
    problem = name_problem(im.get("file_name"))
    if problem is not None:
        name = quoted(im.get("file_name"))
        return _fail(res, anns, f"image file name {name} {problem}: not read; annotation(s) {ids} left as boxes")
    path = image_path(images_dir, im)
    try:
        img = imread_rgb(path)
    except StudioError as e:
        return _fail(res, anns, f"{path}: {e.message}; annotation(s) {ids} left as boxes")
    h, w = img.shape[:2]
    if (im.get("width"), im.get("height")) != (w, h):
        said = f"{im.get('width')}x{im.get('height')}"
        return _fail(
            res, anns, f"{path}: the file says {said}, the image is {w}x{h}; annotation(s) {ids} left as boxes"
        )
    for a in anns:
        _convert_one(a, img, path, method, refit_boxes, tolerance, res)


def _convert_one(
    a: dict,
    img: Any,
    path: Path,
    method: Callable[..., SmartResult],
    refit_boxes: bool,
    tolerance: float,
    res: Box2MaskResult,
) -> None:
    box = a.get("bbox")
    if not _valid_box(box):
        return _fail(res, [a], f"{path}: annotation {a['id']}: bbox {box!r} is not 4 numbers with a size; left as is")
    try:
        r = method(img, box, tolerance=tolerance)
    except (cv2.error, ValueError) as e:  # one odd box must not stop the job
        return _fail(res, [a], f"{path}: annotation {a['id']}: {type(e).__name__}: {e}; left as is")
    if not r.ok:
        return _fail(res, [a], f"{path}: annotation {a['id']}: {r.fallback}; left as a box")
    a["segmentation"] = r.polygons
    a["area"] = polygons_area(r.polygons)
    a["source"] = SMART
    if refit_boxes:
        a["bbox"] = r.bbox
    res.converted.append(a["id"])


def _fail(res: Box2MaskResult, anns: list[dict], warning: str) -> None:
    res.failed.extend(a["id"] for a in anns)
    res.warnings.append(warning)


def _valid_box(box: Any) -> bool:
    return (
        isinstance(box, (list, tuple))
        and len(box) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
        and box[2] > 0
        and box[3] > 0
    )
