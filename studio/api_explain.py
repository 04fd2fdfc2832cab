"""Python API of ``studio featmap`` and ``studio cam`` (re-exported by :mod:`studio.api`).

Each function returns the job's result (maps, statistics, files written) and raises
:class:`studio.core.errors.StudioError` naming the file and item at fault. ``ckpt`` is a checkpoint,
a run folder, or an already loaded :class:`studio.core.inference.predictor.Predictor`; ``image`` a
file or an RGB uint8 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.core.jobs import CancelToken, Progress, no_progress

__all__ = ["featmap", "cam", "model_layers"]


def featmap(
    ckpt: Any,
    image: Any,
    out: str | Path | None = None,
    *,
    layers: str | Sequence[str] | None = None,
    reduction: str = "squeeze_mean",
    topk: int = 0,
    alpha: float = 0.5,
    colormap: str = "jet",
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """``studio featmap``: feature maps of ``layers`` (default: the neck outputs); overlay PNGs in ``out``.

    Returns a :class:`studio.core.explain.jobs.FeatmapJobResult`.
    """
    from studio.core.explain.jobs import featmap_job  # deferred: cv2, numpy, torch, torchvision

    return featmap_job(
        ckpt,
        image,
        layers,
        reduction,
        topk,
        out,
        alpha=alpha,
        colormap=colormap,
        device=device,
        progress=progress,
        cancel=cancel,
    )


def cam(
    ckpt: Any,
    image: Any,
    out: str | Path | None = None,
    *,
    method: str = "gradcam",
    layer: str | Sequence[str] | None = None,
    box_index: int | Sequence[int] | None = None,
    class_name: str | None = None,
    max_boxes: int = 5,
    use_iou: bool = False,
    score_thr: float | None = None,
    alpha: float = 0.5,
    colormap: str = "jet",
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """``studio cam``: Grad-CAM / Grad-CAM++ / EigenCAM of boxes or a class; overlays and stats JSON in ``out``.

    Returns a :class:`studio.core.explain.jobs.CamJobResult` (``.stats()``: CAM mass in box vs area share).
    """
    from studio.core.explain.jobs import cam_job  # deferred: cv2, numpy, torch, torchvision

    return cam_job(
        ckpt,
        image,
        method,
        layer,
        box_index,
        class_name,
        out,
        max_boxes=max_boxes,
        use_iou=use_iou,
        score_thr=score_thr,
        alpha=alpha,
        colormap=colormap,
        device=device,
        progress=progress,
        cancel=cancel,
    )


def model_layers(ckpt: Any, image: Any = None, device: str = "auto"):
    """The model's module tree with output shapes and the backbone / neck shortcuts (a ModelLayers)."""
    from studio.core.explain.jobs import model_layers as _layers  # deferred: cv2, numpy, torch, torchvision

    return _layers(ckpt, image, device)
