"""Feature maps: what chosen layers output for one image, reduced to maps at the image's size.

A layer's (C, h, w) activation becomes one map (``squeeze_mean``: the mean over channels;
``select_max``: the channel with the largest activation sum) or, with ``topk``, the k channels with
the largest sums, each its own map (MMDetection / MMYOLO's ``featmap_vis_demo`` conventions). Maps
are raw float activations at the original image size: colouring and blending belong to
:mod:`studio.core.draw`, so the GUI can change alpha without running the model again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from studio.core.data.preprocess import Meta
from studio.core.errors import StudioError
from studio.core.explain.capture import Recorder, forward, to_image
from studio.core.explain.layers import ModelLayers, build_tree, check_names, find_levels, resolve
from studio.core.jobs import CancelToken

REDUCTIONS = ("squeeze_mean", "select_max")


@dataclass(frozen=True)
class FeatureMap:
    """One layer output seen as image-sized maps."""

    layer: str  # the layer name, resolvable again ("backbone.body.layer2", "backbone.fpn:0")
    shape: tuple[int, int, int]  # (C, h, w) of the activation
    reduction: str  # "squeeze_mean", "select_max" or "topk"
    channels: tuple[int, ...]  # the channels shown: () for the mean, one for select_max, k for top-k
    maps: np.ndarray  # (n, H, W) float32 at the original image size: n = 1, or k for top-k


def reduce_channels(
    act: Tensor, reduction: str = "squeeze_mean", topk: int = 0
) -> tuple[np.ndarray, tuple[int, ...], str]:
    """(C, h, w) -> ((n, h, w) float32 grids, channels shown, reduction used). ``topk > 0`` wins over ``reduction``."""
    act = act.detach().float()
    if topk > 0:
        k = min(int(topk), act.shape[0])
        idx = torch.topk(act.sum(dim=(1, 2)), k).indices
        return act[idx].cpu().numpy(), tuple(int(i) for i in idx), "topk"
    if reduction == "squeeze_mean":
        return act.mean(dim=0, keepdim=True).cpu().numpy(), (), reduction
    if reduction == "select_max":
        c = int(torch.argmax(act.sum(dim=(1, 2))))
        return act[c : c + 1].cpu().numpy(), (c,), reduction
    raise StudioError(f"unknown channel reduction {reduction!r}: use one of {', '.join(REDUCTIONS)}, or topk")


@torch.no_grad()
def feature_maps(
    model: nn.Module,
    image: Tensor,
    meta: Meta,
    layers: list[str],
    *,
    reduction: str = "squeeze_mean",
    topk: int = 0,
    cancel: CancelToken | None = None,
) -> tuple[list[FeatureMap], ModelLayers]:
    """Run ``model`` once on ``image`` (3xHxW, preprocessed) and reduce the outputs of ``layers``.

    Also returns the :class:`ModelLayers` of that forward (tree with shapes, shortcuts), so a caller
    showing the tree needs no extra probe.
    """
    if topk <= 0 and reduction not in REDUCTIONS:
        raise StudioError(f"unknown channel reduction {reduction!r}: use one of {', '.join(REDUCTIONS)}")
    rec = Recorder(model, keep=check_names(model, layers), detach=True)
    forward(model, image, rec, grad=False)
    batch_hw = rec.batch_hw or (int(image.shape[-2]), int(image.shape[-1]))
    found = resolve(layers, rec, model)
    maps: list[FeatureMap] = []
    for name, act in found:
        if cancel is not None:
            cancel.raise_if_cancelled()
        grids, channels, used = reduce_channels(act[0], reduction, topk)
        full = np.stack([to_image(g, batch_hw, meta) for g in grids])
        maps.append(FeatureMap(name, tuple(int(s) for s in act.shape[1:]), used, channels, full))
    backbone, neck = find_levels(model, rec)
    return maps, ModelLayers(build_tree(model, rec), backbone, neck, rec.batch_hw)
