"""What a run will do with its budget, known before it starts: iterations, epochs, warm-up and evaluations.

The pre-flight check uses it to warn about a recipe that cannot work in the time given: a warm-up longer
than the run, no validation before the end, or too few optimiser steps to learn anything.

With ``train.time_limit`` the number of iterations depends on the machine's speed. The speed is an
estimate: the seconds per image of a training step (forward, backward, the data pipeline) measured here
for the CPU models at two sizes (:data:`CPU_SECONDS_PER_IMAGE`: a fixed part and a part that follows
the pixel count), scaled to the number of CPU threads. Without a measurement (GPU runs, the big
torchvision models on a CPU), the time-based checks say the estimate is unknown rather than guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from studio.core.config.schema import Config, TrainConfig

#: seconds per training image on 2 CPU threads, ``(a, b)`` with time = a + b x pixels (a square of the
#: image size): fixed costs (the data pipeline, the loss, the optimiser step) and the part that follows
#: the pixel count, fitted through 320 and 192 px measured by ``bench/train_speed.py`` (batch 4, the
#: demo set) on the 2-core reference machine: seg_fast 13.7 / 20.4 images/s, det_fast 17.5 / 30.0,
#: seg_lite 5.9 / 8.3, det_lite 7.4 / 11.4
CPU_SECONDS_PER_IMAGE: dict[str, tuple[float, float]] = {
    "seg_fast": (0.03554, 3.658e-7),
    "det_fast": (0.01994, 3.633e-7),
    "seg_lite": (0.09291, 7.479e-7),
    "det_lite": (0.06105, 7.236e-7),
}
MEASURED_THREADS = 2
MEASURED_BACKBONE = "csp"  # the fast models' default backbone, the one measured
#: optimiser steps below which a from-scratch model learns next to nothing (the demo set at 150 steps:
#: mAP50 under 0.05); a model started from pretrained weights needs fewer
MIN_STEPS_SCRATCH = 300
MIN_STEPS_PRETRAINED = 60
#: fewer validations than this leave no curve to read
MIN_EVALS = 5


@dataclass(frozen=True)
class Budget:
    """The run a config describes, on a training set of ``images`` images."""

    images: int
    iters_per_epoch: int
    planned_iters: int  # epochs x iterations per epoch
    images_per_s: float | None  # the speed estimate (None: unknown here)
    iters: int | None  # the iterations the run will do: planned, or what the time limit allows (None: unknown)
    warmup_iters: float | None  # the warm-up's length in iterations (None: unknown)
    evals: int | None  # validations in the run (None: no val set, or unknown)
    first_eval_epoch: int | None  # the first epoch with a validation (None: none before the last)
    time_limited: bool  # the time limit, not the epochs, ends the run

    @property
    def epochs(self) -> float | None:
        return None if self.iters is None else self.iters / self.iters_per_epoch


def images_per_s(arch: str, image_size: int, device: str, threads: int, backbone: str | None = None) -> float | None:
    """The estimated training speed, or None where nothing was measured (GPUs, the big models on a CPU, a
    backbone other than the default ``csp``: resnet50 costs 6.8x its multiply-adds). More threads are counted
    as proportionally faster, which overestimates many-core machines. The figures are fp32: bf16 autocast
    is about 1.25x faster on a CPU with native bf16 and slower on one without, so it is not counted."""
    fit = CPU_SECONDS_PER_IMAGE.get(arch)
    if fit is None or device != "cpu" or backbone not in (None, MEASURED_BACKBONE):
        return None
    a, b = fit
    return max(1, threads) / MEASURED_THREADS / (a + b * image_size**2)


def plan(cfg: Config, images: int, *, device: str, threads: int = MEASURED_THREADS, world_size: int = 1) -> Budget:
    """The budget of ``cfg`` on ``images`` training images on ``device`` (``cpu`` or ``cuda``)."""
    t = cfg.train
    per_epoch = max(1, math.ceil(images / max(1, t.batch_size * world_size)))
    planned = t.epochs * per_epoch
    speed = images_per_s(cfg.model.arch, cfg.data.image_size, device, threads, cfg.model.backbone)
    time_limited = False
    iters: int | None = planned
    if t.time_limit:
        if speed is None:
            iters = None
        else:
            in_time = max(1, int(t.time_limit * speed / max(1, t.batch_size * world_size)))
            time_limited = in_time < planned
            iters = min(planned, in_time)
    warmup: float | None
    if t.warmup_fraction is not None:
        warmup = None if iters is None else t.warmup_fraction * iters
    else:  # the trainer caps a fixed warm-up at a third of the planned iterations
        warmup = float(min(t.warmup_iters, max(1, planned // 3)))
    evals, first = _evaluations(cfg, per_epoch, iters) if cfg.data.val is not None else (None, None)
    return Budget(images, per_epoch, planned, speed, iters, warmup, evals, first, time_limited)


def evaluation_due(train: TrainConfig, epoch: int, final: bool, progress: float, evaluated_at: float) -> bool:
    """Whether the epoch ending now is validated: at the end of the run, and every ``eval_every`` epochs or,
    when ``eval_interval`` is set (it replaces ``eval_every``), once that share of the run has passed since the
    last validation (``progress`` and ``evaluated_at``: shares of the run, 0..1). The trainer and the
    pre-flight's count both ask this."""
    if final or epoch >= train.epochs:
        return True
    if train.eval_interval is not None:
        return progress - evaluated_at >= train.eval_interval - 1e-9
    return epoch % train.eval_every == 0


def _evaluations(cfg: Config, per_epoch: int, iters: int | None) -> tuple[int | None, int | None]:
    """(validations in the run, the first epoch with one before the last), by :func:`evaluation_due`."""
    t = cfg.train
    if iters is None:  # the time limit ends the run at an unknown epoch
        if t.eval_interval is not None:
            return None, 1
        return None, (t.eval_every if t.eval_every < t.epochs else None)
    last = max(1, math.ceil(iters / per_epoch))
    done, first, at = 0, None, 0.0
    for epoch in range(1, last + 1):
        progress = min(1.0, epoch * per_epoch / iters)
        final = epoch == last
        if evaluation_due(t, epoch, final, progress, at):
            done += 1
            at = progress
            if first is None and not final:
                first = epoch
    return done, first
