"""Building a TensorRT engine from the end-to-end ONNX graph, with the TensorRT 10 or 11 Python API.

The two majors differ in how precision is asked for:

- TensorRT 10 networks are weakly typed: fp16 and int8 are builder flags, int8 is calibrated by an
  ``IInt8EntropyCalibrator2`` fed with val images (``config.int8_calibrator``, plus a calibration
  profile for a dynamic engine);
- TensorRT 11 removed those flags and the implicit calibration: networks are strongly typed, so the
  precision is in the ONNX graph itself. fp16 means converting the graph first (nvidia-modelopt's
  AutoCast when installed, else onnxconverter-common), int8 means Q/DQ nodes calibrated on the same
  val images by nvidia-modelopt.

Everything else (parser, optimisation profile, workspace limit, ``build_serialized_network``) is the
same call in both. The module is written against whatever object is passed as ``trt``, so the tests
drive it with fakes of both majors on machines without a GPU.

An engine is tied to the GPU model and TensorRT version it was built with; the sidecar JSON
(``model.engine.json``) records both with the build settings, and the runner refuses a mismatch.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from studio.core import atomic
from studio.core.data.preprocess import preprocess
from studio.core.environment import version_of
from studio.core.errors import CancelledError, StudioError
from studio.core.export.runtime import META_KEY, sidecar_path
from studio.core.export.trt_runtime import DeviceBuffer, cuda_runtime, import_tensorrt
from studio.core.imageio import imread_rgb
from studio.core.jobs import CancelToken, Progress, no_progress

ENGINE_WARNING = (
    "a TensorRT engine runs only on the GPU model and with the TensorRT version it was built with: "
    "rebuild it (studio export --format engine) on each deployment machine"
)

Shape = tuple[int, int, int]  # batch, height, width


@dataclass(frozen=True)
class EngineSettings:
    image_size: int
    half: bool = False
    int8: bool = False
    workspace_gib: float = 4.0
    dynamic: bool = False
    batch: int = 1
    min_shape: Shape | None = None
    opt_shape: Shape | None = None
    max_shape: Shape | None = None
    calib_images: int = 64

    def profile(self) -> tuple[Shape, Shape, Shape]:
        """(min, opt, max) as (batch, height, width): the fixed shape for a static engine."""
        s = self.image_size
        if not self.dynamic:
            fixed = (self.batch, s, s)
            return fixed, fixed, fixed
        lo = self.min_shape or (1, 32, 32)
        mid = self.opt_shape or (1, s, s)
        hi = self.max_shape or (max(self.batch, mid[0]), s, s)
        if not all(a <= b <= c for a, b, c in zip(lo, mid, hi)):
            raise StudioError(
                f"the optimisation profile needs min <= opt <= max in every dimension, got {lo} / {mid} / {hi}",
                item="opt_shape",
            )
        return lo, mid, hi


def nchw(shape: Shape) -> tuple[int, int, int, int]:
    return shape[0], 3, shape[1], shape[2]


# ------------------------------------------------------------------------------------ calibration data
def calibration_batches(paths: Sequence[str | Path], shape: Shape, limit: int) -> Iterator[np.ndarray]:
    """(B, 3, H, W) float32 batches of val images, through the numpy preprocessing the runner uses.

    Each image is letterboxed to the shorter side of (H, W) and padded to (H, W); a last partial batch
    is dropped (calibrators take full batches only).
    """
    b, h, w = shape
    side = min(h, w)
    batch: list[np.ndarray] = []
    for p in list(paths)[:limit]:
        x, _ = preprocess(imread_rgb(p), side, True)
        canvas = np.zeros((3, h, w), np.float32)
        canvas[:, :side, :side] = x
        batch.append(canvas)
        if len(batch) == b:
            yield np.stack(batch)
            batch = []


def make_calibrator(
    trt, batches: Iterable[np.ndarray], batch_size: int, cache: Path, cudart=None, cancel: CancelToken | None = None
):
    """A TensorRT 10 ``IInt8EntropyCalibrator2`` feeding ``batches`` and caching its scales in ``cache``."""
    cudart = cudart or cuda_runtime()
    source = iter(batches)

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.buffer = DeviceBuffer(cudart)
            _err, self.stream = cudart.cudaStreamCreate()
            self.batches_read = 0

        def get_batch_size(self):
            return batch_size

        def get_batch(self, names):
            if cancel is not None and cancel.cancelled:
                return None
            try:
                x = next(source)
            except StopIteration:
                return None
            self.buffer.upload(np.ascontiguousarray(x, np.float32), self.stream)
            cudart.cudaStreamSynchronize(self.stream)
            self.batches_read += 1
            return [int(self.buffer.ptr)]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data):
            atomic.write_bytes(cache, bytes(data))

    return Calibrator()


# ------------------------------------------------------------------------------------ the API of each major
class TrtApi:
    """The calls that differ between TensorRT 10 and 11, behind one interface."""

    def __init__(self, trt):
        self.trt = trt
        self.version = version_of(trt)
        self.major = self.version[0]
        if self.major < 10:
            raise StudioError(
                f"TensorRT {trt.__version__} is too old: Studio builds engines with TensorRT 10 or 11 "
                "(pip install 'tensorrt>=10')"
            )

    @property
    def strongly_typed(self) -> bool:
        return self.major >= 11

    def create_network(self, builder):
        # 10: explicit batch is the only mode (the EXPLICIT_BATCH flag is deprecated) and a weakly typed
        # network lets the fp16 / int8 flags pick kernels; 11: every network is strongly typed.
        return builder.create_network(0)

    def set_workspace(self, config, nbytes: int) -> None:
        config.set_memory_pool_limit(self.trt.MemoryPoolType.WORKSPACE, int(nbytes))

    def set_precision(self, config, settings: EngineSettings, calibrator=None, calib_profile=None) -> list[str]:
        """Builder flags (10 only); returns what was set, for the sidecar."""
        if self.strongly_typed:
            return []  # the graph carries its types
        flags = []
        if settings.half:
            config.set_flag(self.trt.BuilderFlag.FP16)
            flags.append("FP16")
        if settings.int8:
            config.set_flag(self.trt.BuilderFlag.INT8)
            flags.append("INT8")
            if calibrator is not None:
                config.int8_calibrator = calibrator
                if calib_profile is not None:
                    config.set_calibration_profile(calib_profile)
        return flags

    def prepare_onnx(
        self, onnx_path: Path, settings: EngineSettings, work: Path, calib: Callable[[], np.ndarray] | None
    ) -> Path:
        """The graph to parse: as exported for 10; with fp16 types or int8 Q/DQ nodes written in, for 11."""
        if not self.strongly_typed:
            return onnx_path
        path = onnx_path
        if settings.int8:
            path = quantize_int8(path, work / "model_int8.onnx", calib)
        elif settings.half:
            path = fp16_graph(path, work / "model_fp16.onnx")
        return path


def fp16_graph(src: Path, dst: Path) -> Path:
    """An fp16 copy of the ONNX graph with fp32 inputs and outputs (TensorRT 11's way to fp16)."""
    import onnx  # deferred: onnx

    try:
        from modelopt.onnx import autocast  # type: ignore

        model = autocast.convert_to_mixed_precision(onnx_path=str(src), low_precision_type="fp16", keep_io_types=True)
    except ImportError:
        from studio.core.export.onnx_export import FP32_OPS  # deferred: torch, torchvision

        try:
            from onnxconverter_common import float16  # type: ignore
        except ImportError:
            raise StudioError(
                "fp16 engines with TensorRT 11 need an fp16 ONNX graph: pip install "
                "'nvidia-modelopt[onnx]' (or onnxconverter-common)"
            ) from None
        model = float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, op_block_list=FP32_OPS)
    onnx.save(model, str(dst))
    return dst


