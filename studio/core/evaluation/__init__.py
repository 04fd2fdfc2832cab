"""Evaluation of predictions: COCO metrics, PR curves, confusion matrix and report files.

The flow of ``studio eval``: predictions -> :func:`to_coco_results` (COCO results form, the
interchange format) -> :func:`evaluate` (pycocotools metrics), :func:`pr_curves`,
:func:`confusion_matrix`, :func:`f1_curves` -> :func:`write_report` (JSON + PNG). Drawing predictions
onto images is :mod:`studio.core.draw`.
"""

from studio.core.evaluation.coco_eval import METRIC_NAMES, EvalResult, evaluate, metric_keys
from studio.core.evaluation.confusion import BACKGROUND, ConfusionMatrix, confusion_matrix
from studio.core.evaluation.curves import ClassCurve, PRCurves, pr_curves
from studio.core.evaluation.f1 import F1Curves, f1_curves
from studio.core.evaluation.report import write_report
from studio.core.evaluation.results import read_results, resolve_results, to_coco_results, write_results

__all__ = [
    "BACKGROUND",
    "METRIC_NAMES",
    "ClassCurve",
    "ConfusionMatrix",
    "EvalResult",
    "F1Curves",
    "PRCurves",
    "confusion_matrix",
    "evaluate",
    "f1_curves",
    "metric_keys",
    "pr_curves",
    "read_results",
    "resolve_results",
    "to_coco_results",
    "write_report",
    "write_results",
]
