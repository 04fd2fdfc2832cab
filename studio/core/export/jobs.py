"""The export and infer jobs behind ``studio export`` / ``studio infer`` and the export wizard.

:func:`export_checkpoint` checks the options against the format table before any work, traces the
model, post-processes the graph (simplify, batch loop, fp16, metadata), builds the engine for the
``engine`` format, writes the standalone script and README, verifies the export against PyTorch on
val images and writes ``export_report.json``. Everything lands in the output folder at once
(:func:`studio.core.atomic.atomic_dir`): a failure leaves the folder as it was.

:func:`infer_images` is ``studio predict`` for an exported model: same outputs, no torch.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from studio.core import atomic
from studio.core.detections import check_score_thr
from studio.core.errors import StudioError
from studio.core.evaluation.results import to_coco_results
from studio.core.export.formats import ExportFormat, exporter_of, get_format, tensorrt_missing
from studio.core.export.openvino_export import MODEL_XML, convert_to_openvino
from studio.core.export.plugin_export import run_plugin_export
from studio.core.export.report import REPORT_NAME, build_report, summary_lines, write_report
from studio.core.export.setup import (
    DEFAULT_VERIFY_IMAGES,
    ExportResult,
    VerifySet,
    jsonable,
    prepare_export,
)
from studio.core.export.verify import VerifyImage, verify
from studio.core.inference.score_default import exported_score_thr
from studio.core.jobs import CancelToken, Progress, no_progress

MODEL_ONNX = "model.onnx"
MODEL_ENGINE = "model.engine"
SCRIPT_NAME = "infer.py"
README_NAME = "README.md"


# ------------------------------------------------------------------------------------ the graph
def export_graph(predictor, spec, fmt: ExportFormat, opts: dict, path: Path, sample: np.ndarray | None) -> dict:
    """Trace ``predictor``'s model into ``path`` as ``fmt`` with ``opts``; returns the model's metadata dict."""
    import onnx  # deferred: onnx
    import torch  # deferred: torch

    from studio.core.data.preprocess import preprocess  # deferred: cv2
    from studio.core.export import e2e, onnx_export  # deferred: torch, torchvision

    with_masks = spec.task == "segment"
    size, letterbox = predictor.size, predictor.letterbox
    dynamic = bool(opts["dynamic"])
    padded = fmt.name not in ("onnx", "openvino")  # OpenVINO converts the plain ONNX graph
    batch = 1 if not padded else (None if dynamic else int(opts["batch"]))
    model = onnx_export.export_ready(predictor.model, opts["score_thr"], opts["max_det"])
    msize = onnx_export.mask_size(model) if with_masks else None
    if sample is not None:
        x = torch.from_numpy(preprocess(sample, size, letterbox or not dynamic)[0])
    else:
        x = torch.rand((3, size, size), generator=torch.Generator().manual_seed(0))
    dims = {"images": {2: "height", 3: "width"}} if dynamic else {}
    if not padded:
        names = ["boxes", "scores", "labels"] + (["masks"] if with_masks else [])
        onnx_export.trace_to_onnx(
            onnx_export.SingleImage(model, with_masks),
            x[None],
            path,
            opset=opts["opset"],
            input_names=["images"],
            output_names=names,
            dynamic_axes={**dims, **{n: {0: "detections"} for n in names}},
            what=spec.name,
        )
    else:
        names = e2e.e2e_output_names(with_masks)
        dummy = x[None].repeat(1 if dynamic else batch, 1, 1, 1)
        onnx_export.trace_to_onnx(
            e2e.PaddedBatch(model, opts["max_det"], with_masks),
            dummy,
            path,
            opset=opts["opset"],
            input_names=["images"],
            output_names=names,
            dynamic_axes=dims,
            what=spec.name,
        )
        e2e.fix_output_shapes(path, 1 if dynamic else batch, opts["max_det"], msize)
    tools = []
    if opts["simplify"]:
        tools.append(onnx_export.simplify(path))
    if padded and dynamic:
        onnx.save(e2e.loop_over_batch(onnx.load(str(path))), str(path))
    if opts.get("half"):
        onnx_export.convert_fp16(path)
    info = {
        "format": fmt.name,
        "arch": spec.name,
        "task": spec.task,
        "classes": predictor.class_map.to_dict(),
        "image_size": size,
        "letterbox": bool(letterbox),
        "static_size": not dynamic,
        "batch": batch,
        "score_thr": float(opts["score_thr"]),
        "suggested_score_thr": opts.get("suggested_score_thr"),  # F1-optimal on val: `studio infer`'s default
        "max_det": int(opts["max_det"]),
        "nms_iou": opts.get("nms_iou"),  # the NMS in the graph (None: a model without the setting)
        "pre_nms_topk": opts.get("pre_nms_topk"),
        "mask_size": msize,
    }
    onnx_export.set_metadata(path, info)
    onnx_export.check_model(path)
    return info


# ------------------------------------------------------------------------------------ the job
def export_checkpoint(
    ckpt: str | Path,
    fmt: str = "onnx",
    options: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    verify_ann: str | Path | None = None,
    verify_images: str | Path | None = None,
    n_verify: int = DEFAULT_VERIFY_IMAGES,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    *,
    device: str | None = None,
    latency_runs: int = 10,
) -> ExportResult:
    """Export a checkpoint (or run folder) to ``fmt`` with ``options`` (see :mod:`.formats`) into ``out_dir``.

    ``verify_ann`` / ``verify_images`` pick the verification images (default: the checkpoint's val set),
    ``n_verify`` how many (0: no verification). ``device`` ("cpu" / "gpu") defaults to what is
    visible. Progress goes through ``progress(done, total, message)``; ``cancel`` is checked between
    steps and on every verification image. Both a built-in format and a plugin's (one with an ``exporter``)
    start from :func:`studio.core.export.setup.prepare_export`; a plugin's setup is then handed to
    :func:`studio.core.export.plugin_export.run_plugin_export`.
    """
    from studio.core.export.readme import render_readme  # deferred: cv2

    f = get_format(fmt)
    # a plugin's format: the same job around the plugin's own export function (a missing one fails before any work)
    exporter = exporter_of(f) if f.exporter is not None else None
    t0 = time.perf_counter()
    setup = prepare_export(f, ckpt, options, out_dir, verify_ann, verify_images, n_verify, device)
    if exporter is not None:
        return run_plugin_export(setup, exporter, progress, cancel, latency_runs=latency_runs, started=t0)
    timings: dict[str, float] = {}
    path, spec, device, opts, vset, out_dir = (
        setup.checkpoint,
        setup.spec,
        setup.device,
        setup.options,
        setup.vset,
        setup.out_dir,
    )
    if f.name == "engine" and opts["int8"] and not vset.items:
        raise StudioError(f"int8 needs calibration images and there are none: {vset.why_none}", item="int8")
    total = 5 + len(vset.items)
    step = lambda k, msg: progress(k, total, msg)  # noqa: E731
    check = lambda: cancel.raise_if_cancelled() if cancel is not None else None  # noqa: E731

    step(0, "loading the checkpoint")
    predictor, images = setup.load()
    # no warning about the input shape: predict pads to image_size x image_size like a static export
    # (preprocess.py); the verification's box match warns if the two ever disagree (report.MATCH_WARN)
    warnings: list[str] = []
    with atomic.atomic_dir(out_dir) as tmp:
        check()
        step(1, f"tracing {spec.name} to ONNX")
        t = time.perf_counter()
        onnx_path = tmp / MODEL_ONNX
        info = export_graph(predictor, spec, f, opts, onnx_path, images[0][2] if images else None)
        timings["export"] = time.perf_counter() - t
        model_path = onnx_path
        files = [onnx_path]
        check()
        if f.name == "engine":
            from studio.core.export.tensorrt_build import ENGINE_WARNING, EngineSettings, build_engine  # deferred: cv2

            step(2, "building the TensorRT engine")
            t = time.perf_counter()
            settings = EngineSettings(
                predictor.size,
                half=opts["half"],
                int8=opts["int8"],
                workspace_gib=opts["workspace"],
                dynamic=opts["dynamic"],
                batch=opts["batch"],
                min_shape=opts["min_shape"],
                opt_shape=opts["opt_shape"],
                max_shape=opts["max_shape"],
                calib_images=opts["calib_images"],
            )
            model_path = tmp / MODEL_ENGINE
            build_engine(
                onnx_path,
                model_path,
                settings,
                info={**info, "format": "engine"},
                calib_paths=vset.paths,
                cancel=cancel,
            )
            files += [model_path, model_path.with_name(model_path.name + ".json")]
            warnings.append(ENGINE_WARNING)
            timings["engine"] = time.perf_counter() - t
        if f.name == "openvino":
            step(2, "converting to OpenVINO")
            t = time.perf_counter()
            model_path = tmp / MODEL_XML
            files += convert_to_openvino(onnx_path, model_path, info, fp16_weights=opts["fp16_weights"])
            timings["openvino"] = time.perf_counter() - t
        script = tmp / SCRIPT_NAME
        shutil.copyfile(Path(__file__).with_name("standalone_infer.py"), script)
        files.append(script)

        step(3, "verifying against PyTorch")
        verification, skipped = None, {}
        if images:
            t = time.perf_counter()
            verification, skipped = _verify(
                predictor,
                model_path,
                onnx_path,
                info,
                device,
                bool(opts.get("half")),
                images,
                vset,
                latency_runs,
                lambda d, n, m: progress(3 + d, total, m),
                cancel,
            )
            timings["verify"] = time.perf_counter() - t
        step(3 + len(images), "writing the report")
        timings["total"] = time.perf_counter() - t0
        report = build_report(
            fmt=f.name,
            arch=spec.name,
            task=spec.task,
            checkpoint=path,
            model_file=model_path,
            options=jsonable(opts),
            info=info,
            files=files + [tmp / README_NAME, tmp / REPORT_NAME],
            verification=verification,
            not_verified=None if images else vset.why_none,
            warnings=warnings,
            timings=timings,
            latency_skipped=skipped,
        )
        atomic.write_text(
            tmp / README_NAME,
            render_readme(
                {**info, "format": f.name}, [p.name for p in files] + [README_NAME, REPORT_NAME], summary_lines(report)
            ),
        )
        write_report(tmp, report)
        names = [p.name for p in files] + [README_NAME, REPORT_NAME]
    step(total, "done")
    return ExportResult(
        out_dir, out_dir / model_path.name, tuple(out_dir / n for n in names), out_dir / REPORT_NAME, report
    )


def _verify(
    predictor,
    model_path: Path,
    onnx_path: Path,
    info: dict,
    device: str,
    half: bool,
    images,
    vset: VerifySet,
    latency_runs: int,
    progress: Progress,
    cancel: CancelToken | None,
) -> tuple[dict, dict[str, str]]:
    """Run the verification; returns (its report part, backends not measured with the reason)."""
    import onnxruntime as ort  # deferred: onnxruntime
    import torch  # deferred: torch

    from studio.core.export.runtime import load_exported  # deferred: cv2

    threads = torch.get_num_threads()  # ONNX Runtime gets the threads PyTorch has: the same machine for both
    exported = load_exported(model_path, device="gpu" if half else "cpu", threads=threads)  # fp16 needs a GPU provider
    pt = lambda im: predictor.predict([im])[0]  # noqa: E731
    latency = {"pytorch_cpu": pt, exported.name: lambda im: exported.predict([im])[0]}
    skipped: dict[str, str] = {}
    if torch.cuda.is_available():
        gpu_pred = _predictor_on(predictor, "cuda")
        latency["pytorch_cuda"] = lambda im: gpu_pred.predict([im])[0]
    else:
        skipped["pytorch_cuda"] = "no CUDA device visible to PyTorch"
    providers = ort.get_available_providers()
    for dev, prov, name in (
        ("cpu", "CPUExecutionProvider", "onnxruntime_cpu"),
        ("gpu", "CUDAExecutionProvider", "onnxruntime_cuda"),
        ("tensorrt", "TensorrtExecutionProvider", "onnxruntime_tensorrt"),
    ):
        if name in latency:
            continue
        if prov not in providers:
            skipped[name] = (
                f"this onnxruntime build has no {prov} (pip install onnxruntime-gpu, on a machine with an NVIDIA GPU)"
            )
            continue
        try:
            other = load_exported(onnx_path, device=dev, threads=threads)
        except StudioError as e:
            skipped[name] = e.message
            continue
        latency[name] = lambda im, m=other: m.predict([im])[0]
    if info.get("format") != "engine":
        skipped["tensorrt"] = tensorrt_missing(device) or "only measured for the engine format"
    items = [VerifyImage(iid, name, rgb) for iid, name, rgb in images]
    part = verify(
        pt,
        latency[exported.name],
        items,
        gt=vset.gt,
        class_map=vset.class_map,
        with_masks=info["task"] == "segment",
        latency_fns=latency,
        latency_runs=latency_runs,
        progress=progress,
        cancel=cancel,
    )
    return part, skipped


def _predictor_on(predictor, device: str):
    import torch  # deferred: torch

    from studio.core.inference.predictor import Predictor  # deferred: cv2, torch

    return Predictor(
        copy.deepcopy(predictor.model),
        predictor.class_map,
        size=predictor.size,
        letterbox=predictor.letterbox,
        device=torch.device(device),
        task=predictor.task,
        score_thr=predictor.score_thr,
        batch_size=1,
    )


# ------------------------------------------------------------------------------------ studio infer
def infer_images(
    model_path: str | Path,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    score_thr: float | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    *,
    device: str = "cpu",
    draw: bool = True,
):
    """``studio predict`` for an exported model (.onnx, .xml or .engine): drawn images and ``predictions.json``.

    Returns :class:`studio.core.inference.jobs.PredictSummary`. Imports no torch. Without ``score_thr``, the
    threshold where F1 was highest on the run's val set when the export recorded one, else the graph's floor.
    """
    from studio.core.draw import draw_detections  # deferred: cv2
    from studio.core.export.runtime import load_exported  # deferred: cv2
    from studio.core.imageio import save_image  # deferred: cv2
    from studio.core.inference.jobs import PredictSummary, expand_inputs, out_names  # deferred: cv2

    score_thr = check_score_thr(score_thr)
    paths = expand_inputs(inputs)
    model = load_exported(model_path, device=device, score_thr=score_thr)
    # no --score-thr: the F1-optimal threshold the export recorded, else the graph's floor (the summary says which)
    choice = exported_score_thr(model.info.score_thr, model.info.suggested_score_thr, score_thr)
    model.score_thr = choice.value
    out = Path(out_dir)
    atomic.ensure_dir(out)
    names = out_names(paths)
    results: list[dict] = []
    n_det = 0
    for i, item in enumerate(model.predict_files(paths, progress=progress, cancel=cancel)):
        dets = item.original()  # in the file's pixels, also for a big image decoded reduced
        record = {"id": i + 1, "file_name": str(item.path), "width": item.width, "height": item.height}
        results.extend(to_coco_results(dets, record, model.class_map))
        n_det += len(dets)
        if draw:  # on the decoded image: a big image is drawn at its reduced size
            save_image(out / names[i], draw_detections(item.image, item.detections, list(model.class_map.names)))
    results_json = out / "predictions.json"
    atomic.write_json(results_json, results)
    return PredictSummary(out, results_json, len(paths), n_det, score_note=choice.describe())


__all__ = [
    "MODEL_ENGINE",
    "MODEL_ONNX",
    "README_NAME",
    "SCRIPT_NAME",
    "ExportResult",
    "VerifySet",
    "export_checkpoint",
    "export_graph",
    "infer_images",
]
