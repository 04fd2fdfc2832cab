"""The checks run before a training starts, so nothing fails an hour in.

MMDetection users meet a class-count mismatch as an IndexError at the first evaluation; here the
classes of the train set, the val set, the model head and any checkpoint are compared up front and a
mismatch refuses to start with a message naming both lists. The GUI shows the same report before Start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.core.amp import amp_refusal
from studio.core.config.recipes import DataFacts
from studio.core.config.schema import Config
from studio.core.data.augmentations import check_augmentations
from studio.core.data.classes import ClassMap
from studio.core.data.splits import Split, class_mismatch, open_split
from studio.core.dataset.model import image_path
from studio.core.errors import StudioError
from studio.core.text import plural
from studio.core.training.budget import MIN_EVALS, MIN_STEPS_PRETRAINED, MIN_STEPS_SCRATCH, Budget, plan

MAX_LISTED = 5


class PreflightError(StudioError):
    """Training refused to start; the message lists every blocking problem."""


@dataclass(frozen=True)
class Finding:
    level: str  # error, warning, info
    item: str  # the config key or thing at fault
    message: str
    topic: str = ""  # "budget": follows the epochs, batch and time limit (PreflightReport.replan)

    def __str__(self) -> str:
        return f"{self.level}: {self.item}: {self.message}"


@dataclass
class PreflightReport:
    findings: list[Finding] = field(default_factory=list)
    train: Split | None = None
    val: Split | None = None
    class_map: ClassMap | None = None
    facts: DataFacts | None = None  # what the recipe looks at in the training set
    budget: Budget | None = None  # what the run will do with its epochs and time limit
    device: str | None = None  # the device type the run would use (cpu, cuda)
    world_size: int = 1

    def add(self, level: str, item: str, message: str, topic: str = "") -> None:
        self.findings.append(Finding(level, item, message, topic))

    def replan(self, cfg: Config) -> PreflightReport:
        """A copy with the budget findings made again for ``cfg``: the rest of the check (the data, the
        classes, the model) read the files and stays; epochs, batch, time limit, warm-up and evaluation
        cadence are cheap to check again on every edit."""
        copy = PreflightReport(
            [f for f in self.findings if f.topic != "budget"],
            self.train,
            self.val,
            self.class_map,
            self.facts,
            None,
            self.device,
            self.world_size,
        )
        if copy.train is not None and copy.device is not None:
            _check_budget(cfg, copy)
        return copy

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_if_failed(self, source: str | Path | None = None) -> None:
        if self.errors:
            raise PreflightError(
                "training cannot start: " + " | ".join(f"{f.item}: {f.message}" for f in self.errors), file=source
            )


def _missing_images(split: Split) -> list[str]:
    return [img["file_name"] for img in split.dataset.images if not image_path(split.images_dir, img).is_file()]


def _backbone_advice(spec, cfg: Config, frozen: int, rep: PreflightReport) -> None:
    """A frozen or torchvision backbone without pretrained weights is rarely what was meant: say so."""
    if cfg.model.weights not in (None, "", "none"):
        return
    if frozen:
        rep.add(
            "warning",
            "model.freeze_backbone",
            "freezes backbone stages of random weights, which then never learn: set model.weights "
            "(DEFAULT: the backbone's ImageNet weights) or freeze none",
        )
    if spec.backbone_weights(cfg.model.backbone):
        rep.add(
            "info",
            "model.backbone",
            f"{cfg.model.backbone} starts from random weights (csp learns faster from scratch); "
            "model.weights: DEFAULT fine-tunes from its ImageNet weights",
        )


def preflight(cfg: Config, *, resume=None, world_size: int = 1) -> PreflightReport:
    """Check ``cfg`` (and the checkpoint being resumed, if any) without building the model."""
    from studio.core.device import resolve_device  # deferred: torch
    from studio.core.models import (  # deferred: torch, torchvision
        ModelError,
        WeightsError,
        check_backbone,
        check_weights,
        get_arch,
    )

    rep = PreflightReport(world_size=world_size)
    spec = None
    try:
        spec = get_arch(cfg.model.arch)
    except ModelError as e:
        rep.add("error", "model.arch", e.message)
    if spec is not None:
        try:
            frozen = check_backbone(spec, cfg.model.backbone, cfg.model.freeze_backbone)
        except ModelError as e:
            rep.add("error", e.item or "model.backbone", e.message)
        else:
            _backbone_advice(spec, cfg, frozen, rep)
    if spec is not None and cfg.data.image_size < spec.min_size:
        rep.add(
            "error",
            "data.image_size",
            f"{spec.name} needs images of at least {spec.min_size} px, got {cfg.data.image_size}",
        )

    try:
        dev = resolve_device(cfg.train.device)
        rep.device = dev.type
        amp_problem = amp_refusal(cfg.train.amp, dev.type)
        if amp_problem:
            rep.add("error", "train.amp", amp_problem)
        if world_size > 1 and dev.type == "cuda":
            import torch  # deferred: torch

            if torch.cuda.device_count() < world_size:
                rep.add(
                    "error",
                    "--devices",
                    f"{world_size} processes asked for but {torch.cuda.device_count()} GPU(s) visible",
                )
        rep.add("info", "train.device", f"training on {dev.type}" + (f" x{world_size}" if world_size > 1 else ""))
    except StudioError as e:
        rep.add("error", "train.device", e.message)

    for name, ref in (("train", cfg.data.train), ("val", cfg.data.val)):
        if ref is None:
            continue
        try:
            split = open_split(ref, name)
        except StudioError as e:
            rep.add("error", f"data.{name}", str(e))
            continue
        setattr(rep, name, split)
        missing = _missing_images(split)
        if missing:
            listed = ", ".join(missing[:MAX_LISTED]) + (
                f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
            )
            rep.add(
                "error",
                f"data.{name}.images",
                f"{len(missing)} of {len(split.dataset.images)} images missing in {split.images_dir}: {listed}",
            )
        if split.pending:
            rep.add(
                "info",
                f"data.{name}.ann",
                f"{split.ann.name}: {plural(split.pending, 'pending proposal')} left out "
                f"({'never trained on' if name == 'train' else 'not ground truth'}): review them to use them",
            )
        if split.unlabelled:
            rep.add(
                "info",
                f"data.{name}.ann",
                f"{split.ann.name}: {plural(split.unlabelled, 'image')} not labelled yet left out "
                "(no accepted annotation)",
            )
        if not split.dataset.annotations:
            why = (
                f" (only {plural(split.pending, 'pending proposal')}: accept some first, "
                "in the review mode or with `studio label accept`)"
                if split.pending
                else ""
            )
            rep.add("error" if name == "train" else "warning", f"data.{name}.ann", f"{split.ann}: no annotations{why}")

    if cfg.data.augment.extra:  # plugins' augmentations: known names, params their factories take
        for item, message in check_augmentations(cfg.data.augment.extra):
            rep.add("error", item, message)

    if cfg.data.val is None:
        rep.add("warning", "data.val", "no val set: no mAP, no best.pt, no early stopping")
        if cfg.train.patience:
            rep.add("error", "train.patience", "early stopping needs a val set (data.val)")

    if rep.train is not None:
        ds = rep.train.dataset
        names = ds.class_names
        if not names:
            rep.add("error", "data.train.ann", f"{rep.train.ann}: no categories")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            rep.add("error", "data.train.ann", f"{rep.train.ann}: class names used twice: {dup}")
        rep.class_map = ClassMap.from_dataset(ds)
        rep.add(
            "info",
            "classes",
            f"{plural(rep.class_map.num_classes, 'class', 'classes')} from {rep.train.ann.name}: "
            f"{', '.join(rep.class_map.names)}",
        )
        if rep.val is not None:
            diff = class_mismatch(rep.class_map, ClassMap.from_dataset(rep.val.dataset))
            if diff:
                rep.add(
                    "error",
                    "data.val.ann",
                    f"val classes differ from train classes ({diff}); re-import both with the same class list",
                )
        if spec is not None and spec.task == "segment" and not ds.has_masks():
            rep.add(
                "error",
                "model.arch",
                f"{spec.name} is an instance segmenter but {rep.train.ann.name} has boxes only; "
                "pick a detector (e.g. det_fast)",
            )
        if spec is not None and spec.task == "detect" and ds.has_masks():
            rep.add("info", "model.arch", f"{spec.name} is a detector: the polygons train boxes only")

    if rep.train is not None and rep.device is not None:
        _check_budget(cfg, rep)

    if spec is not None and cfg.model.weights not in (None, "", "none"):
        try:
            src = check_weights(spec.name, cfg.model.weights, backbone=cfg.model.backbone)
            rep.add("info", "model.weights", str(src))
            if (
                getattr(src, "classes", None) is not None
                and rep.class_map is not None
                and src.classes != rep.class_map.names
            ):
                rep.add(
                    "warning",
                    "model.weights",
                    f"fine-tuning from {len(src.classes)} classes {list(src.classes)} to {rep.class_map.num_classes}: "
                    "the class head starts from scratch",
                )
        except (WeightsError, StudioError) as e:
            rep.add("error", "model.weights", str(e))

    if resume is not None and rep.class_map is not None:
        if resume.arch != cfg.model.arch:
            rep.add(
                "error", "--resume", f"{resume.path} is a {resume.arch} checkpoint but model.arch is {cfg.model.arch}"
            )
        diff = class_mismatch(resume.classes, rep.class_map)
        if diff:
            rep.add(
                "error",
                "--resume",
                f"{resume.path} was trained on other classes ({diff}); "
                f"to train on the new classes start a new run with model.weights={resume.path}",
            )
    return rep


def _check_budget(cfg: Config, rep: PreflightReport) -> None:
    """Warn about a recipe that cannot work in its budget: a warm-up longer than the run, no validation
    before the end, too few optimiser steps to learn anything."""
    import torch  # deferred: torch

    if rep.facts is None:
        rep.facts = DataFacts.of(rep.train.dataset)
    device = rep.device
    b = rep.budget = plan(
        cfg, rep.facts.images, device=device, threads=torch.get_num_threads(), world_size=rep.world_size
    )
    t = cfg.train
    if b.iters is None:
        rep.add(
            "info",
            "train.time_limit",
            f"{b.planned_iters} iterations planned ({b.iters_per_epoch} per epoch); "
            f"how many fit in {t.time_limit:g} s is not known for {cfg.model.arch} on {device}",
            topic="budget",
        )
    else:
        speed = f" at about {b.images_per_s:.0f} images/s (estimated)" if b.images_per_s else ""
        ends = "the time limit ends it" if b.time_limited else "the epochs end it"
        rep.add(
            "info",
            "train.epochs",
            f"about {b.iters} iterations ({b.epochs:.1f} epochs of {b.iters_per_epoch}){speed}; {ends}",
            topic="budget",
        )
        minimum = MIN_STEPS_SCRATCH if cfg.model.weights in (None, "", "none") else MIN_STEPS_PRETRAINED
        if b.iters < minimum:
            rep.add(
                "warning",
                "train.time_limit" if b.time_limited else "train.epochs",
                f"about {b.iters} optimiser steps: too few to learn much "
                f"(a model {'from scratch' if minimum == MIN_STEPS_SCRATCH else 'from pretrained weights'} "
                f"wants at least {minimum}); give it more time or epochs, or smaller images",
                topic="budget",
            )
        if b.warmup_iters is not None and b.warmup_iters >= 0.25 * b.iters:
            rep.add(
                "warning",
                "train.warmup_iters",
                f"the warm-up ({b.warmup_iters:.0f} iterations) is {b.warmup_iters / b.iters:.0%} of the run "
                f"(about {b.iters} iterations); set train.warmup_fraction=0.03 to make it a share of the run",
                topic="budget",
            )
    if cfg.data.val is not None:
        if b.first_eval_epoch is None and (b.iters is None or b.epochs > 1):
            rep.add(
                "warning",
                "train.eval_every",
                f"no validation before the end of the run (every {t.eval_every} epochs"
                + (f", about {b.epochs:.0f} epochs in the run" if b.epochs is not None else "")
                + "): no mAP curve to follow; set train.eval_interval=0.1 to validate every 10 % of the run",
                topic="budget",
            )
        elif b.evals is not None and b.evals < MIN_EVALS and b.epochs is not None and b.epochs >= MIN_EVALS:
            rep.add(
                "warning",
                "train.eval_every",
                f"only {b.evals} validations in the run: set train.eval_interval=0.1 for about 10",
                topic="budget",
            )
