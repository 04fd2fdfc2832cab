"""The default CPU preset trained from scratch on balloon under a wall-clock budget, then evaluated.

What a new user gets from the first training on a laptop: ``studio dataset import`` of balloon's VIA
files, ``studio config init`` with the "CPU quick" preset (the default segmenter, from scratch), and
``studio train`` stopped after ``--minutes`` of wall-clock time, everything the trainer does counted
(data loading, any validation, checkpoints, the final evaluation). Then ``studio eval`` of the
checkpoint on balloon val, and the inference latency of one image at the preset's size (median of
``--latency-runs`` after warm-up, batch 1, through ``studio predict``'s path: preprocessing, forward,
post-processing to original pixels).

Anchor for comparison (measured on this 2-core machine, see README): a popular YOLO nano segmenter
(2.8 M parameters) trained from scratch at 320 px, batch 8, under the same 20-minute budget: about
130 epochs, box mAP 0.192 / mask mAP 0.170 (mAP50 0.370 / 0.316), 37 ms per image at 320 px.

Prints bbox and segm mAP@[.5:.95] and mAP50, epochs done, training images/s, inference latency, and
last a line ``checkpoint: PATH``. ``--set key=value`` overrides the config (repeatable), ``--arch``
picks another architecture, ``--work-dir`` keeps the run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BALLOON = REPO.parent / "shared" / "data" / "balloon"
ANCHOR = {"bbox_mAP": 0.192, "segm_mAP": 0.170, "bbox_mAP_50": 0.370, "segm_mAP_50": 0.316, "latency_ms": 37.0}
FINAL_EVAL_RESERVE_S = 15.0  # the trainer evaluates once more after the limit: keep the total within the budget


def prepare(work: Path, arch: str | None, minutes: float, overrides: list[str], epochs: int | None = None) -> Path:
    from studio import api
    from studio.core.config.init import init_config
    from studio.core.config.loader import apply_overrides, merge, resolve_raw, save_config, validate
    from studio.core.config.presets import apply_preset
    from studio.core.config.recipes import DataFacts
    from studio.core.dataset.model import Dataset

    for split in ("train", "val"):
        api.dataset_import(BALLOON / split / "via_region_data.json", work / f"{split}.json")
    cfg = work / "balloon.yaml"
    init_config(work / "train.json", cfg, val_ann=work / "val.json", arch=arch)
    facts = DataFacts.of(Dataset.load(work / "train.json"))
    raw = apply_preset(resolve_raw(cfg), "CPU quick", has_masks=True, facts=facts)
    if arch:  # another architecture: its own family's recipe over the preset
        from studio.core.config.recipes import recipe_for
        from studio.core.models import get_arch

        raw = merge(raw, merge({"model": {"arch": arch}}, recipe_for(get_arch(arch).family)))
    budget = (
        {"time_limit": None, "epochs": epochs}
        if epochs
        else {"time_limit": max(30.0, minutes * 60 - FINAL_EVAL_RESERVE_S)}
    )
    raw = merge(raw, {"train": budget})
    save_config(validate(apply_overrides(raw, overrides), cfg), cfg)
    return cfg


def latency_ms(ckpt: Path, images: list[Path], runs: int) -> float:
    from studio.core.imageio import imread_rgb
    from studio.core.inference.predictor import Predictor

    pred = Predictor.from_checkpoint(ckpt, device="cpu", batch_size=1)
    decoded = [imread_rgb(p) for p in images]
    for im in decoded[:2]:
        pred.predict([im])
    times = []
    for i in range(runs):
        t = time.perf_counter()
        pred.predict([decoded[i % len(decoded)]])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget (default 20)")
    ap.add_argument("--arch", help="architecture (default: the CPU preset's segmenter)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--work-dir", type=Path, help="keep the run here (default: a temporary folder)")
    ap.add_argument("--latency-runs", type=int, default=20)
    ap.add_argument(
        "--epochs", type=int, help="train this many epochs instead of a time budget (comparisons on a busy machine)"
    )
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice, one per core)")
    a = ap.parse_args()
    if not (BALLOON / "train" / "via_region_data.json").is_file():
        print(f"balloon not found at {BALLOON} (see ../shared/data/README.md)", file=sys.stderr)
        return 2

    import torch

    from studio import api
    from studio.core.config.loader import load_config

    if a.threads:
        torch.set_num_threads(a.threads)
    work = a.work_dir or Path(tempfile.mkdtemp(prefix="studio-balloon-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = prepare(work, a.arch, a.minutes, a.overrides, a.epochs)
    cfg = load_config(cfg_path)
    print(
        f"arch {cfg.model.arch}, {cfg.data.image_size} px, batch {cfg.train.batch_size}, "
        f"{cfg.train.optimizer} lr {cfg.train.lr}, "
        f""
        + (
            f"{cfg.train.epochs} epochs"
            if a.epochs
            else f"budget {a.minutes:g} min (train.time_limit {cfg.train.time_limit:.0f} s)"
        )
        + f", {torch.get_num_threads()} threads, work dir {work}",
        flush=True,
    )
    t0 = time.perf_counter()
    result = api.train(cfg_path, work_dir=work / "run")
    wall = time.perf_counter() - t0
    run = work / "run"
    ckpt = run / "last.pt"

    n_train = len(json.loads((work / "train.json").read_text())["images"])
    images = n_train * result.epochs_done  # the last epoch may be partial: counted as done by the trainer

    val, _ = api.evaluate(ckpt, out=work / "eval", device="cpu")
    m = val.metrics
    val_images = sorted((BALLOON / "val").glob("*.jpg"))
    lat = latency_ms(ckpt, val_images, a.latency_runs)

    def row(name: str, key: str) -> str:
        v = m.get(key)
        return f"{name:<12} {v:.3f}   (anchor {ANCHOR[key]:.3f})" if v is not None else f"{name:<12} n/a"

    print(f"wall clock   {wall / 60:.1f} min (train + evaluations + checkpoints; budget {a.minutes:g} min)")
    print(row("bbox mAP", "bbox_mAP"))
    print(row("segm mAP", "segm_mAP"))
    print(row("bbox mAP50", "bbox_mAP_50"))
    print(row("segm mAP50", "segm_mAP_50"))
    print(f"epochs       {result.epochs_done} ({result.reason})")
    print(f"train img/s  {images / max(wall, 1e-9):.2f} (epochs x train images / wall clock)")
    print(
        f"latency      {lat:.1f} ms per image at {cfg.data.image_size} px "
        f"(anchor {ANCHOR['latency_ms']:.0f} ms; goal <= {2 * ANCHOR['latency_ms']:.0f})"
    )
    print(f"checkpoint: {ckpt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
