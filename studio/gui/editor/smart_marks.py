"""What the brush and the smart tools draw on the canvas while they work: paths with a dark halo under them (an
outline in the selection's yellow would vanish along a yellow balloon), translucent brush bands, and their upkeep.

Every item ignores the mouse (the tools hit-test in image coordinates) and sits above the overlays.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsScene

from studio.gui.common import palette
from studio.gui.editor.handles import Z_EDIT

HALO = QColor(10, 12, 16, 170)
LINE_PX, HALO_PX = 2.0, 4.5  # on screen, at any zoom


def remove(item: QGraphicsItem | None) -> None:
    if item is not None and item.scene() is not None:
        item.scene().removeItem(item)


def polyline(points: Sequence[tuple[float, float]], closed: bool = False) -> QPainterPath:
    path = QPainterPath()
    if points:
        path.moveTo(QPointF(*points[0]))
        for p in points[1:]:
            path.lineTo(QPointF(*p))
        if closed:
            path.closeSubpath()
    return path


def polygons(parts: Sequence[Sequence[float]]) -> QPainterPath:
    """Closed flat polygons ``[x0, y0, x1, y1, ...]`` as one path."""
    path = QPainterPath()
    for flat in parts:
        path.addPath(polyline(list(zip(flat[::2], flat[1::2])), closed=True))
    return path


def band(points: Sequence[tuple[float, float]]) -> QPainterPath:
    """A brush stroke's centre line; a single point becomes a dot (a round cap on a tiny segment)."""
    if len(points) == 1:
        x, y = points[0]
        return polyline([(x, y), (x + 0.01, y)])
    return polyline(points)


def band_pen(color: QColor, radius: float) -> QPen:
    """A pen as wide as the brush, in image pixels, with round ends and joints."""
    pen = QPen(color, 2 * radius)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def cosmetic(color: QColor, width: float, style: Qt.PenStyle) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


class Haloed:
    """A path drawn in the selection's colour over a dark halo (solid or dashed; ``fill``: alpha of a light fill)."""

    def __init__(self, scene: QGraphicsScene, dashed: bool = False, fill: int = 0):
        self.halo, self.line = QGraphicsPathItem(), QGraphicsPathItem()
        self.halo.setPen(cosmetic(HALO, HALO_PX, Qt.PenStyle.SolidLine))
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        self.line.setPen(cosmetic(palette.SELECTION, LINE_PX, style))
        if fill:
            color = QColor(palette.SELECTION)
            color.setAlpha(fill)
            self.line.setBrush(QBrush(color))
        for z, item in enumerate((self.halo, self.line)):
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            item.setZValue(Z_EDIT + z)
            scene.addItem(item)

    def set_path(self, path: QPainterPath) -> None:
        self.halo.setPath(path)
        self.line.setPath(path)

    def remove(self) -> None:
        remove(self.halo)
        remove(self.line)
