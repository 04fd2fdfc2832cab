"""Graphics items for one image's annotations: polygon parts, RLE mask layers, boxes, labels, ignore regions.

:func:`build_overlays` turns COCO records into items in a scene and returns an :class:`Overlays` handle
that toggles layers, sets the fill opacity and highlights one annotation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QStyleOptionGraphicsItem,
    QWidget,
)

from studio.core.dataset.provenance import is_pending
from studio.core.geometry import is_rle, segmentation_to_mask
from studio.gui.common import palette

log = logging.getLogger("studio.gui.overlays")

ANN_ID_KEY = 0  # QGraphicsItem.data key holding the annotation id
LAYER_KEY = 1  # "polygon", "mask", "box", "label", "ignore"

Z_MASK, Z_POLYGON, Z_IGNORE, Z_BOX, Z_LABEL, Z_SELECTED = 1, 2, 3, 4, 5, 10
PENDING_TAG = QColor(24, 24, 28, 215)  # the background of a pending proposal's tag
PENDING_FILL = 0.5  # a pending proposal's fill is this much of an accepted shape's


class LabelItem(QGraphicsItem):
    """A class-name tag in the class colour; stays the same size at any zoom. A pending proposal's tag (``pending``)
    is dark with a dashed border in the class colour, and carries the score."""

    def __init__(self, text: str, color: QColor, pending: bool = False):
        super().__init__()
        self.text, self.color, self.pending = text, color, pending
        self.font = QFont()
        self.font.setPointSizeF(8.5)
        self.font.setBold(True)
        fm = QFontMetricsF(self.font)
        self._rect = QRectF(0, -fm.height() - 4, fm.horizontalAdvance(text) + 8, fm.height() + 4)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.pending:
            painter.setPen(QPen(self.color, 1.5, Qt.PenStyle.DashLine))
            painter.setBrush(PENDING_TAG)
            painter.drawRoundedRect(self._rect.adjusted(0.75, 0.75, -0.75, -0.75), 3, 3)
            text = QColor("white")
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.color)
            painter.drawRoundedRect(self._rect, 3, 3)
            text = palette.text_color_on(self.color)
        painter.setFont(self.font)
        painter.setPen(text)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


def proposal_score(ann: dict) -> str:
    """A proposal's score as its tag shows it: ``"0.83"`` (``"?"`` when it has none)."""
    score = ann.get("score")
    return f"{float(score):.2f}" if isinstance(score, (int, float)) and not isinstance(score, bool) else "?"


def cosmetic_pen(color: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)  # constant on-screen width whatever the zoom
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def qpolygon(flat: Iterable[float]) -> QPolygonF:
    v = list(flat)
    return QPolygonF([QPointF(float(v[i]), float(v[i + 1])) for i in range(0, len(v) - 1, 2)])


def mask_image(mask: np.ndarray, color: QColor) -> QImage:
    """A binary mask as an ARGB image: ``color`` where set, transparent elsewhere."""
    h, w = mask.shape
    rgba = np.zeros((h, w, 4), np.uint8)
    on = mask.astype(bool)
    rgba[on] = (color.red(), color.green(), color.blue(), 255)
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


@dataclass
class _AnnItems:
    ann: dict
    color: QColor
    pending: bool = False  # a model's proposal waiting for review: drawn dashed, with its score
    polygons: list[QGraphicsPolygonItem] = field(default_factory=list)
    masks: list[QGraphicsPixmapItem] = field(default_factory=list)
    box: QGraphicsRectItem | None = None
    label: LabelItem | None = None


