"""The TensorRT engine build and runner, driven by fakes of the tensorrt (10.x and 11.x) and cuda-python modules.

No GPU or TensorRT is needed: the fakes record what Studio asks of them and move "device" memory
on the host, so the version switch, builder configuration, int8 calibration, sidecar and the
runner's tensor plumbing are all exercised.
"""

from __future__ import annotations

import ctypes
import json
import sys
import types

import numpy as np
import pytest

from studio.core import environment
from studio.core.errors import StudioError
from studio.core.export import tensorrt_build as tb
from studio.core.export.runtime import sidecar_path
from studio.core.export.trt_runtime import DeviceBuffer, EngineRunner, import_tensorrt

INFO = {
    "format": "engine",
    "arch": "det_lite",
    "task": "detect",
    "classes": {"cat_ids": [1], "names": ["a"]},
    "image_size": 96,
    "letterbox": False,
    "static_size": True,
    "batch": 2,
    "score_thr": 0.05,
    "max_det": 2,
}


# ------------------------------------------------------------------------------------ fakes
class FakeCudart:
    """cuda-python's runtime on host memory: pointers are addresses of ctypes buffers."""

    class cudaMemcpyKind:
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self):
        self.blocks = {}

    def cudaMalloc(self, n):
        buf = ctypes.create_string_buffer(n)
        self.blocks[ctypes.addressof(buf)] = buf
        return 0, ctypes.addressof(buf)

    def cudaFree(self, ptr):
        self.blocks.pop(ptr, None)
        return (0,)

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        ctypes.memmove(dst, src, n)
        return (0,)

    def cudaStreamCreate(self):
        return 0, 1

    def cudaStreamSynchronize(self, stream):
        return (0,)

    def cudaGetDeviceProperties(self, i):
        return 0, types.SimpleNamespace(name=b"Fake GPU 80GB")


def _array_at(ptr, shape, dtype):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_char * n).from_address(ptr), dtype=dtype).reshape(shape)


class FakeEngine:
    """Input images (B, 3, H, W) -> num_dets (B, 1) int32 = 1, boxes (B, 2, 4) = each image's mean."""

    names = ["images", "num_dets", "boxes"]
    num_io_tensors = 3

    def __init__(self, trt):
        self.trt = trt

    def get_tensor_name(self, i):
        return self.names[i]

    def get_tensor_mode(self, name):
        return self.trt.TensorIOMode.INPUT if name == "images" else self.trt.TensorIOMode.OUTPUT

    def get_tensor_shape(self, name):
        return (-1, 3, -1, -1)

    def get_tensor_dtype(self, name):
        return "int32" if name == "num_dets" else "float32"

    def create_execution_context(self):
        return FakeContext()


class FakeContext:
    def __init__(self):
        self.shape = None
        self.addr = {}

    def set_input_shape(self, name, shape):
        self.shape = shape

    def get_tensor_shape(self, name):
        b = self.shape[0]
        return (b, 1) if name == "num_dets" else (b, 2, 4)

    def set_tensor_address(self, name, ptr):
        self.addr[name] = ptr

    def execute_async_v3(self, stream):
        x = _array_at(self.addr["images"], self.shape, np.float32)
        b = self.shape[0]
        _array_at(self.addr["num_dets"], (b, 1), np.int32)[:] = 1
        _array_at(self.addr["boxes"], (b, 2, 4), np.float32)[:] = x.reshape(b, -1).mean(axis=1)[:, None, None]
        return True


