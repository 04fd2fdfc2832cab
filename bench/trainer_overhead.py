"""Trainer overhead: Studio's training loop against a bare PyTorch loop on the same model and batches.

Both loops run the same math (forward, summed loss, backward, gradient clipping, optimiser step) on
the same pre-loaded batches from the same starting weights; the trainer adds what it is for: the lr
schedule, loss checks, typed events to a callback and to the JSONL run log, ETA and throughput, the
cancel token and the time budget. Rounds alternate bare / trainer, and the medians are compared.
Prints the ratio trainer / bare (goal: <= 1.05).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default="seg_lite")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()

    from studio.core.config.init import init_config
    from studio.core.demo import generate
    from studio.core.training.seeding import epoch_seed, seed_everything
    from studio.core.training.trainer import Trainer, to_device

    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d = generate(tmp / "demo", n_train=a.images, n_val=2, seed=0)
        over = {
            "data": {"image_size": a.size, "workers": 0, "cache": "ram"},
            "train": {"batch_size": a.batch, "device": "cpu", "epochs": 10, "warmup_iters": 5},
        }
        cfg = init_config(d["train"].annotations, tmp / "c.yaml", arch=a.arch, overrides=over)
        tr = Trainer(cfg, tmp / "run", callbacks=[lambda ev: None])
        tr.setup()
        tr.open_run_folder()  # the event log the trainer writes to, and its clock
        batches = list(tr.train_loader)
        start_model = copy.deepcopy(tr.model.state_dict())
        start_opt = copy.deepcopy(tr.optimizer.state_dict())
        clip = cfg.train.grad_clip

        # the same lr per iteration and the same RNG seed as the trainer, so both loops follow the
        # same trajectory (a detector's cost per step depends on how many proposals match)
        lrs = [tr.schedule.factor(i) * tr.peak_lrs[0] for i in range(len(batches))]

        def bare() -> float:
            tr.model.load_state_dict(start_model)
            tr.optimizer.load_state_dict(start_opt)
            tr.model.train()
            seed_everything(epoch_seed(cfg.train.seed, 1))
            t0 = time.perf_counter()
            for i, (images, targets) in enumerate(batches):
                for g in tr.optimizer.param_groups:
                    g["lr"] = lrs[i]
                images, targets = to_device(images, targets, tr.device)
                loss = sum(tr.model(images, targets).values())
                tr.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(tr.model.parameters(), clip)
                tr.optimizer.step()
            return time.perf_counter() - t0

        def studio() -> float:
            tr.model.load_state_dict(start_model)
            tr.optimizer.load_state_dict(start_opt)
            tr.global_iter = 0
            t0 = time.perf_counter()
            tr.train_epoch(1, batches=batches)
            return time.perf_counter() - t0

        bare()  # warm-up (allocator, thread pools)
        tb, ts = [], []
        for _ in range(a.rounds):
            tb.append(bare())
            ts.append(studio())
        tr.close_run_folder()
    mb, ms = statistics.median(tb), statistics.median(ts)
    n = len(batches)
    print(f"model {a.arch} at {a.size}px, batch {a.batch}, {n} iterations per round, {a.rounds} rounds")
    print(f"bare loop   median {mb:.3f} s ({1000 * mb / n:.1f} ms/it)")
    print(f"trainer     median {ms:.3f} s ({1000 * ms / n:.1f} ms/it)")
    print(f"ratio trainer/bare: {ms / mb:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
