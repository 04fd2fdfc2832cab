"""Box to polygon: GrabCut (OpenCV) on a crop around a box the user drew, refined by brush strokes.

GrabCut learns a colour model of the object from the box and one of the background from the pixels
around it, then cuts along the edges between them; it needs no trained weights. It runs on a crop (the
box plus a margin), so its cost follows the box, not the photo, and a big crop is shrunk to
``max_side`` pixels and its mask scaled back: that keeps one instance well under 300 ms on two cores.

Strokes are the user's corrections: a foreground stroke marks pixels that belong to the object
(``GC_FGD``), a background stroke pixels that do not (``GC_BGD``); GrabCut is re-run from scratch with
those marks (``GC_INIT_WITH_MASK``), so the same box and strokes always give the same polygon and a
caller can simply call again after each stroke.

The image is ``H x W x 3`` uint8 in either channel order: Studio reads RGB
(:func:`studio.core.imageio.imread_rgb`), and GrabCut's colour models do not depend on the order of
the channels, so BGR gives the same polygon. A grey ``H x W`` image is accepted too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from studio.core.geometry import Flat, bbox_polygon, box_iou, clip_bbox, mask_outline, polygons_bbox

#: GrabCut iterations at most (it stops once the cut settles); 10 did no better on balloon val, 3 a little worse
ITERATIONS = 5
#: margin around the box, as a share of its width and height, and at least this many pixels: GrabCut
#: learns the background from that ring, and a 10 px balloon with a 1 px ring has nothing to learn from
MARGIN = 0.1
MIN_MARGIN_PX = 8
#: crops larger than this (longest side, pixels) are shrunk before GrabCut; smaller than MIN_SIDE enlarged
MAX_SIDE = 200
MIN_SIDE = 64
#: a drawn box is tight: the object reaches its four sides. A cut whose own box overlaps the drawn one
#: less than this (box IoU) has usually taken the object's colours for the background's (a dark balloon
#: against a dark sky, or a 10 px one): GrabCut runs again with the centre of the box marked as object and
#: the better-fitting cut is kept. Not when there are strokes: then the user is telling it what is what.
RETRY_FIT = 0.6
#: the centre mark: an ellipse of this share of the box's width and height
CENTRE_SEED = 0.25
#: GrabCut stops early once an iteration changes fewer than this share of the crop's pixels
SETTLED = 0.001
#: a mask needs this many pixels of each kind for GrabCut's colour models (5 Gaussians each)
MIN_SAMPLES = 16


@dataclass(frozen=True)
class Stroke:
    """A brush stroke: a polyline ``((x, y), ...)`` in image coordinates painted with a round brush."""

    points: tuple[tuple[float, float], ...]
    radius: float = 3.0

    @classmethod
    def of(cls, points: Sequence[Sequence[float]], radius: float = 3.0) -> Stroke:
        return cls(tuple((float(x), float(y)) for x, y in points), float(radius))


@dataclass(frozen=True)
class SmartResult:
    """What a smart tool made of one instance.

    ``polygons``: flat ``[x0, y0, x1, y1, ...]`` lists in image coordinates (usually one; several when a
    stroke keeps a separate part). ``area``: pixels of the mask they outline. ``seconds``: the time the
    call took. ``fallback``: None when the tool found the object; otherwise why ``polygons`` is only the
    box rectangle (or empty, for a box outside the image).
    """

    polygons: list[Flat]
    area: float
    seconds: float
    fallback: str | None = None

    @property
    def ok(self) -> bool:
        return self.fallback is None

    @property
    def bbox(self) -> list[float]:
        """Tight ``[x, y, w, h]`` around the polygons (what ``--refit-boxes`` writes)."""
        return polygons_bbox(self.polygons)


@dataclass(frozen=True)
class _Crop:
    """The window GrabCut sees: image pixels ``[y0:y1, x0:x1]``, resized by ``scale``."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    def to_crop(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.x0) * self.scale, (y - self.y0) * self.scale

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the resized crop."""
        return (
            max(1, round((self.x1 - self.x0) * self.scale)),
            max(1, round((self.y1 - self.y0) * self.scale)),
        )


def box_to_polygon(
    image: np.ndarray,
    box: Sequence[float],
    *,
    fg_strokes: Sequence[Stroke] = (),
    bg_strokes: Sequence[Stroke] = (),
    margin: float = MARGIN,
    min_margin: float = MIN_MARGIN_PX,
    iterations: int = ITERATIONS,
    tolerance: float = 1.0,
    max_side: int = MAX_SIDE,
    min_side: int = MIN_SIDE,
) -> SmartResult:
    """The polygon of the object inside ``box`` (``[x, y, w, h]``, image coordinates).

    Pixels outside the box are background unless a foreground stroke says otherwise; the object is the
    largest connected part GrabCut finds in the box, plus every part a foreground stroke touches; holes
    are filled (a COCO polygon has none). ``tolerance``: the polygon simplification, in image pixels.
    When GrabCut cannot run (the box covers the whole image, or is under 2 px) or finds nothing, the
    result is the box rectangle and ``fallback`` says why.
    """
    t0 = time.perf_counter()
    img = _as_color(image)
    H, W = img.shape[:2]
    clipped = clip_bbox([float(v) for v in box], W, H)
    if clipped[2] <= 0 or clipped[3] <= 0:
        return SmartResult([], 0.0, time.perf_counter() - t0, "the box lies outside the image")
    if clipped[2] < 2 or clipped[3] < 2:
        return _fallback(clipped, t0, "the box is under 2 pixels wide or high")
    crop = _crop_window(clipped, fg_strokes, W, H, margin, min_margin, max_side, min_side)
    pixels = cv2.resize(img[crop.y0 : crop.y1, crop.x0 : crop.x1], crop.size, interpolation=_interp(crop.scale))
    marks = _marks(crop, clipped, fg_strokes, bg_strokes)
    if _count(marks, cv2.GC_BGD, cv2.GC_PR_BGD) < MIN_SAMPLES:
        return _fallback(clipped, t0, "the box covers the whole image: no background around it to learn from")
    if _count(marks, cv2.GC_FGD, cv2.GC_PR_FGD) < MIN_SAMPLES:
        return _fallback(clipped, t0, "background strokes cover the whole box")
    box_px = _box_in(crop, clipped, scale=1.0)
    fg_px = _painted(crop, fg_strokes, scale=1.0)
    try:
        obj = _object_parts(_to_crop_pixels(_grabcut(pixels, marks, iterations), crop), box_px, fg_px)
        if not (fg_strokes or bg_strokes) and _box_fit(obj, box_px) < RETRY_FIT:
            seeded = _seed_centre(marks, _box_in(crop, clipped))
            again = _object_parts(_to_crop_pixels(_grabcut(pixels, seeded, iterations), crop), box_px, fg_px)
            if _box_fit(again, box_px) > _box_fit(obj, box_px):
                obj = again
    except cv2.error as e:
        return _fallback(clipped, t0, f"GrabCut failed ({e.err or e})")
    if not obj.any():
        return _fallback(clipped, t0, "GrabCut found no object in the box")
    filled = _fill_holes(obj)
    polys = mask_outline(filled, (crop.x0, crop.y0), tolerance=tolerance, image_size=(W, H))
    if not polys:
        return _fallback(clipped, t0, "the object GrabCut found is too small for a polygon")
    return SmartResult(polys, float(filled.sum()), time.perf_counter() - t0)


def _as_color(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, :3])
    raise ValueError(f"expected an H x W x 3 image, got shape {img.shape}")


def _fallback(box: list[float], t0: float, reason: str) -> SmartResult:
    return SmartResult([bbox_polygon(box)], float(box[2] * box[3]), time.perf_counter() - t0, reason)


def _crop_window(
    box: list[float],
    fg_strokes: Sequence[Stroke],
    W: int,
    H: int,
    margin: float,
    min_margin: float,
    max_side: int,
    min_side: int,
) -> _Crop:
    """The box plus its margin, grown over the foreground strokes (they may reach outside the box)."""
    x, y, w, h = box
    mx, my = max(margin * w, min_margin), max(margin * h, min_margin)
    xs, ys = [x - mx, x + w + mx], [y - my, y + h + my]
    for s in fg_strokes:
        for px, py in s.points:
            xs += [px - s.radius - mx, px + s.radius + mx]
            ys += [py - s.radius - my, py + s.radius + my]
    x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    x1, y1 = min(W, math.ceil(max(xs))), min(H, math.ceil(max(ys)))
    longest = max(x1 - x0, y1 - y0)
    scale = max_side / longest if longest > max_side else min_side / longest if longest < min_side else 1.0
    return _Crop(x0, y0, x1, y1, scale)


def _interp(scale: float) -> int:
    return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR


def _box_in(crop: _Crop, box: list[float], scale: float | None = None) -> tuple[int, int, int, int]:
    """The box as pixel bounds ``(x0, y0, x1, y1)`` in the crop (resized by ``scale``, default the crop's)."""
    s = crop.scale if scale is None else scale
    x, y, w, h = box
    x0, y0 = (x - crop.x0) * s, (y - crop.y0) * s
    return math.floor(x0), math.floor(y0), math.ceil(x0 + w * s), math.ceil(y0 + h * s)


def _marks(crop: _Crop, box: list[float], fg: Sequence[Stroke], bg: Sequence[Stroke]) -> np.ndarray:
    """GrabCut's starting mask: probably object inside the box, background around it, strokes sure."""
    w, h = crop.size
    marks = np.full((h, w), cv2.GC_BGD, np.uint8)
    bx0, by0, bx1, by1 = _box_in(crop, box)
    marks[max(0, by0) : by1, max(0, bx0) : bx1] = cv2.GC_PR_FGD
    marks[_painted(crop, bg)] = cv2.GC_BGD
    marks[_painted(crop, fg)] = cv2.GC_FGD
    return marks


def _painted(crop: _Crop, strokes: Sequence[Stroke], scale: float | None = None) -> np.ndarray:
    """Pixels of the crop (resized by ``scale``, default the crop's) that the strokes cover."""
    s = crop.scale if scale is None else scale
    shape = (crop.size[1], crop.size[0]) if scale is None else (crop.y1 - crop.y0, crop.x1 - crop.x0)
    paint = np.zeros(shape, np.uint8)
    for st in strokes:
        pts = np.array([((x - crop.x0) * s, (y - crop.y0) * s) for x, y in st.points], np.float64)
        if not len(pts):
            continue
        r = max(1, round(st.radius * s))
        fixed = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)  # 4 fractional bits
        cv2.polylines(paint, [fixed], False, 1, thickness=2 * r, lineType=cv2.LINE_8, shift=4)
        for p in fixed.reshape(-1, 2):  # a single click is a dot, and line ends are round
            cv2.circle(paint, (int(p[0]), int(p[1])), r * 16, 1, thickness=-1, shift=4)
    return paint.astype(bool)


