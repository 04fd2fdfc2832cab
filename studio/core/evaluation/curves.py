"""Per-class precision/recall curves, read from pycocotools' accumulated precision.

pycocotools already computes, for each class, the interpolated precision at 101 recall levels
(0, 0.01 ... 1) for every IoU threshold; its AP is the mean of those values. Plotting that same grid
keeps the curves and the AP numbers in the legend consistent by construction. Curves are plain lists
so they go to JSON (``pr_curves.json``) and to the GUI as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core.evaluation.coco_eval import EvalResult


@dataclass(frozen=True)
class ClassCurve:
    """One class's precision at each recall level; ``None`` curves for a class without GT."""

    name: str
    category_id: int
    ap: float | None  # AP@[.5:.95], the mean of ``precision``
    ap50: float | None  # AP@.5, the mean of ``precision_50``
    precision_50: list[float] | None  # at IoU 0.5
    precision: list[float] | None  # averaged over IoU 0.5:0.95

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category_id": self.category_id,
            "AP": self.ap,
            "AP50": self.ap50,
            "precision_50": self.precision_50,
            "precision": self.precision,
        }


@dataclass(frozen=True)
class PRCurves:
    """``curves[iou_type]`` lists one :class:`ClassCurve` per class, in the evaluation's class order."""

    recall: list[float]
    curves: dict[str, list[ClassCurve]] = field(default_factory=dict)

    @property
    def iou_types(self) -> list[str]:
        return list(self.curves)

    def mean_precision_50(self, iou_type: str) -> list[float] | None:
        """The class-averaged curve at IoU 0.5 (its mean is mAP@.5); ``None`` when no class has GT."""
        rows = [c.precision_50 for c in self.curves.get(iou_type, []) if c.precision_50 is not None]
        if not rows:
            return None
        return [round(float(v), 5) for v in np.mean(np.asarray(rows), axis=0)]

    def to_dict(self) -> dict[str, Any]:
        per_type = {t: [c.to_dict() for c in cs] for t, cs in self.curves.items()}
        return {"recall": list(self.recall), "iou_types": per_type}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PRCurves:
        curves = {
            t: [
                ClassCurve(c["name"], c["category_id"], c["AP"], c["AP50"], c["precision_50"], c["precision"])
                for c in cs
            ]
            for t, cs in d["iou_types"].items()
        }
        return cls(list(d["recall"]), curves)


def pr_curves(result: EvalResult) -> PRCurves:
    """Precision at each of pycocotools' recall levels, per IoU type and class (area all, 100 dets)."""
    recall = [float(r) for r in result.recall_thresholds] or [round(r, 2) for r in np.linspace(0, 1, 101)]
    iou_thrs = np.asarray(result.iou_thresholds or np.linspace(0.5, 0.95, 10))
    i50 = int(np.argmin(np.abs(iou_thrs - 0.5)))
    curves: dict[str, list[ClassCurve]] = {}
    for iou_type in result.iou_types:
        prec = result.precision[iou_type]  # (T, R, K)
        out = []
        for k, (cid, name) in enumerate(zip(result.cat_ids, result.class_names)):
            p = prec[:, :, k]
            if (p > -1).any():
                p = np.where(p > -1, p, 0.0)
                p50 = p[i50]
                pm = p.mean(axis=0)
                out.append(ClassCurve(name, cid, float(pm.mean()), float(p50.mean()), _rounded(p50), _rounded(pm)))
            else:
                out.append(ClassCurve(name, cid, None, None, None, None))
        curves[iou_type] = out
    return PRCurves(recall, curves)


def _rounded(a: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in a]