class Overlays:
    """Every overlay item of one image, by annotation id, with layer switches."""

    def __init__(self, opacity: float):
        self.by_ann: dict[Any, _AnnItems] = {}
        self.ignore: list[QGraphicsPolygonItem] = []
        self.opacity = opacity
        self.visible = {"masks": True, "boxes": True, "labels": True}
        self.selected: Any = None

    # ------------------------------------------------------------------ queries
    def polygon_items(self) -> list[QGraphicsPolygonItem]:
        return [p for a in self.by_ann.values() for p in a.polygons]

    def mask_items(self) -> list[QGraphicsPixmapItem]:
        return [m for a in self.by_ann.values() for m in a.masks]

    def box_items(self) -> list[QGraphicsRectItem]:
        return [a.box for a in self.by_ann.values() if a.box is not None]

    def label_items(self) -> list[LabelItem]:
        return [a.label for a in self.by_ann.values() if a.label is not None]

    def annotation_area(self, ann_id: Any) -> float:
        a = self.by_ann[ann_id].ann
        area = a.get("area")
        if isinstance(area, (int, float)) and area > 0:
            return float(area)
        box = a.get("bbox") or [0, 0, 0, 0]
        return float(box[2] * box[3]) if len(box) == 4 else 0.0

    # ------------------------------------------------------------------ switches
    def set_visible(self, layer: str, on: bool) -> None:
        self.visible[layer] = on
        items = {
            "masks": self.polygon_items() + self.mask_items(),
            "boxes": self.box_items(),
            "labels": self.label_items(),
        }[layer]
        for it in items:
            it.setVisible(on)

    def set_opacity(self, opacity: float) -> None:
        self.opacity = opacity
        for aid, a in self.by_ann.items():
            self._style(aid, a)

    def select(self, ann_id: Any) -> None:
        """Highlight one annotation (None clears)."""
        old, self.selected = self.selected, ann_id if ann_id in self.by_ann else None
        for aid in {old, self.selected} - {None}:
            self._style(aid, self.by_ann[aid])

    def replace(
        self, scene: QGraphicsScene, image: dict, ann_id: Any, ann: dict | None, class_name: Callable[[Any], str]
    ) -> None:
        """Redraw one annotation after an edit (``ann`` None: it was deleted); layer switches and selection hold."""
        old = self.by_ann.pop(ann_id, None)
        if old is not None:
            for it in [*old.polygons, *old.masks, old.box, old.label]:
                if it is not None and it.scene() is scene:
                    scene.removeItem(it)
        if ann is None:
            if self.selected == ann_id:
                self.selected = None
            return
        _add_annotation(scene, self, ann, class_name, int(image.get("height") or 0), int(image.get("width") or 0))
        a = self.by_ann[ann["id"]]
        for layer, items in (("masks", [*a.polygons, *a.masks]), ("boxes", [a.box]), ("labels", [a.label])):
            for it in items:
                if it is not None and not self.visible[layer]:
                    it.setVisible(False)

    def _style(self, aid: Any, a: _AnnItems) -> None:
        sel = aid == self.selected
        fill = QColor(a.color)
        fill.setAlphaF(min(1.0, self.opacity * (1.6 if sel else 1.0) * (PENDING_FILL if a.pending else 1.0)))
        outline = Qt.PenStyle.DashLine if a.pending else Qt.PenStyle.SolidLine
        for p in a.polygons:
            width = 3.0 if sel else (2.0 if a.pending else 1.5)
            p.setPen(cosmetic_pen(palette.SELECTION if sel else a.color, width, outline))
            p.setBrush(QBrush(fill))
            p.setZValue(Z_SELECTED if sel else Z_POLYGON)
        for m in a.masks:
            m.setOpacity(min(1.0, self.opacity * (1.6 if sel else 1.0)))
            m.setZValue(Z_SELECTED if sel else Z_MASK)
        if a.box is not None:
            if a.pending:  # a proposal's box: dotted when its shape is a polygon, dashed when the box is the shape
                style = Qt.PenStyle.DotLine if a.polygons or a.masks else Qt.PenStyle.DashLine
                width = 2.5 if sel else 1.8
            else:
                style = Qt.PenStyle.SolidLine if sel else Qt.PenStyle.DashLine
                width = 2.5 if sel else 1.2
            a.box.setPen(cosmetic_pen(palette.SELECTION if sel else a.color, width, style))
            a.box.setZValue(Z_SELECTED if sel else Z_BOX)
        if a.label is not None:
            a.label.setZValue(Z_SELECTED + 1 if sel else Z_LABEL)


