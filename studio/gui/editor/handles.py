"""The marks the editing tools draw on the canvas: vertex handles and the dashed outline of a shape in progress.

Handles ignore the view's transform, so they keep the same size on screen at any zoom; outlines use
cosmetic pens for the same reason. None of them take mouse buttons: the tools hit-test in image
coordinates (:mod:`studio.core.dataset.hit`) and these items only show the result.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QGraphicsScene

from studio.gui.common import palette

HANDLE_PX = 3.5  # half the side of a handle, in screen pixels
HIT_PX = 8.0  # how close (screen pixels) a click must be to a handle or an edge to take it
Z_EDIT = 50  # above every overlay

_DARK = QColor(20, 22, 26)
ACTIVE = QColor("#00b4d8")


def _cosmetic(color: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


class Handle(QGraphicsRectItem):
    """A square vertex marker of constant on-screen size; the ``active`` one (the vertex Delete removes) is
    larger and cyan, to stand out on the yellow outline of the selection; ``first`` (where a polygon in
    progress closes) is larger too."""

    def __init__(self, x: float, y: float, active: bool = False, first: bool = False):
        r = HANDLE_PX + (1.5 if active or first else 0.0)
        super().__init__(QRectF(-r, -r, 2 * r, 2 * r))
        self.active = active
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_EDIT + (2 if active else 1))
        self.setPos(x, y)
        self.setPen(_cosmetic(_DARK, 1.5 if active else 1.2))
        self.setBrush(QBrush(ACTIVE if active else QColor(250, 250, 250)))


class Marks:
    """The handles and outline one tool shows; ``clear`` removes them from the scene they are in."""

    def __init__(self) -> None:
        self.handles: list[Handle] = []
        self.outline: QGraphicsPathItem | None = None

    def show(
        self,
        scene: QGraphicsScene,
        points: Sequence[tuple[float, float]],
        active: int | None = None,
        outline: Sequence[tuple[float, float]] | None = None,
        closed: bool = True,
        first_bigger: bool = False,
    ) -> None:
        """Handles at ``points`` (``active``: index of the highlighted one) and a dashed ``outline``."""
        self.clear()
        if outline is not None:
            self.set_outline(scene, outline, closed)
        for i, (x, y) in enumerate(points):
            h = Handle(x, y, active=i == active, first=first_bigger and i == 0)
            scene.addItem(h)
            self.handles.append(h)

    def set_outline(self, scene: QGraphicsScene, outline: Sequence[tuple[float, float]], closed: bool = True) -> None:
        """Replace the dashed outline (fewer than 2 points: none)."""
        if len(outline) < 2:
            if self.outline is not None and self.outline.scene() is not None:
                self.outline.scene().removeItem(self.outline)
            self.outline = None
            return
        path = QPainterPath(QPointF(*outline[0]))
        for p in outline[1:]:
            path.lineTo(QPointF(*p))
        if closed:
            path.closeSubpath()
        if self.outline is None:
            self.outline = QGraphicsPathItem()
            self.outline.setPen(_cosmetic(palette.SELECTION, 2.0, Qt.PenStyle.DashLine))
            self.outline.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.outline.setZValue(Z_EDIT)
            scene.addItem(self.outline)
        self.outline.setPath(path)

    def move_handle(self, index: int, x: float, y: float) -> None:
        if 0 <= index < len(self.handles):
            self.handles[index].setPos(x, y)

    def clear(self) -> None:
        for it in [*self.handles, self.outline]:
            if it is not None and it.scene() is not None:
                it.scene().removeItem(it)
        self.handles, self.outline = [], None

    def forget(self) -> None:
        """The scene was cleared under us: drop the references without touching the deleted items."""
        self.handles, self.outline = [], None
