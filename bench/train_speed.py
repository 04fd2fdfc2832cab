"""Training speed of the CPU models on this machine: the images per second behind the pre-flight estimate.

``python bench/train_speed.py [arch ...]`` builds a trainer on the demo set at 320 px, batch 4, and times
training steps (forward, backward, optimiser, the data pipeline with its workers) after two warm-up steps.
It prints each architecture's images per second beside the estimate of
:func:`studio.core.training.budget.images_per_s` (the ratio is this machine against the table's), to
refit :data:`~studio.core.training.budget.CPU_SECONDS_PER_IMAGE` on the reference machine (2 cores) or to
see how far another machine is from it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(arch: str, image_size: int, batch: int, steps: int) -> float:
    from studio.core.config.loader import validate
    from studio.core.demo import generate
    from studio.core.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        demo = generate(f"{tmp}/demo", n_train=4 * batch * (steps + 2), n_val=1)
        raw = {
            "model": {"arch": arch},
            "data": {"train": {"ann": str(demo["train"].annotations)}, "image_size": image_size},
            "train": {"device": "cpu", "batch_size": batch, "epochs": 1000, "optimizer": "adamw", "lr": 0.002},
        }
        trainer = Trainer(validate(raw, f"{tmp}/c.yaml"), f"{tmp}/run")
        trainer.setup()
        batches = iter(trainer.train_loader)
        trainer.train_epoch(1, itertools.islice(batches, 2))  # caches built, kernels warm
        t0 = time.perf_counter()
        trainer.train_epoch(1, itertools.islice(batches, steps))
        return steps * batch / (time.perf_counter() - t0)


def main() -> int:
    import torch

    from studio.core.training.budget import CPU_SECONDS_PER_IMAGE, images_per_s

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archs", nargs="*", default=list(CPU_SECONDS_PER_IMAGE))
    ap.add_argument("--size", type=int, nargs="+", default=[320, 192])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args()
    print(f"{torch.get_num_threads()} CPU threads")
    for arch in a.archs:
        for size in a.size:
            speed = measure(arch, size, a.batch, a.steps)
            table = images_per_s(arch, size, "cpu", torch.get_num_threads())
            ratio = f" (table {table:.1f}, ratio {speed / table:.2f})" if table else ""
            print(f"{arch} at {size} px: {speed:.1f} images/s{ratio}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