def build_overlays(
    scene: QGraphicsScene,
    image: dict,
    anns: list[dict],
    class_name: Callable[[Any], str],
    opacity: float = 0.4,
) -> Overlays:
    """Add items for ``anns`` (and the image's ignore regions) to ``scene``, larger shapes first."""
    ov = Overlays(opacity)
    h, w = int(image.get("height") or 0), int(image.get("width") or 0)
    for region in image.get("ignore_regions") or []:
        if not isinstance(region, list) or len(region) < 6:
            continue
        shade = QGraphicsPolygonItem(qpolygon(region))  # a grey veil under the hatching
        shade.setPen(cosmetic_pen(palette.IGNORE.darker(160), 1.5, Qt.PenStyle.DashLine))
        veil = QColor(palette.IGNORE)
        veil.setAlpha(110)
        shade.setBrush(veil)
        hatch = QGraphicsPolygonItem(qpolygon(region), shade)
        hatch.setPen(Qt.PenStyle.NoPen)
        hatch.setBrush(QBrush(palette.IGNORE.darker(220), Qt.BrushStyle.BDiagPattern))
        shade.setZValue(Z_IGNORE)
        shade.setData(LAYER_KEY, "ignore")
        shade.setToolTip("ignore region: neither object nor background")
        _add(scene, shade)
        ov.ignore.append(shade)
    for ann in sorted(anns, key=lambda a: -float(a.get("area") or 0)):
        _add_annotation(scene, ov, ann, class_name, h, w)
    return ov


def _add_annotation(
    scene: QGraphicsScene, ov: Overlays, ann: dict, class_name: Callable[[Any], str], h: int, w: int
) -> None:
    """The items of one annotation, styled and added to ``scene`` and ``ov``."""
    a = _AnnItems(ann, palette.class_color(ann.get("category_id")), is_pending(ann))
    seg = ann.get("segmentation")
    name = class_name(ann.get("category_id"))
    tip = f"{name} (annotation {ann['id']})"
    if a.pending:
        tip = f"{name}: model proposal, score {proposal_score(ann)}, pending review (annotation {ann['id']})"
        name = f"{name} {proposal_score(ann)}"
    if is_rle(seg) and h and w:
        try:
            mask = segmentation_to_mask(seg, h, w)
        except Exception as e:  # a broken RLE must not stop the other overlays from drawing
            log.warning("annotation %s: cannot decode its RLE mask (%s)", ann["id"], e)
            mask = None
        if mask is not None:
            item = QGraphicsPixmapItem(QPixmap.fromImage(mask_image(mask, a.color)))
            item.setShapeMode(QGraphicsPixmapItem.ShapeMode.MaskShape)
            a.masks.append(_tag(item, ann["id"], "mask", tip))
    elif isinstance(seg, list):
        for part in seg:
            if isinstance(part, list) and len(part) >= 6 and all(isinstance(v, (int, float)) for v in part):
                a.polygons.append(_tag(QGraphicsPolygonItem(qpolygon(part)), ann["id"], "polygon", tip))
    box = ann.get("bbox")
    if isinstance(box, (list, tuple)) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box):
        a.box = _tag(QGraphicsRectItem(QRectF(*map(float, box))), ann["id"], "box", tip)
        a.label = LabelItem(name, a.color, a.pending)
        a.label.setPos(float(box[0]), float(box[1]))
        a.label.setData(ANN_ID_KEY, ann["id"])
        a.label.setData(LAYER_KEY, "label")
    for it in [*a.polygons, *a.masks, a.box, a.label]:
        if it is not None:
            _add(scene, it)
    ov.by_ann[ann["id"]] = a
    ov._style(ann["id"], a)


def _tag(item: QGraphicsItem, ann_id: Any, layer: str, tip: str):
    item.setData(ANN_ID_KEY, ann_id)
    item.setData(LAYER_KEY, layer)
    item.setToolTip(tip)
    return item


def _add(scene: QGraphicsScene, item: QGraphicsItem) -> None:
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    scene.addItem(item)
