"""Optimiser construction: no weight decay on norms and biases (the usual detection recipe), and a lower
learning rate for a pretrained backbone.

A backbone loaded with ImageNet weights already holds good features: at the full learning rate the first
iterations, driven by the gradients of a random head, would scatter them. Its parameters (named by
``model.studio_pretrained_backbone``, set by :func:`studio.core.models.build_model` when fine-tuning a
torchvision backbone) go into groups of their own with ``train.backbone_lr`` times the learning rate. The
schedule scales every group from its own peak (``Trainer.peak_lrs``), so the ratio holds through warm-up
and decay.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.core.config.schema import TrainConfig


def _decay_split(params: list[tuple[str, nn.Parameter]]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    decay, no_decay = [], []
    for name, p in params:
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return decay, no_decay


def param_groups(model: nn.Module, weight_decay: float, backbone_lr: float | None = None) -> list[dict]:
    """The trainable parameters in groups; the first group trains at the full learning rate (the one logged).

    ``backbone_lr`` (an absolute learning rate) applies to the pretrained backbone's parameters when the
    model names them; None leaves them with the others.
    """
    prefix = getattr(model, "studio_pretrained_backbone", None) if backbone_lr is not None else None
    rest, backbone = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if prefix and name.startswith(prefix) else rest).append((name, p))
    decay, no_decay = _decay_split(rest)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    bb_decay, bb_no_decay = _decay_split(backbone)
    if bb_decay:
        groups.append({"params": bb_decay, "weight_decay": weight_decay, "lr": backbone_lr})
    if bb_no_decay:
        groups.append({"params": bb_no_decay, "weight_decay": 0.0, "lr": backbone_lr})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay, backbone_lr=cfg.lr * cfg.backbone_lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
