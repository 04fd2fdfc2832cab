"""Precision, recall and F1 as functions of the score threshold, and the threshold where F1 is highest.

mAP ranks detections and never says which score to cut at; a deployed model needs one threshold. Here,
for each class and IoU type, the detections pycocotools matched at IoU 0.5 (:class:`ClassMatches`, the
same matches as the mAP) are counted at every threshold 0.00, 0.01 ... 1.00: a detection is kept when its
score is at least the threshold. The grid is the precision a user types as ``--score-thr``.

The "all classes" curve is the mean over the classes that have ground truth of their F1 (and of their
precision and recall), as Ultralytics' F1_curve.png draws it: every class weighs the same, so a rare
class is not drowned by a frequent one. The suggested threshold is where that mean F1 is highest; on a
plateau, the highest threshold of it (the same F1 with the fewest detections). A model that finds
nothing (best F1 0) suggests no threshold.

A training run writes this into its folder with the best checkpoint's evaluation (``f1_curve.json``),
with the metrics of that evaluation: :func:`read_suggestion` gives the suggestion back for a checkpoint
whose best epoch it is, so ``studio predict`` can use it as its default threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.dataset.model import read_json
from studio.core.errors import StudioError
from studio.core.evaluation.coco_eval import ClassMatches, EvalResult

F1_CURVE_JSON = "f1_curve.json"
F1_CURVE_PNG = "f1_curve.png"
IOU_THR = 0.5
THRESHOLDS = [round(i / 100, 2) for i in range(101)]  # 0.00 ... 1.00
_EPS = 1e-9  # scores are rounded to 5 decimals: 0.3 must count at threshold 0.30


@dataclass(frozen=True)
class Optimum:
    """Where a curve's F1 is highest: the threshold and the precision / recall / F1 there."""

    score: float
    f1: float
    precision: float
    recall: float

    def to_dict(self) -> dict[str, float]:
        return {"score": self.score, "f1": self.f1, "precision": self.precision, "recall": self.recall}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Optimum:
        return cls(float(d["score"]), float(d["f1"]), float(d["precision"]), float(d["recall"]))


@dataclass(frozen=True)
class ClassF1:
    """One class's precision / recall / F1 at each of :data:`THRESHOLDS`; ``None`` curves without GT."""

    name: str
    category_id: int
    num_gt: int
    precision: list[float] | None
    recall: list[float] | None
    f1: list[float] | None
    best: Optimum | None  # None without GT or when nothing is ever found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category_id": self.category_id,
            "num_gt": self.num_gt,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "best": self.best.to_dict() if self.best else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassF1:
        best = Optimum.from_dict(d["best"]) if d.get("best") else None
        return cls(d["name"], d["category_id"], int(d["num_gt"]), d["precision"], d["recall"], d["f1"], best)


@dataclass(frozen=True)
class MeanF1:
    """The class-averaged curves of one IoU type and where their F1 is highest."""

    precision: list[float]
    recall: list[float]
    f1: list[float]
    best: Optimum | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "best": self.best.to_dict() if self.best else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MeanF1:
        best = Optimum.from_dict(d["best"]) if d.get("best") else None
        return cls(d["precision"], d["recall"], d["f1"], best)


