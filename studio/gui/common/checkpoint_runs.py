"""The workspace's runs that hold a checkpoint, for the Inspect and Export pages' run pickers: plain Python
over ``studio.core`` (no Qt), run in a Worker.

Listing runs reads folders, run logs and small YAML files, so it stays off the GUI thread. The newest run
comes first: the latest started (the first event of its log), or for a folder without a log the latest
written checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.training.run_lock import live_lock

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
    started_at: float = 0.0  # unix time: the run log's first event, else the newest checkpoint's mtime
    mtime: float = 0.0  # the newest checkpoint's mtime

    @property
    def training(self) -> bool:
        """A process (this app's trainer, a terminal's ``studio train``) trains it now: its checkpoints change."""
        return self.status == "training"


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
    """Every folder directly under ``root`` holding a checkpoint, newest first (see the module docstring).

    ``status`` is the run index's, or "training" while a live process holds the run's lock (its own
    trainer included)."""
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
            try:
                mtime = max((p / n).stat().st_mtime for n in names)
            except OSError:  # a checkpoint being replaced: the next read sees it
                continue
            s = summarize_run(p)
            ann, images, err = _val_set(p / "config.yaml")
            status = "training" if live_lock(p) is not None else (s.status if s else "")
            run = CheckpointRun(
                p,
                p.name,
                s.arch if s else "",
                status,
                s.metric_name if s else "",
                s.best_metric if s else None,
                names,
                ann,
                images,
                err,
                s.started_at if s else mtime,
                mtime,
            )
            found.append(run)
        progress(k + 1, len(folders), "reading runs")
    return sorted(found, key=lambda r: (-r.started_at, r.name))
