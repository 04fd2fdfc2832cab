"""The workspace's runs that hold a checkpoint, for the Inspect and Export pages' run pickers: plain Python
over ``studio.core`` (no Qt), run in a Worker.

Listing runs reads folders, run logs and small YAML files, so it stays off the GUI thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress

_EPOCH = re.compile(r"epoch_(\d+)\.pt$")


@dataclass(frozen=True)
class CheckpointRun:
    """A run folder that holds at least one checkpoint, with what the pages need to inspect or export it."""

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


def checkpoint_names(run_dir: Path) -> tuple[str, ...]:
    fixed = [n for n in ("best.pt", "last.pt") if (run_dir / n).is_file()]
    epochs = sorted(
        ((int(m.group(1)), p.name) for p in run_dir.glob("epoch_*.pt") if (m := _EPOCH.search(p.name))), reverse=True
    )
    return tuple(fixed + [n for _, n in epochs])


def _val_set(config: Path) -> tuple[Path | None, Path | None, str]:
    if not config.is_file():
        return None, None, ""
    from studio.core.config.loader import load_config  # deferred: pydantic

    try:
        cfg = load_config(config)
    except StudioError as e:
        return None, None, str(e)
    if cfg.data.val is None:
        return None, None, ""
    return Path(cfg.data.val.ann), Path(cfg.data.val.images) if cfg.data.val.images else None, ""


def list_checkpoint_runs(
    root: Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> list[CheckpointRun]:
    """Every folder directly under ``root`` holding a checkpoint, newest first."""
    from studio.core.training.run_index import summarize_run  # deferred: numpy

    root = Path(root)
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir()]
    found: list[tuple[float, CheckpointRun]] = []
    for k, p in enumerate(folders):
        if cancel is not None:
            cancel.raise_if_cancelled()
        names = checkpoint_names(p)
        if names:
            s = summarize_run(p)
            ann, images, err = _val_set(p / "config.yaml")
            run = CheckpointRun(
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