@dataclass(frozen=True)
class F1Curves:
    """``classes[iou_type]``: one :class:`ClassF1` per class in the evaluation's order; ``mean[iou_type]``:
    their average (absent when no class has GT). ``metrics``: the evaluation's flat metrics, which tie a
    written file to the checkpoint it scored (:func:`read_suggestion`)."""

    thresholds: list[float]
    classes: dict[str, list[ClassF1]] = field(default_factory=dict)
    mean: dict[str, MeanF1] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    iou_thr: float = IOU_THR

    @property
    def iou_types(self) -> list[str]:
        return list(self.classes)

    @property
    def suggested_type(self) -> str | None:
        """The IoU type the suggestion comes from: masks when evaluated (a mask model is judged by them)."""
        for t in ("segm", "bbox"):
            if t in self.mean:
                return t
        return next(iter(self.mean), None)

    @property
    def suggestion(self) -> Optimum | None:
        """The score threshold that maximises the mean F1 (see the module docstring)."""
        t = self.suggested_type
        return self.mean[t].best if t is not None else None

    def best_for(self, iou_type: str, class_name: str | None = None) -> Optimum | None:
        """Where F1 is highest for one class of ``iou_type`` (by name), or over all of them (``None``)."""
        if class_name is None:
            mean = self.mean.get(iou_type)
            return mean.best if mean is not None else None
        return next((c.best for c in self.classes.get(iou_type, []) if c.name == class_name), None)

    def to_dict(self) -> dict[str, Any]:
        best = self.suggestion
        return {
            "iou_thr": self.iou_thr,
            "thresholds": list(self.thresholds),
            "suggested": {"iou_type": self.suggested_type, **best.to_dict()} if best else None,
            "metrics": dict(self.metrics),
            "iou_types": {
                t: {"classes": [c.to_dict() for c in cs], "mean": self.mean[t].to_dict() if t in self.mean else None}
                for t, cs in self.classes.items()
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> F1Curves:
        types = d["iou_types"]
        return cls(
            list(d["thresholds"]),
            {t: [ClassF1.from_dict(c) for c in v["classes"]] for t, v in types.items()},
            {t: MeanF1.from_dict(v["mean"]) for t, v in types.items() if v.get("mean")},
            dict(d.get("metrics") or {}),
            float(d.get("iou_thr", IOU_THR)),
        )


def f1_curves(result: EvalResult) -> F1Curves:
    """The F1 curves of every IoU type and class of ``result`` (see the module docstring)."""
    classes: dict[str, list[ClassF1]] = {}
    mean: dict[str, MeanF1] = {}
    for iou_type in result.iou_types:
        per_class = []
        for cid, name, m in zip(result.cat_ids, result.class_names, result.matches.get(iou_type, [])):
            per_class.append(class_f1(name, cid, m))
        classes[iou_type] = per_class
        with_gt = [c for c in per_class if c.f1 is not None]
        if with_gt:
            p, r, f = (np.mean([getattr(c, k) for c in with_gt], axis=0) for k in ("precision", "recall", "f1"))
            mean[iou_type] = MeanF1(_rounded(p), _rounded(r), _rounded(f), _optimum(p, r, f))
    return F1Curves(list(THRESHOLDS), classes, mean, dict(result.metrics))


def class_f1(name: str, category_id: int, m: ClassMatches) -> ClassF1:
    """Precision / recall / F1 of one class at every threshold; no curves when it has no GT object."""
    if m.num_gt == 0:
        return ClassF1(name, category_id, 0, None, None, None, None)
    p, r, f = prf_at(m.scores, m.tp, m.num_gt, THRESHOLDS)
    return ClassF1(name, category_id, m.num_gt, _rounded(p), _rounded(r), _rounded(f), _optimum(p, r, f))


def prf_at(
    scores: np.ndarray, tp: np.ndarray, num_gt: int, thresholds: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 of the detections scoring at least each threshold.

    Precision is 1 where nothing is kept (no false alarm), recall and F1 are then 0.
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    s = np.asarray(scores, np.float64)[order]
    ctp = np.concatenate([[0], np.cumsum(np.asarray(tp, bool)[order])])
    # detections kept at threshold t: those with score >= t, a prefix of the descending order
    kept = np.searchsorted(-s, -(np.asarray(thresholds) - _EPS), side="right")
    n_tp = ctp[kept].astype(np.float64)
    precision = np.where(kept > 0, n_tp / np.maximum(kept, 1), 1.0)
    recall = n_tp / num_gt
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return precision, recall, f1


def _optimum(p: np.ndarray, r: np.ndarray, f: np.ndarray) -> Optimum | None:
    """The highest threshold at which F1 is at its maximum; None when F1 is 0 everywhere."""
    top = float(np.max(f))
    if top <= 0:
        return None
    i = int(np.nonzero(f >= top - 1e-12)[0][-1])
    return Optimum(THRESHOLDS[i], round(float(f[i]), 5), round(float(p[i]), 5), round(float(r[i]), 5))


def _rounded(a: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in a]


def suggestion_line(curves: F1Curves) -> str:
    """The one line ``studio eval`` prints: where F1 is highest and the option that applies it."""
    best = curves.suggestion
    if best is None:
        return "F1 is 0 at every score threshold: no threshold to suggest"
    what = curves.suggested_type
    if len(curves.classes[what]) > 1:
        what += ", mean over classes"
    return (
        f"F1 is highest at score >= {best.score:.2f} (F1 {best.f1:.3f}, precision {best.precision:.3f}, "
        f"recall {best.recall:.3f}; {what}, IoU {curves.iou_thr:g}): use --score-thr {best.score:.2f}"
    )


def read_curves(path: str | Path) -> F1Curves:
    """An ``f1_curve.json``; StudioError naming the file when it is not one."""
    data = read_json(path)
    try:
        return F1Curves.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise StudioError(f"not an F1 curve file ({type(e).__name__}: {e})", file=path) from None


def read_suggestion(
    folder: str | Path, *, epoch: int, best_epoch: int | None, metric_name: str | None, best_metric: float | None
) -> tuple[Optimum, Path] | None:
    """The F1-optimal threshold a training run wrote into ``folder`` for its best checkpoint, when a checkpoint
    with these values holds those very weights: it is the best epoch's, and the file's metrics hold its best
    metric. None otherwise (no file, an older run, another epoch, or an unreadable file: the suggestion is a
    convenience, never a reason to fail a prediction)."""
    path = Path(folder) / F1_CURVE_JSON
    if best_epoch is None or epoch != best_epoch or metric_name is None or best_metric is None or not path.is_file():
        return None
    try:
        curves = read_curves(path)
    except (StudioError, OSError):
        return None
    value = curves.metrics.get(metric_name)
    if value is None or not math.isclose(float(value), float(best_metric), rel_tol=0, abs_tol=1e-9):
        return None
    best = curves.suggestion
    return (best, path) if best is not None else None
