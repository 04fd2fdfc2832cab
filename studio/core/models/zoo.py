"""The model zoo: a registry of architectures and :func:`build_model`.

Built-in architectures are torchvision's detectors (:mod:`.torchvision_archs`), the CPU-sized R-CNNs
``seg_lite`` / ``det_lite`` (:mod:`.lite`) and the one-stage ``seg_fast`` / ``det_fast`` (:mod:`.fast`,
the defaults); plugins add theirs with :func:`register_arch`.
Every model built here follows torchvision's detection API, takes labels 1..K, and never resizes
its inputs (:mod:`.transform`): Studio's data pipeline owns the image size.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from torch import nn

from studio.core.jobs import CancelToken, ProgressFn, no_progress
from studio.core.models.errors import ModelError
from studio.core.models.fast import fast_specs
from studio.core.models.lite import lite_specs
from studio.core.models.spec import ArchSpec
from studio.core.models.torchvision_archs import torchvision_specs
from studio.core.models.transform import install_transform
from studio.core.models.weights import LoadReport, LogFn, WeightsSource, check_weights, load_weights

_REGISTRY: dict[str, ArchSpec] = {}

DEFAULT_SEGMENTER = "seg_fast"
DEFAULT_DETECTOR = "det_fast"


def register_arch(spec: ArchSpec) -> ArchSpec:
    """Add ``spec`` to the zoo; a name already taken is an error (plugins must not shadow built-ins)."""
    if spec.name in _REGISTRY:
        raise ModelError(f"architecture {spec.name!r} is already registered ({_REGISTRY[spec.name].description})")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_arch(name: str) -> None:
    """Take a plugin's architecture out again (when the plugins are reloaded)."""
    _REGISTRY.pop(name, None)


def _plugin_archs() -> None:
    """Plugins' architectures join the registry the first time it is listed or lacks a name (studio.core.plugins)."""
    from studio.core.plugins.hooks import load_archs

    load_archs()


def list_archs(task: str | None = None) -> list[ArchSpec]:
    """Registered architectures in registration order, optionally only one task's ("detect" / "segment")."""
    _plugin_archs()
    return [s for s in _REGISTRY.values() if task is None or s.task == task]


def get_arch(name: str) -> ArchSpec:
    """The spec named ``name``; an unknown name raises ModelError with the closest names and the list."""
    spec = _REGISTRY.get(name)
    if spec is None:
        _plugin_archs()
        spec = _REGISTRY.get(name)
    if spec is not None:
        return spec
    names = list(_REGISTRY)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ModelError(f"unknown architecture {name!r}: {hint}known architectures: {', '.join(names)}", item="model.arch")


def default_arch(has_masks: bool) -> str:
    """The architecture a new config starts from: seg_fast for polygon/mask datasets, det_fast for boxes."""
    return DEFAULT_SEGMENTER if has_masks else DEFAULT_DETECTOR


def build_model(
    arch: str | ArchSpec,
    num_classes: int,
    *,
    image_size: int,
    score_threshold: float = 0.05,
    max_detections: int = 100,
    weights: str | Path | WeightsSource | None = None,
    log: LogFn | None = None,
    finetune: bool | None = None,
    progress: ProgressFn = no_progress,
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
    model = spec.builder(int(num_classes), int(image_size), float(score_threshold), int(max_detections))
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


for _spec in torchvision_specs() + lite_specs() + fast_specs():
    register_arch(_spec)
del _spec
