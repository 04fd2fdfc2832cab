"""The loss terms of the iterations since the last log point, summed on the device.

Reading a loss on the host (``float(t)``, ``t.item()``, ``bool(torch.isfinite(t))``) waits for the GPU to
finish everything queued before it, so a loop that reads every iteration stalls the pipeline every step.
The trainer adds each iteration's detached terms here (device-side additions, queued like the step) and, at
its log points, takes them as one vector: in DDP it is summed over the ranks together with rank 0's stop
decision, then read on the host with one transfer, where the trainer also checks it is finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class WindowRead:
    """What one log point read: per-term sums and how many iterations gave each term."""

    sums: dict[str, float]
    counts: dict[str, int]
    iterations: int

    def means(self) -> dict[str, float]:
        return {k: v / max(self.counts[k], 1) for k, v in self.sums.items()}

    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.sums.values())


@dataclass(frozen=True)
class WindowSums:
    """A window taken off the loop, still on the device: ``values`` (float32, one per term of ``keys``)."""

    keys: tuple[str, ...]
    counts: dict[str, int]
    iterations: int
    values: Tensor

    def on_host(self, values: list[float]) -> WindowRead:
        """The :class:`WindowRead` of ``values``, this window's sums once read (and, in DDP, reduced)."""
        return WindowRead(dict(zip(self.keys, values)), dict(self.counts), self.iterations)

    def read(self) -> WindowRead:
        """One transfer for every term."""
        return self.on_host(self.values.tolist())


class LossWindow:
    """Detached loss terms summed in float32 on their device until :meth:`take`."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._reset()

    def _reset(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self.iterations = 0

    def add(self, losses: Mapping[str, Tensor]) -> None:
        for k, v in losses.items():
            v = v.detach().float()
            s = self._sums.get(k)
            self._sums[k] = v if s is None else s + v
            self._counts[k] = self._counts.get(k, 0) + 1
        self.iterations += 1

    def take(self) -> WindowSums:
        """The sums as one device vector (nothing read yet), and a fresh window."""
        keys = tuple(self._sums)
        if keys:
            values = torch.stack([self._sums[k].reshape(()) for k in keys])
        else:
            values = torch.zeros(0, device=self.device)
        out = WindowSums(keys, dict(self._counts), self.iterations, values)
        self._reset()
        return out
