"""An estimate of the GPU memory a training run needs, shown by the pre-flight panel before Start.

It is an estimate, not a measurement: nothing here touches CUDA. It adds up

- **weights, gradients, optimiser state, EMA copy**: exact counts from the model built on torch's
  ``meta`` device (no memory, no weights read; about a second for a ResNet-50 model). Gradients and
  optimiser state only exist for trainable parameters (the fine-tuning setup freezes some when
  ``model.weights`` is set): SGD keeps one momentum buffer per parameter (none without momentum),
  AdamW two moment buffers;
- **activations**: ``batch x (per_pixel x pixels + per_image)``, where pixels is the padded
  ``image_size`` square a training batch has (train crops and pads to size x size). The two constants
  per architecture (:data:`ACTIVATIONS`) were *calibrated on the CPU*, not on a GPU (none was
  available): :func:`measure_activation_bytes` runs one forward + backward of the architecture built
  from scratch on random images with four objects each, under torch's CPU profiler with
  ``profile_memory=True``, replays the profiler's allocation and free events in time order to get the
  peak of live tensor bytes, and subtracts the gradients (counted on their own above). Measurements
  at 256 and 512 px give the two constants: a line through ``(pixels, bytes)``, through the origin when
  the free line's intercept comes out negative, which it did for most architectures (their activation
  memory grows a little faster than the pixel count), so small sizes are overestimated and 512 px is
  tight; a check at 384 px on ``det_lite`` measured 117 MiB against 121 MiB predicted. The tensors
  autograd keeps for the backward pass are the same on CUDA; CPU kernels' scratch buffers differ from
  cuDNN's workspaces, which is what :data:`ALLOCATOR_SLACK` is for. Architectures without a
  measurement (plugins) use the largest of their family, else the largest of all (a deliberately
  pessimistic guess);
- **mixed precision**: activations times :data:`AMP_ACTIVATION_FACTOR`, from CPU bf16 autocast
  (0.51 measured on ``det_lite`` and ``fasterrcnn_resnet50_fpn``, rounded up because CUDA's fp16
  autocast keeps a different set of ops in fp32);
- **the CUDA context** (:data:`CUDA_CONTEXT_BYTES`): driver, kernels and cuBLAS/cuDNN handles, which
  ``torch.cuda.max_memory_allocated`` does not count but an out-of-memory error does. An assumed
  typical value, not measured.

Activations were measured with every layer trainable (training from scratch); with pretrained weights
the frozen stem keeps nothing for the backward pass, so the estimate is an upper bound there. None of
this has been compared with a real GPU run yet: it is meant to tell 3 GiB from 30 GiB before a run is
started, not to tune the batch size to the last megabyte.

Regenerate the constants with ``python -m studio.core.training.memory [arch ...]`` (slow on a CPU:
minutes for the ResNet-50 models).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch.profiler import ProfilerActivity, profile

from studio.core.device import resolve_device
from studio.core.errors import StudioError
from studio.core.models import build_model, check_backbone, get_arch

if TYPE_CHECKING:  # torch is imported lazily: the GUI imports this module for MemoryEstimate alone
    from torch import nn

    from studio.core.config.schema import Config

GiB = 2**30
MiB = 2**20
FLOAT_BYTES = 4
CUDA_CONTEXT_BYTES = 400 * MiB
ALLOCATOR_SLACK = 0.15  # caching-allocator fragmentation and kernel workspaces, on the dynamic part
AMP_ACTIVATION_FACTOR = 0.55  # measured 0.51 with CPU bf16 autocast (det_lite, fasterrcnn_resnet50_fpn)
DEFAULT_NUM_CLASSES = 10
CALIBRATION_SIZES = (256, 512)
PAD = 32

#: arch -> (activation bytes per padded input pixel, bytes per image independent of its size), one
#: forward + backward at batch 1 from scratch, fp32, measured on the CPU (see the module docstring) by
#: ``python -m studio.core.training.memory``; the comments are the measurements the line went through.
ACTIVATIONS: dict[str, tuple[float, float]] = {
    "fasterrcnn_resnet50_fpn": (1649.7, 0),  # 256 px 84 MiB, 512 px 417 MiB
    "fasterrcnn_resnet50_fpn_v2": (2223.2, 135558305),  # 256 px 268 MiB, 512 px 685 MiB
    "fasterrcnn_mobilenet_v3_large_fpn": (889.5, 5664439),  # 256 px 61 MiB, 512 px 228 MiB
    "fasterrcnn_mobilenet_v3_large_320_fpn": (889.5, 5664439),  # 256 px 61 MiB, 512 px 228 MiB
    "retinanet_resnet50_fpn": (1537.8, 0),  # 256 px 80 MiB, 512 px 389 MiB
    "retinanet_resnet50_fpn_v2": (1575.1, 0),  # 256 px 80 MiB, 512 px 398 MiB
    "fcos_resnet50_fpn": (1621.8, 0),  # 256 px 80 MiB, 512 px 411 MiB
    "ssd300_vgg16": (1370.6, 0),  # 288 px 98 MiB, 512 px 346 MiB
    "ssdlite320_mobilenet_v3_large": (916.2, 0),  # 256 px 54 MiB, 512 px 230 MiB (batch 2 / 2)
    "maskrcnn_resnet50_fpn": (1720.6, 0),  # 256 px 84 MiB, 512 px 436 MiB
    "maskrcnn_resnet50_fpn_v2": (2308.2, 135558305),  # 256 px 274 MiB, 512 px 706 MiB
    "seg_lite": (864.7, 0),  # 256 px 48 MiB, 512 px 218 MiB
    "det_lite": (860.6, 0),  # 256 px 48 MiB, 512 px 217 MiB (384 px: 117 MiB, the line says 121)
    "seg_fast": (577.4, 0),  # 256 px 30 MiB, 512 px 146 MiB
    "det_fast": (430.6, 0),  # 256 px 19 MiB, 512 px 110 MiB
}
#: family -> the largest constants among its measured members, for a plugin architecture of that family
FAMILY_ACTIVATIONS: dict[str, tuple[float, float]] = {
    "lite": ACTIVATIONS["seg_lite"],
    "fast": ACTIVATIONS["seg_fast"],
    "faster_rcnn": ACTIVATIONS["fasterrcnn_resnet50_fpn_v2"],
    "mask_rcnn": ACTIVATIONS["maskrcnn_resnet50_fpn_v2"],
    "retinanet": ACTIVATIONS["retinanet_resnet50_fpn_v2"],
    "fcos": ACTIVATIONS["fcos_resnet50_fpn"],
    "ssd": ACTIVATIONS["ssd300_vgg16"],
    "ssdlite": ACTIVATIONS["ssdlite320_mobilenet_v3_large"],
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak GPU memory of one training process, in bytes, with its parts in ``detail``."""

    bytes: int
    detail: dict[str, int] = field(default_factory=dict)
    params: int = 0
    trainable: int = 0
    basis: str = ""  # how the activation term was obtained

    @property
    def gib(self) -> float:
        return self.bytes / GiB

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v / GiB:.2f}" for k, v in self.detail.items() if v)
        return f"about {self.gib:.1f} GiB ({parts} GiB)"


