"""Running a TensorRT engine without PyTorch: the named-tensor API and cuda-python for device memory.

The API used (``num_io_tensors``, ``get_tensor_name``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``) is the same in TensorRT 10 and 11. Device memory comes from cuda-python's
runtime bindings (``cuda.bindings.runtime``, or ``cuda.cudart`` in releases before 12.6), the one
CUDA library a torch-free deployment can count on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from studio.core.environment import tensorrt_status
from studio.core.errors import StudioError


def import_tensorrt():
    """The tensorrt module, or a StudioError saying exactly what is missing and how to install it."""
    try:
        import tensorrt  # type: ignore

        return tensorrt
    except ImportError:
        raise StudioError(f"TensorRT: {tensorrt_status()[1]}") from None


def cuda_runtime():
    """cuda-python's runtime module (cudaMalloc, cudaMemcpy...)."""
    try:
        from cuda.bindings import runtime as cudart  # type: ignore

        return cudart
    except ImportError:
        pass
    try:
        from cuda import cudart  # type: ignore

        return cudart
    except ImportError:
        raise StudioError("TensorRT engines need cuda-python for GPU memory: pip install cuda-python") from None


def _check(result: Any, what: str) -> Any:
    """cuda-python calls return (error, *values); raise on an error, return the value(s)."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    code = int(getattr(err, "value", err))
    if code != 0:
        raise StudioError(f"CUDA error {code} in {what} ({getattr(err, 'name', err)})")
    return rest[0] if len(rest) == 1 else tuple(rest)


class DeviceBuffer:
    """One device allocation, grown on demand, with host<->device copies on a stream."""

    def __init__(self, cudart, nbytes: int = 0):
        self.cudart = cudart
        self.ptr = 0
        self.nbytes = 0
        if nbytes:
            self.reserve(nbytes)

    def reserve(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(_check(self.cudart.cudaMalloc(int(nbytes)), "cudaMalloc"))
            self.nbytes = int(nbytes)
        return self.ptr

    def upload(self, host: np.ndarray, stream) -> None:
        host = np.ascontiguousarray(host)
        self.reserve(host.nbytes)
        _check(
            self.cudart.cudaMemcpyAsync(
                self.ptr, host.ctypes.data, host.nbytes, self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream
            ),
            "cudaMemcpyAsync",
        )

    def download(self, host: np.ndarray, stream) -> None:
        _check(
            self.cudart.cudaMemcpyAsync(
                host.ctypes.data, self.ptr, host.nbytes, self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream
            ),
            "cudaMemcpyAsync",
        )

    def free(self) -> None:
        if self.ptr:
            self.cudart.cudaFree(self.ptr)
            self.ptr, self.nbytes = 0, 0


class EngineRunner:
    """A deserialised engine with one execution context; :meth:`run` takes and returns numpy arrays."""

    def __init__(self, path: str | Path, trt=None, cudart=None):
        self.trt = trt or import_tensorrt()
        self.cudart = cudart or cuda_runtime()
        path = Path(path)
        self.logger = self.trt.Logger(self.trt.Logger.WARNING)
        runtime = self.trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise StudioError(
                f"TensorRT {self.trt.__version__} cannot load this engine: an engine only runs on the GPU "
                "model and TensorRT version it was built with (see the .json beside it); rebuild it here "
                "with `studio export CKPT --format engine`",
                file=path,
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == self.trt.TensorIOMode.INPUT for n in names}
        inputs = [n for n in names if is_input[n]]
        if len(inputs) != 1:
            raise StudioError(f"expected an engine with one input, it has {inputs}", file=path)
        self.input_name = inputs[0]
        self.output_names = [n for n in names if not is_input[n]]
        self.input_shape = tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(self.input_name))
        self.stream = _check(self.cudart.cudaStreamCreate(), "cudaStreamCreate")
        self.buffers = {n: DeviceBuffer(self.cudart) for n in names}

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        self.buffers[self.input_name].upload(x, self.stream)
        self.context.set_tensor_address(self.input_name, self.buffers[self.input_name].ptr)
        outs: dict[str, np.ndarray] = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            host = np.empty(shape, dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            self.context.set_tensor_address(name, self.buffers[name].reserve(max(host.nbytes, 1)))
            outs[name] = host
        if not self.context.execute_async_v3(self.stream):
            raise StudioError("TensorRT failed to run the engine (execute_async_v3 returned false)")
        for name, host in outs.items():
            if host.nbytes:
                self.buffers[name].download(host, self.stream)
        _check(self.cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return outs
