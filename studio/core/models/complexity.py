"""Model complexity: parameters, and FLOPs of one image at the configured size.

FLOPs are counted by torch's own :class:`torch.utils.flop_counter.FlopCounterMode`, which knows the cost
of convolutions, matrix products and attention from their shapes and counts a multiply-add as **2
FLOPs** (a k x k convolution from C to D channels over an H x W output: 2 * k * k * C * D * H * W).
Element-wise work (activations, normalisation, additions) and the detection post-processing (NMS, RoI
align) count nothing, as in the FLOPs figures papers and other frameworks publish.

A detector's work after the first stage depends on what it finds: an R-CNN's box head runs on its
proposals and a mask head on its detections. The count is that of one forward pass in eval mode on a
fixed random image (seed 0) of ``size`` x ``size``, the input every inference path gives the model.

Parameters are counted on a model built on PyTorch's ``meta`` device (shapes without memory), which takes
milliseconds: ``studio models`` lists them for the whole zoo. FLOPs need a real forward pass (about a
second for a small model, many for a ResNet-50 R-CNN at 800 px on a CPU), so ``studio models`` counts them
only when asked (``--flops``) and keeps them in a cache file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from studio import __version__
from studio.core import atomic
from studio.core.environment import user_cache_dir
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.models.build import build_model
from studio.core.models.spec import ArchSpec
from studio.core.models.zoo import get_arch, list_archs

#: FLOPs are counted for this many object classes when the zoo is listed (the class head is a small share)
ZOO_CLASSES = 1


@dataclass(frozen=True)
class Complexity:
    """``params``: trainable and frozen parameters; ``gflops``: 1e9 FLOPs (multiply-add = 2) at ``size``."""

    params: int
    gflops: float | None
    size: int

    def describe(self) -> str:
        """``2.95 M parameters, 4.12 GFLOPs at 320x320``."""
        text = f"{format_params(self.params)} parameters"
        if self.gflops is not None:
            text += f", {self.gflops:.2f} GFLOPs at {self.size}x{self.size}"
        return text

    def to_dict(self) -> dict:
        return asdict(self)


def format_params(n: int) -> str:
    """``2950000`` -> ``2.95 M``."""
    return f"{n / 1e6:.2f} M" if n >= 10_000 else f"{n}"


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_flops(model: nn.Module, size: int) -> int:
    """FLOPs of one eval-mode forward pass of ``model`` (a zoo detector: a list of CHW images in) at ``size``.

    The model's mode is restored afterwards; its weights are not touched.
    """
    image = torch.rand((3, size, size), generator=torch.Generator().manual_seed(0))
    param = next(model.parameters(), None)
    if param is not None:
        image = image.to(param.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model([image])
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def model_complexity(model: nn.Module, size: int, flops: bool = True) -> Complexity:
    """Parameters of ``model`` and (``flops``) its GFLOPs at ``size`` x ``size``."""
    gflops = count_flops(model, size) / 1e9 if flops else None
    return Complexity(count_params(model), gflops, int(size))


def arch_params(arch: str, num_classes: int = ZOO_CLASSES) -> int:
    """Parameters of a zoo architecture, built on the ``meta`` device (no memory, no initialisation)."""
    spec = get_arch(arch)
    with torch.device("meta"):
        model = spec.builder(num_classes, spec.default_size, 0.05, 100)
    return count_params(model)


def arch_complexity(arch: str, size: int | None = None, num_classes: int = ZOO_CLASSES) -> Complexity:
    """A zoo architecture at ``size`` (default: its default size), random weights."""
    spec = get_arch(arch)
    size = int(size or spec.default_size)
    model = build_model(arch, num_classes, image_size=size)
    return model_complexity(model, size)


class ComplexityCache:
    """``studio models --flops`` results in a JSON file, keyed by architecture, size and torch version.

    FLOPs of a built-in architecture only change with its code (or torch's counter), so the key holds
    torch's version and Studio's; a file that cannot be read is counted again and rewritten.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._data: dict[str, dict] | None = None

    @staticmethod
    def key(arch: str, size: int) -> str:
        return f"{arch}@{size}/torch {torch.__version__}/studio {__version__}"

    def _load(self) -> dict[str, dict]:
        if self._data is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def peek(self, arch: str, size: int) -> Complexity | None:
        """The cached result, or None."""
        hit = self._load().get(self.key(arch, size))
        if not isinstance(hit, dict):
            return None
        try:
            return Complexity(int(hit["params"]), float(hit["gflops"]), int(hit["size"]))
        except (KeyError, TypeError, ValueError):
            return None

    def get(self, arch: str, size: int, compute: Callable[[], Complexity]) -> tuple[Complexity, bool]:
        """The cached result, or ``compute()`` stored; the flag says whether it came from the cache."""
        hit = self.peek(arch, size)
        if hit is not None:
            return hit, True
        result = compute()
        data = self._load()
        data[self.key(arch, size)] = result.to_dict()
        atomic.ensure_dir(self.path.parent)
        atomic.write_json(self.path, data)
        return result, False


def default_cache() -> ComplexityCache:
    """``~/.cache/studio/model_complexity.json``."""
    return ComplexityCache(user_cache_dir() / "model_complexity.json")


def zoo_complexity(
    compute: bool,
    cache: ComplexityCache | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[tuple[ArchSpec, Complexity | None]]:
    """Every zoo architecture at its default size with its complexity: counted where ``compute`` (and kept in
    ``cache``), else only what the cache already holds (None for the rest), which costs nothing."""
    cache = cache or default_cache()
    specs = list_archs()
    rows: list[tuple[ArchSpec, Complexity | None]] = []
    for k, spec in enumerate(specs):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if compute:
            progress(k, len(specs), f"counting {spec.name}")
            c, _ = cache.get(spec.name, spec.default_size, lambda s=spec: arch_complexity(s.name))
        else:
            c = cache.peek(spec.name, spec.default_size)
        rows.append((spec, c))
    progress(len(specs), len(specs), "done")
    return rows


__all__ = [
    "Complexity",
    "ComplexityCache",
    "arch_complexity",
    "arch_params",
    "count_flops",
    "count_params",
    "default_cache",
    "format_params",
    "model_complexity",
    "zoo_complexity",
]
