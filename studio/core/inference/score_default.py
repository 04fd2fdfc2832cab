"""Which score threshold ``studio predict`` uses when the user names none, and why.

The config's ``model.score_thr`` is a floor for candidates (0.05 by default): right for mAP, which ranks
every detection, too low for drawn predictions. A training run writes the threshold where its best
checkpoint's F1 is highest into its folder (``f1_curve.json``, :mod:`studio.core.evaluation.f1`). The
rule, in order:

1. ``--score-thr`` when given: the user's word is final;
2. the run's F1-optimal threshold, when the checkpoint holds the very weights that were evaluated (its
   epoch is the run's best epoch and the file's metrics hold its best metric);
3. the config's ``model.score_thr``.

An export records rule 2's value in the model's metadata, and ``studio infer`` follows the same rule with
it (:func:`exported_score_thr`). The choice is never silent: :meth:`ScoreChoice.describe` says which one was
used and where it came from, and the front ends print it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.core.evaluation.f1 import Optimum, read_suggestion

if TYPE_CHECKING:  # types only: the checkpoint module imports torch
    from studio.core.checkpoint import Checkpoint

OPTION, F1, CONFIG, FLOOR = "option", "f1", "config", "floor"


@dataclass(frozen=True)
class ScoreChoice:
    """The threshold predictions use (``value``) and which rule gave it (``origin``: OPTION, F1, CONFIG or, for an
    exported model, FLOOR)."""

    value: float
    origin: str
    source: Path | None = None  # the f1_curve.json of an F1 choice
    optimum: Optimum | None = None

    def describe(self) -> str:
        """One line for the user: the value, where it comes from, how to change it."""
        if self.origin == OPTION:
            return f"score threshold {self.value:g} (--score-thr)"
        if self.origin == F1 and self.optimum is None:  # an exported model: its metadata holds the value only
            return (
                f"score threshold {self.value:.2f}: where F1 was highest on the run's val set "
                "(the model's metadata); --score-thr overrides"
            )
        if self.origin == F1:
            o = self.optimum
            return (
                f"score threshold {self.value:.2f}: where F1 is highest on the run's val set "
                f"(F1 {o.f1:.3f}, precision {o.precision:.3f}, recall {o.recall:.3f}; {self.source}); "
                "--score-thr overrides"
            )
        if self.origin == FLOOR:
            return f"score threshold {self.value:g} (the lowest the exported graph keeps; --score-thr raises it)"
        return f"score threshold {self.value:g} (the config's model.score_thr; --score-thr overrides)"


def choose_score_thr(ck: Checkpoint, score_thr: float | None) -> ScoreChoice:
    """The threshold for predicting with ``ck`` (see the module docstring); ``score_thr`` is already checked."""
    if score_thr is not None:
        return ScoreChoice(float(score_thr), OPTION)
    d = ck.data
    found = read_suggestion(
        ck.path.parent,
        epoch=ck.epoch,
        best_epoch=d.get("best_epoch"),
        metric_name=d.get("metric_name"),
        best_metric=d.get("best_metric"),
    )
    if found is not None:
        optimum, path = found
        return ScoreChoice(optimum.score, F1, path, optimum)
    return ScoreChoice(float(ck.config.model.score_thr), CONFIG)


def suggested_score_thr(ck: Checkpoint) -> float | None:
    """The run's F1-optimal threshold for ``ck`` (rule 2 above), None without one: what an export records in
    its model's metadata for ``studio infer``."""
    choice = choose_score_thr(ck, None)
    return choice.value if choice.origin == F1 else None


def exported_score_thr(floor: float, suggested: float | None, score_thr: float | None) -> ScoreChoice:
    """The same rule for an exported model: ``--score-thr``, else the F1-optimal threshold its metadata
    records, else the graph's own floor ``floor``. Never below the floor: the graph dropped those already."""
    if score_thr is not None:
        return ScoreChoice(max(float(score_thr), floor), OPTION)
    if suggested is not None:
        return ScoreChoice(max(float(suggested), floor), F1)
    return ScoreChoice(floor, FLOOR)
