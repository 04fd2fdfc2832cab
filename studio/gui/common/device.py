"""Which compute device training would use, found without blocking start-up.

Importing torch takes seconds, and loading its shared libraries holds the GIL (and Python's import
locks) the whole time, which would freeze the GUI thread even from a worker thread. So the window
asks a short-lived child process (:func:`detect_device_in_subprocess`, run from a worker: waiting on a
process releases the GIL); :func:`detect_device` is what that child runs.
It is deliberately independent of ``studio.core``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: this module imports nothing of studio.core
    from studio.core.jobs import CancelToken, Progress

PROBE = "from studio.gui.common.device import detect_device; print(detect_device())"


_cache: dict[str, str] = {}
_lock = threading.Lock()


def detect_device_in_subprocess(
    progress: Progress | None = None, cancel: CancelToken | None = None, timeout_s: float = 120.0
) -> str:
    """:func:`detect_device` in a child Python, so this process never loads torch just to name a device.
    The answer is kept for the life of the process (devices do not come and go under a running app)."""
    with _lock:
        if "label" not in _cache:
            _cache["label"] = _probe_in_child(timeout_s)
        return _cache["label"]


def _probe_in_child(timeout_s: float) -> str:
    try:
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"CPU (device detection failed: {type(e).__name__})"
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if out.returncode != 0 or not line:
        err = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        return f"CPU (device detection failed: {err[:120]})"
    return line


def detect_device(progress: Progress | None = None, cancel: CancelToken | None = None) -> str:
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
