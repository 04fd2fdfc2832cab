"""Inference preprocessing and its inverse, in numpy and OpenCV only.

The same code runs in ``studio predict`` / ``studio eval`` (with torch) and in ``studio infer`` on an
exported model (without torch), so exported and PyTorch predictions see identical pixels.

The model input is the image resized so its longest side is ``size`` (aspect kept). With
``letterbox`` it is then padded at the right and bottom to ``size`` x ``size``; without, it is padded
up to a multiple of ``stride``. Padding is the fill value 0. Predictions map back with
:func:`unmap_boxes` and :func:`unmap_masks`.

One preprocessing: every inference path of a checkpoint (``studio predict``, ``studio eval``, the
trainer's validation, the exports, ``studio infer``) letterboxes to ``size`` x ``size``. A static
export can take no other shape, and a convolutional detector's output near the bottom or right edge
depends on how much padding follows (its receptive field reaches into it; an R-CNN's anchors are clipped
to the input), so any other choice left predict and the default export apart (97.1 % of boxes
matched at IoU 0.9 on balloon val for seg_fast before, 100 % now; see ``bench/export_match.py``). Training
already sees ``size`` x ``size`` canvases only, and ``studio eval`` on balloon val is better this way
(seg_fast: bbox mAP 0.3082 against 0.3051, mask 0.2942 against 0.2889), and no longer depends on which
images share a batch. The price: a 3:2 image costs 1.43x the FLOPs of its stride-padded shape (1.1x the
latency of seg_fast's predict at 320 px on a CPU). ``letterbox=False`` stays for exports made before.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Meta:
    """How one image became a model input."""

    orig_h: int
    orig_w: int
    scale: float  # input pixels per original pixel
    resized_h: int  # the image's extent inside the input (before padding)
    resized_w: int
    input_h: int
    input_w: int


def fit_size(h: int, w: int, size: int) -> tuple[int, int, float]:
    """The (h, w) with the longest side ``size``, and the scale factor."""
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale)), scale


def input_shape(h: int, w: int, size: int, letterbox: bool, stride: int = 32) -> tuple[int, int]:
    if letterbox:
        return size, size
    rh, rw, _ = fit_size(h, w, size)
    return -(-rh // stride) * stride, -(-rw // stride) * stride


def preprocess(image: np.ndarray, size: int, letterbox: bool, stride: int = 32) -> tuple[np.ndarray, Meta]:
    """RGB uint8 HxWx3 -> float32 3xHxW in [0, 1], and the :class:`Meta` to map predictions back."""
    h, w = image.shape[:2]
    rh, rw, scale = fit_size(h, w, size)
    if (rh, rw) != (h, w):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (rw, rh), interpolation=interp)
    ih, iw = input_shape(h, w, size, letterbox, stride)
    out = np.zeros((3, ih, iw), np.float32)
    out[:, :rh, :rw] = image.transpose(2, 0, 1) * np.float32(1 / 255)
    # the scale actually applied on each axis differs from `scale` by rounding; use the mean
    real = (rh / h + rw / w) / 2
    return out, Meta(h, w, real, rh, rw, ih, iw)


def unmap_boxes(boxes: np.ndarray, meta: Meta) -> np.ndarray:
    """xyxy boxes in input pixels -> xyxy in original image pixels, clipped to the image."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] *= meta.orig_w / meta.resized_w
    b[:, [1, 3]] *= meta.orig_h / meta.resized_h
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, meta.orig_w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, meta.orig_h)
    return b


def unmap_masks(masks: np.ndarray, meta: Meta, threshold: float = 0.5) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) soft masks at input size -> (N, orig_h, orig_w) bool masks."""
    m = np.asarray(masks)
    if m.ndim == 4:
        m = m[:, 0]
    out = np.zeros((m.shape[0], meta.orig_h, meta.orig_w), bool)
    for i in range(m.shape[0]):
        crop = np.ascontiguousarray(m[i, : meta.resized_h, : meta.resized_w], dtype=np.float32)
        out[i] = cv2.resize(crop, (meta.orig_w, meta.orig_h), interpolation=cv2.INTER_LINEAR) > threshold
    return out
