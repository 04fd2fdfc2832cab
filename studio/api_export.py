"""Python API matching ``studio export``, ``studio infer`` and ``studio benchmark`` (re-exported by :mod:`studio.api`).

Both return data and raise :class:`studio.core.errors.StudioError` with a message naming the file and
the option or item at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.core.export.benchmark import DEFAULT_RUNS, benchmark_checkpoint
from studio.core.export.formats import FORMATS
from studio.core.export.setup import DEFAULT_VERIFY_IMAGES
from studio.core.jobs import CancelToken, Progress, no_progress

__all__ = ["benchmark", "export", "infer", "export_formats"]


def export_formats():
    """The format table: {name: ExportFormat} with each option's type, default, choices and help."""
    return dict(FORMATS)


def export(
    ckpt: str | Path,
    fmt: str = "onnx",
    *,
    out: str | Path | None = None,
    verify_ann: str | Path | None = None,
    verify_images: str | Path | None = None,
    n_verify: int | None = None,
    device: str | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    **options: Any,
):
    """``studio export``: ``options`` are the format's (opset=17, dynamic=True, half=..., see ``export_formats()``).

    Returns :class:`studio.core.export.jobs.ExportResult` (out_dir, model, files, report_path, report).
    """
    from studio.core.export.jobs import DEFAULT_VERIFY_IMAGES, export_checkpoint  # deferred: numpy

    return export_checkpoint(
        ckpt,
        fmt,
        options,
        out,
        verify_ann=verify_ann,
        verify_images=verify_images,
        n_verify=DEFAULT_VERIFY_IMAGES if n_verify is None else n_verify,
        progress=progress,
        cancel=cancel,
        device=device,
    )


def infer(
    model: str | Path,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    score_thr: float | None = None,
    device: str = "cpu",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """``studio infer``: drawn images and predictions.json in ``out`` (as ``studio predict``); returns a
    PredictSummary. ``score_thr`` None: the F1-optimal threshold the export recorded, else the graph's floor."""
    from studio.core.export.jobs import infer_images  # deferred: numpy

    return infer_images(model, images, out, score_thr, progress, cancel, device=device)


def benchmark(
    ckpt: str | Path,
    formats: Sequence[str] | None = None,
    *,
    out: str | Path | None = None,
    images: str | Path | None = None,
    ann: str | Path | None = None,
    n_images: int | None = None,
    runs: int | None = None,
    score_thr: float | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """``studio benchmark``: ``formats`` among pytorch, onnx, onnx-e2e, openvino, engine (default all but onnx-e2e);
    returns :class:`studio.core.export.benchmark.BenchmarkResult` (out_dir, markdown, json, table, rows)."""
    return benchmark_checkpoint(
        ckpt,
        formats,
        out,
        images=images,
        ann=ann,
        n_images=DEFAULT_VERIFY_IMAGES if n_images is None else n_images,
        runs=DEFAULT_RUNS if runs is None else runs,
        score_thr=score_thr,
        progress=progress,
        cancel=cancel,
        device=device,
        threads=threads,
    )
