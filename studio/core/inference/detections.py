"""One image's predictions, in original image pixels, as plain numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # (N, 4) float32, xyxy in original image pixels
    scores: np.ndarray  # (N,) float32, sorted high to low
    labels: np.ndarray  # (N,) int64, model labels 1..K (see studio.core.data.classes.ClassMap)
    masks: np.ndarray | None = None  # (N, H, W) bool at the original image size, for mask models

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls, with_masks: bool = False, h: int = 0, w: int = 0) -> "Detections":
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0,), np.int64),
            np.zeros((0, h, w), bool) if with_masks else None,
        )

    def keep(self, idx) -> "Detections":
        idx = np.asarray(idx)
        return Detections(self.boxes[idx], self.scores[idx], self.labels[idx], None if self.masks is None else self.masks[idx])

    def above(self, threshold: float) -> "Detections":
        return self.keep(np.nonzero(self.scores >= threshold)[0])
