"""An exported model's raw outputs -> :class:`Detections` in original pixels, in numpy and OpenCV only.

The exported graphs stop at the mask head's RoI probabilities (see :mod:`.onnx_export`);
:func:`paste_masks` pastes them the way torchvision's ``paste_masks_in_image`` does (masks padded
by one pixel, boxes expanded to match and truncated to integers, bilinear resize with half-pixel
centres, which is what OpenCV's INTER_LINEAR computes), so ``studio infer`` masks are those of
``studio predict``. :func:`to_detections` then does what the PyTorch predictor's does: sort by score,
map boxes and masks back through the preprocessing :class:`Meta`.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.core.data.preprocess import Meta, unmap_boxes, unmap_masks
from studio.core.detections import Detections


def paste_masks(masks: np.ndarray, boxes: np.ndarray, height: int, width: int, padding: int = 1) -> np.ndarray:
    """(N, M, M) (or (N, 1, M, M)) RoI probabilities and (N, 4) xyxy boxes -> (N, height, width) float32."""
    m = np.asarray(masks, np.float32)
    if m.ndim == 4:
        m = m[:, 0]
    n = m.shape[0]
    out = np.zeros((n, height, width), np.float32)
    if n == 0:
        return out
    size = m.shape[-1]
    scale = np.float32(size + 2 * padding) / np.float32(size)
    padded = np.pad(m, ((0, 0), (padding, padding), (padding, padding)))
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    w_half = (b[:, 2] - b[:, 0]) * np.float32(0.5) * scale
    h_half = (b[:, 3] - b[:, 1]) * np.float32(0.5) * scale
    x_c = (b[:, 2] + b[:, 0]) * np.float32(0.5)
    y_c = (b[:, 3] + b[:, 1]) * np.float32(0.5)
    exp = np.stack([x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half], 1).astype(
        np.int64
    )  # truncates, as .to(int64)
    for i in range(n):
        x0, y0, x1, y1 = (int(v) for v in exp[i])
        w, h = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
        resized = cv2.resize(padded[i], (w, h), interpolation=cv2.INTER_LINEAR)
        ix0, ix1 = max(x0, 0), min(x1 + 1, width)
        iy0, iy1 = max(y0, 0), min(y1 + 1, height)
        if ix1 > ix0 and iy1 > iy0:
            out[i, iy0:iy1, ix0:ix1] = resized[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    return out


def to_detections(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, masks: np.ndarray | None, meta: Meta, with_masks: bool
) -> Detections:
    """One image's outputs (input-tensor pixels, RoI masks) -> :class:`Detections` in original pixels."""
    scores = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    b = unmap_boxes(np.asarray(boxes, np.float32).reshape(-1, 4), meta)[order]
    lab = np.asarray(labels).reshape(-1).astype(np.int64)[order]
    out_masks = None
    if with_masks:
        if masks is not None and len(order):
            # paste at the input size, then unmap: the two steps the PyTorch predictor takes
            full = paste_masks(
                np.asarray(masks)[order],
                np.asarray(boxes, np.float32).reshape(-1, 4)[order],
                meta.input_h,
                meta.input_w,
            )
            out_masks = unmap_masks(full, meta)
        else:
            out_masks = np.zeros((len(order), meta.orig_h, meta.orig_w), bool)
    return Detections(b, scores[order], lab, out_masks)
