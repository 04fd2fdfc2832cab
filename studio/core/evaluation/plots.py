"""PNG plots of an evaluation: precision/recall curves and the confusion matrix.

Drawn with matplotlib's object API (``Figure`` + ``FigureCanvasAgg``) and never ``pyplot``: pyplot
picks a GUI backend and keeps global figure state, which breaks in worker threads and headless runs.
Classes keep their palette colour (the GUI's), darkened when too light to read on white.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from studio.core import atomic
from studio.core.evaluation.confusion import ConfusionMatrix
from studio.core.evaluation.curves import PRCurves
from studio.core.evaluation.f1 import F1Curves
from studio.core.palette import class_color_rgb

_MAX_LEGEND = 20  # classes listed one by one in the PR legend; more get grey lines
_MAX_ANNOTATED = 30  # confusion cells get their count written up to this many rows


def plot_pr_curves(curves: PRCurves, path: str | Path, dpi: int = 120) -> Path:
    """One panel per IoU type: each class's precision/recall at IoU 0.5, AP@0.5 in the legend."""
    from matplotlib.figure import Figure  # deferred: matplotlib

    types = curves.iou_types or ["bbox"]
    fig = Figure(figsize=(6.2 * len(types), 5.6), layout="constrained")
    recall = np.asarray(curves.recall)
    for i, iou_type in enumerate(types):
        ax = fig.add_subplot(1, len(types), i + 1)
        classes = curves.curves.get(iou_type, [])
        with_gt = [c for c in classes if c.precision_50 is not None]
        many = len(with_gt) > _MAX_LEGEND
        for j, c in enumerate(with_gt):
            if many:
                ax.plot(
                    recall,
                    c.precision_50,
                    color="0.7",
                    linewidth=0.8,
                    label=f"{len(with_gt)} classes" if j == 0 else None,
                )
            else:
                ax.plot(
                    recall,
                    c.precision_50,
                    color=_line_color(c.category_id),
                    linewidth=1.6,
                    label=f"{c.name}  {c.ap50:.3f}",
                )
        mean = curves.mean_precision_50(iou_type)
        if mean is not None and len(with_gt) > 1:  # with one class the mean would hide it
            m_ap = float(np.mean(mean))
            ax.plot(recall, mean, color="#1a1a1a", linewidth=3.0, label=f"all classes  {m_ap:.3f}")
        no_gt = [c.name for c in classes if c.precision_50 is None]
        title = f"{_type_title(iou_type)}: precision / recall at IoU 0.5"
        if no_gt:
            title += f"\n(no ground truth: {', '.join(no_gt[:5])}{'...' if len(no_gt) > 5 else ''})"
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal")
        ax.grid(True, color="0.88", linewidth=0.6)
        if mean is None:
            ax.text(0.5, 0.5, "no ground-truth objects", ha="center", va="center", color="0.4")
        else:
            ax.legend(loc="lower left", fontsize=8, title="AP@0.5", title_fontsize=8, framealpha=0.9)
    return _save(fig, path, dpi)


def plot_f1_curves(curves: F1Curves, path: str | Path, dpi: int = 120) -> Path:
    """One panel per IoU type: each class's F1 against the score threshold, the mean over classes thick, and
    a dashed line where the mean F1 is highest (Ultralytics' F1_curve.png)."""
    from matplotlib.figure import Figure  # deferred: matplotlib

    types = curves.iou_types or ["bbox"]
    fig = Figure(figsize=(6.2 * len(types), 5.0), layout="constrained")
    x = np.asarray(curves.thresholds)
    for i, iou_type in enumerate(types):
        ax = fig.add_subplot(1, len(types), i + 1)
        with_gt = [c for c in curves.classes.get(iou_type, []) if c.f1 is not None]
        many = len(with_gt) > _MAX_LEGEND
        for j, c in enumerate(with_gt):
            if many:
                label = f"{len(with_gt)} classes" if j == 0 else None
                ax.plot(x, c.f1, color="0.7", linewidth=0.8, label=label)
            else:
                best = f"{c.best.f1:.2f} at {c.best.score:.2f}" if c.best else "0"
                ax.plot(x, c.f1, color=_line_color(c.category_id), linewidth=1.4, label=f"{c.name}  {best}")
        mean = curves.mean.get(iou_type)
        if mean is not None and mean.best is not None:
            if len(with_gt) > 1:
                label = f"all classes  {mean.best.f1:.2f} at {mean.best.score:.2f}"
                ax.plot(x, mean.f1, color="#1a1a1a", linewidth=3.0, label=label)
            ax.axvline(mean.best.score, color="#1a1a1a", linestyle="--", linewidth=1.0)
        ax.set_title(f"{_type_title(iou_type)}: F1 / score threshold at IoU {curves.iou_thr:g}", fontsize=11)
        ax.set_xlabel("score threshold")
        ax.set_ylabel("F1")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(True, color="0.88", linewidth=0.6)
        if mean is None:
            ax.text(0.5, 0.5, "no ground-truth objects", ha="center", va="center", color="0.4")
        else:
            ax.legend(loc="lower left", fontsize=8, title="best F1", title_fontsize=8, framealpha=0.9)
    return _save(fig, path, dpi)


def plot_confusion_matrix(cm: ConfusionMatrix, path: str | Path, dpi: int = 120) -> Path:
    """The matrix coloured by the row-normalised share (where each true class went), counts written in."""
    from matplotlib.figure import Figure  # deferred: matplotlib

    n = len(cm.names)
    side = min(max(4.8, 0.55 * n + 2.4), 30.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    norm = cm.normalized()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the row (objects of the true class)")
    # the figure grows with the classes, so a cell keeps about the same size: so can the text
    font = 9 if n <= 12 else 7
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(cm.names, rotation=45, ha="right", rotation_mode="anchor", fontsize=font)
    ax.set_yticklabels(cm.names, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (IoU ≥ {cm.iou_thr:g}, score ≥ {cm.score_thr:g})", fontsize=11)
    # background: separate it from the classes with thin lines
    ax.axhline(n - 1.5, color="0.5", linewidth=0.8)
    ax.axvline(n - 1.5, color="0.5", linewidth=0.8)
    if n <= _MAX_ANNOTATED:
        for t in range(n):
            for p in range(n):
                count = int(cm.counts[t, p])
                missed_all = t == p < n - 1 and cm.counts[t].sum() > 0  # a 0 % diagonal is worth showing
                if count == 0 and not missed_all:
                    continue
                share = norm[t, p]
                label = f"{count}" if t == n - 1 else f"{count}\n{share:.0%}"
                ax.text(
                    p, t, label, ha="center", va="center", fontsize=font, color="white" if share > 0.55 else "#1a1a1a"
                )
    return _save(fig, path, dpi)


def _save(fig, path: str | Path, dpi: int) -> Path:
    """Render with the Agg canvas and write the PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: matplotlib

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)


def _line_color(category_id: int) -> tuple[float, float, float]:
    """The class colour, darkened when it is too light to show on a white plot."""
    r, g, b = class_color_rgb(category_id)
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    f = 0.6 if lum > 190 else 1.0
    return (r * f / 255.0, g * f / 255.0, b * f / 255.0)


def _type_title(iou_type: str) -> str:
    return {"bbox": "Boxes", "segm": "Masks"}.get(iou_type, iou_type)
