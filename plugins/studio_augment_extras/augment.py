"""Two augmentations for ``data.augment.extra``.

An augmentation contribution is a factory: Studio calls it with the entry's ``params`` as keyword
arguments and applies what it returns to ``(image, target)`` with the entry's probability ``p``.
The image is a ``tv_tensors.Image`` (uint8, 3 x H x W) and the target holds ``boxes``
(``BoundingBoxes``), ``labels`` and, for segmenters, ``masks`` (``Mask``), so a torchvision
``transforms.v2`` transform moves all of them together. Draw random numbers from torch's generator:
Studio seeds it per sample, which keeps runs repeatable and independent of the loader workers.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def grayscale() -> v2.Transform:
    """Luminance in all three channels: boxes and masks are untouched."""
    return v2.Grayscale(num_output_channels=3)


class Cutout(v2.Transform):
    """``holes`` squares of side ``size`` x the shorter image side, filled with ``fill``, at random centres.

    Only the image changes: an object partly hidden keeps its box and mask, which is the point
    (the model learns to recognise it from the visible part).
    """

    def __init__(self, holes: int = 1, size: float = 0.25, fill: int = 114):
        super().__init__()
        if int(holes) < 1:
            raise ValueError(f"holes must be at least 1, got {holes}")
        if not 0 < float(size) <= 1:
            raise ValueError(f"size is a fraction of the shorter side, in (0, 1], got {size}")
        if not 0 <= int(fill) <= 255:
            raise ValueError(f"fill is a grey level in 0..255, got {fill}")
        self.holes, self.size, self.fill = int(holes), float(size), int(fill)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image = next(x for x in flat_inputs if isinstance(x, tv_tensors.Image))
        h, w = F.get_size(image)
        side = max(1, round(self.size * min(h, w)))
        windows = []
        for _ in range(self.holes):
            cy, cx = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
            y0, x0 = max(cy - side // 2, 0), max(cx - side // 2, 0)
            windows.append((y0, min(y0 + side, h), x0, min(x0 + side, w)))
        return {"windows": windows}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        out = inpt.clone()
        fill = self.fill if out.dtype == torch.uint8 else self.fill / 255.0
        for y0, y1, x0, x1 in params["windows"]:
            out[..., y0:y1, x0:x1] = fill
        return out
