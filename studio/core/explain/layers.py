"""The layers a user can look into: the module tree, the backbone / neck shortcuts, name resolution.

The Inspect page lists the model's module tree (names, types, output shapes seen in a probe forward)
so layers are picked, not typed. The shortcuts are found from the structure of that forward, the same
way for every architecture (see :mod:`studio.core.explain.capture`):

* ``backbone``: the levels of the first multi-scale output (ResNet / MobileNet stages, SSD's maps);
  ``stage1``, ``stage2``... one level each;
* ``neck`` (alias ``fpn``): the levels fed to the heads: a torchvision ``FeaturePyramidNetwork`` when
  the model has one, else the last multi-scale output (for SSD, the backbone's maps again);
  ``level1``, ``level2``... one level each.

A shortcut wins over a module of the same name: ``backbone`` means the backbone's stages, as in
MMYOLO's ``--target-layers backbone``, even though torchvision models have a ``backbone`` module
(whose output is the FPN's). Any module can still be named by its dotted path, with ``:key`` for one
of its outputs.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork

from studio.core.errors import StudioError
from studio.core.explain.capture import LayerRef, Recorder, forward

SHORTCUT_WORDS = ("backbone", "neck", "fpn")
_INDEXED = re.compile(r"^(stage|level)(\d+)$")


@dataclass
class LayerNode:
    """One module of the tree; ``outputs`` are ``(key, shape)`` of its output tensors in the probe forward."""

    name: str  # dotted path from the model ("" for the model itself)
    type: str
    params: int  # parameters of the module and its children
    outputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    calls: int = 0  # times it ran in the probe forward (0: not run, or not probed)
    children: list[LayerNode] = field(default_factory=list)

    @property
    def spatial(self) -> bool:
        """True when it outputs a 4-D feature map (what feature maps and CAM can show)."""
        return any(len(s) == 4 for _, s in self.outputs)

    def walk(self):
        """Depth-first, parents before children."""
        yield self
        for c in self.children:
            yield from c.walk()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "params": self.params,
            "calls": self.calls,
            "outputs": [{"key": k, "shape": list(s)} for k, s in self.outputs],
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(frozen=True)
class Level:
    """One level of a shortcut: its display name and where its tensor is read."""

    name: str  # "backbone.body.layer2", or "backbone.fpn:0" when no module outputs it alone
    module: str  # the multi-scale module whose output holds it
    key: str


@dataclass(frozen=True)
class ModelLayers:
    """What the Inspect page needs to offer layers: the tree, the shortcuts and the default choice."""

    tree: LayerNode
    backbone: tuple[Level, ...]
    neck: tuple[Level, ...]
    batch_hw: tuple[int, int] | None  # the padded input size of the probe forward

    @property
    def shortcuts(self) -> dict[str, list[str]]:
        """Shortcut word -> the layer names it stands for, in order (each name resolvable on its own)."""
        out: dict[str, list[str]] = {}
        if self.backbone:
            out["backbone"] = [lv.name for lv in self.backbone]
        if self.neck:
            out["neck"] = [lv.name for lv in self.neck]
            out["fpn"] = out["neck"]
        for i, lv in enumerate(self.backbone, 1):
            out[f"stage{i}"] = [lv.name]
        for i, lv in enumerate(self.neck, 1):
            out[f"level{i}"] = [lv.name]
        return out

    @property
    def default(self) -> list[str]:
        """The default layers: the neck outputs (what the heads see)."""
        return ["neck"] if self.neck else []

    def node(self, name: str) -> LayerNode | None:
        return next((n for n in self.tree.walk() if n.name == name), None)

    def spatial_layers(self) -> list[str]:
        """Names of the modules with a 4-D output, depth-first: the pickable entries of the tree."""
        return [n.name for n in self.tree.walk() if n.spatial and n.name]

    def to_dict(self) -> dict:
        return {
            "tree": self.tree.to_dict(),
            "shortcuts": self.shortcuts,
            "default": self.default,
            "batch_hw": list(self.batch_hw) if self.batch_hw else None,
        }

    def format_text(self, spatial_only: bool = True) -> str:
        """The tree as indented lines (``studio featmap --list-layers``), then the shortcuts."""
        lines = []
        for n in self.tree.walk():
            if not n.name or (spatial_only and not n.spatial):
                continue
            shapes = ", ".join(
                f"{k + ' ' if k else ''}{'x'.join(map(str, s[1:]))}" for k, s in n.outputs if len(s) == 4
            )
            depth = n.name.count(".")
            lines.append(f"{'  ' * depth}{n.name} ({n.type}){'  ' + shapes if shapes else ''}")
        lines.append("shortcuts:")
        for word, names in self.shortcuts.items():
            lines.append(f"  {word}: {' '.join(names)}")
        return "\n".join(lines)


def build_tree(model: nn.Module, recorder: Recorder | None = None) -> LayerNode:
    """The module tree of ``model``, with output shapes and call counts when a probe ``recorder`` ran."""
    nodes: dict[str, LayerNode] = {}
    for name, module in model.named_modules():
        calls = recorder.records.get(name, []) if recorder is not None else []
        outputs = []
        for i, c in enumerate(calls):
            outputs.extend(((f"call{i}" + (f".{k}" if k else "")) if len(calls) > 1 else k, s) for k, s in c.shapes)
        node = LayerNode(name, type(module).__name__, sum(p.numel() for p in module.parameters()), outputs, len(calls))
        nodes[name] = node
        if name:
            nodes[name.rpartition(".")[0]].children.append(node)
    return nodes[""]


def find_levels(model: nn.Module, recorder: Recorder) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """(backbone levels, neck levels) from the multi-scale outputs of a recorded forward.

    The multi-scale modules are taken in the order they finished; one that contains another (the
    torchvision ``BackboneWithFPN`` around its body and FPN) is dropped, as its output is its inner
    module's. The first left is the backbone; the neck is an FPN when there is one, else the last.
    """
    pyramids = [n for n in recorder.order if recorder.records[n][0].pyramid]
    inner = [n for n in pyramids if not any(o != n and (not n or o.startswith(n + ".")) for o in pyramids)]
    if not inner:
        return (), ()
    modules = dict(model.named_modules())
    fpns = [n for n in inner if isinstance(modules.get(n), FeaturePyramidNetwork)]
    neck = fpns[-1] if fpns else inner[-1]
    backbone = next((n for n in inner if n != neck), neck)

    def levels(name: str, named_by_source: bool) -> tuple[Level, ...]:
        rec = recorder.records[name][0]
        out = []
        for key, _ in rec.pieces:
            src = rec.level_sources.get(key) if named_by_source else None
            out.append(Level(src or str(LayerRef(name, key)), name, key))
        return tuple(out)

    return levels(backbone, True), levels(neck, False)


def probe_input(size_hw: tuple[int, int], device: torch.device | str = "cpu") -> Tensor:
    """A mid-grey input of the given (h, w): enough to run every layer and learn its output shape."""
    return torch.full((3, *size_hw), 0.5, device=device)


@torch.no_grad()
def inspect_layers(model: nn.Module, image: Tensor) -> ModelLayers:
    """Probe ``model`` with one preprocessed image (3xHxW in [0, 1]): tree with shapes, and shortcuts."""
    rec = Recorder(model, detach=True)
    forward(model, image, rec, grad=False)
    backbone, neck = find_levels(model, rec)
    return ModelLayers(build_tree(model, rec), backbone, neck, rec.batch_hw)


# ---------------------------------------------------------------------------------- resolution
def is_shortcut(name: str) -> bool:
    return name in SHORTCUT_WORDS or _INDEXED.match(name) is not None


def check_names(model: nn.Module, names: list[str]) -> set[str]:
    """Validate layer names before a forward; returns the modules to keep. Unknown names name the closest ones."""
    modules = dict(model.named_modules())
    keep: set[str] = set()
    for text in names:
        ref = LayerRef.parse(text)
        if ref.key is None and is_shortcut(ref.module):
            continue
        if ref.module not in modules:
            close = difflib.get_close_matches(ref.module, [m for m in modules if m], n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise StudioError(
                f"the model ({type(model).__name__}) has no module {ref.module!r}{hint} "
                f"(shortcuts: backbone, neck, fpn, stageN, levelN; `--list-layers` shows the tree)",
                item=str(text),
            )
        keep.add(ref.module)
    return keep


def resolve(names: list[str], recorder: Recorder, model: nn.Module) -> list[tuple[str, Tensor]]:
    """Layer names (shortcuts, ``module`` or ``module:key``) -> ``(display name, 4-D tensor)`` after a forward."""
    backbone, neck = find_levels(model, recorder)
    out: list[tuple[str, Tensor]] = []
    for text in names:
        ref = LayerRef.parse(text)
        if ref.key is None and is_shortcut(ref.module):
            out.extend(_shortcut(ref.module, backbone, neck, recorder))
            continue
        pieces = recorder.pieces(ref.module)
        if not recorder.records.get(ref.module):
            raise StudioError("this module did not run in the forward pass (nothing to show)", item=str(text))
        if ref.key is not None:
            hit = [(k, t) for k, t in pieces if k == ref.key]
            if not hit:
                keys = ", ".join(k for k, _ in pieces) or "none"
                raise StudioError(f"no output {ref.key!r} (its feature-map outputs: {keys})", item=str(text))
            pieces = hit
        per_region = [k for k, t in pieces if t.shape[0] != 1]
        pieces = [(k, t) for k, t in pieces if t.shape[0] == 1]
        if per_region and not pieces:
            raise StudioError(
                "its output is per region (N x C x h x w after RoI pooling), not a map over the image", item=str(text)
            )
        if not pieces:
            shapes = (
                "; ".join(f"{k or 'output'} {list(s)}" for c in recorder.records[ref.module] for k, s in c.shapes)
                or "no tensor"
            )
            raise StudioError(f"outputs no 4-D feature map ({shapes}): pick a convolutional layer", item=str(text))
        out.extend((str(LayerRef(ref.module, k)) if k else ref.module, t) for k, t in pieces)
    return out


def _shortcut(word: str, backbone, neck, recorder: Recorder) -> list[tuple[str, Tensor]]:
    m = _INDEXED.match(word)
    group = backbone if (word == "backbone" or (m and m.group(1) == "stage")) else neck
    if not group:
        raise StudioError(
            "this model has no multi-scale feature outputs to stand for; pick a layer from the tree", item=word
        )
    if m:
        i = int(m.group(2))
        if not 1 <= i <= len(group):
            raise StudioError(f"there are {len(group)} {m.group(1)}s (1..{len(group)})", item=word)
        group = (group[i - 1],)
    found = []
    for lv in group:
        tensors = dict(recorder.records[lv.module][0].pieces)
        found.append((lv.name, tensors[lv.key]))
    return found


def ensure_list(layers: Any) -> list[str]:
    """``None`` / a name / names -> a list of names (``None`` -> the default, the neck)."""
    if layers is None:
        return ["neck"]
    if isinstance(layers, str):
        return [layers]
    names = [str(x) for x in layers]
    return names or ["neck"]