def _count(marks: np.ndarray, *values: int) -> int:
    return int(np.isin(marks, values).sum())


def _grabcut(pixels: np.ndarray, marks: np.ndarray, iterations: int) -> np.ndarray:
    """GrabCut from ``marks``; the object pixels (sure or probable) as a bool mask."""
    mask = marks.copy()
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: the same input gives the same cut
    cv2.grabCut(pixels, mask, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
    cut = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    for _ in range(max(1, int(iterations)) - 1):  # one iteration a call: stop once the cut settles
        cv2.grabCut(pixels, mask, None, bgd, fgd, 1, cv2.GC_EVAL)
        new = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        changed = int(np.count_nonzero(new != cut))
        cut = new
        if changed <= SETTLED * cut.size:
            break
    return cut


def _to_crop_pixels(cut: np.ndarray, crop: _Crop) -> np.ndarray:
    """The cut at the crop's own resolution (a resized mask is resampled smoothly, then thresholded)."""
    size = (crop.x1 - crop.x0, crop.y1 - crop.y0)
    if crop.scale == 1.0:
        return cut
    back = cv2.resize(cut.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return back >= 0.5


def _object_parts(mask: np.ndarray, box: tuple[int, int, int, int], painted: np.ndarray) -> np.ndarray:
    """The largest connected part inside the box, and every part a foreground stroke touches."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, bool)
    x0, y0, x1, y1 = box
    inside = np.unique(labels[max(0, y0) : y1, max(0, x0) : x1])
    inside = inside[inside > 0]
    keep = set(np.unique(labels[painted & (labels > 0)]).tolist())
    if len(inside):
        keep.add(int(inside[np.argmax(stats[inside, cv2.CC_STAT_AREA])]))
    return np.isin(labels, sorted(keep)) if keep else np.zeros_like(mask, bool)


def _box_fit(obj: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Box IoU of the object's extent with the drawn box (both in crop pixels); 0 for no object."""
    ys, xs = np.nonzero(obj)
    if not len(xs):
        return 0.0
    x0, y0, x1, y1 = box
    found = [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]
    return box_iou(found, [float(x0), float(y0), float(x1 - x0), float(y1 - y0)])


def _seed_centre(marks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``marks`` with an ellipse at the centre of the box marked as sure object (strokes keep theirs)."""
    x0, y0, x1, y1 = box
    centre = np.zeros_like(marks)
    axes = (max(1, round((x1 - x0) * CENTRE_SEED / 2)), max(1, round((y1 - y0) * CENTRE_SEED / 2)))
    cv2.ellipse(centre, ((x0 + x1) // 2, (y0 + y1) // 2), axes, 0, 0, 360, 1, thickness=-1)
    seeded = marks.copy()
    seeded[(centre > 0) & (marks == cv2.GC_PR_FGD)] = cv2.GC_FGD
    return seeded


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes filled: what its outer outlines enclose."""
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)
