"""Does the default export reproduce ``studio predict``? Box match on balloon val, per architecture.

For each checkpoint given (or, with ``--train ARCH...``, a model trained on balloon for ``--minutes``),
``studio export`` with the default options of ``--formats`` (default: onnx, i.e. static at image_size,
and onnx-e2e) at ``--score-thr`` (default 0.01: many low-scoring boxes, the hardest case), verified on
all 13 balloon val images: the export's own verification (:mod:`studio.core.export.verify`) pairs each
PyTorch box with an exported box of the same class at IoU >= 0.9. Prints the match rate, the boxes on
each side, the mAP of both and the warnings of the report. Goal: >= 99.5 % matched, no warning.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BALLOON = REPO.parent / "shared" / "data" / "balloon"
GOAL = 0.995


def train(arch: str, minutes: float, work: Path) -> Path:
    """A model of ``arch`` trained on balloon for ``minutes`` with the CPU quick preset (bench/balloon.py)."""
    sys.path.insert(0, str(REPO / "bench"))
    from balloon import prepare  # the balloon bench's set-up: import, config, preset
    from studio import api

    cfg = prepare(work, arch, minutes, ["data.workers=0"])
    t = time.perf_counter()
    api.train(cfg, work_dir=work / "run")
    print(f"  trained {arch} in {time.perf_counter() - t:.0f} s", flush=True)
    return work / "run" / "best.pt"


def measure(ckpt: Path, fmt: str, score_thr: float, out: Path) -> dict:
    from studio import api

    res = api.export(ckpt, fmt, out=out, n_verify=100, score_thr=score_thr)
    v = res.report
    bm = v.get("box_match") or {}
    return {
        "match_rate": bm.get("match_rate"),
        "matched": bm.get("matched"),
        "pytorch": bm.get("pytorch_detections"),
        "exported": bm.get("exported_detections"),
        "map_pytorch": v.get("map_pytorch"),
        "map_exported": v.get("map_exported"),
        "warnings": res.warnings,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="*", type=Path, help="checkpoints with balloon val as their val set")
    ap.add_argument("--train", nargs="*", default=[], metavar="ARCH", help="train these on balloon first")
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--formats", nargs="+", default=["onnx", "onnx-e2e"])
    ap.add_argument("--score-thr", type=float, default=0.01)
    a = ap.parse_args()
    if not BALLOON.is_dir():
        print(f"balloon is not at {BALLOON}: nothing to measure")
        return 1
    ok = True
    with tempfile.TemporaryDirectory(prefix="studio-export-match-") as tmp:
        ckpts = list(a.checkpoints) + [train(arch, a.minutes, Path(tmp) / arch) for arch in a.train]
        for k, ckpt in enumerate(ckpts):
            for fmt in a.formats:
                r = measure(ckpt, fmt, a.score_thr, Path(tmp) / f"export-{k}-{fmt}")
                rate = r["match_rate"] or 0.0
                ok &= rate >= GOAL and not r["warnings"]
                print(
                    f"{ckpt}  {fmt:9s} match {100 * rate:6.2f} % ({r['matched']} of {r['pytorch']} PyTorch / "
                    f"{r['exported']} exported boxes), mAP {r['map_pytorch']:.4f} vs {r['map_exported']:.4f}",
                    flush=True,
                )
                for w in r["warnings"]:
                    print(f"    warning: {w}")
    print("goal met" if ok else f"goal (>= {100 * GOAL:.1f} % matched, no warning) NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
