"""In-memory cache of decoded images (``data.cache``: "ram", "none" or "auto").

From the second epoch on, decoding is most of the per-image cost on small datasets, so keeping the
decoded arrays in memory makes later epochs several times faster. They are uint8 at the train
resolution (see :mod:`studio.core.data.dataset`), so ``estimated_bytes`` and the memory held are
``w * h * 3`` of that size, whatever the size of the files.

Each DataLoader worker process holds its own copy of the dataset, hence its own cache; with
persistent workers (what :func:`studio.core.data.loader.make_loader` uses) a worker keeps its cache
across epochs and, since shuffling sends every image to every worker sooner or later, each worker
ends up holding all images. "auto" therefore turns the cache on only when the estimated size of all
decoded images, times the number of processes that will hold a copy, fits in a share of the
available memory. A private per-process dict is used rather than shared memory on purpose: shared
memory lives in ``/dev/shm``, which containers often limit to 64 MB.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

MODES = ("auto", "ram", "none")
BUDGET_FRACTION = 0.25


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable on Linux), 0 when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    try:  # Windows and anything else psutil knows, when it is installed
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return 0


def cache_fits(
    estimated_bytes: int, holders: int = 1, available: int | None = None, fraction: float = BUDGET_FRACTION
) -> bool:
    """True when ``holders`` copies of ``estimated_bytes`` fit in ``fraction`` of the available memory."""
    avail = available_memory() if available is None else available
    return avail > 0 and estimated_bytes * max(1, holders) <= avail * fraction


class ImageCache:
    """A per-process dict of decoded items, switched on or off by the ``data.cache`` mode.

    ``estimated_bytes`` is the size of all items (one copy); :meth:`plan` re-decides "auto" once the
    number of worker processes is known. Pickling (to spawn-started workers) drops the content, so a
    cache filled in the main process is never shipped item by item to every worker.
    """

    def __init__(self, mode: str = "auto", estimated_bytes: int = 0, holders: int = 1, available: int | None = None):
        if mode not in MODES:
            raise ValueError(f"data.cache must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.estimated_bytes = int(estimated_bytes)
        self._items: dict[Hashable, Any] = {}
        self.enabled = False
        self.plan(holders, available)

    def plan(self, holders: int, available: int | None = None) -> bool:
        """Decide whether to cache, given how many processes will each hold a copy."""
        self.holders = max(1, int(holders))
        if self.mode == "auto":
            self.enabled = cache_fits(self.estimated_bytes, self.holders, available)
        else:
            self.enabled = self.mode == "ram"
        if not self.enabled:
            self._items.clear()
        return self.enabled

    def get(self, key: Hashable) -> Any | None:
        return self._items.get(key) if self.enabled else None

    def put(self, key: Hashable, value: Any) -> None:
        if self.enabled:
            self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held now in this process (numpy arrays in the items, found one level deep)."""
        total = 0
        for v in self._items.values():
            for part in v if isinstance(v, tuple) else (v,):
                total += int(getattr(part, "nbytes", 0))
        return total

    def describe(self) -> str:
        """One line for logs: the decision and why."""
        mb = self.estimated_bytes / 1e6
        if self.mode == "none":
            return "image cache off (data.cache: none)"
        state = "on" if self.enabled else "off"
        copies = f" x {self.holders} worker copies" if self.holders > 1 else ""
        why = (
            ""
            if self.mode == "ram"
            else f" ({'fits' if self.enabled else 'does not fit'} in {BUDGET_FRACTION:.0%} of available memory)"
        )
        return f"image cache {state}: about {mb:.0f} MB{copies}{why}"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_items"] = {}
        return state
