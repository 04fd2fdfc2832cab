"""Inference preprocessing and its inverse, in numpy and OpenCV only.

The same code runs in ``studio predict`` / ``studio eval`` (with torch) and in ``studio infer`` on an
exported model (without torch), so exported and PyTorch predictions see identical pixels.

The model input is the image resized so its longest side is ``size`` (aspect kept). With
``letterbox`` it is then padded at the right and bottom to ``size`` x ``size``; without, it is padded
up to a multiple of ``stride`` (what the detectors batch to anyway). Padding is the fill value 0.
Predictions map back with :func:`unmap_boxes` and :func:`unmap_masks`.
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
