"""Typed trainer events: what callbacks, the JSONL run log and the GUI charts see.

Each event is a frozen dataclass of plain floats, strings, tuples and CPU numpy arrays, never the
mutable trainer. :func:`to_record` / :func:`from_record` turn them into JSON-ready dicts and back, so
a run's ``events.jsonl`` replays as the same events the live run sent.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class EventKind(str, enum.Enum):  # noqa: UP042  (StrEnum would change str() and format() of the members)
    STARTED = "started"
    ITERATION = "iteration"
    EPOCH = "epoch"
    CHECKPOINT = "checkpoint"
    MESSAGE = "message"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    arch: str
    task: str
    classes: tuple[str, ...]
    start_epoch: int  # epochs already done (0 for a new run)
    epochs: int  # total epochs planned
    iters_per_epoch: int
    batch_size: int
    device: str
    world_size: int
    resumed: bool
    metric_name: str  # what best.pt and early stopping follow, e.g. segm_mAP
    time_limit_s: float | None = None  # train.time_limit: with it, progress is measured in time
    kind: EventKind = field(default=EventKind.STARTED, init=False)


@dataclass(frozen=True)
class IterationEnd:
    epoch: int  # 1-based epoch being trained
    iteration: int  # 1-based iteration within the epoch
    global_iter: int  # 1-based iteration since the run began
    iters_per_epoch: int
    losses: Mapping[str, float]  # every loss term (mean over the iterations covered)
    loss: float  # their sum
    lr: float
    images_per_s: float
    elapsed_s: float
    eta_s: float
    gpu_mem_mb: float | None = None
    #: how far the run is, 0..1 (Trainer.progress: iterations or, with a time limit, time, whichever is further);
    #: None from a trainer that does not say (then: :func:`run_progress`)
    progress: float | None = None
    #: iterations this event covers (``iteration - iterations + 1`` .. ``iteration``): the trainer reads the
    #: losses at log points (about every 0.5 s), and ``losses`` / ``loss`` / ``images_per_s`` are their means
    iterations: int = 1
    kind: EventKind = field(default=EventKind.ITERATION, init=False)


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    train_losses: Mapping[str, float]  # epoch means of every loss term
    metrics: Mapping[str, float | None]  # val metrics (empty when not evaluated this epoch)
    per_class_ap: Mapping[str, np.ndarray]  # iou type -> AP@[.5:.95] per class (class order), NaN = no GT
    metric: float | None  # the value of RunStarted.metric_name this epoch
    best_metric: float | None
    best_epoch: int | None
    is_best: bool
    epoch_time_s: float
    elapsed_s: float
    kind: EventKind = field(default=EventKind.EPOCH, init=False)


@dataclass(frozen=True)
class CheckpointSaved:
    epoch: int
    path: str
    role: str  # last, best or epoch
    kind: EventKind = field(default=EventKind.CHECKPOINT, init=False)


@dataclass(frozen=True)
class Message:
    level: str  # info, warning
    text: str
    kind: EventKind = field(default=EventKind.MESSAGE, init=False)


@dataclass(frozen=True)
class RunFinished:
    reason: str  # completed, early_stopping, time_limit
    epochs_done: int
    best_metric: float | None
    best_epoch: int | None
    elapsed_s: float
    final_metrics: Mapping[str, float | None]
    kind: EventKind = field(default=EventKind.FINISHED, init=False)


@dataclass(frozen=True)
class RunFailed:
    error: str
    traceback: str
    epoch: int
    resumable: bool  # a last.pt exists to resume from
    kind: EventKind = field(default=EventKind.FAILED, init=False)


@dataclass(frozen=True)
class RunCancelled:
    epoch: int
    iteration: int
    checkpoint: str | None
    kind: EventKind = field(default=EventKind.CANCELLED, init=False)


@dataclass(frozen=True)
class RunResult:
    """What a run ended with (returned by the trainer, or made from a child process's last event)."""

    run_dir: Path
    status: str  # finished, cancelled
    reason: str  # completed, early_stopping, time_limit, cancelled
    epochs_done: int
    best_metric: float | None
    best_epoch: int | None
    metrics: dict


def run_progress(started: RunStarted | None, it: IterationEnd) -> float:
    """How far a run is at iteration ``it``, 0..1: the event's own ``progress`` when the trainer sent it, else the
    iteration fraction or, with a time limit, the time fraction when that is further along (as Trainer.progress)."""
    if it.progress is not None:
        return min(1.0, max(0.0, float(it.progress)))
    epochs = started.epochs if started is not None else it.epoch
    p = it.global_iter / max(1, epochs * it.iters_per_epoch)
    if started is not None and started.time_limit_s:
        p = max(p, it.elapsed_s / started.time_limit_s)
    return min(1.0, max(0.0, p))


Event = RunStarted | IterationEnd | EpochEnd | CheckpointSaved | Message | RunFinished | RunFailed | RunCancelled
Callback = Callable[[Event], None]

_CLASSES: dict[EventKind, type] = {
    EventKind.STARTED: RunStarted,
    EventKind.ITERATION: IterationEnd,
    EventKind.EPOCH: EpochEnd,
    EventKind.CHECKPOINT: CheckpointSaved,
    EventKind.MESSAGE: Message,
    EventKind.FINISHED: RunFinished,
    EventKind.FAILED: RunFailed,
    EventKind.CANCELLED: RunCancelled,
}


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [None if (isinstance(x, float) and math.isnan(x)) else x for x in v.tolist()]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, enum.Enum):
        return v.value
    return v


def to_record(event: Event, t: float) -> dict:
    """A JSON-ready dict: ``{"kind": ..., "t": unix time, **fields}`` (NaN becomes null)."""
    rec = {"kind": event.kind.value, "t": round(t, 3)}
    for f in dataclasses.fields(event):
        if f.name != "kind":
            rec[f.name] = _plain(getattr(event, f.name))
    return rec


def from_record(rec: dict) -> Event:
    """The event a :func:`to_record` dict came from (unknown keys from newer versions are ignored)."""
    cls = _CLASSES[EventKind(rec["kind"])]
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kw = {k: v for k, v in rec.items() if k in names}
    if cls is EpochEnd:
        kw["per_class_ap"] = {
            k: np.array([np.nan if x is None else x for x in v], dtype=np.float64)
            for k, v in kw.get("per_class_ap", {}).items()
        }
    if cls is RunStarted:
        kw["classes"] = tuple(kw["classes"])
    return cls(**kw)
