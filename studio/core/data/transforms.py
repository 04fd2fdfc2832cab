"""Training augmentations on torchvision ``transforms.v2`` tv_tensors.

The image travels as a ``tv_tensors.Image``, the boxes as ``BoundingBoxes`` (XYXY) and the instance
masks as a ``Mask`` (N, H, W), so every geometric step moves all three together. The pipeline
(:func:`build_train_transforms`) works on uint8 pixels until the very end and shrinks the image first,
so every later step touches about ``size`` x ``size`` pixels:

1. scale jitter: rescale so the longest side is ``size`` times a factor drawn from ``scale_jitter``;
2. photometric jitter (probability ``photometric``): brightness, contrast, saturation and hue folded
   into one 3x4 colour matrix and applied in a single OpenCV pass (:class:`FastColorJitter`; about
   20x cheaper than ``v2.ColorJitter``, whose hue step round-trips through float HSV);
3. horizontal flip (probability ``hflip``);
4. crop / pad to a ``size`` x ``size`` canvas (:class:`RandomCropPad`), so a train batch stacks with
   no wasted padding;
5. boxes recomputed from the masks when there are masks (:class:`BoxesFromMasks`): after a crop the
   visible part of a non-rectangular object is smaller than its clamped box;
6. ``SanitizeBoundingBoxes`` drops boxes under 2 px together with their labels and masks;
7. conversion to float32 in [0, 1].

Validation does none of this: it goes through :func:`studio.core.data.preprocess.preprocess`, the same
code as ``studio predict``, so evaluation sees exactly the pixels prediction sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import query_size

from studio.core.config.schema import AugmentConfig
from studio.core.data.augmentations import augment_steps

MIN_BOX_SIZE = 2.0
# v2.ColorJitter-style ranges: brightness/contrast/saturation factor in [1 - x, 1 + x], hue in [-h, h] turns
JITTER = {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.02}
NO_AUGMENT = AugmentConfig(hflip=0.0, scale_jitter=(1.0, 1.0), photometric=0.0, mosaic=0.0, copy_paste=0.0)


@dataclass
class Sample:
    """One training sample in plain numpy, as decoding, mosaic and copy-paste hand it on.

    ``boxes`` are xyxy in pixels of ``image``; ``masks`` (N, H, W) uint8 0/1, or None for box models.
    """

    image: np.ndarray  # H x W x 3 uint8 RGB
    boxes: np.ndarray  # (N, 4) float32
    labels: np.ndarray  # (N,) int64
    masks: np.ndarray | None
    image_id: int

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, np.int64).reshape(-1)

    def to_tv(self) -> tuple[tv_tensors.Image, dict[str, Any]]:
        """(Image uint8 3xHxW, target) for the v2 transforms; the image is a zero-copy channels-last view."""
        h, w = self.image.shape[:2]
        image = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(self.image)).permute(2, 0, 1))
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(self.boxes), format="XYXY", canvas_size=(h, w)),
            "labels": torch.from_numpy(self.labels),
        }
        if self.masks is not None:
            target["masks"] = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(self.masks, dtype=np.uint8)))
        target["image_id"] = int(self.image_id)
        return image, target


def masks_to_boxes_np(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (pixel-corner convention: x1 = last column + 1) of (N, H, W) masks; empty -> zeros."""
    n = masks.shape[0]
    out = np.zeros((n, 4), np.float32)
    if n == 0:
        return out
    rows = masks.any(axis=2)
    cols = masks.any(axis=1)
    has = rows.any(axis=1)
    h, w = masks.shape[1:]
    out[:, 0] = cols.argmax(axis=1)
    out[:, 1] = rows.argmax(axis=1)
    out[:, 2] = w - cols[:, ::-1].argmax(axis=1)
    out[:, 3] = h - rows[:, ::-1].argmax(axis=1)
    out[~has] = 0
    return out


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`masks_to_boxes_np` (``torchvision.ops.masks_to_boxes`` is off by one px)."""
    n, h, w = masks.shape
    if n == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    # amax on uint8 is vectorised; .bool().any() is ~50x slower on CPU
    m = masks if masks.dtype == torch.uint8 else (masks != 0).to(torch.uint8)
    rows, cols = m.amax(dim=2) > 0, m.amax(dim=1) > 0
    has = rows.any(dim=1)
    x0 = cols.float().argmax(dim=1)
    y0 = rows.float().argmax(dim=1)
    x1 = w - cols.flip(1).float().argmax(dim=1)
    y1 = h - rows.flip(1).float().argmax(dim=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    boxes[~has] = 0
    return boxes


def color_matrix(
    brightness: float, contrast: float, saturation: float, hue: float, mean_rgb: np.ndarray, order
) -> np.ndarray:
    """The 3x4 affine colour transform of the four jitter steps applied in ``order``.

    Each step is affine in RGB: brightness scales; contrast blends with the image's mean grey (the
    mean of an affine image is the same affine map of the mean, so it is tracked through); saturation
    blends with each pixel's grey; hue rotates chroma about the grey axis in YIQ space (the linear
    counterpart of torchvision's HSV hue shift).
    """
    gray = np.array([0.299, 0.587, 0.114])
    m = np.eye(3)
    t = np.zeros(3)
    mean = np.asarray(mean_rgb, np.float64)
    for step in order:
        if step == 0:
            a, b = brightness * np.eye(3), np.zeros(3)
        elif step == 1:
            a, b = contrast * np.eye(3), np.full(3, (1 - contrast) * float(gray @ (m @ mean + t)))
        elif step == 2:
            a, b = saturation * np.eye(3) + (1 - saturation) * np.outer(np.ones(3), gray), np.zeros(3)
        else:
            yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
            # minus: a positive hue turns red towards yellow, as in HSV
            c, s = math.cos(-2 * math.pi * hue), math.sin(-2 * math.pi * hue)
            rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
            a, b = np.linalg.inv(yiq) @ rot @ yiq, np.zeros(3)
        m, t = a @ m, a @ t + b
    return np.concatenate([m, t[:, None]], axis=1)


class FastColorJitter(v2.Transform):
    """Brightness / contrast / saturation / hue jitter in random order, as one colour matrix.

    Factor ranges and the random order follow ``v2.ColorJitter``; the only difference is that values
    are clipped once at the end rather than after each step.
    """

    def __init__(
        self,
        brightness: float = JITTER["brightness"],
        contrast: float = JITTER["contrast"],
        saturation: float = JITTER["saturation"],
        hue: float = JITTER["hue"],
    ):
        super().__init__()
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        r = torch.rand(4).tolist()
        return {
            "factors": (
                1 + self.brightness * (2 * r[0] - 1),
                1 + self.contrast * (2 * r[1] - 1),
                1 + self.saturation * (2 * r[2] - 1),
                self.hue * (2 * r[3] - 1),
            ),
            "order": torch.randperm(4).tolist(),
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        hwc = inpt.as_subclass(torch.Tensor).permute(1, 2, 0).contiguous().numpy()
        scale = 255.0 if hwc.dtype == np.uint8 else 1.0
        mean = np.asarray(cv2.mean(hwc)[:3]) / scale
        mat = color_matrix(*params["factors"], mean, params["order"])
        mat[:, 3] *= scale
        out = cv2.transform(hwc, mat.astype(np.float32))
        if hwc.dtype != np.uint8:
            out = np.clip(out, 0.0, 1.0)
        return tv_tensors.wrap(torch.from_numpy(out).permute(2, 0, 1), like=inpt)


class RandomCropPad(v2.Transform):
    """Crop or pad to ``size`` x ``size``: a random window where the image is larger, padding with 0 where smaller.

    With ``letterbox`` the padding goes right / bottom, where inference puts it; otherwise the image
    lands at a random offset inside the canvas, which doubles as a translation augmentation.
    """

    def __init__(self, size: int, letterbox: bool):
        super().__init__()
        self.size = int(size)
        self.letterbox = letterbox

    def _offset(self, extent: int) -> int:
        slack = extent - self.size
        if slack > 0:
            return int(torch.randint(0, slack + 1, ()).item())
        if slack == 0 or self.letterbox:
            return 0
        return -int(torch.randint(0, -slack + 1, ()).item())

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        h, w = query_size(flat_inputs)
        return {"top": self._offset(h), "left": self._offset(w)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            F.crop, inpt, top=params["top"], left=params["left"], height=self.size, width=self.size
        )


class BoxesFromMasks(v2.Transform):
    """Replace the boxes with the tight boxes of the masks (no-op when the sample has no masks)."""

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        flat, spec = tree_flatten(sample)
        masks = next((x for x in flat if isinstance(x, tv_tensors.Mask)), None)
        if masks is None:
            return sample
        for i, x in enumerate(flat):
            if isinstance(x, tv_tensors.BoundingBoxes):
                flat[i] = tv_tensors.wrap(masks_to_boxes(masks.as_subclass(torch.Tensor)), like=x)
        return tree_unflatten(flat, spec)


def build_train_transforms(aug: AugmentConfig | None, size: int, letterbox: bool) -> v2.Compose:
    """The per-sample train transforms (after decoding, mosaic and copy-paste); see the module docstring.

    Input: ``(Image uint8, target)`` as :meth:`Sample.to_tv` makes it; output: float32 image in [0, 1]
    of ``size`` x ``size`` and the target with boxes, labels (and masks) filtered together.
    ``aug=None`` trains without augmentation: resize to ``size`` and pad.
    """
    aug = aug or NO_AUGMENT
    steps: list[v2.Transform] = [v2.ScaleJitter((size, size), scale_range=tuple(aug.scale_jitter), antialias=True)]
    if aug.photometric > 0:
        steps.append(v2.RandomApply([FastColorJitter()], p=aug.photometric))
    if aug.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=aug.hflip))
    steps += augment_steps(aug.extra)  # plugins' augmentations (data.augment.extra)
    steps += [
        RandomCropPad(size, letterbox),
        BoxesFromMasks(),
        v2.ClampBoundingBoxes(),
        v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIZE),
        v2.ToDtype(torch.float32, scale=True),
    ]
    return v2.Compose(steps)
