"""The Train page's jobs: plain Python over ``studio.core`` (no Qt), run in a Worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.training.events import Event, EventKind
from studio.core.training.history import RunHistory
from studio.core.training.run_index import RunSummary, delete_run, list_runs


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
            done = (ev.epoch - 1) * ev.iters_per_epoch + ev.iteration
            total = (history.started.epochs if history.started else ev.epoch) * ev.iters_per_epoch
            progress(done, total, f"epoch {ev.epoch}, iteration {ev.iteration}/{ev.iters_per_epoch}")
        elif on_event is not None:
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
