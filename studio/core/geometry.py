"""Polygon, box and mask geometry.

Polygons are COCO flat lists ``[x1, y1, x2, y2, ...]`` in pixel coordinates. A segmentation is either
a list of such polygons (the parts of one instance) or an RLE dict (``{"size": [h, w], "counts": ...}``).
Validity, repair, clipping and simplification go through shapely; polygon<->mask through pycocotools
and OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry import box as shapely_box

Flat = list[float]


def flat_to_xy(flat: Sequence[float]) -> np.ndarray:
    return np.asarray(flat, dtype=np.float64).reshape(-1, 2)


def xy_to_flat(xy: np.ndarray) -> Flat:
    return [float(v) for v in np.asarray(xy, dtype=np.float64).reshape(-1)]


def shoelace_area(flat: Sequence[float]) -> float:
    xy = flat_to_xy(flat)
    if len(xy) < 3:
        return 0.0
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygons_bbox(polys: Sequence[Sequence[float]]) -> list[float]:
    """Tight ``[x, y, w, h]`` around all parts."""
    pts = [flat_to_xy(p) for p in polys if len(p) >= 2]
    if not pts:
        return [0.0, 0.0, 0.0, 0.0]
    xy = np.concatenate(pts)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def polygons_area(polys: Sequence[Sequence[float]]) -> float:
    return float(sum(shoelace_area(p) for p in polys))


def is_rle(seg: Any) -> bool:
    return isinstance(seg, dict) and "counts" in seg and "size" in seg


def rle_area_bbox(rle: dict) -> tuple[float, list[float]]:
    from pycocotools import mask as mask_utils  # deferred: pycocotools

    r = _compressed(rle)
    return float(mask_utils.area(r)), [float(v) for v in mask_utils.toBbox(r)]


def _compressed(rle: dict) -> dict:
    from pycocotools import mask as mask_utils  # deferred: pycocotools

    if isinstance(rle["counts"], list):
        h, w = rle["size"]
        return mask_utils.frPyObjects(rle, h, w)
    if isinstance(rle["counts"], str):
        return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return rle


def rle_counts(counts: str) -> list[int]:
    """Run lengths of a compressed COCO RLE string (pycocotools' rleFrString); ValueError when malformed."""
    out: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("the string ends inside a number")
            c = ord(counts[p]) - 48
            if not 0 <= c <= 63:
                raise ValueError(f"character {counts[p]!r} at position {p} is not an RLE digit")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def rle_problem(rle: Any, height: int | None = None, width: int | None = None) -> str | None:
    """What is wrong with an RLE mask (bad size, size other than the image's, broken or wrong-length
    counts), or None when it decodes to exactly ``height x width`` pixels."""
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        return "an RLE needs 'size' and 'counts'"
    size = rle["size"]
    if not (
        isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        return f"RLE size must be [height, width] as two non-negative integers, got {size!r}"
    h, w = size
    if height is not None and width is not None and (h, w) != (height, width):
        return f"RLE size {h}x{w} (height x width) differs from the image's {height}x{width}"
    counts = rle["counts"]
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            return "RLE counts are not ASCII"
    if isinstance(counts, str):
        try:
            runs = rle_counts(counts)
        except ValueError as e:
            return f"RLE counts are not a valid compressed string: {e}"
    elif isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            return "RLE counts must be integers"
        runs = counts
    else:
        return f"RLE counts must be a string or a list of integers, got {type(counts).__name__}"
    if any(v < 0 for v in runs):
        return "RLE counts hold a negative run length"
    total = sum(runs)
    if total != h * w:
        return f"RLE counts cover {total} pixels, the {h}x{w} mask has {h * w}"
    return None


def segmentation_area_bbox(seg: Any) -> tuple[float, list[float]]:
    """Area and bbox of a segmentation: polygon area (shoelace) and extents, or RLE pixel count."""
    if is_rle(seg):
        return rle_area_bbox(seg)
    return polygons_area(seg), polygons_bbox(seg)


# ----------------------------------------------------------------------------------------------
# validity and repair
@dataclass(frozen=True)
class PolygonFix:
    """What :func:`repair_polygon` did to one polygon."""

    kind: str  # "ok", "repaired", "degenerate"
    detail: str
    parts: tuple[tuple[float, ...], ...]


def to_shapely(flat: Sequence[float]) -> Polygon:
    return Polygon(flat_to_xy(flat))


def polygons_of(geom) -> list[Polygon]:
    """The non-empty polygons of a shapely geometry: itself, or the parts of a multi-part one."""
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    if isinstance(geom, (MultiPolygon, GeometryCollection)):
        out: list[Polygon] = []
        for g in geom.geoms:
            out.extend(polygons_of(g))
        return out
    return []


def exterior_flat(poly: Polygon) -> Flat:
    xy = np.asarray(poly.exterior.coords)[:-1]  # drop the closing point
    return xy_to_flat(xy)


def repair_polygon(flat: Sequence[float], min_area: float = 1e-6) -> PolygonFix:
    """Check one polygon; repair self-intersections with ``shapely.make_valid``.

    Returns kind "degenerate" for fewer than 3 points or zero area, "repaired" when the polygon was
    split or its outline changed, else "ok" with the polygon unchanged.
    """
    if len(flat) % 2:
        return PolygonFix("degenerate", f"odd number of coordinates ({len(flat)})", ())
    n = len(flat) // 2
    if n < 3:
        return PolygonFix("degenerate", f"{n} point(s), a polygon needs at least 3", ())
    xy = flat_to_xy(flat)
    if not np.isfinite(xy).all():
        return PolygonFix("degenerate", "non-finite coordinate", ())
    poly = Polygon(xy)
    if poly.is_valid:
        if poly.area <= min_area:
            return PolygonFix("degenerate", "zero area (collinear or repeated points)", ())
        return PolygonFix("ok", "", (tuple(float(v) for v in flat),))
    reason = shapely.is_valid_reason(poly)
    parts = [p for p in polygons_of(shapely.make_valid(poly)) if p.area > min_area]
    if not parts:
        return PolygonFix("degenerate", f"zero area (collinear or repeated points; {reason})", ())
    return PolygonFix(
        "repaired",
        f"{reason}; repaired into {len(parts)} part(s)",
        tuple(tuple(exterior_flat(p)) for p in parts),
    )


def clip_polygon(flat: Sequence[float], width: float, height: float) -> list[Flat]:
    """Clip a polygon to the image rectangle; may return several parts or none."""
    poly = to_shapely(flat)
    if not poly.is_valid:
        poly = shapely.make_valid(poly)
    clipped = poly.intersection(shapely_box(0, 0, width, height))
    return [exterior_flat(p) for p in polygons_of(clipped) if p.area > 0]


def clip_bbox(bbox: Sequence[float], width: float, height: float) -> list[float]:
    x, y, w, h = bbox
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def simplify_polygon(flat: Sequence[float], tolerance: float) -> Flat:
    """Douglas-Peucker simplification that keeps the polygon valid; never below 3 points."""
    poly = to_shapely(flat)
    simp = poly.simplify(tolerance, preserve_topology=True)
    if simp.is_empty or not isinstance(simp, Polygon) or len(simp.exterior.coords) < 4:
        return [float(v) for v in flat]
    return exterior_flat(simp)


# ----------------------------------------------------------------------------------------------
# shape constructors used by importers
def rect_polygon(x0: float, y0: float, x1: float, y1: float) -> Flat:
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def ellipse_polygon(cx: float, cy: float, rx: float, ry: float, theta: float = 0.0, n: int = 32) -> Flat:
    """Polygon approximation of an ellipse (``theta`` in radians)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(theta), np.sin(theta)
    xy = np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)
    return xy_to_flat(xy)


def bbox_polygon(bbox: Sequence[float]) -> Flat:
    x, y, w, h = bbox
    return rect_polygon(x, y, x + w, y + h)


# ----------------------------------------------------------------------------------------------
# masks
def segmentation_to_mask(seg: Any, height: int, width: int) -> np.ndarray:
    """Decode polygons or RLE into a ``(height, width)`` uint8 mask."""
    from pycocotools import mask as mask_utils  # deferred: pycocotools

    if is_rle(seg):
        return mask_utils.decode(_compressed(seg)).astype(np.uint8)
    polys = [list(map(float, p)) for p in seg if len(p) >= 6]
    if not polys:
        return np.zeros((height, width), np.uint8)
    rles = mask_utils.frPyObjects(polys, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)


def mask_to_rle(mask: np.ndarray) -> dict:
    """Compressed RLE with ``counts`` as str (JSON-serialisable)."""
    from pycocotools import mask as mask_utils  # deferred: pycocotools

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def mask_to_polygons(mask: np.ndarray, min_area: float = 1.0, tolerance: float = 0.0) -> list[Flat]:
    """Outer contours of a binary mask through its border pixels' centres (holes dropped): half a pixel inside
    the pixels' edges. That is the convention of rasterizers that fill the pixels on a polygon's outline
    (cv2.fillPoly, PIL: YOLO and labelme); COCO's fills pixel centres inside the polygon, for which
    :func:`mask_outline` gives the outline that rasterizes back to the mask."""
    import cv2  # deferred: cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out: list[Flat] = []
    for c in contours:
        xy = c.reshape(-1, 2).astype(np.float64)
        if len(xy) < 3:
            continue
        flat = xy_to_flat(xy)
        if tolerance > 0:
            flat = simplify_polygon(flat, tolerance)
        if shoelace_area(flat) >= min_area:
            out.append(flat)
    return out


HALF_PIXEL = 0.5  # how far outside the traced pixel centres a pixel's edge lies


def mask_outline(
    mask: np.ndarray,
    origin: tuple[float, float] = (0.0, 0.0),
    *,
    tolerance: float = 1.0,
    image_size: tuple[int, int] | None = None,
    min_area: float = 4.0,
) -> list[Flat]:
    """Outer outlines of ``mask`` along its pixels' edges (holes are not kept), as flat polygons that rasterize
    back to the same pixels (:func:`segmentation_to_mask`: pixel ``i`` covers ``i - 0.5 .. i + 0.5``).

    :func:`mask_to_polygons` traces the centres of the border pixels, half a pixel inside: about 4 % of the
    area of a 30 px wide object, 25 % of a 6 px one. Here each traced outline is grown by half a pixel
    (mitred corners: a pixel staircase stays a staircase) before it is simplified.

    ``origin``: the image coordinates ``(x, y)`` of the mask's pixel ``[0, 0]`` (a crop's corner).
    ``tolerance``: Douglas-Peucker tolerance in pixels (0 keeps every corner of the pixel staircase).
    ``image_size``: ``(width, height)`` to clip the polygons to, so none pokes half a pixel outside.
    ``min_area``: parts smaller than this (in pixels) are dropped.
    """
    ox, oy = origin
    out: list[Flat] = []
    for traced in mask_to_polygons(mask, min_area=0.0, tolerance=0.0):
        grown = Polygon(flat_to_xy(traced) + (ox, oy)).buffer(HALF_PIXEL, join_style="mitre", mitre_limit=2.0)
        for poly in polygons_of(grown):
            flat = exterior_flat(poly)
            if tolerance > 0:
                flat = simplify_polygon(flat, tolerance)
            parts = [flat] if image_size is None else clip_polygon(flat, image_size[0], image_size[1])
            out.extend(q for q in parts if shoelace_area(q) >= min_area)
    return out


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two xywh boxes."""
    ax1, ay1 = a[0] + a[2], a[1] + a[3]
    bx1, by1 = b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4) x (M, 4) -> (N, M); 1 for two coinciding zero-area boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    # two zero-area boxes (clipped to an image edge) have no IoU: they agree when they coincide
    same = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2) <= 0.5
    return np.where((union <= 0) & same, 1.0, iou)
