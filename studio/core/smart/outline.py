"""A binary mask's outline as COCO polygons that rasterize back to the same pixels.

:func:`studio.core.geometry.mask_to_polygons` traces the centres of the mask's border pixels, so the
polygon it returns covers half a pixel less on every side than the mask: about 4 % of the area of a
30 px wide object and 25 % of a 6 px one. The smart tools outline objects a user drew a box around,
often small ones, so here each traced outline is grown by half a pixel (mitred corners: a pixel
staircase stays a staircase) before it is simplified. The result follows the convention of
:func:`studio.core.geometry.segmentation_to_mask` (pixel ``i`` covers ``[i - 0.5, i + 0.5]``), so a
mask -> polygon -> mask round trip gives back the same pixels, up to the simplification.
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from studio.core.geometry import (
    Flat,
    clip_polygon,
    exterior_flat,
    flat_to_xy,
    mask_to_polygons,
    shoelace_area,
    simplify_polygon,
)

#: how far outside the traced pixel centres a pixel's edge lies
HALF_PIXEL = 0.5


def mask_outline(
    mask: np.ndarray,
    origin: tuple[float, float] = (0.0, 0.0),
    *,
    tolerance: float = 1.0,
    image_size: tuple[int, int] | None = None,
    min_area: float = 4.0,
) -> list[Flat]:
    """Outer outlines of ``mask`` (holes are not kept) as flat polygons in image coordinates.

    ``origin``: the image coordinates ``(x, y)`` of the mask's pixel ``[0, 0]`` (a crop's corner).
    ``tolerance``: Douglas-Peucker tolerance in pixels (0 keeps every corner of the pixel staircase).
    ``image_size``: ``(width, height)`` to clip the polygons to, so none pokes half a pixel outside.
    ``min_area``: parts smaller than this (in pixels) are dropped.
    """
    ox, oy = origin
    out: list[Flat] = []
    for traced in mask_to_polygons(mask, min_area=0.0, tolerance=0.0):
        grown = Polygon(flat_to_xy(traced) + (ox, oy)).buffer(HALF_PIXEL, join_style="mitre", mitre_limit=2.0)
        if grown.is_empty or not isinstance(grown, Polygon):
            continue
        flat = exterior_flat(grown)
        if tolerance > 0:
            flat = simplify_polygon(flat, tolerance)
        parts = [flat] if image_size is None else clip_polygon(flat, image_size[0], image_size[1])
        out.extend(p for p in parts if shoelace_area(p) >= min_area)
    return out
