"""A run's curves as numpy arrays, filled from trainer events (live, or replayed from ``events.jsonl``).

The Train page's charts draw straight from these arrays. They are preallocated and grow by doubling,
so appending one iteration is a couple of array writes (no Python list of points to convert on every
redraw), and a reader on another thread always sees a consistent prefix ``[:n]``: the count is raised
only after the values are written.

The x axis of every curve is in epochs: iteration ``i`` of epoch ``e`` is at ``e - 1 + i / iters``, and
a validation result of epoch ``e`` at ``e``, so losses and mAP share one axis (also across a resume).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from studio.core.training.events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    IterationEnd,
    Message,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunStarted,
)


class Series:
    """Growing (x, y) float64 arrays; ``xy()`` returns views of the filled part."""

    __slots__ = ("x", "y", "n")

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity, np.float64)
        self.y = np.empty(capacity, np.float64)
        self.n = 0

    def append(self, x: float, y: float | None) -> None:
        """Add a point. x never goes back: a point at or before the last x first drops the points from
        there on (a run resumed from an epoch boundary redoes the iterations its stop abandoned)."""
        if self.n and x <= self.x[self.n - 1]:
            self.n = int(np.searchsorted(self.x[: self.n], x, side="left"))
        if self.n == len(self.x):
            grow = max(1024, len(self.x))
            self.x = np.concatenate([self.x, np.empty(grow, np.float64)])
            self.y = np.concatenate([self.y, np.empty(grow, np.float64)])
        self.x[self.n] = x
        self.y[self.n] = np.nan if y is None or not math.isfinite(y) else y
        self.n += 1

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        return self.x[:n], self.y[:n]

    def decimated(self, x0: float = -np.inf, x1: float = np.inf, bins: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """The points with x in [x0, x1] (plus one either side), at most ~2 * ``bins`` of them: see :func:`peak_decimate`."""
        x, y = self.xy()
        return peak_decimate(x, y, x0, x1, bins)

    def last(self) -> float | None:
        return float(self.y[self.n - 1]) if self.n else None

    def __len__(self) -> int:
        return self.n


def peak_decimate(x: np.ndarray, y: np.ndarray, x0: float = -np.inf, x1: float = np.inf, bins: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Thin a curve for drawing without hiding its spikes.

    ``x`` is sorted. The visible part [x0, x1] is cut into ``bins`` runs of consecutive points and each run
    is drawn as its minimum and its maximum (in x order), so a chart ``bins`` pixels wide shows every
    peak of a 100,000-point loss curve while drawing 2,000 points. NaN (a missing value) is skipped
    unless a whole run is NaN. Shorter curves come back unchanged.
    """
    lo = max(int(np.searchsorted(x, x0, side="left")) - 1, 0)
    hi = min(int(np.searchsorted(x, x1, side="right")) + 1, len(x))
    x, y = x[lo:hi], y[lo:hi]
    bins = max(int(bins), 1)
    n = len(x)
    if n <= 2 * bins:
        return x, y
    k = n // bins  # points per run; the tail that does not fill a run is kept as is
    m = bins * k
    yr = y[:m].reshape(bins, k)
    xr = x[:m].reshape(bins, k)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(yr)
        imin = np.where(finite, yr, np.inf).argmin(axis=1)
        imax = np.where(finite, yr, -np.inf).argmax(axis=1)
    first, second = np.minimum(imin, imax), np.maximum(imin, imax)
    rows = np.arange(bins)
    xs = np.stack([xr[rows, first], xr[rows, second]], axis=1).ravel()
    ys = np.stack([yr[rows, first], yr[rows, second]], axis=1).ravel()
    return np.concatenate([xs, x[m:]]), np.concatenate([ys, y[m:]])


@dataclass
class RunHistory:
    """Everything the Train page shows about one run, built by :meth:`add` from its events."""

    started: RunStarted | None = None
    last_iteration: IterationEnd | None = None
    last_epoch: EpochEnd | None = None
    outcome: RunFinished | RunFailed | RunCancelled | None = None
    losses: dict[str, Series] = field(default_factory=dict)  # per iteration: "loss" (the sum) and every term
    lr: Series = field(default_factory=Series)
    speed: Series = field(default_factory=Series)  # images / s
    metrics: dict[str, Series] = field(default_factory=dict)  # per validated epoch: bbox_mAP, segm_mAP_50, ...
    epoch_losses: dict[str, Series] = field(default_factory=dict)  # per epoch: the mean of every term
    per_class_ap: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # epoch -> iou type -> AP per class
    checkpoints: list[CheckpointSaved] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    notable: list[Event] = field(default_factory=list)  # every event but iterations, in order (the log view replays them)
    version: int = 0  # bumped on every change: a chart redraws only when it moved
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ building
    def add(self, ev: Event) -> None:
        with self.lock:
            self._add(ev)
            self.version += 1

    def extend(self, events: Iterable[Event]) -> "RunHistory":
        with self.lock:
            for ev in events:
                self._add(ev)
            self.version += 1
        return self

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "RunHistory":
        """Replay a run folder's ``events.jsonl`` (to reopen a run or overlay it on another)."""
        from studio.core.training.runlog import read_events

        return cls().extend(read_events(run_dir))

    def _add(self, ev: Event) -> None:
        if not isinstance(ev, IterationEnd):
            self.notable.append(ev)
        if isinstance(ev, IterationEnd):
            x = ev.epoch - 1 + ev.iteration / max(ev.iters_per_epoch, 1)
            self._series(self.losses, "loss").append(x, ev.loss)
            for k, v in ev.losses.items():
                self._series(self.losses, k).append(x, v)
            self.lr.append(x, ev.lr)
            self.speed.append(x, ev.images_per_s)
            self.last_iteration = ev
        elif isinstance(ev, EpochEnd):
            for k, v in ev.metrics.items():
                self._series(self.metrics, k).append(ev.epoch, v)
            for k, v in ev.train_losses.items():
                self._series(self.epoch_losses, k).append(ev.epoch, v)
            if ev.per_class_ap:
                self.per_class_ap[ev.epoch] = {k: np.asarray(v, np.float64) for k, v in ev.per_class_ap.items()}
            self.last_epoch = ev
        elif isinstance(ev, RunStarted):
            self.started = ev
            self.outcome = None  # a resumed run continues the same history
        elif isinstance(ev, CheckpointSaved):
            self.checkpoints.append(ev)
        elif isinstance(ev, Message):
            self.messages.append(ev)
        elif isinstance(ev, (RunFinished, RunFailed, RunCancelled)):
            self.outcome = ev

    @staticmethod
    def _series(d: dict[str, Series], key: str) -> Series:
        s = d.get(key)
        if s is None:
            s = d[key] = Series()
        return s

    # ------------------------------------------------------------------ reading
    @property
    def classes(self) -> tuple[str, ...]:
        return self.started.classes if self.started else ()

    @property
    def metric_name(self) -> str | None:
        return self.started.metric_name if self.started else None

    def metric_curve(self) -> Series | None:
        """The curve of the metric best.pt follows (e.g. segm_mAP)."""
        return self.metrics.get(self.metric_name or "")

    def best(self) -> tuple[float | None, int | None]:
        for ev in (self.outcome, self.last_epoch):
            if isinstance(ev, (RunFinished, EpochEnd)) and ev.best_metric is not None:
                return ev.best_metric, ev.best_epoch
        return None, None

    def latest_per_class_ap(self) -> tuple[int | None, dict[str, np.ndarray]]:
        if not self.per_class_ap:
            return None, {}
        e = max(self.per_class_ap)
        return e, self.per_class_ap[e]
