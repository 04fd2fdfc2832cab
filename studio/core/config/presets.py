"""Presets: one-click starting points for the three usual situations, applied over a config.

A preset is a dict of overrides merged into the config file's own keys (so the Config page shows
them as changes from the base). Each picks an architecture of the dataset's task (instance
segmentation when the training set has polygons or masks, detection otherwise) with its family's
recipe (:mod:`studio.core.config.recipes`), with what the recipe derives from the training set
(:class:`~studio.core.config.recipes.DataFacts`: image size, batch, epochs, augmentation for a CPU
preset; warm-up and evaluation shares of the run for all), then the device, precision, weights and
time limit the situation calls for. Paths and classes are left as they are. What a preset would change
is listed by :func:`preset_changes` before it is applied.

The GPU presets start from torchvision's COCO weights (``model.weights: DEFAULT``): on a small
dataset a ResNet-50 model trained from scratch is worse than the CPU preset's light model. Offline,
the pre-flight check says which file to put where.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from studio.core.config.loader import merge
from studio.core.config.recipes import DataFacts, derive, recipe_for
from studio.core.errors import StudioError


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    archs: tuple[str, str]  # (segmenter, detector)
    family: tuple[str, str]
    device: str  # what the recipe derives for: cpu or cuda
    overrides: dict

    def arch(self, has_masks: bool) -> str:
        return self.archs[0] if has_masks else self.archs[1]

    def overrides_for(self, has_masks: bool, facts: DataFacts | None = None) -> dict:
        """The full override dict: architecture, its family's recipe and what it derives from the training set
        (``facts``; without them, from :data:`TYPICAL`), then the preset's own values."""
        arch = self.arch(has_masks)
        family = self.family[0] if has_masks else self.family[1]
        out = merge({"model": {"arch": arch}}, recipe_for(family))
        time_limit = self.overrides.get("train", {}).get("time_limit")
        out = merge(out, derive(family, facts or TYPICAL, device=self.device, time_limit=time_limit))
        return merge(out, self.overrides)


#: the training set a preset is sized for when none is known yet: a few hundred photos
TYPICAL = DataFacts(images=300, instances=1500, long_side=640, has_masks=True)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "CPU quick",
            "One-stage model (seg_fast / det_fast) from scratch on the CPU, sized to the training set "
            "(image size, batch, augmentation), stopped after 20 minutes",
            ("seg_fast", "det_fast"),
            ("fast", "fast"),
            "cpu",
            {
                "model": {"weights": None},
                "data": {"letterbox": False, "workers": 2},
                "train": {"device": "cpu", "amp": "none", "time_limit": "20m", "ema": True, "eval_every": 1},
            },
        ),
        Preset(
            "GPU balanced",
            "ResNet-50 FPN Mask / Faster R-CNN from COCO weights at 640 px, batch 4, fp16, 24 epochs",
            ("maskrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn"),
            ("mask_rcnn", "faster_rcnn"),
            "cuda",
            {
                "model": {"weights": "DEFAULT"},
                "data": {"image_size": 640, "letterbox": False, "workers": 4},
                "train": {
                    "device": "auto",
                    "amp": "fp16",
                    "batch_size": 4,
                    "epochs": 24,
                    "time_limit": None,
                    "schedule": "cosine",
                    "ema": False,
                },
            },
        ),
        Preset(
            "GPU accurate",
            "ResNet-50 FPN v2 Mask / Faster R-CNN from COCO weights at 800 px, fp16, EMA, 36 epochs",
            ("maskrcnn_resnet50_fpn_v2", "fasterrcnn_resnet50_fpn_v2"),
            ("mask_rcnn", "faster_rcnn"),
            "cuda",
            {
                "model": {"weights": "DEFAULT"},
                "data": {"image_size": 800, "letterbox": False, "workers": 6},
                "train": {
                    "device": "auto",
                    "amp": "fp16",
                    "batch_size": 4,
                    "epochs": 36,
                    "time_limit": None,
                    "schedule": "cosine",
                    "ema": True,
                },
            },
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise StudioError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}", item="preset") from None


def apply_preset(raw: dict, name: str, has_masks: bool, *, facts: DataFacts | None = None) -> dict:
    """A copy of ``raw`` (a config file's own dict) with preset ``name`` merged in for the dataset's task and,
    given ``facts``, sized to the training set."""
    return merge(copy.deepcopy(raw), get_preset(name).overrides_for(has_masks, facts))


@dataclass(frozen=True)
class Change:
    """One key a preset changes: its dotted name, the value before (None: not set) and after."""

    key: str
    old: Any
    new: Any


def changes(before: dict, after: dict) -> list[Change]:
    """The leaf keys whose value differs between two config dicts, in the order of ``after``."""
    flat_before, flat_after = _flatten(before), _flatten(after)
    keys = list(flat_after) + [k for k in flat_before if k not in flat_after]
    return [Change(k, flat_before.get(k), flat_after.get(k)) for k in keys if flat_before.get(k) != flat_after.get(k)]


def preset_changes(raw: dict, name: str, has_masks: bool, *, facts: DataFacts | None = None) -> list[Change]:
    """What applying preset ``name`` to ``raw`` would change, to show before it is applied."""
    return changes(raw, apply_preset(raw, name, has_masks, facts=facts))


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
