"""Intelligent scissors: an outline that follows the image's edges between the points the user clicks.

A thin wrapper over OpenCV's ``cv2.segmentation.IntelligentScissorsMB`` (no weights, no network).
OpenCV computes edge features (``applyImage``), then, for each anchor the user clicks, a map of the
cheapest paths from it to every pixel (``buildMap``); the live path to the cursor is then a lookup
(``getContour``, well under a millisecond). ``buildMap`` costs about 0.9 s on a whole 2048 px photo, too
long for a click, and shrinking the photo instead makes the path coarse (on balloon val, shrinking to
1024 px took 1.8 times the clicks at full resolution). So the map covers a ``window`` x ``window``
square of the photo at full resolution, centred on the anchor (the whole image when it fits): about
0.15 s a click at 768 px. A target outside the square is reached along the edges up to the square's
border, then in a straight line: anchors a user clicks are closer than that.

Features: Canny edges (16, 100) as in OpenCV's usage example, but the gradient magnitude weighs more
(weights 0.1 / 0.3 / 0.6 for non-edge / gradient direction / gradient magnitude instead of OpenCV's
0.43 / 0.43 / 0.14) and is not capped (OpenCV's example caps it at 200). Chosen on balloon *train*
(bench/smart_polygon.py, 6 photos, outlines within 3 px): 1.08 times the polygon tool's clicks instead of
1.56, about 30 % fewer.

All coordinates in and out are image coordinates (pixel ``i`` centred on ``i``, as
:func:`studio.core.geometry.segmentation_to_mask` rasterizes polygons).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import shapely

from studio.core.errors import StudioError
from studio.core.geometry import Flat, exterior_flat, polygons_of, simplify_polygon, to_shapely

#: side (pixels) of the square around each anchor where paths follow edges
WINDOW = 768
CANNY = (16, 100)
GRADIENT_LIMIT = 0
#: costs of a non-edge pixel, of the gradient direction, of the gradient magnitude
WEIGHTS = (0.1, 0.3, 0.6)

Point = tuple[float, float]


class Scissors:
    """One image's intelligent scissors: anchors, the committed outline, the live path to the cursor.

    Build it once per image, then ``add_anchor`` on each click, ``path_to`` on each mouse move, ``close``
    to get the polygon, ``reset`` for the next object. ``build_seconds``: what building cost (the edge
    features when the image fits in one window); ``map_seconds``: what the last anchor cost (its window's
    features and path map). Not thread-safe: one user, one tool.
    """

    def __init__(
        self,
        image: np.ndarray,
        *,
        window: int = WINDOW,
        canny: tuple[int, int] = CANNY,
        gradient_limit: int = GRADIENT_LIMIT,
        weights: tuple[float, float, float] = WEIGHTS,
    ) -> None:
        t0 = time.perf_counter()
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
            raise ValueError(f"expected an H x W (x 3) uint8 image, got {img.dtype} {img.shape}")
        self._image = np.ascontiguousarray(img)
        self.height, self.width = img.shape[:2]
        self.window = max(16, int(window))
        self._tool = cv2.segmentation.IntelligentScissorsMB()
        self._tool.setEdgeFeatureCannyParameters(*canny)
        self._tool.setGradientMagnitudeMaxLimit(gradient_limit)
        self._tool.setWeights(*weights)
        self._applied: tuple[int, int, int, int] | None = None  # the window whose features the tool holds
        if self.width <= self.window and self.height <= self.window:
            self._apply((0, 0, self.width, self.height))
        self.anchors: list[Point] = []
        self._segments: list[list[Point]] = []  # the committed path from anchor k to anchor k + 1
        self.build_seconds = time.perf_counter() - t0
        self.map_seconds = 0.0

    # ------------------------------------------------------------------ the user's actions
    def add_anchor(self, x: float, y: float) -> list[Point]:
        """Fix a point: the path from the last anchor to it joins the outline, and paths now start here.

        Returns the path just committed (empty for the first anchor)."""
        seg = self.path_to(x, y) if self.anchors else []
        if self.anchors:
            self._segments.append(seg)
        self.anchors.append(self._snap_to_grid(x, y))
        self._build_map(self.anchors[-1])
        return seg

    def path_to(self, x: float, y: float) -> list[Point]:
        """The edge-following path from the last anchor to ``(x, y)``, both ends included (the live preview).

        With no anchor yet, just ``[(x, y)]``."""
        if not self.anchors:
            return [self._snap_to_grid(x, y)]
        return self._edge_path(*self._pixel(x, y)) or [self.anchors[-1]]

    def remove_last_anchor(self) -> None:
        """Undo the last click: its anchor and the path to it go, paths start again from the one before."""
        if not self.anchors:
            return
        self.anchors.pop()
        if self._segments:
            self._segments.pop()
        if self.anchors:
            self._build_map(self.anchors[-1])

    def reset(self) -> None:
        """Forget the anchors and the outline, keeping the image's features: the next object starts here."""
        self.anchors.clear()
        self._segments.clear()

    def outline(self) -> list[Point]:
        """The committed outline so far: every anchor and the paths between them, in order."""
        pts: list[Point] = []
        for seg in self._segments:
            pts.extend(seg[1:] if pts else seg)
        return pts or list(self.anchors[:1])

    def close(self, tolerance: float = 1.0) -> Flat:
        """The closed outline (the path from the last anchor back to the first one added) as a flat polygon,
        simplified with ``tolerance`` pixels; a self-crossing outline keeps its largest part.

        Raises StudioError when the outline encloses no area (fewer than two anchors, or paths that only
        go back and forth)."""
        if len(self.anchors) < 2:
            raise StudioError("intelligent scissors: click at least two points around the object before closing")
        back = self.path_to(*self.anchors[0])
        pts = self.outline() + back[1:-1]
        poly = _largest_part(pts)
        if poly is None:
            raise StudioError("intelligent scissors: the outline encloses no area; click points around the object")
        return simplify_polygon(poly, tolerance) if tolerance > 0 else poly

    # ------------------------------------------------------------------ coordinates and windows
    def _pixel(self, x: float, y: float) -> tuple[int, int]:
        """The image pixel under ``(x, y)``, clamped to the image."""
        return min(max(round(x), 0), self.width - 1), min(max(round(y), 0), self.height - 1)

    def _snap_to_grid(self, x: float, y: float) -> Point:
        px, py = self._pixel(x, y)
        return float(px), float(py)

    def _window_around(self, px: int, py: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the window centred on a pixel, moved inside the image."""
        x0 = min(max(px - self.window // 2, 0), max(0, self.width - self.window))
        y0 = min(max(py - self.window // 2, 0), max(0, self.height - self.window))
        return x0, y0, min(self.width, x0 + self.window), min(self.height, y0 + self.window)

    def _apply(self, win: tuple[int, int, int, int]) -> None:
        if win != self._applied:
            x0, y0, x1, y1 = win
            self._tool.applyImage(np.ascontiguousarray(self._image[y0:y1, x0:x1]))
            self._applied = win

    def _build_map(self, anchor: Point) -> None:
        t0 = time.perf_counter()
        px, py = self._pixel(*anchor)
        win = self._window_around(px, py)
        self._apply(win)
        self._tool.buildMap((px - win[0], py - win[1]))
        self.map_seconds = time.perf_counter() - t0

    def _edge_path(self, px: int, py: int) -> list[Point]:
        """The path from the last anchor to pixel ``(px, py)``: along edges inside the anchor's window, then
        straight to a target beyond it."""
        x0, y0, x1, y1 = self._applied or (0, 0, self.width, self.height)
        cx, cy = min(max(px, x0), x1 - 1), min(max(py, y0), y1 - 1)
        contour = np.asarray(self._tool.getContour((cx - x0, cy - y0))).reshape(-1, 2)
        pts = [(float(u + x0), float(v + y0)) for u, v in contour]
        if (cx, cy) != (px, py):
            pts.append((float(px), float(py)))
        return pts


def _largest_part(points: list[Point]) -> Flat | None:
    """The points as a polygon (repeats dropped); a self-crossing one is made valid and its largest part kept."""
    dedup = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    if len(dedup) > 1 and dedup[0] == dedup[-1]:
        dedup.pop()
    if len(dedup) < 3:
        return None
    poly = to_shapely([v for p in dedup for v in p])
    if not poly.is_valid:
        parts = polygons_of(shapely.make_valid(poly))
        if not parts:
            return None
        poly = max(parts, key=lambda p: p.area)
    if poly.area <= 0:
        return None
    return exterior_flat(poly)
