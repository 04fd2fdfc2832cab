"""The Export page's jobs: plain Python over ``studio.core`` (no Qt), run in a Worker.

Listing runs reads folders and small YAML files, describing a checkpoint loads it with torch: both
stay off the GUI thread. The export itself is :func:`studio.core.export.jobs.export_checkpoint`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.export.formats import ArchInfo
from studio.core.jobs import CancelToken, ProgressFn, no_progress

_EPOCH = re.compile(r"epoch_(\d+)\.pt$")


@dataclass(frozen=True)
class ExportRun:
    """A run folder that holds at least one checkpoint, with what the page needs to export it."""

    path: Path
    name: str
    arch: str  # "" when the run has no readable log
    status: str  # as in RunSummary; "" without a log
    metric_name: str
    best_metric: float | None
    checkpoints: tuple[str, ...]  # best.pt, last.pt, then epoch_N.pt newest first
    verify_ann: Path | None  # the run config's data.val: the default verification set
    verify_images: Path | None
    config_error: str = ""  # why the run's config.yaml could not be read, if it could not


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


def checkpoint_names(run_dir: Path) -> tuple[str, ...]:
    fixed = [n for n in ("best.pt", "last.pt") if (run_dir / n).is_file()]
    epochs = sorted(
        ((int(m.group(1)), p.name) for p in run_dir.glob("epoch_*.pt") if (m := _EPOCH.search(p.name))), reverse=True
    )
    return tuple(fixed + [n for _, n in epochs])


def _val_set(config: Path) -> tuple[Path | None, Path | None, str]:
    if not config.is_file():
        return None, None, ""
    from studio.core.config.loader import load_config

    try:
        cfg = load_config(config)
    except StudioError as e:
        return None, None, str(e)
    if cfg.data.val is None:
        return None, None, ""
    return Path(cfg.data.val.ann), Path(cfg.data.val.images) if cfg.data.val.images else None, ""


def list_export_runs(
    root: Path, progress: ProgressFn = no_progress, cancel: CancelToken | None = None
) -> list[ExportRun]:
    """Every folder directly under ``root`` holding a checkpoint, newest first."""
    from studio.core.training.run_index import summarize_run

    root = Path(root)
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir()]
    found: list[tuple[float, ExportRun]] = []
    for k, p in enumerate(folders):
        if cancel is not None:
            cancel.raise_if_cancelled()
        names = checkpoint_names(p)
        if names:
            s = summarize_run(p)
            ann, images, err = _val_set(p / "config.yaml")
            run = ExportRun(
                p,
                p.name,
                s.arch if s else "",
                s.status if s else "",
                s.metric_name if s else "",
                s.best_metric if s else None,
                names,
                ann,
                images,
                err,
            )
            found.append((max((p / n).stat().st_mtime for n in names), run))
        progress(k + 1, len(folders), "reading runs")
    return [r for _, r in sorted(found, key=lambda t: -t[0])]


def describe_checkpoint(
    path: Path, progress: ProgressFn = no_progress, cancel: CancelToken | None = None
) -> CheckpointInfo:
    """Load ``path`` and say what it holds (architecture, classes, epoch) and which device exports here."""
    from studio.core.export.formats import arch_info
    from studio.core.export.jobs import detect_device
    from studio.core.training import checkpoint as ckpt_io

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
