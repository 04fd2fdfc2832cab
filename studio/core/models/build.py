"""Building a model of the zoo: :func:`build_model` (an architecture, random init, then the weights)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.models.errors import ModelError
from studio.core.models.spec import ArchSpec
from studio.core.models.transform import install_transform
from studio.core.models.weights import LoadReport, LogFn, WeightsSource, check_weights, load_weights
from studio.core.models.zoo import get_arch


def build_model(
    arch: str | ArchSpec,
    num_classes: int,
    *,
    image_size: int,
    score_thr: float = 0.05,
    max_detections: int = 100,
    weights: str | Path | WeightsSource | None = None,
    log: LogFn | None = None,
    finetune: bool | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> nn.Module:
    """Build ``arch`` for ``num_classes`` object classes (background not counted), then load ``weights``.

    The weights are resolved first (a missing torchvision file fails before anything is built) and
    the model is built with random init, so nothing is downloaded by torchvision itself.
    ``finetune`` applies the architecture's pretrained-weights setup (frozen BatchNorm and first
    stages, see :mod:`.finetune`); by default it follows whether weights are loaded. A run resumed
    from its own checkpoint must pass the value of its first start (``bool(model.weights)``), so that
    the model, and the optimiser state, have the same frozen parts.

    The model gets ``studio_arch``, ``studio_task``, ``num_classes`` and ``studio_weights`` (the
    :class:`LoadReport`, or None) attributes.
    """
    spec = arch if isinstance(arch, ArchSpec) else get_arch(arch)
    if int(num_classes) < 1:
        raise ModelError(
            f"{spec.name} needs at least one object class, got num_classes={num_classes}", item="model.arch"
        )
    if int(image_size) < spec.min_size:
        raise ModelError(
            f"{spec.name} needs images of at least {spec.min_size} px, got {image_size}", item="data.image_size"
        )
    source = check_weights(spec, weights, progress=progress, cancel=cancel)
    model = spec.builder(int(num_classes), int(image_size), float(score_thr), int(max_detections))
    install_transform(model, spec.size_divisible)
    model.studio_arch = spec.name
    model.studio_task = spec.task
    model.num_classes = int(num_classes)
    if finetune is None:
        finetune = source.kind != "none"
    if finetune and spec.finetune_setup is not None:
        spec.finetune_setup(model)
        if log is not None:
            frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
            total = sum(p.numel() for p in model.parameters())
            log(
                f"{spec.name}: torchvision fine-tuning setup, "
                f"{frozen / 1e6:.1f}M of {total / 1e6:.1f}M parameters frozen"
            )
    report: LoadReport | None = None
    if source.kind != "none":
        report = load_weights(model, source, log, arch=spec)
    model.studio_weights = report
    return model
