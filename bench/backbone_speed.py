"""Training speed of seg_fast / det_fast with each backbone: images/s of the same demo batches.

Every backbone trains from the same pre-loaded batches (the demo set at ``--size``, the trainer's data
pipeline with its augmentations) with the same optimiser settings; rounds alternate between the
backbones so that a machine shared with other work slows them alike, and the medians are compared
with the first backbone (csp by default). Random init only: no ImageNet weights are downloaded, so this
measures cost, not the accuracy gained from pre-training.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", default="seg_fast")
    ap.add_argument("--backbones", default="csp,resnet18")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    from studio.core.config.init import init_config
    from studio.core.demo import generate
    from studio.core.models import build_model
    from studio.core.training.optim import build_optimizer
    from studio.core.training.trainer import Trainer, to_device

    names = a.backbones.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d = generate(tmp / "demo", n_train=a.images, n_val=2, seed=0)
        over = {
            "data": {"image_size": a.size, "workers": 0, "cache": "ram"},
            "train": {"batch_size": a.batch, "device": "cpu", "epochs": 10},
        }
        cfg = init_config(d["train"].annotations, tmp / "c.yaml", arch=a.arch, overrides=over)
        tr = Trainer(cfg, tmp / "run", callbacks=[lambda ev: None])
        tr.setup()
        batches = [to_device(images, targets, torch.device("cpu")) for images, targets in tr.train_loader]
        n_images = sum(len(images) for images, _ in batches)
        models = {}
        for name in names:
            torch.manual_seed(0)
            model = build_model(a.arch, tr.class_map.num_classes, image_size=a.size, backbone=name)
            models[name] = (model, build_optimizer(model, cfg.train))

        def epoch(name: str) -> float:
            model, opt = models[name]
            model.train()
            t0 = time.perf_counter()
            for images, targets in batches:
                loss = sum(model(images, targets).values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                opt.step()
            return time.perf_counter() - t0

        for name in names:
            epoch(name)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(a.rounds):
            for name in names:
                times[name].append(epoch(name))
                print(f"round {r + 1} {name}: {n_images / times[name][-1]:.2f} images/s", flush=True)
    print(
        f"{a.arch} at {a.size}px, batch {a.batch}, {n_images} images per round, {a.rounds} rounds, "
        f"{torch.get_num_threads()} threads"
    )
    base = statistics.median(times[names[0]])
    for name in names:
        m = statistics.median(times[name])
        params = sum(p.numel() for p in models[name][0].parameters()) / 1e6
        print(
            f"{name:16s} {params:5.1f}M params  {n_images / m:6.2f} images/s  ({m / base:.2f}x the time of {names[0]})"
        )


if __name__ == "__main__":
    main()
