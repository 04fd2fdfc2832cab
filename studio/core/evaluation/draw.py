"""Drawing predictions onto images with OpenCV, and saving the result.

Used by ``studio predict`` (annotated copies of the inputs) and the evaluation's sample images, where
no Qt is available. Classes get the GUI's palette colours so a class looks the same everywhere. Line
width and font scale follow the image size: a label must stay legible on a 64 px thumbnail and not
swallow a 4000 px photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from studio.core import atomic
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.palette import class_color_rgb, text_color_on

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_ENCODINGS = {
    ".png": [],
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 92],
    ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 92],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, 92],
    ".bmp": [],
    ".tif": [],
    ".tiff": [],
}


def draw_detections(
    image_rgb: np.ndarray,
    dets: Detections,
    class_names: Sequence[str],
    *,
    score_thr: float = 0.0,
    masks_alpha: float = 0.45,
    cat_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """A copy of ``image_rgb`` (uint8 HxWx3, or HxW grey) with the detections drawn on it.

    Masks are filled with ``masks_alpha`` opacity and outlined; every detection gets its box and a
    ``"name 0.87"`` label on a filled background. Labels are 1..K into ``class_names``; colours are
    keyed by category id (``cat_ids[label - 1]`` when given, else the label itself, which is the
    category id for datasets numbered 1..K) so they match the GUI. Higher scores are drawn last (on top).
    """
    img = _as_rgb(image_rgb)
    h, w = img.shape[:2]
    dets = dets.above(score_thr) if len(dets) else dets
    if len(dets) == 0:
        return img
    if dets.masks is not None and tuple(dets.masks.shape[1:]) != (h, w):
        raise StudioError(f"masks are {dets.masks.shape[2]}x{dets.masks.shape[1]} but the image is {w}x{h}")
    thick = max(1, round(max(h, w) / 400))
    font_scale = max(0.3, max(h, w) / 1400)
    font_thick = max(1, round(font_scale * 1.6))
    order = np.argsort(np.asarray(dets.scores), kind="stable")  # low first, so the best ends on top
    line = cv2.LINE_AA if thick > 1 else cv2.LINE_8  # anti-aliasing washes out 1 px lines
    colors = {int(lab): class_color_rgb(_cat_of(int(lab), cat_ids)) for lab in np.unique(dets.labels)}

    if dets.masks is not None:
        out = img.astype(np.float32)
        for i in order:
            m = np.asarray(dets.masks[i], dtype=bool)
            if m.any():
                color = np.asarray(colors[int(dets.labels[i])], np.float32)
                out[m] = out[m] * (1.0 - masks_alpha) + color * masks_alpha
        img = np.ascontiguousarray(out.round().clip(0, 255).astype(np.uint8))
        for i in order:
            m = np.asarray(dets.masks[i], dtype=np.uint8)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(img, contours, -1, colors[int(dets.labels[i])], thick, line)

    for i in order:
        color = colors[int(dets.labels[i])]
        x0, y0, x1, y1 = _box_pixels(dets.boxes[i], w, h)
        cv2.rectangle(img, (x0, y0), (x1, y1), color, thick, cv2.LINE_8)  # axis-aligned: crisp as is
        text = f"{_name_of(int(dets.labels[i]), class_names)} {float(dets.scores[i]):.2f}"
        _label(img, text, x0, y0, color, font_scale, font_thick)
    return img


def save_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Encode an RGB (or grey) uint8 image by the file's extension and write it atomically."""
    path = Path(path)
    params = _ENCODINGS.get(path.suffix.lower())
    if params is None:
        raise StudioError(f"cannot write images of type '{path.suffix}': use one of {', '.join(_ENCODINGS)}", file=path)
    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        raise StudioError(f"expected a uint8 image, got {img.dtype}", file=path)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 and img.shape[2] == 3 else img
    ok, buf = cv2.imencode(path.suffix.lower(), bgr, params)
    if not ok:
        raise StudioError("image encoding failed", file=path)
    atomic.write_bytes(path, buf.tobytes())
    return path


def _as_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise StudioError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, :3])
    if img.ndim == 3 and img.shape[2] == 3:
        return img.copy()
    raise StudioError(f"expected an HxW or HxWx3 image, got shape {img.shape}")


def _cat_of(label: int, cat_ids: Sequence[int] | None) -> int:
    if cat_ids is not None and 1 <= label <= len(cat_ids):
        return int(cat_ids[label - 1])
    return label


def _name_of(label: int, class_names: Sequence[str]) -> str:
    return str(class_names[label - 1]) if 1 <= label <= len(class_names) else f"class {label}"


def _box_pixels(box: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """Box corners as pixel ints inside the image (xyxy with exclusive far edge -> inclusive)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = int(np.clip(round(x0), 0, w - 1)), int(np.clip(round(x1) - 1, 0, w - 1))
    y0, y1 = int(np.clip(round(y0), 0, h - 1)), int(np.clip(round(y1) - 1, 0, h - 1))
    return x0, y0, max(x0, x1), max(y0, y1)


def _label(img: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float, thick: int) -> None:
    """``text`` on a filled box above the corner ``(x, y)``, inside the image when it does not fit."""
    h, w = img.shape[:2]
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(1, round(th * 0.25))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    top = y - bh if y - bh >= 0 else y  # above the box, or just inside it at the image's top edge
    top = min(top, max(0, h - bh))
    left = min(x, max(0, w - bw))
    cv2.rectangle(img, (left, top), (left + bw - 1, top + bh - 1), color, -1)
    cv2.putText(img, text, (left + pad, top + pad + th), _FONT, scale, text_color_on(color), thick, cv2.LINE_AA)
