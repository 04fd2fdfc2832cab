"""DataLoaders for :class:`DetectionDataset`: list collation, seeding, distributed sharding.

Repeatability: the sampler runs in the main process and yields ``(index, seed)`` pairs, the seed
derived from (run seed, epoch, index). A sample's augmentations depend on that seed only, never on
which worker process draws it or on a worker's RNG state, so a CPU run with a given seed sees the
same batches and the same augmentations with 0, 1 or 4 workers. The shuffle order comes from
(seed, epoch) too. Call :func:`set_epoch` at the start of each epoch (needed to resume mid-run; if it
is never called the epoch still advances after each full pass).

Device: on CUDA the batches come in page-locked (pinned) memory, so the trainer's
``.to(device, non_blocking=True)`` copies run asynchronously, and each worker keeps
:data:`CUDA_PREFETCH` batches ready (torch's default is 2) so that a fast GPU step does not wait for
the next batch's decode. Workers are persistent on every device: their image caches survive epochs.
None of this changes which samples a batch holds, so the CPU repeatability above holds on CUDA too.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from studio.core.data.dataset import sample_seed

DEVICE_TYPES = ("cpu", "cuda", "mps")
#: batches each worker prepares ahead on CUDA (torch's default, 2, is kept on the CPU, where the model
#: step and the workers share the cores and more batches in flight only cost memory)
CUDA_PREFETCH = 4


class SeededSampler(Sampler):
    """Indices in (seeded, per-epoch) random or sequential order, each paired with its sample seed.

    With ``distributed`` the order and the shard of this rank come from ``DistributedSampler``
    (``num_replicas`` / ``rank`` default to the initialised process group's); seeds do not depend on
    the rank.
    """

    def __init__(
        self,
        dataset: Dataset,
        shuffle: bool,
        seed: int = 0,
        distributed: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        self.n = len(dataset)  # type: ignore[arg-type]
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self.dist = (
            DistributedSampler(
                dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=self.seed, drop_last=False
            )
            if distributed
            else None
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dist) if self.dist is not None else self.n

    def order(self, epoch: int) -> Sequence[int]:
        if self.dist is not None:
            self.dist.set_epoch(epoch)
            return list(self.dist)
        if not self.shuffle:
            return range(self.n)
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        for i in self.order(epoch):
            yield i, sample_seed(self.seed, epoch, i)
        self.epoch = epoch + 1


def collate(batch: list[tuple[Any, Any]]) -> tuple[list, list]:
    """(list of images, list of targets): detection models take lists, images may differ in size."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)


def _worker_init(worker_id: int) -> None:
    """Seed numpy and random in each worker for any third-party code that uses them."""
    s = torch.initial_seed() % 2**32  # distinct per worker, derived from the loader's seeded generator
    np.random.seed(s)
    random.seed(s)


def loader_options(device_type: str, workers: int, prefetch_factor: int | None = None) -> dict[str, Any]:
    """The DataLoader arguments that depend on the device: ``pin_memory``, and with workers
    ``persistent_workers`` and ``prefetch_factor`` (see the module docstring)."""
    if device_type not in DEVICE_TYPES:
        raise ValueError(f"device_type must be 'cpu', 'cuda' or 'mps', got {device_type!r}")
    cuda = device_type == "cuda"
    opts: dict[str, Any] = {"pin_memory": cuda}
    if workers > 0:
        opts["persistent_workers"] = True
        if prefetch_factor is not None:
            opts["prefetch_factor"] = int(prefetch_factor)
        elif cuda:
            opts["prefetch_factor"] = CUDA_PREFETCH
    return opts


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    workers: int,
    device_type: str = "cpu",
    seed: int = 0,
    distributed: bool = False,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """A DataLoader yielding ``(list of images, list of targets)`` batches.

    Train: shuffled per epoch; val: in dataset order. Device-dependent arguments come from
    :func:`loader_options`: pinned memory and a deeper prefetch on CUDA, persistent workers whenever
    ``workers > 0`` (their image caches survive across epochs: the dataset's "auto" cache is re-planned
    here for that many copies).
    """
    workers = max(0, int(workers))
    extra = loader_options(device_type, workers, prefetch_factor)
    plan = getattr(dataset, "plan_cache", None)
    if plan is not None:
        plan(max(1, workers))
    if workers > 0:
        # OpenCV's pthreads pool is not fork-safe: a worker forked while pool threads hold its lock
        # hangs on its first parallel cv2 call. With one thread there is no pool to inherit. Workers
        # are single-threaded anyway; the cost is serial cv2 in this process from now on.

        cv2.setNumThreads(1)
        extra["worker_init_fn"] = _worker_init
    return DataLoader(
        dataset,
        batch_size=int(batch_size),
        sampler=SeededSampler(dataset, shuffle=train, seed=seed, distributed=distributed),
        collate_fn=collate,
        num_workers=workers,
        generator=torch.Generator().manual_seed(int(seed)),
        drop_last=False,
        **extra,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Set the epoch whose shuffle order and augmentation seeds the next pass uses."""
    sampler = loader.sampler
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
