"""Exported model against PyTorch eager: ONNX Runtime CPU latency ratio and val mAP difference, per architecture.

For each architecture: a checkpoint (Studio's own models, seg_fast / det_fast / seg_lite / det_lite,
trained for a few epochs on the synthetic demo set, so that they detect something and their scores are
not ties (a random-weight R-CNN scores every box alike); torchvision detectors with random weights,
``--train-tv`` trains them too), exported with ``studio export --format onnx --dynamic``
(the export that reproduces ``studio predict`` exactly) and, with ``--simplify``, once more through
onnxslim. The figures are the export's own verification (:mod:`studio.core.export.verify`), measured
in this run on the same decoded images: median ms of one image through ``predict`` (preprocessing,
forward, post-processing to original pixels) with PyTorch eager and with ONNX Runtime on the CPU,
both on ``--threads`` intra-op threads, backends interleaved image by image, both with the score
threshold ``--score-thr`` (low, so that the briefly trained models detect and their post-processing,
masks included, is in the figures).

Prints, per architecture, both latencies, the ratio PyTorch / ONNX Runtime (goal >= 1.3) and the val
mAP difference exported - PyTorch (goal |delta| <= 0.002).

With OpenVINO installed (``pip install 'studio[openvino]'``; ``--no-openvino`` skips it), each architecture is
also exported with ``--format openvino --dynamic``. That export's own verification times PyTorch eager,
OpenVINO and ONNX Runtime (on the ONNX graph the IR was converted from) interleaved in one run, so the
second table's ratios compare the three on the same images at the same moment: OpenVINO's latency as a
ratio to ONNX Runtime's and to PyTorch eager's (below 1: OpenVINO is faster), and its mAP difference from
PyTorch (goal |delta| <= 0.002).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LITE = ("seg_fast", "det_fast", "seg_lite", "det_lite")  # trained briefly: Studio's own models
DEFAULT_ARCHS = (
    "seg_fast",
    "det_fast",
    "seg_lite",
    "det_lite",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "ssdlite320_mobilenet_v3_large",
)


def checkpoint(arch: str, size: int, demo, tmp: Path, epochs: int, train: bool) -> Path:
    """A trained (``train``) or random-weight checkpoint of ``arch`` at ``size`` px with the demo val set."""
    from studio import api
    from studio.core.config.init import init_config

    over = {
        "data": {"image_size": size, "workers": 0, "cache": "ram"},
        "train": {"epochs": max(1, epochs), "batch_size": 4, "device": "cpu", "warmup_iters": 10},
    }
    cfg = tmp / f"{arch}-bench.yaml"  # not {arch}.yaml: make_checkpoint writes that one
    init_config(demo["train"].annotations, cfg, val_ann=demo["val"].annotations, arch=arch, overrides=over)
    if train:
        t = time.perf_counter()
        api.train(cfg, work_dir=tmp / f"run-{arch}")
        print(f"  trained {arch} for {epochs} epochs at {size}px in {time.perf_counter() - t:.0f}s", flush=True)
        return tmp / f"run-{arch}" / "last.pt"
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_checkpoint  # the tests' random-weight checkpoint writer

    path = make_checkpoint(tmp / f"{arch}.pt", demo["train"], arch, size)
    from studio.core import checkpoint as ckpt_io
    from studio.core.config.loader import load_config

    ck = ckpt_io.load(path)  # give it the val set, like a trained run's
    data = dict(ck.data, config=load_config(cfg).model_dump(mode="json"))
    return ckpt_io.save(path, {k: v for k, v in data.items() if k not in ("format", "version")})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=list(DEFAULT_ARCHS))
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs of Studio's models (default: 30 for seg_fast / det_fast, whose score "
        "head starts at the 0.01 prior and detects nothing after 8; 8 for the R-CNN lite models)",
    )
    ap.add_argument("--train-tv", action="store_true", help="train the torchvision detectors too (slow)")
    ap.add_argument("--images", type=int, default=12, help="val images (verification and mAP)")
    ap.add_argument("--runs", type=int, default=12, help="timed runs per backend")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads of both PyTorch and ONNX Runtime (1: stable figures on a shared machine)",
    )
    ap.add_argument("--simplify", action="store_true", help="also measure the onnxslim-simplified graph")
    ap.add_argument("--no-openvino", action="store_true", help="skip the OpenVINO export and its table")
    ap.add_argument(
        "--score-thr",
        type=float,
        default=0.01,
        help="score threshold of both (a briefly trained model scores low: 0.01 keeps it detecting, "
        "so that post-processing, masks included, is part of the figures)",
    )
    a = ap.parse_args()

    import torch

    from studio.core.demo import generate
    from studio.core.environment import module_present
    from studio.core.export.jobs import export_checkpoint

    torch.set_num_threads(a.threads)
    openvino = not a.no_openvino and module_present("openvino")
    if not a.no_openvino and not openvino:
        print("OpenVINO is not installed (pip install 'studio[openvino]'): its table is skipped")
    rows = []
    ov_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        demo = generate(tmp / "demo", n_train=32, n_val=a.images, seed=0)
        print(
            f"demo set: 32 train / {a.images} val images 320x240; {a.threads} thread(s); export --format onnx --dynamic"
        )
        for arch in a.archs:
            trained = arch in LITE or a.train_tv
            epochs = a.epochs if a.epochs is not None else (30 if arch.endswith("_fast") else 8)
            ck = checkpoint(arch, a.size, demo, tmp, epochs, trained)
            base = {"dynamic": True, "score_thr": a.score_thr}
            variants = [("onnx", "onnx", base)]
            variants += [("onnx+slim", "onnx", {**base, "simplify": True})] if a.simplify else []
            variants += [("openvino", "openvino", base)] if openvino else []
            for name, fmt, opts in variants:
                if arch == "ssdlite320_mobilenet_v3_large" or arch.startswith("ssd300"):
                    opts = {k: v for k, v in opts.items() if k != "dynamic"}  # square inputs: static is exact
                t = time.perf_counter()
                r = export_checkpoint(
                    ck, fmt, opts, tmp / f"export-{arch}-{name}", n_verify=a.images, latency_runs=a.runs
                )
                rep = r.report
                if not rep["verified"]:
                    print(f"  {arch} {name}: not verified: {rep['warnings']}")
                    continue
                lat = rep["latency_ms"]
                if fmt == "openvino":
                    ov_rows.append(openvino_row(arch, rep))
                    print(f"  {arch} openvino: done in {time.perf_counter() - t:.0f}s: {ov_rows[-1][1]}", flush=True)
                    continue
                ratio = lat["pytorch_cpu"] / lat["onnxruntime_cpu"]
                bm = rep["box_match"]
                rows.append(
                    (
                        arch,
                        name,
                        "trained" if trained else "random",
                        lat["pytorch_cpu"],
                        lat["onnxruntime_cpu"],
                        ratio,
                        rep["metric"],
                        rep["map_pytorch"],
                        rep["map_delta"],
                        bm["match_rate"],
                        bm["pytorch_detections"],
                    )
                )
                print(
                    f"  {arch} {name}: done in {time.perf_counter() - t:.0f}s: torch {lat['pytorch_cpu']:.1f} ms, ORT "
                    f"{lat['onnxruntime_cpu']:.1f} ms, ratio {ratio:.2f}, "
                    f"{rep['metric']} delta {rep['map_delta']:+.4f}",
                    flush=True,
                )
    print()
    print(
        f"{'arch':40s} {'graph':10s} {'weights':8s} {'torch ms':>9s} {'ORT ms':>8s} {'ratio':>6s}  {'metric':9s} "
        f"{'mAP torch':>9s} {'delta':>8s} {'match':>6s} {'dets':>5s}"
    )
    for arch, name, w, tp, to, ratio, metric, m, dm, mr, nd in rows:
        print(
            f"{arch:40s} {name:10s} {w:8s} {tp:9.1f} {to:8.1f} {ratio:6.2f}  "
            f"{metric:9s} {m:9.4f} {dm:+8.4f} {mr:6.3f} {nd:5d}"
        )
    print("goal: ratio >= 1.3 (PyTorch eager / ONNX Runtime CPU, same input, same threads), |delta| <= 0.002")
    if ov_rows:
        print()
        print(
            f"{'arch':40s} {'torch ms':>9s} {'ORT ms':>8s} {'OV ms':>8s} {'OV/ORT':>7s} {'OV/torch':>9s}  "
            f"{'metric':9s} {'delta':>8s} {'match':>6s}"
        )
        for arch, _line, cells in ov_rows:
            print(f"{arch:40s} {cells}")
        print(
            "OpenVINO (CPU, fp32) latency as a ratio to ONNX Runtime CPU and PyTorch eager (below 1: OpenVINO is "
            "faster), measured interleaved in one verification; goal |delta| <= 0.002"
        )


def openvino_row(arch: str, rep: dict) -> tuple[str, str, str]:
    """(arch, a progress line, the table cells) of an OpenVINO export's report."""
    lat = rep["latency_ms"]
    tp, to, ov = lat["pytorch_cpu"], lat["onnxruntime_cpu"], lat["openvino_cpu"]
    bm = rep["box_match"]
    line = (
        f"torch {tp:.1f} ms, ORT {to:.1f} ms, OpenVINO {ov:.1f} ms (x{ov / to:.2f} ORT, x{ov / tp:.2f} torch), "
        f"{rep['metric']} delta {rep['map_delta']:+.4f}"
    )
    cells = (
        f"{tp:9.1f} {to:8.1f} {ov:8.1f} {ov / to:7.2f} {ov / tp:9.2f}  {rep['metric']:9s} "
        f"{rep['map_delta']:+8.4f} {bm['match_rate']:6.3f}"
    )
    return arch, line, cells


if __name__ == "__main__":
    main()
