"""Drawing on images with OpenCV, without Qt: every picture Studio draws outside a Qt scene.

* detections (boxes, masks, ``"name 0.87"`` labels): ``studio predict``, the export's verification
  pictures, the boxes over a CAM, the augmented samples of ``studio dataset preview-aug``;
* annotation records (COCO dicts) filled and outlined: the import wizard's thumbnails;
* heat maps over images (colour maps, alpha blending, captions): ``studio featmap`` / ``studio cam`` and
  the Inspect page's explain tabs;
* tile grids of pictures;
* ground truth against predictions: the colour, label and tool tip each GT object and each prediction
  gets from its match outcome (the Inspect page turns these marks into scene items).

Colours come from :mod:`studio.core.palette`, keyed by category id, so a class looks the same in the GUI
and in every PNG. Images are RGB uint8 arrays; saving them is :func:`studio.core.imageio.save_image`, and
turning them into a ``QImage`` is the GUI's business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from studio.core import palette
from studio.core.detections import FN, FP, IGNORED, TP, Detections
from studio.core.errors import StudioError
from studio.core.geometry import is_rle, segmentation_to_mask
from studio.core.palette import class_color_rgb, text_color_on

_FONT = cv2.FONT_HERSHEY_SIMPLEX


# ------------------------------------------------------------------------------------------ images
def as_rgb(image: np.ndarray) -> np.ndarray:
    """A contiguous RGB uint8 copy of an HxW grey, HxWx3 RGB or HxWx4 RGBA uint8 image."""
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


# ------------------------------------------------------------------------------------------ detections
def draw_detections(
    image_rgb: np.ndarray,
    dets: Detections,
    class_names: Sequence[str],
    *,
    score_thr: float = 0.0,
    masks_alpha: float = 0.45,
    cat_ids: Sequence[int] | None = None,
    with_masks: bool = True,
    scores: bool = True,
) -> np.ndarray:
    """A copy of ``image_rgb`` (uint8 HxWx3, or HxW grey) with the detections drawn on it.

    Masks (unless ``with_masks`` is False) are filled with ``masks_alpha`` opacity (0: outlines only) and
    outlined; every detection gets its box and a ``"name 0.87"`` label (``"name"`` without ``scores``) on
    a filled background. Labels are 1..K into ``class_names``; colours are keyed by category id
    (``cat_ids[label - 1]`` when given, else the label itself, which is the category id for datasets
    numbered 1..K) so they match the GUI. Higher scores are drawn last (on top). Line width and font
    scale follow the image size: a label must stay legible on a 64 px thumbnail and not swallow a
    4000 px photo.
    """
    img = as_rgb(image_rgb)
    h, w = img.shape[:2]
    dets = dets.above(score_thr) if len(dets) else dets
    if len(dets) == 0:
        return img
    masks = dets.masks if with_masks else None
    if masks is not None and tuple(masks.shape[1:]) != (h, w):
        raise StudioError(f"masks are {masks.shape[2]}x{masks.shape[1]} but the image is {w}x{h}")
    thick = max(1, round(max(h, w) / 400))
    font_scale = max(0.3, max(h, w) / 1400)
    font_thick = max(1, round(font_scale * 1.6))
    order = np.argsort(np.asarray(dets.scores), kind="stable")  # low first, so the best ends on top
    line = cv2.LINE_AA if thick > 1 else cv2.LINE_8  # anti-aliasing washes out 1 px lines
    colors = {int(lab): class_color_rgb(_cat_of(int(lab), cat_ids)) for lab in np.unique(dets.labels)}

    if masks is not None:
        if masks_alpha > 0:
            out = img.astype(np.float32)
            for i in order:
                m = np.asarray(masks[i], dtype=bool)
                if m.any():
                    color = np.asarray(colors[int(dets.labels[i])], np.float32)
                    out[m] = out[m] * (1.0 - masks_alpha) + color * masks_alpha
            img = np.ascontiguousarray(out.round().clip(0, 255).astype(np.uint8))
        for i in order:
            m = np.asarray(masks[i], dtype=np.uint8)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(img, contours, -1, colors[int(dets.labels[i])], thick, line)

    for i in order:
        color = colors[int(dets.labels[i])]
        x0, y0, x1, y1 = _box_pixels(dets.boxes[i], w, h)
        cv2.rectangle(img, (x0, y0), (x1, y1), color, thick, cv2.LINE_8)  # axis-aligned: crisp as is
        text = _name_of(int(dets.labels[i]), class_names)
        if scores:
            text += f" {float(dets.scores[i]):.2f}"
        draw_label(img, text, x0, y0, color, font_scale, font_thick)
    return img


def draw_label(
    img: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float, thick: int
) -> None:
    """``text`` on a filled box in ``color`` above the corner ``(x, y)`` (just inside it at the image's top
    edge), kept inside the image; in place."""
    h, w = img.shape[:2]
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(1, round(th * 0.25))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    top = y - bh if y - bh >= 0 else y
    top = min(top, max(0, h - bh))
    left = min(x, max(0, w - bw))
    cv2.rectangle(img, (left, top), (left + bw - 1, top + bh - 1), color, -1)
    cv2.putText(img, text, (left + pad, top + pad + th), _FONT, scale, text_color_on(color), thick, cv2.LINE_AA)


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


# ------------------------------------------------------------------------------------------ annotations
def draw_thumbnail(
    rgb: np.ndarray | None, anns: Sequence[dict], size: int, width: int = 0, height: int = 0
) -> np.ndarray:
    """``rgb`` scaled so its longest side is ``size``, with ``anns`` (COCO records in the image's
    ``width`` x ``height`` pixels; 0: ``rgb``'s size) drawn by :func:`draw_annotations`. Without ``rgb`` (a
    missing file) a grey canvas of the recorded size shows the shapes still."""
    w, h = int(width), int(height)
    if (w <= 0 or h <= 0) and rgb is not None:
        h, w = rgb.shape[:2]
    w, h = max(w, 1), max(h, 1)
    s = size / max(w, h)
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    canvas = (
        cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        if rgb is not None
        else np.full((th, tw, 3), 70, np.uint8)
    )
    draw_annotations(canvas, anns, s, w, h)
    return np.ascontiguousarray(canvas)


def draw_annotations(
    canvas: np.ndarray, anns: Sequence[dict], s: float, w: int, h: int, fill_alpha: float = 0.35
) -> None:
    """Fill (``fill_alpha`` opacity) and outline each annotation in its class colour, in place; ``s`` scales
    the records' pixels (of a ``w`` x ``h`` image) to ``canvas``. Polygons, RLE masks, else the box; a broken
    shape is skipped (it is the check report's business, not the picture's)."""
    th, tw = canvas.shape[:2]
    fill = canvas.copy()
    outlines: list[tuple[tuple[int, int, int], list[np.ndarray]]] = []
    for a in anns:
        color = class_color_rgb(a.get("category_id"))
        seg = a.get("segmentation")
        contours: list[np.ndarray] = []
        if is_rle(seg):
            try:
                mask = segmentation_to_mask(seg, h, w)
            except Exception:
                mask = None
            if mask is not None:
                small = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_NEAREST)
                contours = list(cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0])
        elif isinstance(seg, list):
            for part in seg:
                if isinstance(part, list) and len(part) >= 6:
                    try:
                        xy = np.asarray(part, np.float64).reshape(-1, 2) * s
                    except (TypeError, ValueError):
                        continue
                    contours.append(np.round(xy).astype(np.int32).reshape(-1, 1, 2))
        box = a.get("bbox")
        if not contours and isinstance(box, (list, tuple)) and len(box) == 4:
            try:
                x, y, bw, bh = (float(v) * s for v in box)
            except (TypeError, ValueError):
                continue
            rect = np.round([[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]]).astype(np.int32)
            contours.append(rect.reshape(-1, 1, 2))
        if contours:
            cv2.fillPoly(fill, contours, color)
            outlines.append((color, contours))
    cv2.addWeighted(fill, fill_alpha, canvas, 1.0 - fill_alpha, 0, dst=canvas)
    for color, contours in outlines:
        cv2.polylines(canvas, contours, True, color, 1, cv2.LINE_AA)


# ------------------------------------------------------------------------------------------ heat maps
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
    """``image * (1 - alpha) + heat * alpha``; the map is resized to the image when its size differs.

    Kept apart from the computation of the map, so a page re-blends at another alpha (a slider) without
    running the model, and the CLI writes exactly what the page shows."""
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


def caption(image_rgb: np.ndarray, text: str) -> np.ndarray:
    """``text`` in a dark band at the top-left corner (tile labels of a grid)."""
    img = np.ascontiguousarray(image_rgb).copy()
    h, w = img.shape[:2]
    scale = max(0.3, min(h, w) / 400)
    thick = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    cv2.rectangle(img, (0, 0), (min(w - 1, tw + 4), min(h - 1, th + base + 4)), (0, 0, 0), -1)
    cv2.putText(img, text, (2, th + 2), _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img


# ------------------------------------------------------------------------------------------ grids
def tile_grid(
    tiles: Sequence[np.ndarray], cols: int | None = None, gap: int = 4, background: int = 255, margin: int = 0
) -> np.ndarray:
    """RGB tiles in rows of ``cols`` (default: as square as possible), each at the top-left of a cell the
    size of the largest, ``gap`` px apart and ``margin`` px from the edges, on a ``background`` grey."""
    if not tiles:
        raise StudioError("no images to tile")
    n = len(tiles)
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    shape = (rows * th + (rows - 1) * gap + 2 * margin, cols * tw + (cols - 1) * gap + 2 * margin, 3)
    out = np.full(shape, background, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = margin + r * (th + gap), margin + c * (tw + gap)
        out[y : y + t.shape[0], x : x + t.shape[1]] = t[..., :3]
    return out


# ------------------------------------------------------------------------------------------ GT vs predictions
# True positives green, false positives red, missed objects orange, predictions on crowd objects / ignore
# regions grey.
OUTCOME_COLORS = {TP: palette.OK, FP: palette.ERROR, FN: palette.WARNING, IGNORED: palette.IGNORE}


@dataclass(frozen=True)
class Mark:
    """How one ground-truth object or one prediction is drawn against the other."""

    color: str  # "#rrggbb"
    label: str  # the text beside it
    tip: str  # the tool tip
    outcome: str | None  # TP, FP, FN or IGNORED; None before matching (ground truth: matched or not yet)


def ground_truth_marks(
    anns: Sequence[dict], match: Any, class_name: Callable[[Any], str], cat_ids: Sequence[Any]
) -> list[tuple[dict, Mark]]:
    """The GT objects of the classes ``cat_ids`` (crowd ones left out), each with its mark: orange "FN" when
    the image's ``match`` (an ``ImageMatch``, None before matching) missed it, green when matched, the
    class colour before matching."""
    matched = {a for _, a, _ in match.pairs} if match is not None else set()
    out = []
    for ann in anns:
        if ann.get("category_id") not in cat_ids or ann.get("iscrowd"):
            continue
        missed = match is not None and ann["id"] not in matched
        outcome = FN if missed else (TP if match is not None else None)
        color = OUTCOME_COLORS[outcome] if outcome else palette.class_color_hex(ann["category_id"])
        name = class_name(ann["category_id"])
        tip = f"{name} (annotation {ann['id']}){': missed' if missed else ''}"
        out.append((ann, Mark(color, ("FN " if missed else "") + name, tip, outcome)))
    return out


def prediction_marks(
    dets: Detections, match: Any, score_thr: float, class_names: Sequence[str]
) -> list[tuple[int, Mark]]:
    """The detections at or above ``score_thr``, the best last (drawn on top), each with its mark: the colour
    of its outcome in ``match`` (TP, FP, ignored), else its class colour."""
    out = []
    keep = [i for i in range(len(dets)) if float(dets.scores[i]) >= score_thr]
    for i in reversed(keep):
        status = match.status_of(i) if match is not None else None
        color = OUTCOME_COLORS.get(status, palette.class_color_hex(int(dets.labels[i]) - 1))
        name = class_names[int(dets.labels[i]) - 1]
        score = float(dets.scores[i])
        tip = f"#{i} {name} {score:.2f}: {status or 'not matched yet'}"
        label = f"{status + ' ' if status in (TP, FP) else ''}{name} {score:.2f}"
        out.append((i, Mark(color, label, tip, status)))
    return out
