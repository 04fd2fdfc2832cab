"""A zoomable, pannable image canvas: wheel zoom around the cursor, drag to pan, fit to window, click to pick;
an editing tool (see ``set_tool``) may take mouse and key events first; views of the same image may share
zoom and pan (see ``link``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from studio.gui.common.overlays import ANN_ID_KEY

ZOOM_STEP = 1.25
MAX_ZOOM = 40.0  # screen pixels per image pixel
CLICK_SLOP = 4  # a press and release closer than this (pixels) is a click, not a pan


class ImageView(QGraphicsView):
    """Shows one image (or a placeholder of its size) under the overlay items of its scene."""

    clicked = Signal(object)  # annotation id under the click, or None
    zoom_changed = Signal(float)
    scene_cleared = Signal()  # just before the scene's items are deleted (a new image), so tools drop theirs

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(40, 42, 46))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.image_item: QGraphicsPixmapItem | None = None
        self.placeholder: QGraphicsRectItem | None = None
        self.placeholder_text: QGraphicsSimpleTextItem | None = None
        self.auto_fit = True  # refit on resize until the user zooms
        self._press: QPoint | None = None
        self.pick_area = lambda ann_id: 0.0  # area used to prefer the smallest shape under a click
        self.tool: Any = None  # an editing tool that sees mouse and key events first (see set_tool)
        self._linked: list[ImageView] = []  # views that share this one's zoom and pan (see link)
        self._following = False  # taking a linked view's zoom and pan: do not send them back
        self.horizontalScrollBar().valueChanged.connect(self._moved)
        self.verticalScrollBar().valueChanged.connect(self._moved)

    # ------------------------------------------------------------------ content
    def clear(self) -> None:
        self.scene_cleared.emit()
        self.scene().clear()
        self.image_item = None
        self.placeholder = None
        self.placeholder_text = None

    def set_canvas(self, width: int, height: int) -> None:
        """Start a new image: an empty canvas of the record's size, refitted."""
        self.clear()
        w, h = max(int(width), 1), max(int(height), 1)
        self.placeholder = self.scene().addRect(QRectF(0, 0, w, h), Qt.PenStyle.NoPen, QBrush(QColor(70, 72, 78)))
        self.placeholder.setZValue(-2)
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.auto_fit = True
        self.fit()

    def set_image(self, image: QImage) -> None:
        if self.image_item is not None:
            self.scene().removeItem(self.image_item)
        self.image_item = self.scene().addPixmap(QPixmap.fromImage(image))
        self.image_item.setZValue(-1)
        self._update_sampling()
        rect = self.scene().sceneRect().united(self.image_item.boundingRect())
        self.scene().setSceneRect(rect)
        if self.auto_fit:
            self.fit()

    def set_placeholder_text(self, text: str) -> None:
        """A note in the middle of the canvas (when the image itself cannot be shown)."""
        if self.placeholder is None:
            return
        self.placeholder.setBrush(QBrush(QColor(70, 72, 78), Qt.BrushStyle.Dense6Pattern))
        item = QGraphicsSimpleTextItem(text)
        item.setBrush(QColor(240, 240, 240))
        font = item.font()
        font.setPointSizeF(11)
        font.setBold(True)
        item.setFont(font)
        # same size at any zoom, centred on the canvas
        item.setFlag(QGraphicsSimpleTextItem.GraphicsItemFlag.ItemIgnoresTransformations)
        br = item.boundingRect()
        item.setTransform(QTransform.fromTranslate(-br.width() / 2, -br.height() / 2))
        item.setPos(self.placeholder.rect().center())
        item.setZValue(20)
        self.scene().addItem(item)
        self.placeholder_text = item

    # ------------------------------------------------------------------ zoom and pan
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._update_sampling()
        self.zoom_changed.emit(self.zoom())
        self._moved()

    def fit_to_window(self) -> None:
        self.auto_fit = True
        self.fit()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Scale by ``factor`` keeping the image point under ``anchor`` (viewport pixels; default: centre) fixed."""
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        vp = self.viewport().rect()
        min_zoom = min(vp.width() / rect.width(), vp.height() / rect.height()) / 4
        new = min(max(self.zoom() * factor, min_zoom), MAX_ZOOM)
        if abs(new - self.zoom()) < 1e-9:
            return
        anchor = vp.center() if anchor is None else anchor
        before = self.mapToScene(anchor)
        self.auto_fit = False
        self.scale(new / self.zoom(), new / self.zoom())
        shift = self.mapToScene(anchor) - before
        self.centerOn(self.mapToScene(vp.center()) - shift)
        self._update_sampling()
        self.zoom_changed.emit(self.zoom())
        self._moved()

    def center(self) -> QPointF:
        """The image point at the middle of the view."""
        return self.mapToScene(self.viewport().rect().center())

    # ------------------------------------------------------------------ shared zoom and pan
    def link(self, other: ImageView) -> None:
        """Share zoom and pan with ``other``, both ways (two pictures of one image side by side): zooming or
        panning either one gives the other the same scale and the same image point in the middle; fitting
        either one to its window fits the other to its own."""
        if other is self or other in self._linked:
            return
        self._linked.append(other)
        other._linked.append(self)
        other._follow(self)

    def _moved(self, *_args) -> None:
        """Zoom or pan changed (a wheel, a drag, a fit, a scroll bar): the linked views follow."""
        if self._following:
            return
        for view in self._linked:
            view._follow(self)

    def _follow(self, source: ImageView) -> None:
        self._following = True
        try:
            if source.auto_fit:
                if not self.auto_fit:
                    self.fit_to_window()
                return
            self.auto_fit = False
            self.setTransform(source.transform())
            self.centerOn(source.center())
            self._update_sampling()
            self.zoom_changed.emit(self.zoom())
        finally:
            self._following = False

    def _update_sampling(self) -> None:
        """Smooth when zoomed out, sharp pixels when zoomed in (to judge edges against the image)."""
        if self.image_item is not None:
            sharp = self.zoom() >= 2.0
            self.image_item.setTransformationMode(
                Qt.TransformationMode.FastTransformation if sharp else Qt.TransformationMode.SmoothTransformation
            )

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps, event.position().toPoint())
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.auto_fit:
            self.fit()

    # ------------------------------------------------------------------ editing tools
    def set_tool(self, tool: Any) -> None:
        """Give mouse and key events to ``tool`` first.

        Its ``mouse_press``, ``mouse_move``, ``mouse_release`` and ``mouse_double_click(event, scene_pos)``
        and ``key_press(event)`` return True when they took the event (then no pan and no pick happen);
        a missing method or False leaves the view's own handling. None restores plain pan and pick.
        """
        self.tool = tool

    def _tool_took(self, name: str, event: QMouseEvent | QKeyEvent) -> bool:
        handler = getattr(self.tool, name, None) if self.tool is not None else None
        if handler is None:
            return False
        if isinstance(event, QMouseEvent):
            took = bool(handler(event, self.mapToScene(event.position().toPoint())))
        else:
            took = bool(handler(event))
        if took:
            event.accept()
        return took

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._tool_took("mouse_move", event):
            super().mouseMoveEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if not self._tool_took("mouse_double_click", event):
            super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._tool_took("key_press", event):
            super().keyPressEvent(event)

    # ------------------------------------------------------------------ picking
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._tool_took("mouse_press", event):
            self._press = None
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._tool_took("mouse_release", event):
            self._press = None
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            moved = (event.position().toPoint() - self._press).manhattanLength()
            self._press = None
            if moved <= CLICK_SLOP:
                self.clicked.emit(self.annotation_at(event.position().toPoint()))

    def annotation_at(self, pos: QPoint) -> Any:
        """The smallest visible annotation under a viewport position, or None."""
        ids = {it.data(ANN_ID_KEY) for it in self.items(pos) if it.isVisible() and it.data(ANN_ID_KEY) is not None}
        if not ids:
            return None
        return min(ids, key=lambda a: self.pick_area(a))