def quantize_int8(src: Path, dst: Path, calib: Callable[[], np.ndarray] | None) -> Path:
    """Q/DQ int8 graph calibrated on val images with nvidia-modelopt (TensorRT 11's way to int8)."""
    try:
        from modelopt.onnx.quantization import quantize  # type: ignore
    except ImportError:
        raise StudioError(
            "int8 engines with TensorRT 11 need Q/DQ nodes from nvidia-modelopt: pip install 'nvidia-modelopt[onnx]'"
        ) from None
    if calib is None:
        raise StudioError("int8 needs calibration images: give the val set (--verify-ann/--verify-images)", item="int8")
    quantize(
        str(src), quantize_mode="int8", calibration_data=calib(), calibration_method="entropy", output_path=str(dst)
    )
    return dst


# ------------------------------------------------------------------------------------ the build
def _parse(trt, network, logger, onnx_path: Path) -> None:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise StudioError(
            "TensorRT's ONNX parser refused the graph: " + ("; ".join(errors[:5]) or "no reason given"), file=onnx_path
        )


def gpu_name(cudart=None) -> str:
    try:
        cudart = cudart or cuda_runtime()
        props = _first_ok(cudart.cudaGetDeviceProperties(0))
        name = props.name
        return name.decode(errors="replace").rstrip("\x00") if isinstance(name, bytes) else str(name)
    except Exception:
        return "unknown"


