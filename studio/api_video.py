"""Python API for video and cameras (re-exported by :mod:`studio.api`): ``studio predict`` / ``studio infer`` on
video files, cameras and stream URLs, ``studio dataset frames``, and :func:`video_run` for a live preview.

Each returns data and raises :class:`studio.core.errors.StudioError` naming the source (and frame) at fault;
a cancelled run raises :class:`studio.core.video.pipeline.VideoCancelled` carrying what was written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from studio.core.detections import check_score_thr
from studio.core.export.runtime import load_exported
from studio.core.inference.score_default import choose_score_thr, exported_score_thr
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.labelling.auto import load_model
from studio.core.video.frames import extract_frames
from studio.core.video.jobs import Source, predict_sources
from studio.core.video.pipeline import FrameResult, VideoModel, VideoSummary, run_video
from studio.core.video.sources import FrameSource, open_source

__all__ = ["dataset_frames", "infer_video", "pipeline_threads", "predict_video", "video_run"]

OnFrame = Callable[[FrameResult], Any] | None


def pipeline_threads() -> int:
    """Runtime threads beside the pipeline: every core but one, which decodes and encodes."""
    return max(1, (os.cpu_count() or 2) - 1)


def video_parallelism(model: str | Path, device: str) -> tuple[int, int]:
    """``(threads, workers)`` for a video through an exported model, as measured by bench/video.py on 2 cores:
    ONNX Runtime on the CPU runs fastest as one single-threaded session call per core (frames inferred at once,
    1.21-1.24x the best frame-by-frame run, against 0.93x for one call on every core but one); OpenVINO, which
    splits one call across cores better, as one call on every core but one; GPUs as one call."""
    cores = os.cpu_count() or 2
    if Path(model).suffix.lower() == ".onnx" and device == "cpu" and cores > 1:
        return 1, cores
    return pipeline_threads(), 1


def predict_video(
    ckpt: str | Path,
    sources: Sequence[Source],
    out: str | Path,
    *,
    score_thr: float | None = None,
    device: str = "auto",
    show: bool = False,
    on_frame: OnFrame = None,
    max_frames: int | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[VideoSummary]:
    """``studio predict CKPT VIDEO|URL --camera N``: ``<stem>_pred.mp4`` and ``<stem>_pred.jsonl`` per source in
    ``out``. ``sources``: video files, stream URLs, camera indices (ints) or opened FrameSources."""
    from studio.core import checkpoint as ckpt_io  # deferred: torch
    from studio.core.inference.predictor import Predictor  # deferred: torch

    score_thr = check_score_thr(score_thr)
    ck = ckpt_io.load(ckpt_io.resolve(ckpt))
    choice = choose_score_thr(ck, score_thr)  # no --score-thr: the run's F1-optimal one, as for images
    model = Predictor.from_checkpoint(ck, device=device, score_thr=choice.value, batch_size=1)
    summaries = predict_sources(
        model, sources, out, show=show, on_frame=on_frame, max_frames=max_frames, progress=progress, cancel=cancel
    )
    return [replace(s, score_note=choice.describe()) for s in summaries]


def infer_video(
    model: str | Path,
    sources: Sequence[Source],
    out: str | Path,
    *,
    score_thr: float | None = None,
    device: str = "cpu",
    threads: int | None = None,
    workers: int | None = None,
    show: bool = False,
    on_frame: OnFrame = None,
    max_frames: int | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[VideoSummary]:
    """``studio infer MODEL VIDEO|URL --camera N`` for an exported model; imports no torch. ``threads``: ONNX
    Runtime's intra-op threads and ``workers``, frames inferred at once (default: :func:`video_parallelism`)."""
    score_thr = check_score_thr(score_thr)
    best_threads, best_workers = video_parallelism(model, device)
    threads, workers = threads or best_threads, workers or best_workers
    loaded = load_exported(model, device=device, score_thr=score_thr, threads=threads)
    # no --score-thr: the F1-optimal threshold the export recorded, else the graph's floor (as for images)
    choice = exported_score_thr(loaded.info.score_thr, loaded.info.suggested_score_thr, score_thr)
    loaded.score_thr = choice.value
    summaries = predict_sources(
        loaded,
        sources,
        out,
        show=show,
        on_frame=on_frame,
        max_frames=max_frames,
        workers=workers,
        progress=progress,
        cancel=cancel,
    )
    return [replace(s, score_note=choice.describe()) for s in summaries]


def video_run(
    model: VideoModel | str | Path,
    source: FrameSource | str | Path | int,
    *,
    on_frame: OnFrame = None,
    video_out: str | Path | None = None,
    jsonl_out: str | Path | None = None,
    score_thr: float = 0.05,
    device: str = "auto",
    max_frames: int | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> VideoSummary:
    """One source through one model, ``on_frame`` getting each frame's detections and the FPS; files only when
    named. ``model``: a loaded model, a checkpoint, a run folder or an exported ``.onnx`` / engine. What the
    app's Preview runs in a worker (a :class:`studio.core.video.sources.FakeCamera` stands in for a camera in
    tests)."""
    if isinstance(model, (str, Path)):
        model = load_model(model, device=device, score_thr=score_thr)
    opened = source if isinstance(source, FrameSource) else open_source(source)
    try:
        return run_video(
            model,
            opened,
            video_out=video_out,
            jsonl_out=jsonl_out,
            on_frame=on_frame,
            max_frames=max_frames,
            progress=progress,
            cancel=cancel,
        )
    finally:
        if opened is not source:
            opened.close()


dataset_frames = extract_frames  # `studio dataset frames VIDEO --every N | --scene-change T -o DIR`
