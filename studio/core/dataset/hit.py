"""Plain geometry for the editing tools: which shapes they can edit, hit tests, nearest edge, vertex edits,
box corners.

No Qt here (plain floats and COCO flat lists), so every rule the tools follow is unit-tested without a
widget; tolerances are in image pixels (the tools divide their on-screen radius by the zoom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from studio.core.geometry import is_rle

Flat = Sequence[float]


def editable_shape(ann: dict | None) -> tuple[str, Any] | None:
    """``("polygon", parts)`` or ``("box", bbox)`` for an annotation the handles can edit; None for RLE masks."""
    if ann is None:
        return None
    seg = ann.get("segmentation")
    if is_rle(seg):
        return None
    if isinstance(seg, list) and seg:
        parts = [p for p in seg if isinstance(p, list) and all(isinstance(v, (int, float)) for v in p)]
        return ("polygon", parts) if len(parts) == len(seg) else None
    box = ann.get("bbox")
    if isinstance(box, (list, tuple)) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box):
        return "box", list(box)
    return None


def vertices(flat: Flat) -> list[tuple[float, float]]:
    return [(float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]


def nearest_vertex(parts: Sequence[Flat], x: float, y: float, tol: float) -> tuple[int, int] | None:
    """``(part, vertex index)`` of the vertex closest to ``(x, y)`` within ``tol``, else None."""
    best, best_d = None, tol * tol
    for p, flat in enumerate(parts):
        for i, (vx, vy) in enumerate(vertices(flat)):
            d = (vx - x) ** 2 + (vy - y) ** 2
            if d <= best_d:
                best, best_d = (p, i), d
    return best


def project_on_segment(ax: float, ay: float, bx: float, by: float, x: float, y: float) -> tuple[float, float]:
    """The point of segment AB closest to ``(x, y)``."""
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / n))
    return ax + t * dx, ay + t * dy


def nearest_edge(parts: Sequence[Flat], x: float, y: float, tol: float) -> tuple[int, int, float, float] | None:
    """The edge closest to ``(x, y)`` within ``tol``, closing edge included.

    Returns ``(part, insert_at, px, py)``: inserting ``(px, py)`` at vertex index ``insert_at`` splits that
    edge at the point nearest the cursor.
    """
    best, best_d = None, tol * tol
    for p, flat in enumerate(parts):
        pts = vertices(flat)
        for i, (ax, ay) in enumerate(pts):
            bx, by = pts[(i + 1) % len(pts)]
            px, py = project_on_segment(ax, ay, bx, by, x, y)
            d = (px - x) ** 2 + (py - y) ** 2
            if d <= best_d:
                best, best_d = (p, i + 1, px, py), d
    return best


def point_in_polygon(flat: Flat, x: float, y: float) -> bool:
    """Even-odd rule (a point on the outline may fall either way)."""
    inside = False
    pts = vertices(flat)
    for i, (ax, ay) in enumerate(pts):
        bx, by = pts[i - 1]
        if (ay > y) != (by > y) and x < (bx - ax) * (y - ay) / (by - ay) + ax:
            inside = not inside
    return inside


def moved_vertex(flat: Flat, index: int, x: float, y: float) -> list[float]:
    out = [float(v) for v in flat]
    out[2 * index], out[2 * index + 1] = float(x), float(y)
    return out


def inserted_vertex(flat: Flat, index: int, x: float, y: float) -> list[float]:
    out = [float(v) for v in flat]
    out[2 * index : 2 * index] = [float(x), float(y)]
    return out


def deleted_vertex(flat: Flat, index: int) -> list[float]:
    out = [float(v) for v in flat]
    del out[2 * index : 2 * index + 2]
    return out


def clamp_point(x: float, y: float, width: float, height: float) -> tuple[float, float]:
    """Keep a point on the image, rounded to 1/100 pixel (clicks carry no more precision)."""
    return round(min(max(x, 0.0), float(width)), 2), round(min(max(y, 0.0), float(height)), 2)


def closes_polygon(points: Sequence[tuple[float, float]], x: float, y: float, tol: float) -> bool:
    """True when a click at ``(x, y)`` lands on the first point of a polygon that already has 3 points."""
    if len(points) < 3:
        return False
    fx, fy = points[0]
    return math.hypot(fx - x, fy - y) <= tol


# ----------------------------------------------------------------------------------------------- boxes
def box_from_points(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """``[x, y, w, h]`` spanned by two opposite corners given in any order."""
    return [min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)]


def box_corners(bbox: Sequence[float]) -> list[tuple[float, float]]:
    """Top-left, top-right, bottom-right, bottom-left."""
    x, y, w, h = (float(v) for v in bbox)
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def dragged_corner(bbox: Sequence[float], corner: int, x: float, y: float) -> list[float]:
    """The box after dragging ``corner`` (index into :func:`box_corners`) to ``(x, y)``; the opposite stays."""
    ox, oy = box_corners(bbox)[(corner + 2) % 4]
    return box_from_points(ox, oy, x, y)