def padded_pixels(image_size: int, divisible: int = PAD) -> int:
    """Pixels of a training input: train batches are image_size squares, padded to ``divisible``."""
    side = math.ceil(int(image_size) / divisible) * divisible
    return side * side


def activation_constants(arch: str, family: str | None = None) -> tuple[tuple[float, float], str]:
    """The calibrated ``(per_pixel, per_image)`` of ``arch``, and where they come from."""
    if arch in ACTIVATIONS:
        return ACTIVATIONS[arch], f"measured for {arch}"
    if family in FAMILY_ACTIVATIONS:
        return FAMILY_ACTIVATIONS[family], f"the largest measured {family} architecture's ({arch} itself not measured)"
    worst = max(ACTIVATIONS.values(), key=lambda c: c[0] * padded_pixels(800) + c[1])
    return worst, f"no measurement for {arch}: the largest measured architecture's, a pessimistic guess"


@functools.lru_cache(maxsize=64)
def count_parameters(
    arch: str,
    num_classes: int = DEFAULT_NUM_CLASSES,
    finetune: bool = False,
    backbone: str | None = None,
    freeze_backbone: str | None = None,
) -> tuple[int, int, int]:
    """``(parameters, trainable parameters, buffer elements)`` of ``arch`` with ``backbone`` (None: its
    default) and ``freeze_backbone`` stages frozen, built on the meta device (kept per arguments: the
    pre-flight panel asks again after every edit)."""

    spec = get_arch(arch)
    with torch.device("meta"):
        if spec.backbones:
            frozen = check_backbone(spec, backbone, freeze_backbone)
            model = spec.builder(
                int(num_classes),
                spec.default_size,
                0.05,
                100,
                backbone=backbone or spec.backbones[0][0],
                freeze_backbone=frozen,
            )
        else:
            model = spec.builder(int(num_classes), spec.default_size, 0.05, 100)
        if finetune and spec.finetune_setup is not None:
            try:
                spec.finetune_setup(model)
            except (RuntimeError, NotImplementedError):  # a plugin's setup that needs real tensors
                pass
    return _counts(model)


def _counts(model: nn.Module) -> tuple[int, int, int]:
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers())
    return params, trainable, buffers


