"""The Export page's jobs: plain Python over ``studio.core`` (no Qt), run in a Worker.

Describing a checkpoint loads it with torch, so it stays off the GUI thread (the runs are listed by
:mod:`studio.gui.common.checkpoint_runs`). The export itself is :func:`studio.core.export.jobs.export_checkpoint`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from studio.core.export.formats import ArchInfo
from studio.core.jobs import CancelToken, ProgressFn, no_progress


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    arch: ArchInfo
    classes: tuple[str, ...]
    epoch: int
    best_metric: float | None
    metric_name: str | None
    image_size: int | None
    device: str  # "gpu" or "cpu": what formats.unavailable is asked about


def describe_checkpoint(
    path: Path, progress: ProgressFn = no_progress, cancel: CancelToken | None = None
) -> CheckpointInfo:
    """Load ``path`` and say what it holds (architecture, classes, epoch) and which device exports here."""
    from studio.core import checkpoint as ckpt_io
    from studio.core.export.formats import arch_info
    from studio.core.export.setup import detect_device

    progress(0, 1, f"reading {Path(path).name}")
    ck = ckpt_io.load(path)
    d = ckpt_io.describe(ck)
    size = (ck.config.get("data") or {}).get("image_size")
    return CheckpointInfo(
        Path(path),
        arch_info(ck.arch),
        tuple(d["classes"]),
        d["epoch"],
        d["best_metric"],
        d["metric_name"],
        size,
        detect_device(),
    )


def infer_command(model: Path, images: Path | None, out_dir: Path) -> str:
    """The ``studio infer`` line that runs the exported model (on the verification images when known)."""
    target = shlex.quote(str(images)) if images is not None else "IMAGES..."
    return f"studio infer {shlex.quote(str(model))} {target} --out {shlex.quote(str(out_dir / 'predictions'))}"
