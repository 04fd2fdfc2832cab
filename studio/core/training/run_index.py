"""The runs of a workspace: one summary row per run folder, and deleting a run.

A run folder is any folder holding an ``events.jsonl`` (written by the trainer from its first event).
The summary is read from the log alone, so listing a hundred runs never loads a checkpoint.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.training.events import EpochEnd, RunCancelled, RunFailed, RunFinished, RunStarted
from studio.core.training.run_lock import LockInfo, RunHeldError, live_lock, lock_holder
from studio.core.training.runlog import LOG_NAME, read_events


@dataclass(frozen=True)
class RunSummary:
    path: Path
    name: str
    arch: str
    task: str
    epochs_done: int
    epochs: int
    metric_name: str
    best_metric: float | None
    best_epoch: int | None
    duration_s: float
    status: str  # finished, cancelled, failed, running or interrupted (the process died)
    reason: str  # completed, early_stopping, time_limit; or the error; "" otherwise
    started_at: float  # unix time of the first event
    resumable: bool  # a last.pt exists to continue from
    holder: LockInfo | None = None  # another live process training it now (its run.lock)

    @property
    def display_status(self) -> str:
        """What the runs table shows: the status, or ``held by pid N (host)`` while another process trains it."""
        return self.holder.short() if self.holder is not None and self.status != "running" else self.status

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / "best.pt").is_file() or (self.path / "last.pt").is_file()


def summarize_run(run_dir: str | Path, live: Callable[[Path], bool] = lambda p: False) -> RunSummary | None:
    """The summary of one run folder, or None when it holds no readable log. ``live(path)``: is it training now."""
    run_dir = Path(run_dir)
    log = run_dir / LOG_NAME
    if not log.is_file():
        return None
    started = last_epoch = outcome = None
    try:
        for ev in read_events(log):
            if isinstance(ev, RunStarted):
                started = started or ev  # the first start names the run; resumes keep it
                outcome = None
            elif isinstance(ev, EpochEnd):
                last_epoch = ev
            elif isinstance(ev, (RunFinished, RunFailed, RunCancelled)):
                outcome = ev
    except OSError:
        return None
    if started is None:
        return None
    first_t = _first_time(log)
    elapsed = 0.0
    if isinstance(outcome, RunFinished):
        elapsed = outcome.elapsed_s
    elif last_epoch is not None:
        elapsed = last_epoch.elapsed_s
    holder = lock_holder(run_dir)
    if live(run_dir):
        status, reason = "running", ""
    elif isinstance(outcome, RunFinished):
        status, reason = "finished", outcome.reason
    elif isinstance(outcome, RunFailed):
        status, reason = "failed", outcome.error
    elif isinstance(outcome, RunCancelled):
        status, reason = "cancelled", ""
    else:
        status, reason = "interrupted", ""
    best, best_epoch = None, None
    for ev in (outcome, last_epoch):
        if isinstance(ev, (RunFinished, EpochEnd)) and ev.best_metric is not None:
            best, best_epoch = ev.best_metric, ev.best_epoch
            break
    epochs_done = (
        outcome.epochs_done
        if isinstance(outcome, RunFinished)
        else (last_epoch.epoch if last_epoch else started.start_epoch)
    )
    return RunSummary(
        run_dir,
        run_dir.name,
        started.arch,
        started.task,
        epochs_done,
        last_epoch.epochs if last_epoch else started.epochs,
        started.metric_name,
        best,
        best_epoch,
        elapsed,
        status,
        reason,
        first_t,
        (run_dir / "last.pt").is_file(),
        holder,
    )


def _first_time(log: Path, max_lines: int = 20) -> float:
    """Unix time of the log's first readable event (a torn or empty line is skipped), else the file's mtime."""
    with open(log, "rb") as f:
        for _ in range(max_lines):
            line = f.readline()
            if not line:
                break
            try:
                return float(orjson.loads(line)["t"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
                continue
    return log.stat().st_mtime


def list_runs(
    root: str | Path,
    live: Callable[[Path], bool] = lambda p: False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[RunSummary]:
    """Every run folder directly under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    out = []
    for k, p in enumerate(folders):
        if cancel is not None:
            cancel.raise_if_cancelled()
        s = summarize_run(p, live)
        if s is not None:
            out.append(s)
        progress(k + 1, len(folders), "reading run logs")
    return sorted(out, key=lambda s: -s.started_at)


def delete_run(run_dir: str | Path) -> None:
    """Remove a run folder; refuses a folder that is not a run (no events.jsonl and no checkpoint) and a
    run a live process trains (its run.lock)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StudioError("run folder not found", file=run_dir)
    if not ((run_dir / LOG_NAME).is_file() or (run_dir / "last.pt").is_file()):
        raise StudioError("not a run folder (no events.jsonl or last.pt): not deleting it", file=run_dir)
    held = live_lock(run_dir)
    if held is not None:
        raise RunHeldError(run_dir, held)
    shutil.rmtree(run_dir)
