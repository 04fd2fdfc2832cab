"""Python API matching ``studio label auto | accept | next``, and retraining a run on a grown labelled set.

Returns data and raises :class:`studio.core.errors.StudioError` with a message naming the file and the
option or item at fault. The building blocks (``propose``, ``apply_proposals``, ``rank_images``) are in
:mod:`studio.core.labelling`; the window calls them directly in its workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from studio.core.dataset.provenance import AcceptSummary
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken
from studio.core.labelling.accept import accept_file
from studio.core.labelling.auto import auto_label
from studio.core.labelling.rank import label_next, label_next_report
from studio.core.training.run_index import summarize_run

__all__ = ["label_auto", "label_accept", "label_next", "label_next_report", "retrain"]


label_auto = auto_label  # `studio label auto MODEL ANN -o OUT`: pending proposals for the unlabelled images


def label_accept(
    ann: str | Path, out: str | Path, *, min_score: float, reject_below: float | None = None
) -> AcceptSummary:
    """``studio label accept``: accept pending proposals scoring ``min_score`` or more (reject those under
    ``reject_below``); returns the counts."""
    return accept_file(ann, out, min_score=min_score, reject_below=reject_below)


def retrain(
    run_dir: str | Path,
    *,
    epochs_more: int,
    time_limit: float | None = None,
    overrides: Iterable[str] = (),
    callbacks: Iterable[Callable] = (),
    cancel: CancelToken | None = None,
):
    """Continue the run in ``run_dir`` for ``epochs_more`` epochs on its annotation files as they are now (the
    grown labelled set; pending proposals stay out of training), as ``studio train RUN/config.yaml --resume
    RUN/last.pt --set train.epochs=+N`` does. ``time_limit``: seconds for the extension (None: none).
    Returns the RunResult."""
    run_dir = Path(run_dir)
    if int(epochs_more) < 1:
        raise StudioError(f"epochs_more must be at least 1, got {epochs_more}")
    cfg, last = run_dir / "config.yaml", run_dir / "last.pt"
    for p in (cfg, last):
        if not p.is_file():
            raise StudioError("not a run folder to continue: file missing", file=p)
    from studio.core.training.runs import train_job  # deferred: pydantic

    sets = [f"train.epochs=+{int(epochs_more)}", *overrides]
    if time_limit is not None:
        sets.append(f"train.time_limit={float(time_limit) + elapsed_seconds(run_dir):g}")
    return train_job(cfg, overrides=sets, work_dir=run_dir, resume=last, callbacks=callbacks, cancel=cancel)


def elapsed_seconds(run_dir: Path) -> float:
    """Training seconds the run has used (its time limit counts them too), from its events."""
    s = summarize_run(run_dir)
    return float(s.duration_s) if s is not None else 0.0
