"""Seeds. Every epoch reseeds from (seed, epoch), so a resumed run replays the same batches and
augmentations as an uninterrupted one (exactly on CPU with ``data.workers=0``)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % 2**31
