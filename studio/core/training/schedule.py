"""Learning-rate schedules: linear warm-up, then cosine, step or constant.

The schedule is a pure function of training progress, so resuming needs only the iteration (and,
with a time budget, the elapsed seconds) — nothing else to save. With ``train.time_limit`` set,
progress is the larger of the iteration fraction and the time fraction, which fits the cosine decay
to the budget whatever speed the machine turns out to have. ``warmup_fraction`` makes the warm-up a
share of that progress too (3 % of a 3-minute run is 5 seconds, of a 20-minute run 36 seconds),
where ``warmup_iters`` is a fixed count that can outlast a short run.

Extending a finished run adds a second segment: a short cosine from ``EXTEND_LR`` x peak down to the
floor over the added iterations (no jump back to the peak learning rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WARMUP_START = 0.001  # warm-up starts at this fraction of the peak lr
FLOOR = 0.01  # cosine ends at this fraction of the peak lr
EXTEND_LR = 0.1


@dataclass
class LRSchedule:
    kind: str  # cosine, step, constant
    total_iters: int
    warmup_iters: int = 0
    milestones: tuple[float, ...] = (0.67, 0.89)
    gamma: float = 0.1
    time_limit: float | None = None
    extend_from: int | None = None  # iteration where an extension segment starts
    warmup_fraction: float | None = None  # warm-up over this share of the run (replaces warmup_iters)

    def progress(self, it: int, elapsed: float = 0.0) -> float:
        """How far the run is, 0..1: the iteration fraction, or the time fraction when that is further along."""
        p = it / max(1, self.total_iters)
        if self.time_limit:
            p = max(p, elapsed / self.time_limit)
        return min(1.0, p)

    def factor(self, it: int, elapsed: float = 0.0) -> float:
        """Multiplier of the peak lr at iteration ``it`` (0-based) after ``elapsed`` seconds."""
        if self.extend_from is not None and it >= self.extend_from:
            span = max(1, self.total_iters - self.extend_from)
            p = min(1.0, (it - self.extend_from) / span)
            return FLOOR + (EXTEND_LR - FLOOR) * 0.5 * (1 + math.cos(math.pi * p))
        warm = 1.0
        p = self.progress(it, elapsed)
        if self.warmup_fraction:
            if p < self.warmup_fraction:
                warm = WARMUP_START + (1 - WARMUP_START) * p / self.warmup_fraction
        elif self.warmup_iters > 0 and it < self.warmup_iters:
            warm = WARMUP_START + (1 - WARMUP_START) * it / self.warmup_iters
        if self.kind == "cosine":
            base = FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * p))
        elif self.kind == "step":
            base = self.gamma ** sum(p >= m for m in self.milestones)
        else:
            base = 1.0
        return warm * base

    def apply(self, optimizer, peak_lrs: list[float], it: int, elapsed: float = 0.0) -> float:
        f = self.factor(it, elapsed)
        for g, lr in zip(optimizer.param_groups, peak_lrs):
            g["lr"] = lr * f
        return peak_lrs[0] * f
