"""XGrad-CAM and LayerCAM, in the shape of Studio's built-in methods (studio/core/explain/cam.py).

A gradient method takes one layer's activations and the gradients of the target score with respect
to them, both ``(C, h, w)``, and returns an ``(h, w)`` map >= 0. Studio does the rest for every
architecture: the forward with hooks, the target (a box, a class), the sum over layers, the resize
to the image, per-box normalisation and the mass-in-box figure.
"""

from __future__ import annotations

import torch
from torch import Tensor

_EPS = 1e-7


def xgradcam(act: Tensor, grad: Tensor) -> Tensor:
    """XGrad-CAM (Fu et al. 2020): channel weights sum(grad * act) / sum(act), then ReLU of the weighted sum."""
    w = (grad * act).sum(dim=(1, 2)) / (act.sum(dim=(1, 2)) + _EPS)
    return torch.relu((w[:, None, None] * act).sum(0))


def layercam(act: Tensor, grad: Tensor) -> Tensor:
    """LayerCAM (Jiang et al. 2021): every position weighted by its own positive gradient (keeps fine detail)."""
    return torch.relu((torch.relu(grad) * act).sum(0))
