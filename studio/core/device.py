"""Which torch device a run uses, with a clear message when the requested one is not there."""

from __future__ import annotations

import torch

from studio.core.errors import StudioError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> the first CUDA GPU when there is one, else the CPU; ``cuda:N`` must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this torch is a CPU-only build"
                if not torch.version.cuda
                else "no CUDA GPU is visible (driver missing, or CUDA_VISIBLE_DEVICES empty?)"
            )
            raise StudioError(f"train.device={name} but {why}; use train.device=cpu or auto", item="train.device")
        idx = dev.index or 0
        if idx >= torch.cuda.device_count():
            raise StudioError(
                f"train.device={name} but only {torch.cuda.device_count()} GPU(s) are visible", item="train.device"
            )
    return dev


def gpu_memory_mb(device: torch.device) -> float | None:
    """Peak memory allocated on a CUDA device since the last reset, in MiB (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
