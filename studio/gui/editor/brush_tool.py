"""The brush and the eraser: paint a shape's pixels on or off with a round brush, as in a paint program.

A stroke works on the selected shape; with nothing selected the brush starts a new shape (its class is asked, or
the last label taken, as after a drawn polygon) and keeps painting on it, while the eraser takes the shape under
the press. While the button is down the stroke shows as a translucent band; on release it becomes one undoable
edit: the shape's pixels plus (brush) or minus (eraser) the stroke, outlined again as polygons with the simplify
tolerance of the toolbar (:mod:`studio.gui.editor.paint`). A shape the eraser takes whole is deleted (undoably too).
The radius is the toolbar's (``[`` and ``]`` change it); a ring at the cursor shows it. Esc drops the stroke in
progress, else the selection (the next brush stroke starts a new shape).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from studio.core.dataset.shape_edits import geometry_of
from studio.gui.common import palette
from studio.gui.editor.handles import Z_EDIT
from studio.gui.editor.paint import Painted, paint
from studio.gui.editor.smart_host import SmartToolHost
from studio.gui.editor.smart_marks import band, band_pen, remove
from studio.gui.editor.tool_options import RADIUS, TOLERANCE
from studio.gui.editor.tools import CANCEL_KEYS, LEFT, Tool

log = logging.getLogger("studio.gui.editor")

STROKE_ALPHA = 110  # the band of a stroke in progress: the image stays visible under it
ERASER_COLOR = QColor(255, 255, 255)
MIN_STEP_PX = 0.5  # screen pixels: closer mouse moves add no point to the stroke


class PaintTool(Tool):
    """A stroke on the selected shape (see the module docstring); :class:`BrushTool` paints, :class:`EraserTool`
    erases."""

    erase = False
    options = (RADIUS, TOLERANCE)
    keeps_selection = True

    def __init__(self, editor: SmartToolHost):
        super().__init__(editor)
        self.editor: SmartToolHost = editor
        self.points: list[tuple[float, float]] | None = None  # the stroke in progress
        self.target: Any = None  # the shape it paints on (None: a new one)
        self.last: Painted | None = None  # the last stroke's outcome
        self.last_seconds = 0.0  # what the last release cost, the edit and its redraw included
        self._band: QGraphicsPathItem | None = None
        self._ring: QGraphicsEllipseItem | None = None
        self._at: tuple[float, float] | None = None  # the cursor, for the ring

    # ------------------------------------------------------------------ life cycle
    def activate(self) -> None:
        super().activate()
        self._show_ring()

    def deactivate(self) -> None:
        super().deactivate()
        remove(self._ring)
        self._ring = None

    def cancel(self) -> None:
        self.points = None
        self.target = None
        remove(self._band)
        self._band = None
        super().cancel()

    def scene_cleared(self) -> None:
        self._band = self._ring = None  # deleted with the scene
        super().scene_cleared()

    def options_changed(self) -> None:
        """The radius changed: the ring follows."""
        self._show_ring()

    def in_gesture(self) -> bool:
        return self.points is not None

    def step_back(self) -> bool:
        if self.points is None:
            return False
        self.cancel()
        return True

    def shape_added(self, ann_id: Any) -> None:
        """A new shape the brush started: the next strokes paint on it."""
        self.editor.select(ann_id)

    # ------------------------------------------------------------------ mouse
    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != LEFT:
            return False
        target = self.editor.selected
        if target is None and self.erase:
            target = self.editor.shape_at(event.position().toPoint())
            if target is None:
                self.editor.message.emit("Eraser: press on a shape (or select one) to erase from it")
                return True
            self.editor.select(target)
        self.target = target
        self.points = [self.editor.state.clamp(pos.x(), pos.y())]
        self._at = (pos.x(), pos.y())
        self._draw_band()
        self._show_ring()
        return True

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        self._at = (pos.x(), pos.y())
        self._show_ring()
        if self.points is None:
            return False
        x, y = self.editor.state.clamp(pos.x(), pos.y())
        last = self.points[-1]
        if max(abs(x - last[0]), abs(y - last[1])) * self.editor.view.zoom() >= MIN_STEP_PX:
            self.points.append((x, y))
            self._draw_band()
        return True

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self.points is None or event.button() != LEFT:
            return False
        x, y = self.editor.state.clamp(pos.x(), pos.y())
        if (x, y) != self.points[-1]:
            self.points.append((x, y))
        points, target = self.points, self.target
        self.cancel()
        t0 = time.perf_counter()
        self._apply(points, target)
        self.last_seconds = time.perf_counter() - t0
        log.debug("%s stroke of %d point(s): %.0f ms", self.name, len(points), self.last_seconds * 1000)
        return True

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() not in CANCEL_KEYS:
            return False
        if self.points is not None:
            self.cancel()
            return True
        if self.editor.selected is not None:
            self.editor.select(None)  # the next brush stroke starts a new shape
            return True
        return False

    # ------------------------------------------------------------------ the edit
    def _apply(self, points: list[tuple[float, float]], target: Any) -> None:
        state = self.editor.state
        image = state.image
        if image is None:
            return
        ann = state.annotation(target) if target is not None else None
        if target is not None and ann is None:
            return  # the shape went meanwhile (an undo)
        opts = self.editor.options
        result = paint(
            geometry_of(ann) if ann is not None else None,
            points,
            opts.radius,
            erase=self.erase,
            width=int(image.get("width") or 0),
            height=int(image.get("height") or 0),
            tolerance=opts.tolerance,
        )
        self.last = result
        if not result.changed:
            what = "took nothing off the shape" if self.erase else "added nothing to the shape"
            self.editor.note.emit(f"{self.title}: the stroke {what}")
            return
        if ann is None:
            if result.parts:
                self.editor.add_shape("parts", result.parts)
            return
        if state.paint(target, result.parts):
            left = f"{len(result.parts)} part(s)" if result.parts else "nothing left: shape deleted"
            self.editor.note.emit(f"{self.title}: {left} ({result.seconds * 1000:.0f} ms)")

    # ------------------------------------------------------------------ drawing
    def _color(self) -> QColor:
        if self.erase:
            return QColor(ERASER_COLOR)
        ann = self.editor.state.annotation(self.target)
        cid = ann.get("category_id") if ann is not None else self.editor.state.category_id
        return QColor(palette.class_color(cid))

    def _draw_band(self) -> None:
        """The stroke so far: a translucent band as wide as the brush (a single point is a dot)."""
        if self.points is None:
            return
        if self._band is None:
            self._band = QGraphicsPathItem()
            self._band.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self._band.setZValue(Z_EDIT - 1)
            self.editor.view.scene().addItem(self._band)
        color = self._color()
        color.setAlpha(STROKE_ALPHA)
        self._band.setPen(band_pen(color, self.editor.options.radius))
        self._band.setPath(band(self.points))

    def _show_ring(self) -> None:
        """A ring of the brush's size at the cursor."""
        if self._at is None or self.editor.view.scene() is None:
            return
        r = self.editor.options.radius
        if self._ring is None:
            self._ring = QGraphicsEllipseItem()
            self._ring.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self._ring.setZValue(Z_EDIT + 5)
            pen = QPen(QColor(250, 250, 250), 1.5, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._ring.setPen(pen)
            self.editor.view.scene().addItem(self._ring)
        self._ring.setRect(QRectF(-r, -r, 2 * r, 2 * r))
        self._ring.setPos(*self._at)


class BrushTool(PaintTool):
    name = "brush"
    title = "Brush"
    tip = "Paint the selected shape's pixels (nothing selected: a new shape); [ and ] change the radius, Esc deselects"


class EraserTool(PaintTool):
    name = "eraser"
    title = "Eraser"
    tip = "Erase pixels of the selected shape (or of the shape under the press); erasing it all deletes it"
    erase = True