def estimate_gpu_memory(cfg: Config, num_classes: int | None = None) -> MemoryEstimate:
    """Estimated peak GPU memory of training ``cfg`` (one process), see the module docstring.

    ``num_classes`` only changes the size of the class heads (a few MB); the default is a typical 10.
    Raises :class:`studio.core.models.ModelError` for an unknown architecture.
    """
    spec = get_arch(cfg.model.arch)
    finetune = cfg.model.weights not in (None, "", "none")
    backbone = cfg.model.backbone if spec.backbones else None
    params, trainable, buffers = count_parameters(
        spec.name, num_classes or DEFAULT_NUM_CLASSES, finetune, backbone, str(cfg.model.freeze_backbone)
    )
    t = cfg.train
    opt_slots = 2 if t.optimizer == "adamw" else (1 if t.momentum > 0 else 0)
    (per_pixel, per_image), basis = activation_constants(spec.name, spec.family)
    if backbone and backbone != spec.backbones[0][0]:
        basis += f" with its {spec.backbones[0][0]} backbone ({backbone} not measured)"
    pixels = padded_pixels(cfg.data.image_size, spec.size_divisible)
    activations = t.batch_size * (per_pixel * pixels + per_image)
    if t.amp != "none":
        activations *= AMP_ACTIVATION_FACTOR
    inputs = t.batch_size * pixels * 3 * FLOAT_BYTES  # the float image batch on the device
    detail = {
        "weights": (params + buffers) * FLOAT_BYTES,
        "gradients": trainable * FLOAT_BYTES,
        "optimizer": opt_slots * trainable * FLOAT_BYTES,
        "ema": (params + buffers) * FLOAT_BYTES if t.ema else 0,
        "activations": int(activations + inputs),
    }
    detail["slack"] = int(ALLOCATOR_SLACK * (detail["activations"] + detail["gradients"]))
    detail["cuda_context"] = CUDA_CONTEXT_BYTES
    return MemoryEstimate(int(sum(detail.values())), detail, params, trainable, basis)


def device_memory_bytes(device: str = "auto") -> tuple[str, int] | None:
    """``(name, total bytes)`` of the CUDA device a run on ``device`` would use, or None without one."""

    try:
        dev = resolve_device(device)
    except StudioError:
        return None
    if dev.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(dev.index or 0)
    return props.name, int(props.total_memory)


# ---------------------------------------------------------------------- calibration (slow, CPU)
def _random_targets(n: int, size: int, masks: bool, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        xy = torch.rand(4, 2, generator=g) * size * 0.6
        wh = torch.rand(4, 2, generator=g) * size * 0.3 + size * 0.05
        boxes = torch.cat([xy, xy + wh], 1)
        t = {"boxes": boxes, "labels": torch.randint(1, 4, (4,), generator=g)}
        if masks:
            m = torch.zeros(4, size, size, dtype=torch.uint8)
            for i, b in enumerate(boxes.long().tolist()):
                m[i, b[1] : b[3], b[0] : b[2]] = 1
            t["masks"] = m
        out.append(t)
    return out


def measure_activation_bytes(arch: str, size: int, batch: int = 1, amp: bool = False) -> int:
    """Peak live CPU tensor bytes of one forward + backward of ``arch`` from scratch, minus its gradients.

    The profiler attributes each allocation to the op that made it (``self_cpu_memory_usage`` > 0) and
    each free to a ``[memory]`` event (< 0); summed in time order they give the live bytes, whose
    maximum is the peak. ``amp``: bf16 CPU autocast.
    """

    spec = get_arch(arch)
    torch.manual_seed(0)
    model = build_model(arch, 3, image_size=max(size, spec.min_size)).train()
    images = [torch.rand(3, size, size) for _ in range(batch)]
    targets = _random_targets(batch, size, spec.task == "segment")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    def step() -> None:
        with autocast:
            loss = sum(model(images, targets).values())
        loss.backward()

    step()  # lazy initialisations out of the way
    model.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    live = peak = 0
    for e in events:
        live += e.self_cpu_memory_usage
        peak = max(peak, live)
    _, trainable, _ = _counts(model)
    return int(peak - trainable * FLOAT_BYTES)


def _per_image(arch: str, size: int) -> float:
    """Activation bytes of one image: at batch 1, or half of batch 2 where batch norm needs two
    values per channel (SSDlite's last feature maps are 1 x 1)."""
    try:
        return measure_activation_bytes(arch, size, 1)
    except ValueError:
        return measure_activation_bytes(arch, size, 2) / 2


def calibrate(arch: str, sizes: tuple[int, ...] = CALIBRATION_SIZES) -> tuple[float, float, dict[int, float]]:
    """``(per_pixel, per_image, {size: measured bytes per image})`` of ``arch``: a least-squares line
    through the measurements at ``sizes``."""
    spec = get_arch(arch)
    sizes = tuple(max(s, math.ceil(spec.min_size / PAD) * PAD) for s in sizes)  # SSD300 needs 268 px
    measured = {s: _per_image(arch, s) for s in sizes}
    per_pixel, per_image = fit_line([padded_pixels(s, spec.size_divisible) for s in sizes], list(measured.values()))
    return per_pixel, per_image, measured


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a x + b``; through the origin (b = 0) when the free fit's b is negative."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    if my - slope * mx >= 0:
        return slope, my - slope * mx
    return sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs), 0.0


if __name__ == "__main__":  # python -m studio.core.training.memory [arch ...]: print the constants
    import sys

    from studio.core.models import list_archs

    for name in sys.argv[1:] or [s.name for s in list_archs()]:
        per_pixel, per_image, measured = calibrate(name)
        sizes = ", ".join(f"{s} px {b / MiB:.0f} MiB" for s, b in measured.items())
        print(f'    "{name}": ({per_pixel:.1f}, {per_image:.0f}),  # {sizes}', flush=True)
