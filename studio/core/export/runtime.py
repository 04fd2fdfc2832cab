"""Running an exported model without PyTorch: ONNX Runtime, OpenVINO or TensorRT, numpy and OpenCV around them.

``studio infer`` runs here, and so does the exported side of an export's verification. Preprocessing
is :func:`studio.core.data.preprocess.preprocess`, the code ``studio predict`` uses, and
post-processing is :mod:`.postprocess`, so both commands give the same predictions. Neither this
module nor anything it imports loads torch (a test checks it): a deployment needs numpy, OpenCV and
ONNX Runtime (or TensorRT) only.

What the model file does not say about itself (classes, input size, letterbox, layout of the outputs)
travels with it: in the ONNX metadata (key ``studio``) or, for an engine, in its ``.json`` sidecar.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.data.decode import decode_for_model
from studio.core.data.preprocess import Meta, preprocess
from studio.core.detections import Detections, ImagePrediction, check_score_thr
from studio.core.errors import StudioError
from studio.core.export.openvino_runtime import OpenVinoBackend
from studio.core.export.postprocess import to_detections
from studio.core.export.trt_runtime import EngineRunner, import_tensorrt
from studio.core.jobs import CancelToken, Progress, no_progress

META_KEY = "studio"


@dataclass(frozen=True)
class ModelInfo:
    """What a runner must know about an exported model; stored with the model at export."""

    format: str  # onnx | onnx-e2e | openvino | engine
    arch: str
    task: str  # detect | segment
    classes: dict  # ClassMap.to_dict()
    image_size: int
    letterbox: bool  # how predict preprocesses for this model (the config's letterbox, or a square-input arch)
    static_size: bool  # input is image_size x image_size (every image padded to it)
    batch: int | None  # images per run; None: any (dynamic batch)
    score_thr: float  # lowest score the graph keeps
    max_det: int
    mask_size: int | None = None
    suggested_score_thr: float | None = None  # where F1 was highest on the run's val set: `studio infer`'s default

    @property
    def class_map(self) -> ClassMap:
        return ClassMap.from_dict(self.classes)

    @property
    def with_masks(self) -> bool:
        return self.task == "segment"

    @property
    def padded_outputs(self) -> bool:
        return self.format in ("onnx-e2e", "engine")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str | Path | None = None) -> ModelInfo:
        names = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except TypeError as e:
            raise StudioError(
                f"the model's Studio metadata is incomplete ({e}); export it again with `studio export`", file=where
            ) from None


# ------------------------------------------------------------------------------------ backends
class OnnxBackend:
    """An ONNX Runtime session. ``device``: "cpu", or "gpu" for the TensorRT / CUDA providers where present."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise StudioError(
                "onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)", file=path
            ) from None
        self.path = Path(path)
        available = ort.get_available_providers()
        if device == "cpu":
            providers = ["CPUExecutionProvider"]
        elif device in ("gpu", "cuda"):
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        elif device == "tensorrt":
            providers = [
                p
                for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
                if p in available
            ]
        else:
            providers = [device] if device in available else []
        if not providers or (device != "cpu" and providers[0] == "CPUExecutionProvider"):
            raise StudioError(
                f"ONNX Runtime has no {device} execution provider here (it has {', '.join(available)}); "
                "for NVIDIA GPUs: pip install onnxruntime-gpu",
                file=path,
            )
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3  # warnings about unused initializers and the like are not the user's business
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as e:
            raise StudioError(
                f"ONNX Runtime cannot load the model: {str(e).splitlines()[0][:300]}", file=path
            ) from None
        self.provider = self.session.get_providers()[0]
        self.name = {
            "CPUExecutionProvider": "onnxruntime_cpu",
            "CUDAExecutionProvider": "onnxruntime_cuda",
            "TensorrtExecutionProvider": "onnxruntime_tensorrt",
        }.get(self.provider, f"onnxruntime_{self.provider}")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(d if isinstance(d, int) else None for d in inp.shape)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def metadata(self) -> dict | None:
        raw = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        return json.loads(raw) if raw else None

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(None, {self.input_name: x})))


