"""Mixed precision: which ``train.amp`` a device can run, and the one autocast context for training and eval.

The same :func:`autocast` serves CUDA and the CPU (``device_type`` comes from the device), so the dtype
mismatches and overflows that bf16 exposes in custom losses show up in a CPU run, not first on a GPU.
fp16 stays CUDA-only: its narrow range needs loss scaling (``GradScaler``), and CPUs gain nothing from it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

#: device types on which each ``train.amp`` runs
AMP_DEVICES = {"bf16": ("cuda", "cpu"), "fp16": ("cuda",)}


def amp_refusal(amp: str, device_type: str) -> str | None:
    """Why ``amp`` cannot run on ``device_type`` (a message naming the fix), or None when it can."""
    if amp == "none" or device_type in AMP_DEVICES.get(amp, ()):
        return None
    if amp == "fp16":
        return (
            f"fp16 mixed precision needs a CUDA device; this run would use {device_type} "
            "(set train.amp=bf16, which runs on the CPU, or none)"
        )
    return f"{amp} mixed precision runs on CUDA or the CPU; this run would use {device_type} (set train.amp=none)"


def amp_dtype(amp: str) -> Any:
    """The torch dtype of ``train.amp`` (None for ``none``)."""
    import torch  # deferred: torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)


def autocast(device: Any, dtype: Any) -> AbstractContextManager:
    """``torch.autocast`` for ``device`` (a torch.device) in ``dtype``; a no-op context when ``dtype`` is None."""
    if dtype is None:
        return nullcontext()
    import torch  # deferred: torch

    return torch.autocast(device_type=device.type, dtype=dtype)
