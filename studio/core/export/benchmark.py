"""``studio benchmark``: one checkpoint through every backend that exists here, in one table.

Each export format asked for is exported with its defaults (the export job of :mod:`.jobs`, unverified:
the benchmark measures them all together instead), then every backend predicts the same images:

- **mAP** of each backend on the checkpoint's val set (or ``ann`` / ``images``), with the metric of
  ``studio eval`` (:func:`.verify.evaluate_detections`), and its difference from PyTorch eager;
- **box match** against PyTorch eager (:func:`.verify.box_match`, IoU 0.9), so a fast but wrong export shows;
- **latency**: the median ms of one image through ``predict`` (preprocess, forward, post-processing),
  all backends interleaved image by image (:func:`.verify.measure_latency`), so a busy machine slows them
  alike; FPS is 1000 / that median;
- **file size** of the model file (an OpenVINO model: the .xml and .bin together; PyTorch: the checkpoint).

A backend that does not exist here (no GPU, a package not installed) is a row with the reason. The table
is written as ``benchmark.md`` and ``benchmark.json`` into the output folder, with the exports in
``exports/FORMAT``; the folder is assembled aside and moved in at the end (:func:`studio.core.atomic.atomic_dir`),
so a failed or cancelled run leaves it as it was.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.core import atomic
from studio.core.errors import CancelledError, StudioError
from studio.core.export.formats import FORMAT_KEY, FORMATS, ArchInfo, unavailable
from studio.core.export.report import versions
from studio.core.export.setup import DEFAULT_VERIFY_IMAGES, detect_device, resolved_thresholds, verification_set
from studio.core.jobs import CancelToken, Progress, no_progress

PYTORCH = "pytorch"
#: what ``--formats`` takes: PyTorch eager and the built-in export formats
BENCH_FORMATS = (PYTORCH, "onnx", "onnx-e2e", "openvino", "engine")
DEFAULT_FORMATS = (PYTORCH, "onnx", "openvino", "engine")
DEFAULT_RUNS = 20
MARKDOWN_NAME = "benchmark.md"
JSON_NAME = "benchmark.json"
EXPORTS_DIR = "exports"

BACKEND_TITLES = {
    "pytorch_cpu": "PyTorch eager (CPU)",
    "pytorch_cuda": "PyTorch eager (CUDA)",
    "onnxruntime_cpu": "ONNX Runtime (CPU)",
    "onnxruntime_cuda": "ONNX Runtime (CUDA EP)",
    "onnxruntime_tensorrt": "ONNX Runtime (TensorRT EP)",
    "openvino_cpu": "OpenVINO (CPU)",
    "tensorrt": "TensorRT engine",
}

#: the backends each format is measured on: (backend, device word of load_exported)
_BACKENDS = {
    "onnx": (("onnxruntime_cpu", "cpu"), ("onnxruntime_cuda", "gpu")),
    "onnx-e2e": (("onnxruntime_cpu", "cpu"), ("onnxruntime_cuda", "gpu")),
    "openvino": (("openvino_cpu", "cpu"),),
    "engine": (("tensorrt", "gpu"),),
}


@dataclass(frozen=True)
class BenchmarkRow:
    """One format on one backend: measured, or ``reason`` why not."""

    format: str
    backend: str
    title: str
    file: str | None = None  # the model file (relative to the benchmark folder; the checkpoint's full path)
    size_mb: float | None = None
    map: float | None = None
    map_delta: float | None = None  # map - PyTorch eager's (CPU)
    box_match: float | None = None  # share of detections paired with PyTorch eager's at IoU 0.9
    latency_ms: float | None = None
    fps: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkResult:
    out_dir: Path
    markdown: Path
    json: Path
    table: dict = field(repr=False)  # what benchmark.json holds

    @property
    def rows(self) -> list[BenchmarkRow]:
        return [BenchmarkRow(**r) for r in self.table["rows"]]

    def lines(self) -> list[str]:
        return markdown_lines(self.table)


def check_formats(formats: Iterable[str] | None) -> list[str]:
    """``formats`` checked against :data:`BENCH_FORMATS` (default :data:`DEFAULT_FORMATS`), in the table's order."""
    wanted = list(DEFAULT_FORMATS if formats is None else formats)
    bad = [f for f in wanted if f not in BENCH_FORMATS]
    if bad:
        raise StudioError(f"unknown benchmark format {bad[0]!r}: use any of {', '.join(BENCH_FORMATS)}", item="formats")
    if not wanted:
        raise StudioError("no format to benchmark", item="formats")
    return [f for f in BENCH_FORMATS if f in wanted]