def _first_ok(result):
    err, value = result
    if int(getattr(err, "value", err)) != 0:
        raise RuntimeError(str(err))
    return value


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    settings: EngineSettings,
    *,
    info: dict,
    calib_paths: Sequence[str | Path] = (),
    trt=None,
    cudart=None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> dict:
    """Build ``engine_path`` from the end-to-end ``onnx_path``; writes and returns the sidecar dict.

    ``info`` is the model's Studio metadata (runtime.ModelInfo as a dict), stored in the sidecar so
    that ``studio infer`` can run the engine. ``calib_paths`` are val images for int8.
    """
    trt = trt or import_tensorrt()
    api = TrtApi(trt)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    lo, mid, hi = settings.profile()
    if settings.int8 and not calib_paths:
        raise StudioError(
            "int8 needs calibration images: the checkpoint's val set, or --verify-ann / --verify-images", item="int8"
        )
    calib_shape = mid
    total = 4
    progress(0, total, "preparing the graph")
    work = engine_path.parent
    calib_data = (
        (lambda: np.concatenate(list(calibration_batches(calib_paths, calib_shape, settings.calib_images))))
        if settings.int8
        else None
    )
    graph = api.prepare_onnx(onnx_path, settings, work, calib_data)
    if cancel is not None:
        cancel.raise_if_cancelled()

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = api.create_network(builder)
    progress(1, total, "parsing the ONNX graph")
    _parse(trt, network, logger, graph)
    config = builder.create_builder_config()
    api.set_workspace(config, int(settings.workspace_gib * (1 << 30)))
    input_name = network.get_input(0).name
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, nchw(lo), nchw(mid), nchw(hi))
    config.add_optimization_profile(profile)

    calibrator = None
    calib_profile = None
    if settings.int8 and not api.strongly_typed:
        calibrator = make_calibrator(
            trt,
            calibration_batches(calib_paths, calib_shape, settings.calib_images),
            calib_shape[0],
            engine_path.with_name(engine_path.name + ".calib"),
            cudart,
            cancel,
        )
        if settings.dynamic:  # calibrate at the opt shape
            calib_profile = builder.create_optimization_profile()
            calib_profile.set_shape(input_name, nchw(mid), nchw(mid), nchw(mid))
    flags = api.set_precision(config, settings, calibrator, calib_profile)
    progress(2, total, "building the engine (minutes)")
    serialized = builder.build_serialized_network(network, config)
    if cancel is not None and cancel.cancelled:
        raise CancelledError()
    if serialized is None:
        raise StudioError(
            "TensorRT could not build the engine (its log above says why); a smaller workspace, "
            "no int8, or a static shape may help",
            file=engine_path,
        )
    progress(3, total, "writing the engine")
    atomic.write_bytes(engine_path, bytes(serialized))
    sidecar = {
        "engine": engine_path.name,
        "built_from": graph.name,
        "tensorrt": str(trt.__version__),
        "tensorrt_api": f"{api.major}.x ({'strongly typed graph' if api.strongly_typed else 'builder flags'})",
        "gpu": gpu_name(cudart),
        "host": platform.node(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "settings": {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()},
            "profile": {"min": list(nchw(lo)), "opt": list(nchw(mid)), "max": list(nchw(hi))},
            "builder_flags": flags,
            "input": input_name,
        },
        "warning": ENGINE_WARNING,
        META_KEY: info,
    }
    atomic.write_json(sidecar_path(engine_path), sidecar)
    progress(total, total, "engine written")
    return sidecar
