"""Building a model of the zoo: :func:`build_model` (an architecture, random init, then the weights)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.models.errors import ModelError
from studio.core.models.spec import BACKBONE_STAGES, ArchSpec
from studio.core.models.transform import install_transform
from studio.core.models.weights import LoadReport, LogFn, WeightsSource, check_weights, load_weights
from studio.core.models.zoo import get_arch, list_archs

FreezeSetting = int | str  # a number of stages, "none" or "all"


def check_backbone(spec: ArchSpec, backbone: str | None, freeze_backbone: FreezeSetting | None = None) -> int:
    """Refuse a ``model.backbone`` / ``model.freeze_backbone`` that ``spec`` does not offer; return the
    number of stages to freeze (``all``: every one of :data:`~.spec.BACKBONE_STAGES`)."""
    names = [b for b, _ in spec.backbones]
    if backbone is not None and backbone not in names:
        if not names:
            offering = ", ".join(s.name for s in list_archs() if s.backbones) or "none"
            raise ModelError(
                f"{spec.name} has no backbone choice: leave model.backbone empty "
                f"(architectures with backbone choices: {offering})",
                item="model.backbone",
            )
        raise ModelError(
            f"{spec.name} has no backbone {backbone!r}: pick one of {', '.join(names)}", item="model.backbone"
        )
    text = "none" if freeze_backbone is None else str(freeze_backbone).strip().lower()
    count = {"none": 0, "": 0, "all": BACKBONE_STAGES}.get(text)
    if count is None:
        count = int(text) if text.isdigit() else -1
        if not 0 <= count <= BACKBONE_STAGES:
            raise ModelError(
                f"model.freeze_backbone must be none, 1 to {BACKBONE_STAGES - 1} (stages from the stem) or all, "
                f"got {freeze_backbone!r}",
                item="model.freeze_backbone",
            )
    if count and not names:
        raise ModelError(
            f"{spec.name} has no backbone stages to freeze: model.freeze_backbone is for architectures with "
            "backbone choices (its fine-tuning setup already freezes what torchvision freezes)",
            item="model.freeze_backbone",
        )
    return count


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
    backbone: str | None = None,
    freeze_backbone: FreezeSetting | None = None,
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

    ``backbone`` picks one of the architecture's backbone choices (``spec.backbones``; None: its
    default); torchvision weight names (``DEFAULT``...) then name that backbone's ImageNet weights,
    loaded into the backbone while the neck and head start new. ``freeze_backbone`` fixes the first
    stages of such a backbone (a number, ``none`` or ``all``).

    The model gets ``studio_arch``, ``studio_task``, ``num_classes``, ``studio_weights`` (the
    :class:`LoadReport`, or None), ``studio_backbone`` and ``studio_pretrained_backbone`` (the name prefix
    of the pretrained backbone parameters, which train with a lower learning rate, or None) attributes.
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
    frozen_stages = check_backbone(spec, backbone, freeze_backbone)
    source = check_weights(spec, weights, progress=progress, cancel=cancel, backbone=backbone)
    args = (int(num_classes), int(image_size), float(score_thr), int(max_detections))
    if spec.backbones:
        model = spec.builder(*args, backbone=backbone or spec.backbones[0][0], freeze_backbone=frozen_stages)
    else:
        model = spec.builder(*args)
    install_transform(model, spec.size_divisible)
    model.studio_arch = spec.name
    model.studio_task = spec.task
    model.num_classes = int(num_classes)
    if finetune is None:
        finetune = source.kind != "none"
    model.studio_backbone = backbone or (spec.backbones[0][0] if spec.backbones else None)
    model.studio_pretrained_backbone = getattr(model, "pretrained_prefix", None) if finetune else None
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
        report = load_weights(model, source, log, arch=spec, backbone=backbone)
    model.studio_weights = report
    return model
