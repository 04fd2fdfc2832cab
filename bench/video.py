"""FPS of `studio infer` on a video: the pipeline (reader thread, model, writer thread) against the same model
run frame by frame (decode, infer, draw and encode, write the JSON line, one after the other).

The model is the default architecture (det_fast) at its default 320 px, random weights with calibrated
BatchNorm statistics (a forward pass costs the same whatever the weights), exported with
``studio export --format onnx --dynamic`` (and each of ``--formats`` that exists here; one that does not
is skipped with the reason). The video is a synthetic 320x240 clip (moving rectangles,
:mod:`studio.core.video.synthetic`).

Both sides write the same files (annotated mp4 + JSON Lines). Threads: each side runs with the model on
every core and on ``--pipeline-threads`` (default: every core but one, which decodes and encodes:
:func:`studio.api_video.pipeline_threads`), and the pipeline once more with one
model worker per core, each on one thread (``workers``: frames inferred at once, results kept in order);
ratios are to the best sequential run. `studio infer` on a video picks the configuration that wins here for
the format (:func:`studio.api_video.video_parallelism`).
Each configuration runs ``--repeats`` times, interleaved; the best FPS of each is reported. The machine
may be shared: rerun it quietly for figures to publish.

Prints the FPS of each and the ratio pipeline / sequential (goal >= 1.5).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


STAGES: dict[str, list[float]] = {}  # sequential run -> [decode, infer, draw + encode + JSON] seconds, frames


def sequential_fps(model, video: Path, out: Path, key: str = "") -> float:
    """The same work as the pipeline, one step after the other in one thread: decode, infer, draw + encode, JSON.
    Records each stage's time in STAGES[key]."""
    from studio.core.draw import draw_detections
    from studio.core.video.pipeline import FrameResult, frame_record
    from studio.core.video.sinks import JsonlWriter, VideoWriter
    from studio.core.video.sources import open_source

    names = list(model.class_map.names)
    stages = [0.0, 0.0, 0.0, 0, 0]  # seconds of each stage, frames, detections
    with open_source(video) as src:
        writer, jsonl = VideoWriter(out / "seq.mp4", src.fps), JsonlWriter(out / "seq.jsonl")
        t0 = time.perf_counter()
        while True:
            t = time.perf_counter()
            frame = src.read()
            stages[0] += time.perf_counter() - t
            if frame is None:
                break
            t = time.perf_counter()
            dets = model.predict([frame.image])[0]
            stages[1] += time.perf_counter() - t
            t = time.perf_counter()
            writer.write(draw_detections(frame.image, dets, names))
            jsonl.write(
                frame_record(FrameResult(frame.index, frame.timestamp, frame.image, dets, 0.0), model.class_map)
            )
            stages[2] += time.perf_counter() - t
            stages[3] += 1
            stages[4] += len(dets)
        writer.close()
        jsonl.close()
        fps = stages[3] / (time.perf_counter() - t0)
    STAGES[key] = stages
    return fps


def pipeline_fps(model, video: Path, out: Path, workers: int = 1) -> float:
    from studio.core.video.jobs import predict_sources

    return predict_sources(model, [video], out, workers=workers)[0].fps


