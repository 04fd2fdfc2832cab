"""A new user's first training: the built-in demo set, the default config, a few minutes of CPU.

Exactly the commands of the README's first run, timed by wall clock with everything counted:
``studio dataset demo``, ``studio config init --train ... --val ...`` (no other option) and
``studio train CFG --set train.time_limit=<budget>``; then ``studio eval`` of the run on the demo's
val set. Goals: bbox and segm mAP50 >= 0.5 after 3 minutes, >= 0.8 after 10 minutes.

The baseline, run in the same session on the same data and budget, is the recipe Studio wrote before
it derived recipes from the data and the budget (100 warm-up iterations, evaluation every 10 epochs, the
fast family's fixed settings); ``--no-baseline`` skips it. Prints, per budget, the mAP50 of both and
their ratio, and last one line per budget that the README quotes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOALS = {3.0: 0.5, 10.0: 0.8}
#: what `studio config init` wrote for the fast family before recipes followed the data and the budget
BASELINE = [
    "train.epochs=300",
    "train.warmup_fraction=null",
    "train.warmup_iters=100",
    "train.eval_every=10",
    "train.eval_interval=null",
    "train.batch_size=8",
    "data.image_size=320",
    "train.lr=0.002",
    "data.augment.mosaic=0.5",
    "data.augment.photometric=0.5",
    "data.augment.scale_jitter=[0.75,1.25]",
]


def studio(*args: str, cwd: Path) -> str:
    r = subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"studio {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def first_run(work: Path, minutes: float, extra: list[str]) -> dict:
    """demo -> config init -> train for ``minutes`` -> eval; returns the val metrics and the run's figures."""
    work.mkdir(parents=True)
    t0 = time.time()
    studio("dataset", "demo", "-o", "demo", cwd=work)
    studio(
        "config",
        "init",
        "--train",
        "demo/annotations/train.json",
        "--val",
        "demo/annotations/val.json",
        "-o",
        "demo.yaml",
        cwd=work,
    )
    sets = ["--set", f"train.time_limit={minutes * 60:g}"]
    for kv in extra:
        sets += ["--set", kv]
    studio("train", "demo.yaml", "--work-dir", "run", *sets, cwd=work)
    wall = time.time() - t0
    out = studio("eval", "run", "--out", "eval", cwd=work)
    import json

    metrics = json.loads((work / "eval" / "metrics.json").read_text())
    from studio.core.training.runlog import read_events

    epochs = max((ev.epoch for ev in read_events(work / "run") if ev.kind.value == "epoch"), default=0)
    return {"metrics": metrics, "wall_s": wall, "epochs": epochs, "eval_text": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[3.0, 10.0])
    ap.add_argument("--no-baseline", action="store_true", help="skip the previous recipe")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the new recipe")
    ap.add_argument("--work-dir", help="keep the runs here (default: a temporary folder)")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    root = Path(a.work_dir) if a.work_dir else Path(tempfile.mkdtemp(prefix="first_run_"))
    lines = []
    for i, minutes in enumerate(a.minutes):  # the same budget may repeat (--minutes 3 3 3: the spread of runs)
        new = first_run(root / f"new_{minutes:g}m_{i}", minutes, a.set)
        m = new["metrics"]
        row = f"{minutes:g} min: bbox mAP50 {m['bbox_mAP_50']:.3f}, segm mAP50 {m['segm_mAP_50']:.3f}"
        row += f" (bbox mAP {m['bbox_mAP']:.3f}, segm mAP {m['segm_mAP']:.3f};"
        row += f" {new['epochs']} epochs, {new['wall_s']:.0f} s)"
        goal = GOALS.get(minutes)
        if goal is not None:
            met = min(m["bbox_mAP_50"], m["segm_mAP_50"]) >= goal
            row += f"; goal >= {goal}: {'met' if met else 'NOT met'}"
        if not a.no_baseline:
            old = first_run(root / f"baseline_{minutes:g}m_{i}", minutes, BASELINE)["metrics"]
            ratio = m["bbox_mAP_50"] / max(old["bbox_mAP_50"], 1e-3), m["segm_mAP_50"] / max(old["segm_mAP_50"], 1e-3)
            row += (
                f"; previous recipe: bbox mAP50 {old['bbox_mAP_50']:.3f}, segm mAP50 {old['segm_mAP_50']:.3f}"
                f" (ratio {ratio[0]:.1f}x / {ratio[1]:.1f}x)"
            )
        print(row, flush=True)
        lines.append(row)
    print("\n".join(lines))
    print(f"runs in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