class TensorRTBackend:
    """A deserialised TensorRT engine run through the v3 (named tensors) API, memory moved with cuda-python."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        built_with = self._sidecar().get("tensorrt")
        here = str(import_tensorrt().__version__)
        if built_with and built_with.split(".")[:2] != here.split(".")[:2]:
            raise StudioError(
                f"this engine was built with TensorRT {built_with} and this machine has {here}: an engine "
                "only runs with the TensorRT version (and GPU model) it was built with; rebuild it here "
                "with `studio export CKPT --format engine`",
                file=path,
            )
        self.runner = EngineRunner(self.path)
        self.name = "tensorrt"
        self.provider = "TensorRT"
        self.input_name = self.runner.input_name
        self.input_shape = self.runner.input_shape
        self.output_names = self.runner.output_names

    def _sidecar(self) -> dict:
        side = sidecar_path(self.path)
        if not side.is_file():
            return {}
        try:
            return json.loads(side.read_text(encoding="utf-8"))
        except ValueError as e:
            raise StudioError(f"unreadable engine settings ({e})", file=side) from None

    def metadata(self) -> dict | None:
        return self._sidecar().get(META_KEY)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner.run(x)


def sidecar_path(engine: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``: the build settings and Studio metadata of an engine."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


# ------------------------------------------------------------------------------------ the model
class ExportedModel:
    """An exported model ready to predict: RGB uint8 images in, :class:`Detections` in original pixels out."""

    def __init__(self, backend, info: ModelInfo, score_thr: float | None = None):
        self.backend = backend
        self.info = info
        self.class_map = info.class_map
        self.with_masks = info.with_masks
        thr = info.score_thr if score_thr is None else float(score_thr)
        self.score_thr = max(thr, info.score_thr)

    @property
    def name(self) -> str:
        return self.backend.name

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, Meta]:
        letterbox = self.info.letterbox or self.info.static_size
        return preprocess(image, self.info.image_size, letterbox)

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per image (score >= the threshold), in order."""
        pre = [self._prepare(im) for im in images]
        out: list[Detections | None] = [None] * len(pre)
        for group in self._batches([x.shape for x, _ in pre]):
            x = np.stack([pre[i][0] for i in group])
            for i, dets in zip(group, self._run(x, [pre[i][1] for i in group])):
                out[i] = dets.above(self.score_thr)
        return out  # type: ignore[return-value]

    def _batches(self, shapes: list[tuple]) -> Iterator[list[int]]:
        """Runs of consecutive images with one input shape, at most the model's batch size each.

        Images are never padded to a common size: a padded image gives (slightly) other predictions
        than it does alone, and ``studio predict`` results must not depend on the batch.
        """
        cap = 1 if not self.info.padded_outputs else (self.info.batch or 8)
        group: list[int] = []
        for i, s in enumerate(shapes):
            if group and (s != shapes[group[0]] or len(group) == cap):
                yield group
                group = []
            group.append(i)
        if group:
            yield group

    def _run(self, x: np.ndarray, metas: list[Meta]) -> list[Detections]:
        n = x.shape[0]
        want = self.info.batch
        if want is not None and n < want:  # a static batch: fill with blank images, drop their results
            x = np.concatenate([x, np.zeros((want - n,) + x.shape[1:], x.dtype)])
        raw = self.backend.run(np.ascontiguousarray(x, dtype=np.float32))
        return [self._decode(raw, i, metas[i]) for i in range(n)]

    def _decode(self, raw: dict[str, np.ndarray], i: int, meta: Meta) -> Detections:
        masks = raw.get("masks")
        if self.info.padded_outputs:
            k = int(np.asarray(raw["num_dets"]).reshape(raw["num_dets"].shape[0], -1)[i, 0])
            return to_detections(
                raw["boxes"][i, :k],
                raw["scores"][i, :k],
                raw["labels"][i, :k],
                None if masks is None else masks[i, :k],
                meta,
                self.with_masks,
            )
        return to_detections(raw["boxes"], raw["scores"], raw["labels"], masks, meta, self.with_masks)

    def predict_files(
        self, paths: Iterable[str | Path], progress: Progress = no_progress, cancel: CancelToken | None = None
    ) -> Iterator[ImagePrediction]:
        """Yield an :class:`ImagePrediction` for each file (big images decoded reduced, as ``studio predict`` does)."""
        paths = [Path(p) for p in paths]
        for i, p in enumerate(paths):
            if cancel is not None:
                cancel.raise_if_cancelled()
            img, factor, (w, h) = decode_for_model(p, self.info.image_size)
            yield ImagePrediction(p, img, self.predict([img])[0], w, h, factor)
            progress(i + 1, len(paths), p.name)

    def latency_ms(self, image: np.ndarray, warmup: int = 2, runs: int = 10) -> float:
        """Median wall time of one :meth:`predict` call on ``image`` (preprocess to Detections), after warm-up."""
        for _ in range(warmup):
            self.predict([image])
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.predict([image])
            times.append(time.perf_counter() - t0)
        return float(np.median(times) * 1000)


def load_exported(
    path: str | Path, device: str = "cpu", score_thr: float | None = None, threads: int | None = None
) -> ExportedModel:
    """Open ``model.onnx`` (ONNX Runtime on ``device``), ``model.xml`` (OpenVINO on ``device``) or ``model.engine``
    (TensorRT) with its Studio metadata."""
    path = Path(path)
    score_thr = check_score_thr(score_thr)
    if not path.is_file():
        raise StudioError("model file not found", file=path)
    if path.suffix.lower() in (".engine", ".plan", ".trt"):
        backend: Any = TensorRTBackend(path)
    elif path.suffix.lower() == ".onnx":
        backend = OnnxBackend(path, device=device, threads=threads)
    elif path.suffix.lower() == ".xml":
        backend = OpenVinoBackend(path, device=device, threads=threads)
    else:
        raise StudioError(
            "not an exported model: expected a .onnx file, an OpenVINO .xml or a TensorRT .engine", file=path
        )
    meta = backend.metadata()
    if meta is None:
        where = "its metadata" if path.suffix.lower() in (".onnx", ".xml") else f"{sidecar_path(path).name} beside it"
        raise StudioError(
            f"no Studio metadata in {where} (classes, input size): only models written by "
            "`studio export` can be run by `studio infer`",
            file=path,
        )
    return ExportedModel(backend, ModelInfo.from_dict(meta, path), score_thr)