def export_model(ckpt: Path, fmt: str, out: Path) -> tuple[Path | None, str]:
    """The exported model file, or None and why not."""
    from studio.core.errors import StudioError
    from studio.core.export.formats import FORMATS
    from studio.core.export.jobs import export_checkpoint

    if fmt not in FORMATS:
        return None, f"no export format {fmt!r} in this Studio (formats: {', '.join(FORMATS)})"
    try:
        opts = {"dynamic": True} if fmt == "onnx" else {}
        return export_checkpoint(ckpt, fmt, opts, out, n_verify=0).model, ""
    except (StudioError, ImportError, OSError) as e:
        return None, str(e).splitlines()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--formats", nargs="+", default=["onnx", "openvino"])
    ap.add_argument("--arch", default="det_fast")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=2)
    cores = os.cpu_count() or 2
    ap.add_argument("--pipeline-threads", type=int, default=None, help="default: every core but one")
    a = ap.parse_args()

    import torch

    from studio.api_video import pipeline_threads
    from studio.core.demo import generate
    from studio.core.export.runtime import load_exported
    from studio.core.models import get_arch
    from studio.core.video.synthetic import write_video

    torch.set_num_threads(1)
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import make_checkpoint  # the tests' random-weight checkpoint writer

    p_threads = a.pipeline_threads or pipeline_threads()
    size = get_arch(a.arch).default_size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        demo = generate(tmp / "demo", n_train=8, n_val=2, seed=0)
        ckpt = make_checkpoint(tmp / f"{a.arch}.pt", demo["train"], a.arch, size, calibrate_bn=True)
        video = write_video(tmp / "clip.mp4", a.frames, width=320, height=240, fps=25)
        print(f"{a.arch} at {size} px, {a.frames} frames 320x240, {cores} cores, repeats {a.repeats} (best kept)")
        for fmt in a.formats:
            model_path, why = export_model(ckpt, fmt, tmp / f"export-{fmt}")
            if model_path is None:
                print(f"  {fmt}: skipped: {why}")
                continue
            try:
                configs = {
                    f"sequential, {cores} threads": (load_exported(model_path, threads=cores), sequential_fps),
                    f"pipeline, {p_threads} threads": (load_exported(model_path, threads=p_threads), pipeline_fps),
                }
                if p_threads != cores:
                    configs[f"sequential, {p_threads} threads"] = (
                        load_exported(model_path, threads=p_threads),
                        sequential_fps,
                    )
                    configs[f"pipeline, {cores} threads"] = (load_exported(model_path, threads=cores), pipeline_fps)
                configs[f"pipeline, {cores} workers x 1 thread"] = (
                    load_exported(model_path, threads=1),
                    partial(pipeline_fps, workers=cores),
                )
            except Exception as e:  # a format this Studio exports but `studio infer` cannot run yet
                print(f"  {fmt}: skipped: studio infer cannot run it: {str(e).splitlines()[0]}")
                continue
            best: dict[str, float] = {}
            for r in range(a.repeats):
                for k, (name, (model, fn)) in enumerate(configs.items()):
                    out = tmp / f"out-{fmt}-{r}-{k}"
                    out.mkdir()
                    fps = fn(model, video, out, name) if fn is sequential_fps else fn(model, video, out)
                    best[name] = max(best.get(name, 0.0), fps)
            seq = max(v for k, v in best.items() if k.startswith("sequential"))  # the best sequential run
            for name, (dec, inf, wr, n, dets) in ((k, v) for k, v in STAGES.items() if k in best):
                bound = (dec + inf + wr) / max(dec, inf, wr)
                print(
                    f"  {fmt:9s} {name:30s} per frame: decode {1000 * dec / n:.1f} ms, infer {1000 * inf / n:.1f} ms, "
                    f"draw + encode + JSON {1000 * wr / n:.1f} ms ({dets / n:.0f} detections); "
                    f"overlap can give at most x{bound:.2f}"
                )
            one = STAGES.get("sequential, 1 threads")
            if one is not None:  # the least CPU work per frame (1-thread inference wastes no core on syncing)
                dec, inf, wr, n, _ = one
                cores = os.cpu_count() or 1
                ceiling = cores * n / (dec + inf + wr)  # every core busy all the time with that work
                print(
                    f"  {fmt:9s} CPU bound: {1000 * (dec + inf + wr) / n:.1f} core-ms a frame on {cores} cores: "
                    f"at most {ceiling:.1f} FPS = x{ceiling / seq:.2f} the best sequential, whatever the overlap"
                )
            STAGES.clear()
            for name, fps in best.items():
                rows.append((fmt, name, fps, fps / seq))
                print(f"  {fmt:9s} {name:30s} {fps:7.1f} FPS  x{fps / seq:.2f}", flush=True)
    print()
    print(f"{'format':9s} {'run':30s} {'FPS':>7s} {'vs best sequential':>19s}")
    for fmt, name, fps, ratio in rows:
        print(f"{fmt:9s} {name:30s} {fps:7.1f} {ratio:18.2f}x")
    print("goal: pipeline >= 1.5x sequential (decode, inference and encode overlapped)")


if __name__ == "__main__":
    main()
