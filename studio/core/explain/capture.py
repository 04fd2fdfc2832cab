"""Forward hooks that record what the modules of a detector output during one forward pass.

Feature maps and CAM both need "the activations of layer X" for any model of the zoo, so nothing here
knows an architecture: every module gets a hook, outputs are walked generically (a tensor, or dicts,
lists and tuples of them), and the multi-scale outputs that detectors pass from backbone to neck to
heads are recognised by their structure (a dict / list / tuple of two or more 4-D tensors), not by
attribute names. :mod:`studio.core.explain.layers` turns those records into the backbone / neck
shortcuts.

A layer is named ``module.path`` (all the 4-D tensors it outputs, one per pyramid level or per call)
or ``module.path:key`` (one of them: a dict key, a list index, ``call1`` for the second call of a
module applied to every level, ``call1.0`` for both).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from studio.core.data.preprocess import Meta


@dataclass(frozen=True)
class LayerRef:
    """A parsed layer name: a module path and optionally one of its output pieces."""

    module: str
    key: str | None = None

    @classmethod
    def parse(cls, text: str) -> LayerRef:
        module, sep, key = str(text).strip().partition(":")
        return cls(module.strip(), key.strip() if sep else None)

    def __str__(self) -> str:
        return self.module if self.key is None else f"{self.module}:{self.key}"


def flatten_output(out: Any, prefix: str = "") -> list[tuple[str, Tensor]]:
    """The tensors inside a module output, each with its path (``""`` for a bare tensor, ``"0"``, ``"pool"``...)."""
    if isinstance(out, Tensor):
        return [(prefix, out)]
    items: Iterator[tuple[Any, Any]]
    if isinstance(out, Mapping):
        items = iter(out.items())
    elif isinstance(out, (list, tuple)):
        items = enumerate(out)
    else:  # ImageList, None, a custom object: nothing a feature map can be drawn from
        return []
    found: list[tuple[str, Tensor]] = []
    for k, v in items:
        found.extend(flatten_output(v, f"{prefix}.{k}" if prefix else str(k)))
    return found


def pyramid_items(out: Any) -> list[tuple[str, Tensor]] | None:
    """The levels of a multi-scale output (a dict, list or tuple of at least two 4-D tensors), else None.

    Only a flat container counts: heads return nested lists (per-level logits and box deltas) or 3-D
    tensors, a backbone body or a neck returns exactly this, whatever the architecture.
    """
    if isinstance(out, Mapping):
        items = [(str(k), v) for k, v in out.items()]
    elif isinstance(out, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(out)]
    else:
        return None
    if len(items) < 2 or not all(isinstance(v, Tensor) and v.dim() == 4 for _, v in items):
        return None
    return items


@dataclass
class CallRecord:
    """One call of one module: the shapes of its output tensors and, when kept, its 4-D tensors."""

    shapes: list[tuple[str, tuple[int, ...]]]
    pieces: list[tuple[str, Tensor]] = field(default_factory=list)
    pyramid: bool = False
    #: for a multi-scale output, per level: the outermost inner module that produced that very tensor
    level_sources: dict[str, str] = field(default_factory=dict)


class Recorder:
    """Hooks every module of ``model`` for the duration of a ``with`` block.

    Records the output shapes of every call (for the layer tree), keeps the 4-D output tensors of the
    modules named in ``keep`` and of every multi-scale output, and remembers the batched input size
    (the padded tensor the network really sees; feature grids cover it). ``detach`` stores detached
    copies (feature maps, no gradient needed; a copy, because a later in-place ReLU would change the
    stored values); without it the tensors stay in the graph so CAM can take gradients w.r.t. them.
    """

    def __init__(self, model: nn.Module, keep: set[str] | frozenset[str] = frozenset(), detach: bool = True):
        self.model = model
        self.keep = set(keep)
        self.detach = detach
        self.records: dict[str, list[CallRecord]] = {}
        self.order: list[str] = []  # module names in the order their first call finished
        self.batch_hw: tuple[int, int] | None = None
        self._weak: dict[str, list[weakref.ref]] = {}
        self._handles: list = []

    def __enter__(self) -> Recorder:
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            self._record(name, output)

        return hook

    def _record(self, name: str, output: Any) -> None:
        if self.batch_hw is None:
            self.batch_hw = _batched_size(output)
        flat = flatten_output(output)
        rec = CallRecord([(k, tuple(int(s) for s in t.shape)) for k, t in flat])
        levels = pyramid_items(output)
        if levels is not None:
            rec.pyramid = True
            rec.level_sources = self._sources(name, levels)
        if name in self.keep or levels is not None:
            rec.pieces = [(k, self._store(t)) for k, t in flat if t.dim() == 4]
        calls = self.records.setdefault(name, [])
        if not calls:
            self.order.append(name)
        calls.append(rec)
        self._weak.setdefault(name, []).extend(weakref.ref(t) for _, t in flat if t.dim() == 4)

    def _store(self, t: Tensor) -> Tensor:
        return t.detach().clone() if self.detach else t

    def _sources(self, name: str, levels: list[tuple[str, Tensor]]) -> dict[str, str]:
        """For each level, the outermost module inside ``name`` called once whose output is that tensor.

        Checked now, while the tensors are alive: a backbone's stages are then shown as
        ``backbone.body.layer2`` rather than ``backbone.body:1``. Levels computed by plain functions
        (SSD's L2-normalised first map, FPN's max-pooled extra level) have no such module.
        """
        prefix = f"{name}." if name else ""
        out: dict[str, str] = {}
        for key, t in levels:
            best: str | None = None
            for mod, refs in self._weak.items():
                if not mod.startswith(prefix) or mod == name or len(self.records.get(mod, ())) != 1:
                    continue
                if any(r() is t for r in refs) and (best is None or mod.count(".") < best.count(".")):
                    best = mod
            if best is not None:
                out[key] = best
        return out

    # ------------------------------------------------------------------ reading back
    def pieces(self, module: str) -> list[tuple[str, Tensor]]:
        """The kept 4-D tensors of ``module`` over all its calls; labels get ``callN`` when it ran more than once."""
        calls = self.records.get(module, [])
        if len(calls) == 1:
            return list(calls[0].pieces)
        return [(f"call{i}" + (f".{k}" if k else ""), t) for i, c in enumerate(calls) for k, t in c.pieces]


def _batched_size(output: Any) -> tuple[int, int] | None:
    """The padded batch size, when ``output`` is (or starts with) torchvision's ImageList (a transform's output)."""
    for candidate in (output, output[0] if isinstance(output, (tuple, list)) and output else None):
        batched = getattr(candidate, "tensors", None)
        if isinstance(batched, Tensor) and batched.dim() == 4:
            return int(batched.shape[-2]), int(batched.shape[-1])
    return None


def to_image(grid: np.ndarray, batch_hw: tuple[int, int], meta: Meta) -> np.ndarray:
    """A (h, w) map over the padded batch -> (orig_h, orig_w) float32 over the original image.

    The grid is stretched over the batched input (what a stride-s feature map covers), cropped to
    the resized image (the padding is not the image) and resized to the original size.
    """
    g = np.ascontiguousarray(grid, dtype=np.float32)
    bh, bw = batch_hw
    full = cv2.resize(g, (bw, bh), interpolation=cv2.INTER_LINEAR)
    crop = np.ascontiguousarray(full[: meta.resized_h, : meta.resized_w])
    out = cv2.resize(crop, (meta.orig_w, meta.orig_h), interpolation=cv2.INTER_LINEAR)
    return out.astype(np.float32, copy=False)


def forward(model: nn.Module, image: Tensor, recorder: Recorder, grad: bool) -> dict:
    """One eval-mode forward of a single image through ``recorder``; returns the model's output dict.

    With ``grad`` the input itself requires grad, so every activation stays in the graph even where
    the weights are frozen (fine-tuned backbones freeze their first stages).
    """
    model.eval()
    with torch.set_grad_enabled(grad), recorder:
        x = image.detach().clone().requires_grad_(grad)
        outputs = model([x])
    return outputs[0]
