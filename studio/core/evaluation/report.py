"""The evaluation report folder: metrics, curves and confusion matrix as JSON and PNG.

One function writes everything ``studio eval`` leaves behind, so the CLI, the GUI and the trainer's
final evaluation produce the same files. Every file is written atomically: a report folder never
holds a half-written JSON next to a fresh PNG.
"""

from __future__ import annotations

from pathlib import Path

from studio.core import atomic
from studio.core.evaluation.coco_eval import EvalResult
from studio.core.evaluation.confusion import ConfusionMatrix
from studio.core.evaluation.curves import PRCurves, pr_curves
from studio.core.evaluation.f1 import F1_CURVE_JSON, F1_CURVE_PNG, f1_curves
from studio.core.evaluation.plots import plot_confusion_matrix, plot_f1_curves, plot_pr_curves

METRICS_JSON = "metrics.json"
SUMMARY_TXT = "coco_summary.txt"
PR_CURVES_JSON = "pr_curves.json"
PR_CURVES_PNG = "pr_curves.png"
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"


def write_report(
    out_dir: str | Path,
    eval_result: EvalResult,
    confusion: ConfusionMatrix | None = None,
    curves: PRCurves | None = None,
) -> dict[str, Path]:
    """Write the report files into ``out_dir``; returns ``{file name: path}`` of what was written.

    ``metrics.json`` holds the flat metric keys (``null`` where pycocotools has no value),
    ``per_class``, ``iou_types``, ``num_images`` and ``num_results``; ``coco_summary.txt`` is
    pycocotools' familiar printout. ``f1_curve.json`` / ``.png`` hold precision, recall and F1 against the
    score threshold and the threshold where F1 is highest (:mod:`studio.core.evaluation.f1`). Curves
    default to those of ``eval_result``; the confusion files are skipped when no matrix is given.
    """
    out = Path(out_dir)
    atomic.ensure_dir(out)
    curves = curves if curves is not None else pr_curves(eval_result)
    written: dict[str, Path] = {}

    def put_json(name: str, obj) -> None:
        atomic.write_json(out / name, obj, indent=True)
        written[name] = out / name

    put_json(METRICS_JSON, eval_result.to_dict())
    atomic.write_text(out / SUMMARY_TXT, eval_result.summary_text)
    written[SUMMARY_TXT] = out / SUMMARY_TXT
    put_json(PR_CURVES_JSON, curves.to_dict())
    written[PR_CURVES_PNG] = plot_pr_curves(curves, out / PR_CURVES_PNG)
    f1 = f1_curves(eval_result)
    put_json(F1_CURVE_JSON, f1.to_dict())
    written[F1_CURVE_PNG] = plot_f1_curves(f1, out / F1_CURVE_PNG)
    if confusion is not None:
        put_json(CONFUSION_JSON, confusion.to_dict())
        written[CONFUSION_PNG] = plot_confusion_matrix(confusion, out / CONFUSION_PNG)
    return written
