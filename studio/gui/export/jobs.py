"""The Export page's jobs: plain Python over ``studio.core`` (no Qt), run in a Worker.

Describing a checkpoint loads it with torch, so it stays off the GUI thread (the runs are listed by
:mod:`studio.gui.common.checkpoint_runs`). The export itself is :func:`studio.core.export.jobs.export_checkpoint`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.core.export.formats import ArchInfo, arch_info
from studio.core.export.setup import detect_device
from studio.core.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:  # types only: the checkpoint module imports torch, which stays in the worker
    from studio.core.checkpoint import CheckpointInfo


@dataclass(frozen=True)
class ExportSource:
    """The checkpoint the Export page is to export: what it is (core's :class:`CheckpointInfo`) and what the
    formats' availability depends on (its architecture's family and the device exporting here)."""

    checkpoint: CheckpointInfo
    arch: ArchInfo
    device: str  # "gpu" or "cpu": what formats.unavailable is asked about


def describe_checkpoint(
    path: Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> ExportSource:
    """Load ``path`` and say what it holds (architecture, classes, epoch) and which device exports here."""
    from studio.core import checkpoint as ckpt_io  # deferred: numpy, pydantic, torch

    progress(0, 1, f"reading {Path(path).name}")
    info = ckpt_io.describe(ckpt_io.load(path), complexity=True)  # + parameters and GFLOPs: one forward pass
    return ExportSource(info, arch_info(info.arch), detect_device())


def infer_command(model: Path, images: Path | None, out_dir: Path) -> str:
    """The ``studio infer`` line that runs the exported model (on the verification images when known)."""
    target = shlex.quote(str(images)) if images is not None else "IMAGES..."
    return f"studio infer {shlex.quote(str(model))} {target} --out {shlex.quote(str(out_dir / 'predictions'))}"
