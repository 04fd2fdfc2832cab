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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

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
    run_progress,
)
from studio.core.training.runlog import read_events


class Series:
    """Growing (x, y) float64 arrays; ``xy()`` returns views of the filled part.

    For drawing, :meth:`decimated` thins the curve through a min/max pyramid: level ``L`` holds, for
    every aligned run of ``2 ** (3 + L)`` points, the index of its minimum and of its maximum. Levels
    are built lazily by :meth:`decimated` (vectorised, only over the runs completed since the last
    call), so :meth:`append` stays a couple of array writes and a redraw of a 100,000-point curve
    costs O(bins), not O(n). The caller holds whatever lock guards :meth:`append` (RunHistory.lock).
    """

    __slots__ = ("x", "y", "n", "_levels", "_valid", "_truncations", "_memo")

    BASE = 3  # level 0 holds runs of 2 ** BASE points

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity, np.float64)
        self.y = np.empty(capacity, np.float64)
        self.n = 0
        self._levels: list[list] = []  # [imin, imax, count] per level; count runs are filled
        self._valid = 0  # the pyramid describes y[:_valid] at most (lowered when points are dropped)
        self._truncations = 0
        self._memo: tuple | None = None  # (key, result) of the last decimated() call

    def append(self, x: float, y: float | None) -> None:
        """Add a point. x never goes back: a point at or before the last x first drops the points from
        there on (a run resumed from an epoch boundary redoes the iterations its stop abandoned)."""
        if self.n and x <= self.x[self.n - 1]:
            self.n = int(np.searchsorted(self.x[: self.n], x, side="left"))
            self._valid = min(self._valid, self.n)
            self._truncations += 1
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

    @property
    def stamp(self) -> tuple[int, int]:
        """Changes whenever the points do (a chart skips a curve whose stamp did not move)."""
        return self.n, self._truncations

    def decimated(self, x0: float = -np.inf, x1: float = np.inf, bins: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """The points with x in [x0, x1] (plus one either side), thinned for a chart ``bins`` columns wide.

        Up to ``2 * bins`` points come back unchanged. Beyond, the points are cut into aligned runs of
        ``B = 2 ** k`` points (the power of two nearest to points / bins, so ``bins / 1.42`` to
        ``1.42 * bins`` runs; the window's first and last runs may be partial) and each run is drawn as
        its minimum and its maximum in x order, as :func:`peak_decimate` does (NaN skipped unless a
        whole run is NaN, which keeps the gap), plus the window's first and last point (a live curve
        ends at its newest value); a point is never repeated. Where ``B`` would be under 8 this is
        :func:`peak_decimate` itself. The same arguments on an unchanged series return the same arrays
        (identical objects), so a chart can skip curves that did not change.
        """
        bins = max(int(bins), 1)
        key = (self.n, self._truncations, float(x0), float(x1), bins)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        out = self._decimate(x0, x1, bins)
        self._memo = (key, out)
        return out

    def _decimate(self, x0: float, x1: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.xy()
        lo = max(int(np.searchsorted(x, x0, side="left")) - 1, 0)
        hi = min(int(np.searchsorted(x, x1, side="right")) + 1, len(x))
        m = hi - lo
        if m <= 2 * bins:
            return x[lo:hi], y[lo:hi]
        level = round(math.log2(m / bins)) - self.BASE
        if level < 0:
            return peak_decimate(x, y, x0, x1, bins)
        size = 1 << (self.BASE + level)
        imin, imax = self._pyramid(level)
        b0, b1 = -(-lo // size), hi // size  # the whole runs inside [lo, hi)
        parts_min, parts_max = [np.array([lo])], [np.array([lo])]
        if lo < b0 * size:  # partial run at the left edge
            a, b = _run_extrema(y, lo, min(b0 * size, hi))
            parts_min.append(a)
            parts_max.append(b)
        if b1 > b0:
            parts_min.append(imin[b0:b1])
            parts_max.append(imax[b0:b1])
        if max(b1, b0) * size < hi:  # partial run at the right edge (the live end)
            a, b = _run_extrema(y, max(b1, b0) * size, hi)
            parts_min.append(a)
            parts_max.append(b)
        parts_min.append(np.array([hi - 1]))
        parts_max.append(np.array([hi - 1]))
        mn, mx = np.concatenate(parts_min), np.concatenate(parts_max)
        idx = np.stack([np.minimum(mn, mx), np.maximum(mn, mx)], axis=1).ravel()
        idx = idx[np.concatenate(([True], idx[1:] != idx[:-1]))]  # sorted: drop repeats
        return x[idx], y[idx]

    def _pyramid(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """(index of the min, index of the max) of every whole aligned run of ``2 ** (BASE + level)``
        points, brought up to date with the points appended (or dropped) since the last call."""
        n, y = self.n, self.y
        while len(self._levels) <= level:
            self._levels.append([np.empty(0, np.int64), np.empty(0, np.int64), 0])
        for k, lv in enumerate(self._levels):  # dropped points invalidate the runs that held them
            lv[2] = min(lv[2], self._valid >> (self.BASE + k))
        self._valid = n
        for k in range(level + 1):
            lv = self._levels[k]
            size = 1 << (self.BASE + k)
            done, full = lv[2], n // size
            if full <= done:
                continue
            if k == 0:
                start = done * size
                runs = y[start : full * size].reshape(-1, size)
                nan = np.isnan(runs)
                offsets = start + np.arange(full - done) * size
                new_min = np.where(nan, np.inf, runs).argmin(axis=1) + offsets
                new_max = np.where(nan, -np.inf, runs).argmax(axis=1) + offsets
            else:
                below = self._levels[k - 1]  # pairs of runs of the level below (always up to date here)
                lmin, lmax = below[0][2 * done : 2 * full : 2], below[1][2 * done : 2 * full : 2]
                rmin, rmax = below[0][2 * done + 1 : 2 * full : 2], below[1][2 * done + 1 : 2 * full : 2]
                with np.errstate(invalid="ignore"):
                    ylmin, yrmin = np.nan_to_num(y[lmin], nan=np.inf), np.nan_to_num(y[rmin], nan=np.inf)
                    ylmax, yrmax = np.nan_to_num(y[lmax], nan=-np.inf), np.nan_to_num(y[rmax], nan=-np.inf)
                new_min = np.where(yrmin < ylmin, rmin, lmin)  # ties: the earlier point, as argmin
                new_max = np.where(yrmax > ylmax, rmax, lmax)
            if len(lv[0]) < full:
                cap = max(full, 2 * len(lv[0]), 64)
                for j in (0, 1):
                    grown = np.empty(cap, np.int64)
                    grown[:done] = lv[j][:done]
                    lv[j] = grown
            lv[0][done:full] = new_min
            lv[1][done:full] = new_max
            lv[2] = full
        lv = self._levels[level]
        return lv[0][: lv[2]], lv[1][: lv[2]]

    def last(self) -> float | None:
        return float(self.y[self.n - 1]) if self.n else None

    def __len__(self) -> int:
        return self.n


def _run_extrema(y: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the min and of the max of y[a:b] (NaN skipped; a whole-NaN run gives its first point)."""
    run = y[a:b]
    nan = np.isnan(run)
    return (
        np.array([a + int(np.where(nan, np.inf, run).argmin())]),
        np.array([a + int(np.where(nan, -np.inf, run).argmax())]),
    )


def peak_decimate(
    x: np.ndarray, y: np.ndarray, x0: float = -np.inf, x1: float = np.inf, bins: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
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
    outcome: RunFinished | RunFailed | RunCancelled | None = None  # the latest session's (a resume starts one)
    finished: RunFinished | None = None  # the latest RunFinished of any session (a later extension keeps it)
    losses: dict[str, Series] = field(default_factory=dict)  # per iteration: "loss" (the sum) and every term
    lr: Series = field(default_factory=Series)
    speed: Series = field(default_factory=Series)  # images / s
    metrics: dict[str, Series] = field(default_factory=dict)  # per validated epoch: bbox_mAP, segm_mAP_50, ...
    epoch_losses: dict[str, Series] = field(default_factory=dict)  # per epoch: the mean of every term
    per_class_ap: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # epoch -> iou type -> AP per class
    checkpoints: list[CheckpointSaved] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    notable: list[Event] = field(
        default_factory=list
    )  # every event but iterations, in order (the log view replays them)
    version: int = 0  # bumped on every change: a chart redraws only when it moved
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ building
    def add(self, ev: Event) -> None:
        with self.lock:
            self._add(ev)
            self.version += 1

    def extend(self, events: Iterable[Event]) -> RunHistory:
        with self.lock:
            for ev in events:
                self._add(ev)
            self.version += 1
        return self

    @classmethod
    def from_run(cls, run_dir: str | Path) -> RunHistory:
        """Replay a run folder's ``events.jsonl`` (to reopen a run or overlay it on another)."""
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
            if isinstance(ev, RunFinished):
                self.finished = ev

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

    @property
    def extension_ended(self) -> str:
        """``stopped`` or ``interrupted`` when the latest session extended a finished run and did not finish (the
        run stays finished: its checkpoints hold the completed schedule); "" otherwise."""
        if self.finished is None or isinstance(self.outcome, (RunFinished, RunFailed)):
            return ""
        return "stopped" if isinstance(self.outcome, RunCancelled) else "interrupted"

    def progress(self) -> float | None:
        """How far the run is, 0..1 (in time with a time limit, else in iterations); None before its first iteration."""
        if self.last_iteration is None:
            return None
        return run_progress(self.started, self.last_iteration)

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
