"""Speed settings of a model on its device: the ``channels_last`` memory format and ``torch.compile``.

**channels_last** stores conv weights and activations as N x H x W x C, the layout cuDNN's tensor-core
kernels work in: on a CUDA GPU it avoids a transpose around every convolution. It is on for every model
with 2-d convolutions on CUDA. On the CPU it is used where it was measured faster (``bench/channels_last.py``):
training ``seg_fast`` / ``det_fast`` (:data:`CPU_CHANNELS_LAST_ARCHS`); inference on the CPU stays in the
default layout (one of two measurements was slower), and so do the architectures nobody measured. The
model's input batch is converted as well (:func:`to_channels_last` hooks the backbone, which every zoo model
feeds with the padded batch tensor), so the first convolution does not pay the conversion inside the kernel.

**torch.compile** (``train.compile``, off by default) compiles the dense part of the model, where the
time goes: ``backbone`` and ``neck`` (every zoo model has a backbone; torchvision's include the FPN), each in
place (what ``nn.Module.compile`` does), so the module, its ``state_dict`` keys (no ``_orig_mod.`` prefix)
and the EMA copy (made from the uncompiled module) stay what the rest of Studio knows. The heads, the
losses and the post-processing stay eager: their data-dependent shapes (the assigner's and NMS's
``nonzero``) break a whole-model graph into pieces: compiling ``seg_fast`` whole did not finish its first
training step in 15 minutes on a 2-core CPU shared with other jobs, while its backbone and neck compiled in
7 minutes (2.7 s from Inductor's cache on the next start), then took 0.89x the eager step time at 64 px
(``bench/channels_last.py --compile``, both in one run); torchvision's ``fasterrcnn_mobilenet_v3_large_320_fpn``
backbone compiled in 8 minutes and trained. A model without a ``backbone`` attribute (a plugin's) is
compiled whole. Where it cannot work, :func:`compile_unsupported` says why before anything is compiled, and a
failure of the compiler at the first call becomes a :class:`StudioError` naming ``train.compile`` instead of
a page of its output.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from studio.core.errors import StudioError

#: the architectures trained channels_last on the CPU: bench/channels_last.py measured a seg_fast training
#: step (320 px, batch 2) at 0.81x-0.88x the time with 1 thread and 0.86x with 2 threads, det_fast at 0.92x
#: (all on a 2-core machine shared with other jobs: noisy, but never slower)
CPU_CHANNELS_LAST_ARCHS = frozenset({"seg_fast", "det_fast"})
COMPILE_ITEM = "train.compile"
#: the submodules compiled, where the model has them (else the whole model)
COMPILED_PARTS = ("backbone", "neck")
#: the compilers Inductor's CPU code generation can call
CPU_COMPILERS = ("c++", "g++", "clang++", "cc", "gcc", "clang")

LogFn = Callable[[str], None]


def has_conv2d(model: nn.Module) -> bool:
    """True when ``model`` holds a 2-d convolution (the layers channels_last speeds up)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def wants_channels_last(model: nn.Module, device_type: str, training: bool = False) -> bool:
    """The default: on CUDA for conv models; on the CPU only where measured faster (training the
    architectures of :data:`CPU_CHANNELS_LAST_ARCHS`)."""
    if not has_conv2d(model):
        return False
    if device_type == "cuda":
        return True
    return device_type == "cpu" and training and getattr(model, "studio_arch", None) in CPU_CHANNELS_LAST_ARCHS