def _size_mb(paths: Sequence[Path]) -> float:
    return round(sum(p.stat().st_size for p in paths) / 1e6, 2)


def _model_files(model: Path) -> list[Path]:
    """The files a model is made of: an OpenVINO .xml needs its .bin, an engine is one file like ONNX."""
    return [model, model.with_suffix(".bin")] if model.suffix == ".xml" else [model]


@dataclass
class _Backend:
    format: str
    name: str
    predict: Callable
    file: str
    size_mb: float


def benchmark_checkpoint(
    ckpt: str | Path,
    formats: Iterable[str] | None = None,
    out_dir: str | Path | None = None,
    images: str | Path | None = None,
    ann: str | Path | None = None,
    n_images: int = DEFAULT_VERIFY_IMAGES,
    runs: int = DEFAULT_RUNS,
    score_thr: float | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    *,
    device: str | None = None,
    threads: int | None = None,
) -> BenchmarkResult:
    """Benchmark the checkpoint (or run folder) ``ckpt`` on ``formats`` into ``out_dir`` (default: ``benchmark``
    beside the checkpoint). ``ann`` / ``images`` pick the images (default: the checkpoint's val set), ``n_images``
    how many, ``runs`` the timed runs per backend; ``score_thr`` (default the checkpoint's) applies to all.
    ``threads``: intra-op threads of every CPU backend (default: what PyTorch has; PyTorch's are set back after)."""
    import torch  # deferred: torch

    before = torch.get_num_threads()
    if threads is not None and threads < 1:
        raise StudioError(f"needs at least one thread, got {threads}", item="threads")
    try:
        if threads:
            torch.set_num_threads(int(threads))
        return _benchmark(ckpt, formats, out_dir, images, ann, n_images, runs, score_thr, progress, cancel, device)
    finally:
        torch.set_num_threads(before)


