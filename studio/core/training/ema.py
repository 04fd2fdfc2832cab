"""Exponential moving average of the weights (evaluated and exported instead of the raw weights).

The decay ramps up over the first updates (``decay * (1 - exp(-n / ramp))``) so early, still random
weights are forgotten fast — the form YOLOv5 and MMDetection's ExpMomentumEMA use.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    def __init__(self, model: nn.Module, decay: float = 0.9998, ramp: float = 2000.0):
        self.module = copy.deepcopy(_unwrap(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.ramp = ramp
        self.updates = 0

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        src = _unwrap(model).state_dict()
        for k, v in self.module.state_dict().items():
            s = src[k].detach()
            if v.dtype.is_floating_point:
                v.mul_(d).add_(s.to(v.dtype), alpha=1 - d)
            else:
                v.copy_(s)

    def load(self, weights: dict, updates: int) -> None:
        """Restore from a checkpoint's ``ema`` weights and ``ema_updates``."""
        self.module.load_state_dict(weights)
        self.updates = int(updates)


def _unwrap(model: nn.Module) -> nn.Module:
    return (
        model.module if hasattr(model, "module") and isinstance(model, nn.parallel.DistributedDataParallel) else model
    )