def make_trt(version: str, parse_ok: bool = True, build_ok: bool = True):
    """A fake tensorrt module of ``version``; its builder keeps a log of every call in ``trt.log``."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.log = []
    log = trt.log

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    class MemoryPoolType:
        WORKSPACE = "WORKSPACE"

    class TensorIOMode:
        INPUT, OUTPUT = 0, 1

    class Profile:
        def set_shape(self, name, lo, mid, hi):
            log.append(("profile", name, lo, mid, hi))

    class Config:
        int8_calibrator = None

        def set_memory_pool_limit(self, pool, n):
            log.append(("pool", pool, n))

        def set_flag(self, flag):
            log.append(("flag", flag))

        def add_optimization_profile(self, p):
            log.append(("add_profile",))

        def set_calibration_profile(self, p):
            log.append(("calibration_profile",))

    class Network:
        def get_input(self, i):
            return types.SimpleNamespace(name="images")

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            log.append(("network", flags))
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            cal = config.int8_calibrator
            if cal is not None:  # what TensorRT does: read batches until None, then store the scales
                n = 0
                while (ptrs := cal.get_batch(["images"])) is not None:
                    log.append(("calib_batch", cal.get_batch_size(), ptrs[0] != 0))
                    n += 1
                cal.write_calibration_cache(b"scales")
                log.append(("calibrated", n))
            return b"ENGINE" if build_ok else None

    class OnnxParser:
        num_errors = 0 if parse_ok else 2

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            log.append(("parse", len(data)))
            return parse_ok

        def get_error(self, i):
            return f"In node {i}: unsupported op"

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return FakeEngine(trt) if data == b"ENGINE" else None

    trt.Logger, trt.MemoryPoolType, trt.TensorIOMode = Logger, MemoryPoolType, TensorIOMode
    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    trt.nptype = lambda dt: np.dtype(dt).type
    if major < 11:  # removed in 11
        trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8")

        class IInt8EntropyCalibrator2:
            def __init__(self):
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    return trt


@pytest.fixture()
def onnx_file(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"graph")
    return p


def _sidecar(engine):
    return json.loads(sidecar_path(engine).read_text())


# ------------------------------------------------------------------------------------ version
def test_versions_are_read_and_old_ones_refused():
    assert environment.version_of(make_trt("10.13.0.35")) == (10, 13, 0)
    assert environment.trt_major(make_trt("11.4.0")) == 11
    assert tb.TrtApi(make_trt("10.0.1")).strongly_typed is False
    assert tb.TrtApi(make_trt("11.0.0")).strongly_typed is True
    with pytest.raises(StudioError, match="too old.*tensorrt>=10"):
        tb.TrtApi(make_trt("8.6.1"))


def test_missing_tensorrt_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    with pytest.raises(StudioError, match="pip install"):
        import_tensorrt()
    assert environment.trt_major() == 0


def test_profile_defaults_and_order():
    s = tb.EngineSettings(320, batch=4)
    assert s.profile() == ((4, 320, 320),) * 3
    d = tb.EngineSettings(320, dynamic=True, batch=4)
    assert d.profile() == ((1, 32, 32), (1, 320, 320), (4, 320, 320))
    with pytest.raises(StudioError, match="min <= opt <= max"):
        tb.EngineSettings(320, dynamic=True, min_shape=(2, 64, 64), opt_shape=(1, 320, 320)).profile()


# ------------------------------------------------------------------------------------ builds
def test_tensorrt10_fp16_static_build_writes_engine_and_sidecar(onnx_file, tmp_path):
    trt = make_trt("10.13.0")
    engine = tmp_path / "model.engine"
    steps = []
    side = tb.build_engine(
        onnx_file,
        engine,
        tb.EngineSettings(96, half=True, batch=2, workspace_gib=2),
        info=INFO,
        trt=trt,
        cudart=FakeCudart(),
        progress=lambda d, t, m: steps.append(m),
    )
    assert engine.read_bytes() == b"ENGINE"
    assert ("network", 0) in trt.log and ("flag", "FP16") in trt.log and ("flag", "INT8") not in trt.log
    assert ("pool", "WORKSPACE", 2 << 30) in trt.log
    assert ("profile", "images", (2, 3, 96, 96), (2, 3, 96, 96), (2, 3, 96, 96)) in trt.log
    assert _sidecar(engine) == json.loads(json.dumps(side))
    assert (
        side["tensorrt"] == "10.13.0"
        and side["gpu"] == "Fake GPU 80GB"
        and side["settings"]["builder_flags"] == ["FP16"]
    )
    assert "runs only on the GPU model" in side["warning"] and side["studio"]["arch"] == "det_lite"
    assert steps[-1] == "engine written"


def test_tensorrt10_int8_calibrates_on_val_images(onnx_file, tmp_path, demo):
    from studio.core.imageio import list_images

    trt = make_trt("10.3.0")
    engine = tmp_path / "model.engine"
    paths = list_images(demo["val"].images)  # 4 images
    settings = tb.EngineSettings(
        96, int8=True, dynamic=True, opt_shape=(2, 96, 96), max_shape=(4, 96, 96), calib_images=8
    )
    side = tb.build_engine(onnx_file, engine, settings, info=INFO, calib_paths=paths, trt=trt, cudart=FakeCudart())
    assert ("flag", "INT8") in trt.log and ("calibration_profile",) in trt.log
    assert [e for e in trt.log if e[0] == "calib_batch"] == [("calib_batch", 2, True)] * 2  # 4 images, batches of 2
    assert ("calibrated", 2) in trt.log and (tmp_path / "model.engine.calib").read_bytes() == b"scales"
    assert side["settings"]["profile"] == {"min": [1, 3, 32, 32], "opt": [2, 3, 96, 96], "max": [4, 3, 96, 96]}
    batches = list(tb.calibration_batches(paths, (3, 64, 96), 8))
    assert len(batches) == 1 and batches[0].shape == (3, 3, 64, 96) and batches[0].dtype == np.float32
    assert (
        0 <= batches[0].min() and batches[0].max() <= 1 and batches[0][:, :, :, 64:].max() == 0
    )  # letterboxed, padded
    with pytest.raises(StudioError, match="calibration images"):
        tb.build_engine(onnx_file, engine, settings, info=INFO, calib_paths=[], trt=trt, cudart=FakeCudart())


def test_tensorrt11_puts_precision_in_the_graph(onnx_file, tmp_path, demo, monkeypatch):
    from studio.core.imageio import list_images

    trt = make_trt("11.4.0")  # no BuilderFlag.FP16 / INT8, no IInt8EntropyCalibrator2: touching them would fail
    converted = []

    def fake_fp16(src, dst):
        converted.append((src.name, dst.name))
        dst.write_bytes(b"fp16 graph")
        return dst

    monkeypatch.setattr(tb, "fp16_graph", fake_fp16)
    side = tb.build_engine(
        onnx_file, tmp_path / "a.engine", tb.EngineSettings(96, half=True), info=INFO, trt=trt, cudart=FakeCudart()
    )
    assert converted == [("model.onnx", "model_fp16.onnx")] and ("parse", len(b"fp16 graph")) in trt.log
    assert side["settings"]["builder_flags"] == [] and side["built_from"] == "model_fp16.onnx"
    assert "strongly typed" in side["tensorrt_api"]

    seen = {}

    def quantize(path, quantize_mode, calibration_data, calibration_method, output_path):
        seen.update(mode=quantize_mode, shape=calibration_data.shape, method=calibration_method)
        open(output_path, "wb").write(b"qdq graph")

    pkg = types.ModuleType("modelopt")
    sub = types.ModuleType("modelopt.onnx")
    q = types.ModuleType("modelopt.onnx.quantization")
    q.quantize = quantize
    monkeypatch.setitem(sys.modules, "modelopt", pkg)
    monkeypatch.setitem(sys.modules, "modelopt.onnx", sub)
    monkeypatch.setitem(sys.modules, "modelopt.onnx.quantization", q)
    side = tb.build_engine(
        onnx_file,
        tmp_path / "b.engine",
        tb.EngineSettings(96, int8=True, batch=1),
        info=INFO,
        calib_paths=list_images(demo["val"].images),
        trt=trt,
        cudart=FakeCudart(),
    )
    assert seen == {"mode": "int8", "shape": (4, 3, 96, 96), "method": "entropy"}
    assert side["built_from"] == "model_int8.onnx" and not any(e[0] == "flag" for e in trt.log)


def test_tensorrt11_without_modelopt_says_what_to_install(onnx_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "modelopt", None)
    monkeypatch.setitem(sys.modules, "modelopt.onnx.quantization", None)
    with pytest.raises(StudioError, match="nvidia-modelopt"):
        tb.build_engine(
            onnx_file,
            tmp_path / "c.engine",
            tb.EngineSettings(96, int8=True),
            info=INFO,
            calib_paths=["x.jpg"],
            trt=make_trt("11.0.0"),
            cudart=FakeCudart(),
        )


def test_parser_and_builder_failures_are_studio_errors(onnx_file, tmp_path):
    with pytest.raises(StudioError, match="parser refused the graph: In node 0: unsupported op; In node 1"):
        tb.build_engine(
            onnx_file,
            tmp_path / "e.engine",
            tb.EngineSettings(96),
            info=INFO,
            trt=make_trt("10.1.0", parse_ok=False),
            cudart=FakeCudart(),
        )
    with pytest.raises(StudioError, match="could not build the engine"):
        tb.build_engine(
            onnx_file,
            tmp_path / "e.engine",
            tb.EngineSettings(96),
            info=INFO,
            trt=make_trt("10.1.0", build_ok=False),
            cudart=FakeCudart(),
        )
    assert not (tmp_path / "e.engine").exists() and not sidecar_path(tmp_path / "e.engine").exists()


# ------------------------------------------------------------------------------------ running
def test_engine_runner_moves_tensors_through_device_memory(tmp_path):
    cud = FakeCudart()
    buf = DeviceBuffer(cud)
    host = np.arange(12, dtype=np.float32)
    buf.upload(host, stream=1)
    back = np.empty_like(host)
    buf.download(back, stream=1)
    assert (back == host).all()

    (tmp_path / "m.engine").write_bytes(b"ENGINE")
    runner = EngineRunner(tmp_path / "m.engine", trt=make_trt("10.5.0"), cudart=cud)
    assert runner.input_name == "images" and runner.output_names == ["num_dets", "boxes"]
    assert runner.input_shape == (None, 3, None, None)
    x = np.stack([np.full((3, 8, 8), v, np.float32) for v in (0.25, 0.5, 0.75)])
    out = runner.run(x)
    assert out["num_dets"].shape == (3, 1) and out["num_dets"].dtype == np.int32 and (out["num_dets"] == 1).all()
    np.testing.assert_allclose(out["boxes"][:, 0, 0], [0.25, 0.5, 0.75])
    (tmp_path / "other.engine").write_bytes(b"built elsewhere")
    with pytest.raises(StudioError, match="only runs on the GPU model and TensorRT version it was built with"):
        EngineRunner(tmp_path / "other.engine", trt=make_trt("10.5.0"), cudart=cud)


def test_an_engine_from_another_tensorrt_version_is_refused_with_the_fix(tmp_path, monkeypatch):
    from studio.core.export.runtime import load_exported

    engine = tmp_path / "model.engine"
    engine.write_bytes(b"ENGINE")
    sidecar_path(engine).write_text(json.dumps({"tensorrt": "10.3.0", "studio": INFO}))
    monkeypatch.setitem(sys.modules, "tensorrt", make_trt("11.4.0"))
    with pytest.raises(StudioError, match="built with TensorRT 10.3.0 and this machine has 11.4.0.*rebuild"):
        load_exported(engine)
