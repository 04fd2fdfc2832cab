"""Scene items of the Predictions tab: ground truth and predictions coloured by their match outcome.

The colour, label and tool tip of each object come from :mod:`studio.core.draw` (``ground_truth_marks``,
``prediction_marks``: true positives green, false positives red, missed objects orange, predictions on
crowd objects / ignore regions grey); this module turns them into Qt items. Ground truth is drawn dashed,
predictions solid, so the two stay apart when overlaid. Only what the matching already decided is
drawn: no computation here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsPolygonItem, QGraphicsRectItem, QGraphicsScene

from studio.core.detections import FN, Detections
from studio.core.draw import OUTCOME_COLORS, ground_truth_marks, prediction_marks
from studio.core.evaluation.matching import ImageMatch
from studio.gui.common import palette
from studio.gui.common.overlays import LabelItem, cosmetic_pen, mask_image, qpolygon

COLORS = {k: QColor(v) for k, v in OUTCOME_COLORS.items()}  # TP, FP, FN, IGNORED (studio.core.draw)
Z_MASK, Z_SHAPE, Z_LABEL, Z_SELECTED = 1, 3, 5, 10


def qimage_of(rgb: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage owning its pixels."""
    a = np.ascontiguousarray(rgb[..., :3])
    h, w = a.shape[:2]
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888).copy()


def _add(scene: QGraphicsScene, item, z: float, tip: str = ""):
    item.setZValue(z)
    if tip:
        item.setToolTip(tip)
    scene.addItem(item)
    return item


def _label(scene: QGraphicsScene, text: str, color: QColor, x: float, y: float) -> LabelItem:
    item = LabelItem(text, color)
    item.setPos(x, y)
    return _add(scene, item, Z_LABEL)


def draw_ground_truth(
    scene: QGraphicsScene,
    anns: Sequence[dict],
    match: ImageMatch | None,
    class_name,
    cat_ids: Sequence[Any],
    labels: bool = True,
) -> int:
    """Dashed outlines of the GT objects: green when matched, orange when missed. Returns the items' count."""
    n = 0
    for ann, mark in ground_truth_marks(anns, match, class_name, cat_ids):
        color, missed = QColor(mark.color), mark.outcome == FN
        pen = cosmetic_pen(color, 2.2 if missed else 1.6, Qt.PenStyle.DashLine)
        seg = ann.get("segmentation")
        if isinstance(seg, list) and seg:
            for part in seg:
                if isinstance(part, list) and len(part) >= 6:
                    poly = QGraphicsPolygonItem(qpolygon(part))
                    poly.setPen(pen)
                    fill = QColor(color)
                    fill.setAlphaF(0.12)
                    poly.setBrush(QBrush(fill))
                    _add(scene, poly, Z_SHAPE, mark.tip)
                    n += 1
        x, y, w, h = (float(v) for v in ann["bbox"])
        box = QGraphicsRectItem(QRectF(x, y, w, h))
        box.setPen(cosmetic_pen(color, 1.0, Qt.PenStyle.DashLine))
        _add(scene, box, Z_SHAPE, mark.tip)
        n += 1
        if labels:
            _label(scene, mark.label, color, x, y + h + 16)
    return n


def draw_predictions(
    scene: QGraphicsScene,
    dets: Detections,
    match: ImageMatch | None,
    score_thr: float,
    class_names: Sequence[str],
    masks: bool = True,
    selected: int | None = None,
    labels: bool = True,
) -> int:
    """Solid boxes (and masks) of the detections at or above ``score_thr``, coloured TP / FP / ignored."""
    n = 0
    for i, mark in prediction_marks(dets, match, score_thr, class_names):  # the best on top
        color = QColor(mark.color)
        sel = i == selected
        if masks and dets.masks is not None and dets.masks[i].any():
            pix = QGraphicsPixmapItem(QPixmap.fromImage(mask_image(dets.masks[i], color)))
            pix.setOpacity(0.55 if sel else 0.3)
            _add(scene, pix, Z_SELECTED - 1 if sel else Z_MASK, mark.tip)
            n += 1
        x0, y0, x1, y1 = (float(v) for v in dets.boxes[i])
        box = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
        box.setPen(cosmetic_pen(palette.SELECTION if sel else color, 3.0 if sel else 1.8))
        _add(scene, box, Z_SELECTED if sel else Z_SHAPE, mark.tip)
        n += 1
        if labels or sel:
            _label(scene, mark.label, palette.SELECTION if sel else color, x0, y0)
    return n