def _input_to_channels_last(module: nn.Module, args: tuple) -> tuple:
    return tuple(
        a.contiguous(memory_format=torch.channels_last) if isinstance(a, torch.Tensor) and a.dim() == 4 else a
        for a in args
    )


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert ``model``'s parameters and buffers to channels_last, and its 4-d inputs with them.

    The inputs are converted by a forward pre-hook on ``model.backbone`` (the zoo's models all batch their
    list of images into one padded tensor and hand it to the backbone), else on ``model`` itself. Calling
    it twice converts once.
    """
    if getattr(model, "studio_channels_last", False):
        return model
    model.to(memory_format=torch.channels_last)
    target = getattr(model, "backbone", None)
    (target if isinstance(target, nn.Module) else model).register_forward_pre_hook(_input_to_channels_last)
    model.studio_channels_last = True
    return model


def is_channels_last(model: nn.Module) -> bool:
    """True when every 4-d parameter of ``model`` (the conv weights) is stored channels_last."""
    weights = [p for p in model.parameters() if p.dim() == 4]
    return bool(weights) and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)


def compile_unsupported(device_type: str, platform: str | None = None) -> str | None:
    """Why ``torch.compile`` cannot be used here, or None when nothing rules it out before trying."""
    if (platform or sys.platform).startswith("win"):
        return "torch.compile is not supported by Studio on Windows (its Triton and C++ toolchains are missing there)"
    if device_type not in ("cpu", "cuda"):
        return f"torch.compile is not supported on the {device_type} device"
    if not hasattr(nn.Module, "compile"):
        return f"torch {torch.__version__} has no nn.Module.compile (torch 2.2 or newer is needed)"
    if device_type == "cpu" and not any(shutil.which(c) for c in CPU_COMPILERS):
        return "torch.compile on the CPU needs a C++ compiler (g++ or clang++ on the PATH), and none was found"
    return None


def _is_compiler_error(e: BaseException) -> bool:
    """True for errors raised by TorchDynamo, AOTAutograd or Inductor rather than by the model's own code."""
    module = type(e).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch._functorch", "torch.fx"))


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compiled_parts(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of what :func:`compile_model` compiles: see :data:`COMPILED_PARTS`."""
    parts = [(n, m) for n in COMPILED_PARTS if isinstance(m := getattr(model, n, None), nn.Module)]
    return parts or [("model", model)]


def _compile_in_place(module: nn.Module, what: str, device_type: str) -> None:
    """``module.compile()`` with compiler errors at the first call turned into a StudioError."""
    compiled = torch.compile(module._call_impl)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled(*args, **kwargs)
        except Exception as e:
            if not _is_compiler_error(e):
                raise
            raise StudioError(
                f"torch.compile failed for {what} on {device_type} ({type(e).__name__}: {_one_line(e)}); "
                f"set {COMPILE_ITEM}=false",
                item=COMPILE_ITEM,
            ) from e

    module._compiled_call_impl = call  # what nn.Module.compile sets: __call__ goes through it


def compile_model(model: nn.Module, device_type: str, arch: str = "") -> nn.Module:
    """Compile ``model``'s dense parts in place (:func:`compiled_parts`); raise :class:`StudioError` naming
    ``train.compile`` where it cannot be done, now (:func:`compile_unsupported`) or at the first call (the
    compiler's error, shortened).

    The model keeps its class and ``state_dict`` keys; ``studio_compiled`` lists what was compiled.
    """
    name = arch or getattr(model, "studio_arch", type(model).__name__)
    why = compile_unsupported(device_type)
    if why is not None:
        raise StudioError(f"{why}; set {COMPILE_ITEM}=false", item=COMPILE_ITEM)
    parts = compiled_parts(model)
    for part, module in parts:
        _compile_in_place(module, name if part == "model" else f"{name}'s {part}", device_type)
    model.studio_compiled = [part for part, _ in parts]
    return model


def prepare_for_training(
    model: nn.Module,
    device: torch.device,
    *,
    compile: bool = False,
    ema_module: nn.Module | None = None,
    log: LogFn | None = None,
) -> nn.Module:
    """channels_last where it pays (:func:`wants_channels_last`), then ``torch.compile`` when asked.

    ``ema_module`` (the EMA copy, made before this call from the uncompiled model) gets the same memory
    format and is never compiled: it is evaluated rarely, and a compiled copy would have to compile again.
    """
    if wants_channels_last(model, device.type, training=True):
        to_channels_last(model)
        if ema_module is not None:
            to_channels_last(ema_module)
        if log is not None:
            log(f"channels_last memory format on {device.type}")
    if compile:
        compile_model(model, device.type)
        if log is not None:
            parts = " and ".join(model.studio_compiled)
            log(f"torch.compile of the {parts}: the first iterations are slow while it compiles")
    return model


def prepare_for_inference(model: nn.Module, device: torch.device) -> nn.Module:
    """channels_last for evaluation and prediction on the devices where it pays (never compiled)."""
    if wants_channels_last(model, device.type):
        to_channels_last(model)
    return model
