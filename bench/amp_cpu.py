"""CPU mixed precision: training speed of bf16 against fp32 (and, with --accuracy-epochs, what it costs in mAP).

Both precisions train the same model (seg_fast at 320 px by default) from the same weights on the same
pre-loaded demo batches, through Studio's own loop (``Trainer.train_epoch``, bf16 through the one autocast
path that CUDA uses). Rounds alternate fp32 / bf16 and the medians are compared, so a machine that gets
busier during the run slows both alike. Prints images/s of each and the ratio bf16 / fp32 (> 1: bf16 is
faster). bf16 pays off on CPUs with native bf16 arithmetic (AVX512-BF16, AMX); elsewhere it is emulated.

With ``--accuracy-epochs N`` both precisions then train N epochs from scratch on the demo set and are
evaluated on its val split: the segm mAP of each says what bf16 costs in accuracy over a short run.
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

PRECISIONS = ("none", "bf16")


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    native = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(native) if native else "no native bf16 (emulated)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="seg_fast")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--images", type=int, default=16, help="training images (iterations per round: images / batch)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="train.seed of both runs (the demo set stays the same)")
    ap.add_argument("--accuracy-epochs", type=int, default=0, help="also train this many epochs of each and compare")
    a = ap.parse_args()

    from studio import api
    from studio.core.config.init import init_config
    from studio.core.demo import generate
    from studio.core.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d = generate(tmp / "demo", n_train=a.images, n_val=8, seed=0)
        trainers: dict[str, Trainer] = {}
        for amp in PRECISIONS:
            over = {
                "data": {"image_size": a.size, "workers": 0, "cache": "ram"},
                "train": {
                    "batch_size": a.batch,
                    "device": "cpu",
                    "epochs": 10,
                    "warmup_iters": 5,
                    "amp": amp,
                    "seed": a.seed,
                },
            }
            cfg = init_config(
                d["train"].annotations, tmp / f"{amp}.yaml", val_ann=d["val"].annotations, arch=a.arch, overrides=over
            )
            tr = Trainer(cfg, tmp / f"run_{amp}", callbacks=[lambda ev: None])
            tr.setup()
            tr.open_run_folder()
            trainers[amp] = tr
        batches = list(trainers["none"].train_loader)
        start_model = copy.deepcopy(trainers["none"].model.state_dict())
        start_opt = copy.deepcopy(trainers["none"].optimizer.state_dict())

        def one_round(amp: str) -> float:
            tr = trainers[amp]
            tr.model.load_state_dict(start_model)
            tr.optimizer.load_state_dict(start_opt)
            tr.global_iter = 0
            t0 = time.perf_counter()
            tr.train_epoch(1, batches=batches)
            return time.perf_counter() - t0

        for amp in PRECISIONS:  # warm-up (allocator, thread pools, oneDNN kernels of each dtype)
            one_round(amp)
        times: dict[str, list[float]] = {amp: [] for amp in PRECISIONS}
        for _ in range(a.rounds):
            for amp in PRECISIONS:
                times[amp].append(one_round(amp))
        for tr in trainers.values():
            tr.close_run_folder()
        n_images = sum(len(images) for images, _ in batches)
        speed = {amp: n_images / statistics.median(ts) for amp, ts in times.items()}
        print(
            f"model {a.arch} at {a.size}px, batch {a.batch}, {len(batches)} iterations per round, {a.rounds} rounds, "
            f"{torch.get_num_threads()} threads; CPU bf16: {_cpu_flags()}"
        )
        print(f"fp32  {speed['none']:.2f} images/s")
        print(f"bf16  {speed['bf16']:.2f} images/s")
        print(f"ratio bf16/fp32: {speed['bf16'] / speed['none']:.3f}")

        if a.accuracy_epochs:
            for amp in PRECISIONS:
                res = api.train(
                    tmp / f"{amp}.yaml",
                    overrides=[
                        f"train.epochs={a.accuracy_epochs}",
                        "train.eval_every=1000",
                        "train.eval_interval=null",
                    ],
                    work_dir=tmp / f"acc_{amp}",
                )
                metric = res.metrics.get("segm_mAP", res.metrics.get("bbox_mAP"))
                print(f"{amp:5s} after {a.accuracy_epochs} epochs: mAP {metric}")


if __name__ == "__main__":
    main()
