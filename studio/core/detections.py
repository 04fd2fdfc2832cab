"""One image's predictions, in original image pixels, as plain numpy arrays."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError

# A detection's outcome against the ground truth (and FN: a GT object missed), as
# studio.core.evaluation.matching decides it and studio.core.draw colours it.
TP, FP, FN, IGNORED = "TP", "FP", "FN", "ignored"


def check_score_thr(value: Any, option: str = "--score-thr") -> float | None:
    """``value`` (None: the model's default) when it is a number from 0 to 1; else StudioError naming ``option``."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        shown = f"{value:g}" if isinstance(value, numbers.Real) and not isinstance(value, bool) else repr(value)
        raise StudioError(f"{option} must be between 0 and 1, got {shown}")
    return float(value)


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # (N, 4) float32, xyxy in original image pixels
    scores: np.ndarray  # (N,) float32, sorted high to low
    labels: np.ndarray  # (N,) int64, model labels 1..K (see studio.core.data.classes.ClassMap)
    masks: np.ndarray | None = None  # (N, H, W) bool at the original image size, for mask models

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls, with_masks: bool = False, h: int = 0, w: int = 0) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0,), np.int64),
            np.zeros((0, h, w), bool) if with_masks else None,
        )

    def keep(self, idx) -> Detections:
        idx = np.asarray(idx)
        return Detections(
            self.boxes[idx], self.scores[idx], self.labels[idx], None if self.masks is None else self.masks[idx]
        )

    def above(self, threshold: float) -> Detections:
        return self.keep(np.nonzero(self.scores >= threshold)[0])

    def upscaled(self, factor: int, width: int, height: int) -> Detections:
        """These detections, made on an image decoded at 1/``factor`` size, in the pixels of the
        ``width`` x ``height`` file: boxes times ``factor`` (clipped), masks as :class:`UpscaledMasks`."""
        if factor == 1:
            return self
        boxes = self.boxes.astype(np.float32) * np.float32(factor)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        masks = None if self.masks is None else UpscaledMasks(np.asarray(self.masks, bool), factor, height, width)
        return Detections(boxes, self.scores, self.labels, masks)


class UpscaledMasks:
    """``(N, height, width)`` bool masks held at 1/``factor`` of that size, each scaled up when indexed.

    What :meth:`Detections.upscaled` gives: the masks of 100 detections on an 8000 x 8000 image would
    take 6.4 GB as one array; this holds them at the decoded size and makes one full-size mask at a
    time (bilinear, so edges are not ``factor``-pixel stairs). ``masks[i]`` is an ``(height, width)``
    bool array, ``masks[idx]`` (an index array or slice) another UpscaledMasks, ``np.asarray(masks)``
    the whole stack (for code that needs it; it costs the full size).
    """

    ndim = 3
    dtype = np.dtype(bool)

    def __init__(self, small: np.ndarray, factor: int, height: int, width: int):
        self.small = small
        self.factor = int(factor)
        self.shape = (int(small.shape[0]), int(height), int(width))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self._one(int(index))
        return UpscaledMasks(self.small[index], self.factor, self.shape[1], self.shape[2])

    def _one(self, i: int) -> np.ndarray:
        import cv2  # deferred: cv2

        m = self.small[i].astype(np.uint8) * np.uint8(255)
        h, w = m.shape
        big = cv2.resize(m, (w * self.factor, h * self.factor), interpolation=cv2.INTER_LINEAR)
        return big[: self.shape[1], : self.shape[2]] >= 128

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.zeros(self.shape, bool)
        for i in range(len(self)):
            out[i] = self._one(i)
        return out if dtype is None else out.astype(dtype)


@dataclass(frozen=True)
class ImagePrediction:
    """One image's result from ``predict_files``: the decoded image and its detections in its pixels.

    A big image is decoded reduced (``reduction`` 2, 4 or 8, see
    :func:`studio.core.data.decode.decode_for_model`): ``image`` and ``detections`` are then
    1/``reduction`` of the file's ``width`` x ``height``; :meth:`original` gives the detections in the
    file's pixels (what predictions.json holds).
    """

    path: Path
    image: np.ndarray  # RGB uint8 as decoded
    detections: Detections  # in ``image``'s pixels
    width: int  # the file's (upright) size
    height: int
    reduction: int = 1

    def original(self) -> Detections:
        return self.detections.upscaled(self.reduction, self.width, self.height)
