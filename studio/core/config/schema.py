"""The config schema. Field descriptions double as the config editor's tooltips.

Class names and the number of classes are not here: they come from the training annotations, so
they are never typed twice (MMDetection users edit ``num_classes`` in three places).
"""

from __future__ import annotations

import math
import re
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


def _holds_floats(annotation: Any) -> bool:
    """``float``, ``float | None``, ``tuple[float, float]``, ``list[float]``..."""
    if annotation is float:
        return True
    if get_origin(annotation) in (Union, types.UnionType, tuple, list):
        return any(_holds_floats(a) for a in get_args(annotation))
    return False


def _as_float(value: Any) -> float | None:
    """The float a number or a numeric string stands for (as pydantic reads it), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _range_text(metadata: list) -> str:
    """`` > 0 and <= 10`` from a field's bounds ("" when unbounded)."""
    parts = []
    for m in metadata:
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{op} {v:g}")
    return " " + " and ".join(parts) if parts else ""


#: Keys renamed since configs were first written, ``section.old`` -> ``section.new``. Old YAML files and
#: checkpoints still load: the loader renames them in each file before merging (and in ``--set`` keys), and the
#: schema accepts the old name on input; configs are written with the new name.
RENAMED_KEYS: dict[str, str] = {"model.score_threshold": "model.score_thr"}


def renamed_path(keys: list[str]) -> list[str]:
    """A dotted key (as a list) under its current name: ``model.score_threshold`` -> ``model.score_thr``."""
    new = RENAMED_KEYS.get(".".join(keys))
    return new.split(".") if new else keys


