"""Which compute device training would use, found without blocking start-up.

Importing torch takes seconds, so :func:`detect_device` runs in a worker thread and imports it lazily.
It is deliberately independent of ``studio.core``.
"""

from __future__ import annotations

from typing import Any


def detect_device(progress: Any = None, cancel: Any = None) -> str:
    """A short label: the CUDA device name (and its memory), "Apple MPS", or "CPU"."""
    try:
        import torch
    except Exception as e:  # torch missing or broken: training is impossible, say why
        return f"CPU (PyTorch unavailable: {type(e).__name__})"
    try:
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            n = torch.cuda.device_count()
            name = f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
            return name if n == 1 else f"{name} ×{n}"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "Apple MPS"
    except Exception as e:  # a broken driver must not take the window down
        return f"CPU (CUDA error: {type(e).__name__})"
    return "CPU"
