"""Heat maps over images: colouring, alpha blending, tiling and saving, with OpenCV only.

Kept apart from the computation so the GUI can re-blend a map at another alpha (a slider) without
running the model, and so ``studio featmap`` / ``studio cam`` write exactly what the page shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.evaluation.draw import draw_detections, save_image

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "hot": cv2.COLORMAP_HOT,
}


def normalise(m: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] (float32); a constant or empty map gives zeros, non-finite values count as 0."""
    a = np.nan_to_num(np.asarray(m, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if hi - lo <= 1e-12:
        return np.zeros_like(a)
    return (a - lo) / (hi - lo)


def colorize(m: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A 2-D map -> RGB uint8 heat image (normalised first)."""
    cmap = COLORMAPS.get(colormap)
    if cmap is None:
        raise StudioError(f"unknown colormap {colormap!r}: use one of {', '.join(COLORMAPS)}")
    u8 = np.round(normalise(m) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, cmap), cv2.COLOR_BGR2RGB)


def blend(image_rgb: np.ndarray, m: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """``image * (1 - alpha) + heat * alpha``; the map is resized to the image when its size differs."""
    img = np.asarray(image_rgb)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    img = img[..., :3]
    if not 0.0 <= alpha <= 1.0:
        raise StudioError(f"alpha must be between 0 and 1, got {alpha}")
    h, w = img.shape[:2]
    m = np.asarray(m, dtype=np.float32)
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = colorize(m, colormap).astype(np.float32)
    out = img.astype(np.float32) * (1.0 - alpha) + heat * alpha
    return np.ascontiguousarray(out.round().clip(0, 255).astype(np.uint8))


def draw_boxes(
    image_rgb: np.ndarray, dets: Detections, class_names: Sequence[str], cat_ids: Sequence[int] | None = None
) -> np.ndarray:
    """The explained boxes over an overlay, drawn like ``studio predict`` draws them (class colours, score)."""
    boxes_only = Detections(dets.boxes, dets.scores, dets.labels, None)
    return draw_detections(image_rgb, boxes_only, class_names, cat_ids=cat_ids)


def caption(image_rgb: np.ndarray, text: str) -> np.ndarray:
    """``text`` in a dark band at the top-left corner (tile labels of a grid)."""
    img = np.ascontiguousarray(image_rgb).copy()
    h, w = img.shape[:2]
    scale = max(0.3, min(h, w) / 400)
    thick = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    cv2.rectangle(img, (0, 0), (min(w - 1, tw + 4), min(h - 1, th + base + 4)), (0, 0, 0), -1)
    cv2.putText(img, text, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img


def grid(tiles: Sequence[np.ndarray], cols: int | None = None, pad: int = 4) -> np.ndarray:
    """Same-size RGB tiles in rows of ``cols`` (default: as square as possible), on white."""
    if not tiles:
        raise StudioError("no images to tile")
    h, w = tiles[0].shape[:2]
    if any(t.shape[:2] != (h, w) for t in tiles):
        raise StudioError("grid tiles must all have the same size")
    n = len(tiles)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    out = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = t[..., :3]
    return out


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG, atomically (a crash never leaves half a file)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise StudioError("expected a .png file name", file=path)
    return save_image(path, rgb)


def safe_name(layer: str) -> str:
    """A layer name as a file-name part: ``backbone.fpn:0`` -> ``backbone.fpn-0``."""
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in layer)
    return keep.strip("-.") or "layer"