def rename_old_keys(raw: Any) -> Any:
    """``raw`` (one config file's mapping) with the keys of :data:`RENAMED_KEYS` under their new names, each in
    its old place; ``raw`` itself is not changed. A section holding both names keeps both: validation refuses it."""
    if not isinstance(raw, dict):
        return raw
    out = raw
    for old, new in RENAMED_KEYS.items():
        (section, old_key), new_key = old.split("."), new.split(".")[1]
        node = out.get(section)
        if isinstance(node, dict) and old_key in node and new_key not in node:
            out = {**out, section: {new_key if k == old_key else k: v for k, v in node.items()}}
    return out


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _finite(cls, v: Any, info: ValidationInfo) -> Any:
        """NaN and infinities are refused with a message naming the allowed range: pydantic's bounds
        checks would let ``inf`` through unbounded fields and report ``nan`` as out of range."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _holds_floats(field.annotation):
            return v
        many = isinstance(v, (list, tuple))
        for k, x in enumerate(v if many else [v]):
            f = _as_float(x)
            if f is not None and not math.isfinite(f):
                what = f"item {k + 1} must be a finite number" if many else "must be a finite number"
                raise ValueError(f"{what}{_range_text(field.metadata)}, got {x}")
        return v


class DatasetRef(_Section):
    ann: str = Field(description="COCO annotation file (as written by `studio dataset import`)")
    images: str | None = Field(None, description="Images folder; default: the one recorded in the annotation file")


class ExtraAugment(_Section):
    """One plugin augmentation (studio.core.plugins): its name, probability and the parameters its factory takes."""

    name: str = Field(
        min_length=1, description="Augmentation name, as a plugin declares it (`studio plugins` lists them)"
    )
    p: float = Field(0.5, ge=0, le=1, description="Probability of applying it to a sample")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the augmentation")


class AugmentConfig(_Section):
    hflip: float = Field(0.5, ge=0, le=1, description="Probability of a horizontal flip")
    scale_jitter: tuple[float, float] = Field((0.75, 1.25), description="Random rescale range before resizing")
    photometric: float = Field(
        0.5, ge=0, le=1, description="Probability of brightness / contrast / saturation / hue jitter"
    )
    mosaic: float = Field(0.0, ge=0, le=1, description="Probability of a 4-image mosaic")
    copy_paste: float = Field(0.0, ge=0, le=1, description="Probability of copy-paste of instances (needs masks)")
    extra: list[ExtraAugment] = Field(
        default_factory=list,
        description="Plugin augmentations, applied in this order after the flip: a list of {name, p, params}",
    )

    @field_validator("scale_jitter")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] <= v[1]):
            raise ValueError(f"scale_jitter must be (low, high) with 0 < low <= high, got {list(v)}")
        return v


class DataConfig(_Section):
    train: DatasetRef = Field(description="Training set")
    val: DatasetRef | None = Field(None, description="Validation set (mAP, best checkpoint, early stopping)")
    image_size: int = Field(512, ge=32, le=4096, description="Longest side after resizing, in pixels")
    letterbox: bool = Field(
        False,
        description="Training: put each image at the top left of its image_size square instead of at a random "
        "offset (inference always pads to the square, at the right and bottom)",
    )
    workers: int = Field(2, ge=0, le=64, description="Data loader worker processes")
    cache: Literal["auto", "ram", "none"] = Field(
        "auto", description="Keep decoded images in memory (auto: when they fit)"
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="Training augmentations")


#: ``model.backbone`` choices of seg_fast / det_fast (studio.core.models.fast.backbones; a test keeps them equal)
BackboneName = Literal["csp", "resnet18", "resnet34", "resnet50", "efficientnet_b0", "regnet_y_400mf", "regnet_x_400mf"]


class ModelConfig(_Section):
    arch: str = Field(
        description="Architecture name from the model zoo (e.g. fasterrcnn_resnet50_fpn_v2, maskrcnn_resnet50_fpn)"
    )
    weights: str | None = Field(
        None,
        description="Pretrained weights: a torchvision weights name (e.g. DEFAULT), a file path, "
        "a previous run's checkpoint, or none",
    )
    backbone: BackboneName | None = Field(
        None,
        description="Backbone of seg_fast / det_fast: csp learns from scratch; resnet18 ... regnet_x_400mf take "
        "torchvision's ImageNet weights with weights: DEFAULT. Empty: the architecture's own (csp)",
    )
    freeze_backbone: Literal["none", 1, 2, 3, 4, "all"] = Field(
        "none",
        description="Backbone stages kept fixed, weights and BatchNorm statistics (seg_fast / det_fast): "
        "none, 1 (the stem) to 4 (the stem and the stride 4, 8 and 16 stages), or all",
    )
    score_thr: float = Field(
        0.05,
        ge=0,
        le=1,
        validation_alias=AliasChoices("score_thr", "score_threshold"),  # and its old name: RENAMED_KEYS
        description="Minimum score of a kept detection",
    )
    max_detections: int = Field(100, ge=1, le=1000, description="Detections kept per image")

    @field_validator("freeze_backbone", mode="before")
    @classmethod
    def _stage_count(cls, v: Any) -> Any:
        """``"2"`` (typed in a box, or ``--set model.freeze_backbone=2`` read as text) is the number 2."""
        return int(v) if isinstance(v, str) and v.strip().isdigit() else v

    @model_validator(mode="before")
    @classmethod
    def _not_both_names(cls, data: Any) -> Any:
        """A section setting a key under its old and its new name: say so, rather than "unknown key"."""
        if isinstance(data, dict) and "score_thr" in data and "score_threshold" in data:
            raise ValueError("score_threshold is the old name of score_thr: keep one")
        return data


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?\s*$")


def parse_duration(v):
    """Seconds from a number or a string like ``'20m'`` / ``'1.5h'`` / ``'90s'``; None stays None."""
    if v is None or isinstance(v, (int, float)):
        return v
    m = _DURATION.match(str(v))
    if not m:
        raise ValueError(f"time_limit must be seconds or like '20m' / '1.5h', got {v!r}")
    mult = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}[m.group(2)]
    return float(m.group(1)) * mult


class TrainConfig(_Section):
    epochs: int = Field(12, ge=1, le=100000, description="Number of passes over the training set")
    batch_size: int = Field(2, ge=1, le=1024, description="Images per iteration (per device)")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    time_limit: float | None = Field(
        None,
        ge=0,
        description="Wall-clock budget: seconds, or a string like '20m' or '1.5h'; "
        "training stops cleanly when it is spent",
    )
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="Optimiser")
    lr: float = Field(0.01, gt=0, le=10, description="Peak learning rate")
    backbone_lr: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Learning rate of a pretrained torchvision backbone (model.backbone with model.weights), "
        "as a share of lr",
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(1e-4, ge=0, le=1, description="Weight decay")
    warmup_iters: int = Field(100, ge=0, description="Linear warm-up iterations (when warmup_fraction is not set)")
    warmup_fraction: float | None = Field(
        None,
        ge=0,
        le=0.5,
        description="Linear warm-up over this share of the run (of the time limit or of the epochs, whichever is "
        "further along), so it fits any budget; replaces warmup_iters when set",
    )
    schedule: Literal["cosine", "step", "constant"] = Field(
        "cosine", description="Learning-rate schedule after warm-up"
    )
    step_milestones: list[float] = Field(
        default_factory=lambda: [0.67, 0.89],
        description="step schedule: fractions of training where the lr is multiplied by step_gamma",
    )
    step_gamma: float = Field(0.1, gt=0, le=1, description="step schedule: lr multiplier at each milestone")
    amp: Literal["none", "fp16", "bf16"] = Field(
        "none",
        description="Mixed precision: bf16 on CUDA or the CPU, fp16 (with loss scaling) on CUDA only",
    )
    compile: bool = Field(
        False,
        description="Compile the model's backbone and neck with torch.compile (the first iterations are slow "
        "while it compiles; refused with the reason where it is not supported)",
    )
    grad_clip: float | None = Field(
        10.0, ge=0, description="Clip the gradient norm to this value (none or 0: no clipping)"
    )
    ema: bool = Field(False, description="Keep an exponential moving average of the weights for evaluation")
    seed: int = Field(0, description="Random seed (CPU runs are repeatable)")
    checkpoint_every: int = Field(1, ge=1, description="Write epoch_N.pt every N epochs")
    keep_checkpoints: int = Field(3, ge=0, description="epoch_N.pt files kept (last.pt and best.pt are always kept)")
    patience: int | None = Field(None, ge=1, description="Early stopping: epochs without val mAP improvement")
    eval_every: int = Field(1, ge=1, description="Evaluate on the val set every N epochs")
    eval_interval: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Evaluate at the end of an epoch once this share of the run (time or epochs) has passed "
        "since the last evaluation: 0.1 gives about 10 evaluations whatever the budget; replaces eval_every when set",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {v!r}")
        return v

    @field_validator("step_milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [m for m in v if not 0 <= m <= 1]
        if bad:
            raise ValueError(f"step_milestones must be fractions of training between 0 and 1, got {v}")
        return v

    @field_validator("time_limit", mode="before")
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)


class Config(_Section):
    model: ModelConfig
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _amp_needs_cuda(self) -> Config:
        if self.train.amp == "fp16" and self.train.device == "cpu":
            raise ValueError("train.amp=fp16 needs a CUDA device, but train.device is cpu (bf16 works on the CPU)")
        return self