def _benchmark(
    ckpt: str | Path,
    formats: Iterable[str] | None,
    out_dir: str | Path | None,
    images: str | Path | None,
    ann: str | Path | None,
    n_images: int,
    runs: int,
    score_thr: float | None,
    progress: Progress,
    cancel: CancelToken | None,
    device: str | None,
) -> BenchmarkResult:
    import torch  # deferred: torch

    from studio.core import checkpoint as ckpt_io  # deferred: torch
    from studio.core.export.jobs import export_checkpoint  # deferred: cv2
    from studio.core.export.runtime import load_exported  # deferred: cv2
    from studio.core.export.verify import box_match, measure_latency  # deferred: numpy
    from studio.core.imageio import imread_rgb  # deferred: cv2
    from studio.core.inference.predictor import Predictor  # deferred: torch
    from studio.core.models import get_arch  # deferred: torch, torchvision

    fmts = check_formats(formats)
    if n_images < 1:
        raise StudioError(f"needs at least one image, got {n_images}", item="n_images")
    if runs < 1:
        raise StudioError(f"needs at least one timed run, got {runs}", item="runs")
    check = cancel.raise_if_cancelled if cancel is not None else (lambda: None)
    path = ckpt_io.resolve(ckpt)
    ck = ckpt_io.load(path)
    spec = get_arch(ck.arch)
    arch = ArchInfo(spec.name, spec.family, spec.task, spec.square_input)
    device = device or detect_device()
    thr = resolved_thresholds({"score_thr": score_thr}, ck.config)
    vset = verification_set(ck.config, ck.classes, ann, images, n_images)
    if not vset.items:
        raise StudioError(f"no images to benchmark on: {vset.why_none}", item="images")
    out = Path(out_dir) if out_dir is not None else path.parent / "benchmark"
    exports = [f for f in fmts if f != PYTORCH]
    total = 3 + len(exports) + sum(len(_BACKENDS.get(f, ((), ()))) for f in fmts)  # at most: a step per backend
    threads = torch.get_num_threads()  # ONNX Runtime and OpenVINO get the threads PyTorch has

    rows: dict[tuple[str, str], BenchmarkRow] = {}
    backends: list[_Backend] = []

    def reason(fmt: str, backend: str, why: str) -> None:
        rows[(fmt, backend)] = BenchmarkRow(fmt, backend, BACKEND_TITLES.get(backend, backend), reason=why)

    with atomic.atomic_dir(out) as tmp:
        progress(0, total, f"reading {path.name}")
        pics = [(iid, name, imread_rgb(p)) for iid, name, p in vset.items]
        if PYTORCH in fmts:
            cpu = Predictor.from_checkpoint(
                ck, device="cpu", score_thr=thr["score_thr"], max_detections=thr["max_det"], batch_size=1
            )
            size = _size_mb([path])
            backends.append(_Backend(PYTORCH, "pytorch_cpu", lambda im, p=cpu: p.predict([im])[0], str(path), size))
            if torch.cuda.is_available():
                gpu = Predictor.from_checkpoint(
                    ck, device="cuda", score_thr=thr["score_thr"], max_detections=thr["max_det"], batch_size=1
                )
                backends.append(
                    _Backend(PYTORCH, "pytorch_cuda", lambda im, p=gpu: p.predict([im])[0], str(path), size)
                )
            else:
                reason(PYTORCH, "pytorch_cuda", "no CUDA device visible to PyTorch")
        for k, fmt in enumerate(exports):
            check()
            names = [b for b, _ in _BACKENDS[fmt]]
            why = unavailable(FORMATS[fmt], arch, {}, device).get(FORMAT_KEY)
            if why:
                for b in names:
                    reason(fmt, b, why)
                continue
            progress(1 + k, total, f"exporting to {FORMATS[fmt].title}")
            try:
                res = export_checkpoint(
                    path, fmt, dict(thr), tmp / EXPORTS_DIR / fmt, n_verify=0, device=device, cancel=cancel
                )
            except CancelledError:
                raise
            except StudioError as e:
                for b in names:
                    reason(fmt, b, f"the export failed: {e}")
                continue
            files = _model_files(res.model)
            rel = str(Path(EXPORTS_DIR) / fmt / res.model.name)
            for b, dev in _BACKENDS[fmt]:
                if dev == "gpu" and device != "gpu" and b != "tensorrt":
                    reason(fmt, b, "no NVIDIA GPU visible here")
                    continue
                try:
                    m = load_exported(res.model, device=dev, threads=threads)
                except StudioError as e:
                    reason(fmt, b, e.message)
                    continue
                backends.append(_Backend(fmt, m.name, lambda im, m=m: m.predict([im])[0], rel, _size_mb(files)))

        done = 1 + len(exports)
        preds: dict[tuple[str, str], list] = {}
        for b in backends:
            out_b = []
            for im in pics:
                check()
                out_b.append(b.predict(im[2]))
            preds[(b.format, b.name)] = out_b
            done += 1
            progress(done, total, f"predicting with {BACKEND_TITLES.get(b.name, b.name)} ({b.format})")
        progress(done, total, "measuring latency")
        lat = measure_latency(
            {f"{b.format}/{b.name}": b.predict for b in backends}, [im[2] for im in pics[:3]], runs=runs, cancel=cancel
        )
        metric, maps = _maps(preds, pics, vset, spec.task == "segment")
        ref_key = (PYTORCH, "pytorch_cpu")
        for b in backends:
            key = (b.format, b.name)
            ms = lat.get(f"{b.format}/{b.name}")
            m = maps.get(key)
            ref = maps.get(ref_key)
            rows[key] = BenchmarkRow(
                b.format,
                b.name,
                BACKEND_TITLES.get(b.name, b.name),
                file=b.file,
                size_mb=b.size_mb,
                map=m,
                map_delta=None if m is None or ref is None else round(m - ref, 6),
                box_match=_match_rate(box_match(preds[ref_key], preds[key])) if ref_key in preds else None,
                latency_ms=ms,
                fps=round(1000.0 / ms, 1) if ms else None,
            )
        table = {
            "checkpoint": str(path),
            "arch": spec.name,
            "task": spec.task,
            "device": device,
            "metric": metric,
            "n_images": len(pics),
            "images": _images_word(vset),
            "score_thr": thr["score_thr"],
            "threads": threads,
            "runs": runs,
            "rows": [rows[k].to_dict() for k in _ordered(rows, fmts)],
            "latency_note": (
                "median ms per image of predict (preprocess, forward, post-processing to original pixels; "
                f"decoding excluded) after 2 warm-up calls, {runs} runs, all backends interleaved image by image; "
                f"CPU backends on {threads} thread(s)"
            ),
            "versions": versions(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        progress(total - 1, total, "writing the table")
        atomic.write_text(tmp / MARKDOWN_NAME, "\n".join(markdown_lines(table)) + "\n")
        atomic.write_json(tmp / JSON_NAME, table)
    progress(total, total, "done")
    return BenchmarkResult(out, out / MARKDOWN_NAME, out / JSON_NAME, table)


def _maps(preds: dict, pics: list, vset, with_masks: bool) -> tuple[str | None, dict]:
    """(metric name, {backend key: its value}) on the annotated images; (None, {}) without annotations."""
    from studio.core.export.verify import evaluate_detections, primary_metric  # deferred: numpy

    if vset.gt is None or vset.class_map is None:
        return None, {}
    metrics = {
        key: evaluate_detections({iid: d for (iid, _n, _im), d in zip(pics, dets)}, vset.gt, vset.class_map, with_masks)
        for key, dets in preds.items()
    }
    if not metrics:
        return None, {}
    metric = primary_metric(next(iter(metrics.values())))
    return metric, {k: m.get(metric) for k, m in metrics.items()}


def _match_rate(match) -> float | None:
    """The box match's rate, None when neither side detected anything (a rate of 1.0 over nothing says nothing)."""
    return match.match_rate if match.compared else None


def _images_word(vset) -> str:
    first = vset.items[0][2]
    where = "annotated val images" if vset.gt is not None else "images (no annotations: no mAP)"
    return f"{len(vset.items)} {where} from {first.parent}"


def _ordered(rows: dict, fmts: list[str]) -> list[tuple[str, str]]:
    """Rows by format (the order asked), then backend in :data:`BACKEND_TITLES` order."""
    order = list(BACKEND_TITLES)
    rank = lambda k: (fmts.index(k[0]), order.index(k[1]) if k[1] in order else len(order))  # noqa: E731
    return sorted(rows, key=rank)


# ------------------------------------------------------------------------------------ the table as text
def _v(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown_lines(table: dict) -> list[str]:
    """The benchmark as a Markdown table (what ``benchmark.md`` holds and the CLI prints)."""
    metric = table.get("metric") or "mAP"
    lines = [
        f"# Benchmark of {table['arch']} ({table['task']}) on {table['device'].upper()}",
        "",
        f"Checkpoint: `{table['checkpoint']}`; {table['images']}; score >= {table['score_thr']}.",
        "",
        f"| format | backend | file | size (MB) | {metric} | Δ {metric} | box match | median ms | FPS | note |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in table["rows"]:
        file = Path(r["file"]).name if r["file"] else "–"
        lines.append(
            f"| {r['format']} | {r['title']} | {file} | {_v(r['size_mb'], '.2f')} | {_v(r['map'], '.4f')} | "
            f"{_v(r['map_delta'], '+.4f')} | {_v(r['box_match'], '.3f')} | {_v(r['latency_ms'], '.1f')} | "
            f"{_v(r['fps'], '.1f')} | {(r['reason'] or '').replace('|', '/')} |"
        )
    lines += ["", f"Latency: {table['latency_note']}.", ""]
    return lines
