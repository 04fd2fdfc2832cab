"""The Train page's jobs: plain Python over ``studio.core`` (no Qt), run in a Worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.text import format_duration
from studio.core.training.events import Event, EventKind, IterationEnd, RunStarted, run_progress
from studio.core.training.history import RunHistory
from studio.core.training.run_index import RunSummary, delete_run, list_runs

PROGRESS_STEPS = 1000  # the status bar's progress of a run, in thousandths
_OUTCOME = {EventKind.FINISHED: "finished", EventKind.CANCELLED: "stopped", EventKind.FAILED: "failed"}


def training_progress(started: RunStarted | None, it: IterationEnd) -> tuple[int, int, str]:
    """(done, total, message) of a run at iteration ``it`` for the status bar: with a time limit the run is
    measured in time (a run the limit ends at 32 % of its epochs ends at 100 %), else in iterations."""
    done = round(run_progress(started, it) * PROGRESS_STEPS)
    epochs = started.epochs if started is not None else it.epoch
    where = f"epoch {it.epoch}/{epochs}, iteration {it.iteration}/{it.iters_per_epoch}"
    if started is not None and started.time_limit_s:
        where = f"{format_duration(it.elapsed_s)} of {format_duration(started.time_limit_s)}, epoch {it.epoch}"
    return done, PROGRESS_STEPS, where


def run_training(
    config: Path,
    run_dir: Path,
    history: RunHistory,
    *,
    resume: Path | None = None,
    overrides: Sequence[str] = (),
    on_event: Callable[[Event], None] | None = None,
    isolate: bool = True,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """Train ``config`` into ``run_dir`` (continuing ``resume`` when given), filling ``history`` as events come.

    ``isolate``: the trainer runs in a child process (this thread relays its events), so its Python work
    never competes with the GUI thread for the GIL. The history is written from this (worker) thread
    under its lock; the page's chart timer reads it. ``on_event`` gets the events the page reacts to at
    once (not iterations: those only feed the charts).
    """
    from studio.core.training.runs import train_job  # deferred: pydantic

    def cb(ev: Event) -> None:
        history.add(ev)
        if ev.kind is EventKind.ITERATION:
            progress(*training_progress(history.started, ev))
            return
        if ev.kind in _OUTCOME:
            progress(PROGRESS_STEPS, PROGRESS_STEPS, f"{_OUTCOME[ev.kind]}; closing the training process")
        if on_event is not None:
            on_event(ev)

    return train_job(
        config, overrides=overrides, work_dir=run_dir, resume=resume, callbacks=[cb], cancel=cancel, isolate=isolate
    )


def load_history(run_dir: Path, progress: Progress = no_progress, cancel: CancelToken | None = None) -> RunHistory:
    progress(0, 1, f"reading {run_dir.name}")
    return RunHistory.from_run(run_dir)


def load_histories(
    run_dirs: Sequence[Path], progress: Progress = no_progress, cancel: CancelToken | None = None
) -> list[RunHistory]:
    out = []
    for k, d in enumerate(run_dirs):
        if cancel is not None:
            cancel.raise_if_cancelled()
        out.append(RunHistory.from_run(d))
        progress(k + 1, len(run_dirs), f"reading {d.name}")
    return out


def scan_runs(
    root: Path, live: Sequence[Path] = (), progress: Progress = no_progress, cancel: CancelToken | None = None
) -> list[RunSummary]:
    live_set = {Path(p).resolve() for p in live}
    return list_runs(root, live=lambda p: p.resolve() in live_set, progress=progress, cancel=cancel)


def delete_runs(run_dirs: Sequence[Path], progress: Progress = no_progress, cancel: CancelToken | None = None) -> int:
    for k, d in enumerate(run_dirs):
        delete_run(d)
        progress(k + 1, len(run_dirs), f"deleted {d.name}")
    return len(run_dirs)
