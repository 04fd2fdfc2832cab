"""What a brush or eraser stroke makes of a shape, without Qt: the shape's pixels plus (or minus) the stroke's, as
polygons.

A stroke is a polyline of image points painted with a round brush of ``radius`` image pixels. Its result is
worked out on a window of the image that holds the stroke and the whole shape (never the full photo), so a stroke
on a 4000 px photo costs what its own size costs: the shape is rasterised there
(:func:`studio.core.geometry.segmentation_to_mask`, polygons shifted to the window), the stroke painted on or
off, and the mask outlined again (:func:`studio.core.geometry.mask_outline`, which traces with
:func:`~studio.core.geometry.mask_to_polygons` and grows the trace by the half pixel the trace loses, so a shape
painted many times does not shrink a little with each stroke), simplified by the tolerance the user set. Parts
smaller than :data:`MIN_PART_PX` (the specks an eraser leaves along an edge) are dropped; holes are not kept
(a COCO polygon has none).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from studio.core.geometry import Flat, bbox_polygon, is_rle, mask_outline, polygons_bbox, segmentation_to_mask

MIN_PART_PX = 9.0  # px²: a part smaller than a 3 x 3 square is a speck, not a part of the shape
PAD_PX = 2  # the window reaches this far past the stroke and the shape

Point = tuple[float, float]


@dataclass(frozen=True)
class Window:
    """The part of the image a stroke is worked out on: pixels ``[y0:y1, x0:x1]``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.y1 - self.y0, self.x1 - self.x0


@dataclass(frozen=True)
class Painted:
    """A stroke's outcome. ``parts``: the shape's polygons after it (empty: nothing left, the eraser took all);
    ``changed``: the stroke added (brush) or took (eraser) at least one pixel; ``seconds``: what it cost."""

    parts: list[Flat]
    changed: bool
    window: Window
    seconds: float


def stroke_window(
    points: Sequence[Point], radius: float, shape_box: Sequence[float] | None, width: int, height: int
) -> Window:
    """The window holding the stroke (with its radius) and the shape's box ``[x, y, w, h]``, clipped to the image."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0 = min(xs) - radius, min(ys) - radius
    x1, y1 = max(xs) + radius, max(ys) + radius
    if shape_box is not None:
        bx, by, bw, bh = (float(v) for v in shape_box)
        x0, y0, x1, y1 = min(x0, bx), min(y0, by), max(x1, bx + bw), max(y1, by + bh)
    return Window(
        max(0, math.floor(x0) - PAD_PX),
        max(0, math.floor(y0) - PAD_PX),
        min(width, math.ceil(x1) + PAD_PX + 1),
        min(height, math.ceil(y1) + PAD_PX + 1),
    )


def shape_box(geom: dict | None) -> list[float] | None:
    """``[x, y, w, h]`` around a shape (``{"segmentation", "bbox"}``): its polygons, its mask's box, or its box."""
    if geom is None:
        return None
    seg = geom.get("segmentation")
    if isinstance(seg, list) and seg:
        return polygons_bbox(seg)
    box = geom.get("bbox")
    return [float(v) for v in box] if box else None


def shape_mask(geom: dict | None, window: Window, width: int, height: int) -> np.ndarray:
    """The shape's pixels inside ``window`` (uint8 0/1): polygons rasterised there, a mask cut out, a box filled."""
    h, w = window.shape
    if geom is None:
        return np.zeros((h, w), np.uint8)
    seg = geom.get("segmentation")
    if is_rle(seg):
        return segmentation_to_mask(seg, height, width)[window.y0 : window.y1, window.x0 : window.x1].copy()
    if isinstance(seg, list) and seg:
        parts = seg
    else:  # a box-only shape: its rectangle
        parts = [bbox_polygon(geom["bbox"])] if geom.get("bbox") else []
    shifted = [[v - (window.x0 if i % 2 == 0 else window.y0) for i, v in enumerate(p)] for p in parts]
    return segmentation_to_mask(shifted, h, w)


def stroke_mask(points: Sequence[Point], radius: float, window: Window) -> np.ndarray:
    """The pixels of ``window`` a round brush of ``radius`` covers along ``points`` (bool)."""
    paint = np.zeros(window.shape, np.uint8)
    if not points:
        return paint.astype(bool)
    r16 = max(1, round(radius * 16))
    pts = np.array([((x - window.x0) * 16, (y - window.y0) * 16) for x, y in points], np.float64)
    fixed = np.round(pts).astype(np.int32)  # 4 fractional bits: sub-pixel strokes
    if len(fixed) > 1:
        cv2.polylines(paint, [fixed.reshape(-1, 1, 2)], False, 1, thickness=max(1, round(2 * radius)), shift=4)
    for x, y in fixed:  # a click is a dot, and the line's ends and joints are round
        cv2.circle(paint, (int(x), int(y)), r16, 1, thickness=-1, shift=4)
    return paint.astype(bool)


def paint(
    geom: dict | None,
    points: Sequence[Point],
    radius: float,
    *,
    erase: bool,
    width: int,
    height: int,
    tolerance: float,
) -> Painted:
    """The shape ``geom`` (``{"segmentation", "bbox"}``; None: a new shape) after a stroke along ``points``: painted
    on with the brush, taken off with the eraser (``erase``), outlined again with the simplify ``tolerance``
    (pixels) on the window around the stroke and the shape (see the module docstring)."""
    t0 = time.perf_counter()
    window = stroke_window(points, radius, shape_box(geom), width, height)
    if window.x1 <= window.x0 or window.y1 <= window.y0:
        return Painted([], False, window, time.perf_counter() - t0)
    mask = shape_mask(geom, window, width, height).astype(bool)
    stroke = stroke_mask(points, radius, window)
    if erase:
        changed = bool((mask & stroke).any())
        mask &= ~stroke
    else:
        changed = bool((stroke & ~mask).any())
        mask |= stroke
    parts = mask_outline(
        mask.astype(np.uint8),
        (window.x0, window.y0),
        tolerance=tolerance,
        image_size=(width, height),
        min_area=MIN_PART_PX,
    )
    return Painted(parts, changed, window, time.perf_counter() - t0)
