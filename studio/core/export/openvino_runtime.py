"""Running an OpenVINO IR (``model.xml`` + ``model.bin``) without PyTorch, behind the same backend interface as
ONNX Runtime and TensorRT (:mod:`.runtime`): ``run(x) -> {output name: array}``, ``metadata()``, ``name``.

Compiled for latency (one image per request) and, on the CPU, in fp32: OpenVINO's CPU plugin otherwise
computes in bf16 on processors that have bf16 instructions, which moves boxes and scores enough to change
the mAP, and an export must reproduce ``studio predict``. The Studio metadata (classes, input size, output
layout) is stored in the IR's runtime info under the key ``studio``, written by :mod:`.openvino_export`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.environment import openvino_status
from studio.core.errors import StudioError

META_KEY = "studio"

#: ``studio infer --device`` (and the export's device words) -> OpenVINO device names
DEVICE_NAMES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}


def import_openvino():
    """The openvino module, or a StudioError saying what is missing and how to install it."""
    try:
        import openvino  # deferred: openvino

        return openvino
    except ImportError:
        raise StudioError(f"OpenVINO: {openvino_status()[1]}") from None


def ov_device(device: str, available: list[str]) -> str:
    """The OpenVINO device for ``device`` ("cpu", "gpu", "npu", or an OpenVINO name such as "GPU.1")."""
    name = DEVICE_NAMES.get(device.lower(), device.upper())
    if name in available or any(a.startswith(name + ".") for a in available):
        return name
    raise StudioError(
        f"OpenVINO has no {name} device here (it has {', '.join(available) or 'none'}); "
        "OpenVINO's GPU and NPU devices are Intel's (see `studio doctor`)"
    )


class OpenVinoBackend:
    """A compiled OpenVINO model on ``device`` with ``threads`` inference threads (CPU), fp32."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        ov = import_openvino()
        self.path = Path(path)
        if not self.path.with_suffix(".bin").is_file():
            raise StudioError(
                f"the weights {self.path.with_suffix('.bin').name} are missing beside the model: "
                "an OpenVINO model is the .xml and its .bin together",
                file=self.path,
            )
        core = ov.Core()
        self.device = ov_device(device, list(core.available_devices))
        try:
            self.model = core.read_model(str(self.path))
        except Exception as e:  # OpenVINO raises RuntimeError subclasses with long C++ traces
            raise StudioError(f"OpenVINO cannot read the model: {_first_line(e)}", file=path) from None
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.device == "CPU":
            config["INFERENCE_PRECISION_HINT"] = "f32"
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self.compiled = core.compile_model(self.model, self.device, config)
        except Exception as e:
            raise StudioError(
                f"OpenVINO cannot compile the model for {self.device}: {_first_line(e)}", file=path
            ) from None
        self.request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: calls from several threads take turns
        self.name = f"openvino_{self.device.split('.')[0].lower()}"
        self.provider = f"OpenVINO {ov.__version__.split('-')[0]} {self.device}"
        inp = self.compiled.inputs[0]
        self.input_name = inp.get_any_name()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in inp.get_partial_shape())
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]

    def metadata(self) -> dict | None:
        if not self.model.has_rt_info([META_KEY]):
            return None
        raw = self.model.get_rt_info([META_KEY])
        try:
            return json.loads(raw.astype(str) if hasattr(raw, "astype") else str(raw))
        except ValueError as e:
            raise StudioError(f"unreadable Studio metadata in the model ({e})", file=self.path) from None

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            self.request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
            return {
                name: np.array(self.request.get_output_tensor(i).data, copy=True)
                for i, name in enumerate(self.output_names)
            }


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
