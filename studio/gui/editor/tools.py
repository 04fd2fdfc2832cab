"""The editing tools: Select/Edit (move shapes, vertex handles), Polygon (click points) and Box
(press-drag-release).

A tool receives the view's mouse and key events in image coordinates and returns True for those it
takes; it only tracks the gesture in progress and draws its marks. What a gesture does (which handle a
press takes, what a drag, an arrow key or a Delete changes) is decided by the editor's Qt-free state
(:class:`~studio.gui.editor.state.EditorState`, reached through the
:class:`~studio.gui.editor.host.ToolHost`), where every change of the dataset is one command. A drawing tool
hands its finished shape to ``ToolHost.add_shape`` (which asks its class); panning (middle button, Space) is
the editor's, before any tool sees the event. A new tool subclasses :class:`Tool` (its name, title and tip),
joins :data:`TOOLS` (or, in a module of its own, ``EDITOR_TOOLS`` of :mod:`studio.gui.editor.controller`, as the
smart box, the scissors, the brush and the eraser do) and gets the row ``editor.<name>`` in the shortcut table:
its toolbar button and its key (:mod:`studio.gui.editor.actions`) follow from those, and the settings it names in
``options`` show in the toolbar while it is active (:mod:`studio.gui.editor.options_bar`).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QGraphicsView

from studio.core.dataset import hit
from studio.core.dataset.provenance import MANUAL
from studio.gui.common.commands import qt_keys
from studio.gui.common.image_view import CLICK_SLOP
from studio.gui.editor.handles import Marks
from studio.gui.editor.host import ToolHost

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
# the keys come from the app's shortcut table (studio/gui/shortcuts.py), which Help > Keyboard shortcuts lists
DELETE_KEYS = qt_keys("editor.delete")
ENTER_KEYS = qt_keys("editor.finish")
BACK_KEYS = qt_keys("editor.back")
CANCEL_KEYS = qt_keys("editor.cancel")
NUDGE_KEYS = qt_keys("editor.nudge")  # left, right, up, down, in the table's order
NUDGE_STEPS = dict(zip(NUDGE_KEYS, ((-1, 0), (1, 0), (0, -1), (0, 1))))
NUDGE_PX, NUDGE_SHIFT_PX = 1.0, 10.0
MIN_BOX_PX = 3  # a box smaller than this on screen (either side) is a slip, not a box


class Tool:
    """A tool: ``name`` (its key is the shortcut table's row ``editor.<name>``), the ``title`` of its toolbar
    button and the ``tip`` that explains it."""

    name = ""
    title = ""
    tip = ""
    cursor = Qt.CursorShape.CrossCursor
    drag_mode = QGraphicsView.DragMode.NoDrag
    options: tuple[str, ...] = ()  # the shared settings it uses (tool_options: "radius", "tolerance"), in the toolbar
    keeps_selection = False  # True: picking this tool keeps the selected shape (the brush paints on it)
    source = MANUAL  # the provenance of the shapes it adds: drawn by hand (MANUAL) or by a smart tool (SMART)

    def __init__(self, editor: ToolHost):
        self.editor = editor
        self.marks = Marks()

    def activate(self) -> None:
        view = self.editor.view
        view.setDragMode(self.drag_mode)
        view.viewport().setCursor(self.cursor)

    def deactivate(self) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Drop the gesture in progress and its marks."""
        self.marks.clear()

    def scene_cleared(self) -> None:
        """A new image replaced the scene (and deleted our marks with it)."""
        self.marks.forget()
        self.cancel()

    def refresh(self) -> None:
        """The selection or the selected shape changed."""

    def in_gesture(self) -> bool:
        """A shape is being drawn or dragged (Undo steps that back: :meth:`step_back`)."""
        return False

    def shape_added(self, ann_id: Any) -> None:
        """The shape this tool handed to ``ToolHost.add_shape`` was added (after its class prompt) as ``ann_id``."""

    def options_changed(self) -> None:
        """The toolbar's brush radius or simplify tolerance (``ToolHost`` options) changed."""

    def step_back(self) -> bool:
        """Undo within the gesture in progress (True when there was one): Ctrl+Z while drawing removes the
        last point rather than the last finished edit."""
        return False

    # the view calls these (see ImageView.set_tool); True = taken
    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def key_press(self, event: QKeyEvent) -> bool:
        return False


class _ShapeDrag:
    """A whole shape being dragged: where the press was, and how far its items have been moved so far."""

    def __init__(self, ann_id: Any, at: tuple[float, float], press: QPoint):
        self.ann_id, self.at, self.press = ann_id, at, press
        self.offset = (0.0, 0.0)
        self.dragging = False  # the press moved further than a click's slop


class SelectTool(Tool):
    """A click picks a shape (the smallest under the cursor); a drag inside the selected shape moves it whole (one
    undo step), a drag anywhere else pans and a click on the background deselects (the view does those).
    Handles of the selected shape can be dragged, a double-click on an edge inserts a vertex (on a mask:
    converts it to polygons), right-click on a handle or Delete removes the highlighted vertex, Delete removes
    the selected shape when no vertex is highlighted, the arrow keys nudge the selected shape."""

    name = "select"
    title = "Select"
    tip = (
        "Drag a shape to move it (arrow keys nudge it); drag its vertices, double-click an edge to add one, "
        "right-click a vertex to remove it; Delete removes the highlighted vertex, else the shape"
    )
    cursor = Qt.CursorShape.OpenHandCursor
    drag_mode = QGraphicsView.DragMode.ScrollHandDrag

    def __init__(self, editor: ToolHost):
        super().__init__(editor)
        self._drag: tuple[int, int] | None = None
        self._drag_at: tuple[float, float] | None = None
        self._move: _ShapeDrag | None = None

    @property
    def active(self) -> tuple[int, int] | None:
        """(part, vertex) that Delete removes; part -1: a box corner (the state keeps it)."""
        return self.editor.state.active_vertex

    def cancel(self) -> None:
        self._drag = self._drag_at = None
        self._undrag()
        super().cancel()

    def scene_cleared(self) -> None:
        self._move = None  # its items went with the scene
        super().scene_cleared()

    def _shape(self) -> tuple[str, Any] | None:
        if self.editor.selected is not None and not self.editor.shape_visible(self.editor.selected):
            return None  # a hidden shape shows no handles
        return self.editor.state.shape()

    def in_gesture(self) -> bool:
        return self._drag is not None or (self._move is not None and self._move.dragging)

    def step_back(self) -> bool:
        if not self.in_gesture():
            return False
        self.cancel()
        self._draw()
        return True

    def refresh(self) -> None:
        self.editor.state.refresh_active()
        self._draw()

    def _draw(self, preview: list[float] | None = None, preview_part: int | None = None) -> None:
        shape = self._shape()
        scene = self.editor.view.scene()
        if shape is None:
            self.marks.clear()
            return
        kind, geom = shape
        if kind == "polygon":
            points, active_index, k = [], None, 0
            for p, flat in enumerate(geom):
                pts = hit.vertices(preview if preview is not None and p == preview_part else flat)
                if self.active is not None and self.active[0] == p:
                    active_index = k + self.active[1]
                points += pts
                k += len(pts)
            outline = hit.vertices(preview) if preview is not None else None
            self.marks.show(scene, points, active_index, outline)
        else:
            box = preview if preview is not None else geom
            corners = hit.box_corners(box)
            self.marks.show(
                scene, corners, self.active[1] if self.active else None, corners if preview is not None else None
            )

    # ------------------------------------------------------------------ mouse
    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        state = self.editor.state
        x, y, tol = pos.x(), pos.y(), self.editor.tolerance()
        handle = state.handle_at(x, y, tol) if self._shape() is not None else None
        if handle is not None:
            part, index = handle
            if event.button() == RIGHT:
                if part >= 0:  # a polygon vertex goes; a box keeps its corners
                    state.delete_vertex(state.selected, part, index)
                return True
            if event.button() == LEFT:
                state.active_vertex = (part, index)
                self._drag, self._drag_at = (part, index), (x, y)
                self._draw()
                return True
            return False
        if event.button() != LEFT:
            return False
        target = self.editor.shape_at(event.position().toPoint())
        if target is None or target != self.editor.selected:
            return False  # the view picks (a click) or pans (a drag), as elsewhere on the canvas
        self._move = _ShapeDrag(target, (x, y), event.position().toPoint())
        return True

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._move is not None:
            self._move_shape(event, pos)
            return True
        if self._drag is None:
            if not event.buttons():  # hovering: say what a press would take
                sel = self.editor.selected
                over = sel is not None and self.editor.shape_at(event.position().toPoint()) == sel
                cursor = Qt.CursorShape.SizeAllCursor if over else self.cursor
                if self.editor.view.viewport().cursor().shape() != cursor:
                    self.editor.view.viewport().setCursor(cursor)
            return False
        part, index = self._drag
        moved = self.editor.state.dragged(part, index, pos.x(), pos.y())
        if part < 0:
            self._draw(moved, part)  # a box: four corners move together
            return True
        # only the dragged handle and the outline change: cheap however many vertices the polygon has
        _, parts = self._shape() or (None, [])
        before = sum(len(p) // 2 for p in parts[:part])
        self.marks.move_handle(before + index, moved[2 * index], moved[2 * index + 1])
        self.marks.set_outline(self.editor.view.scene(), hit.vertices(moved))
        return True

    def _move_shape(self, event: QMouseEvent, pos: QPointF) -> None:
        """The dragged shape's items (and handles) follow the cursor, kept on the image; nothing is edited yet."""
        move = self._move
        if move is None:
            return
        if not move.dragging:
            if (event.position().toPoint() - move.press).manhattanLength() <= CLICK_SLOP:
                return
            move.dragging = True
        sx, sy = move.at
        offset = self.editor.state.move_offset(move.ann_id, pos.x() - sx, pos.y() - sy)
        self._shift_items(offset[0] - move.offset[0], offset[1] - move.offset[1])
        move.offset = offset

    def _shift_items(self, dx: float, dy: float) -> None:
        if self._move is None or (dx == 0 and dy == 0):
            return
        for item in [*self.editor.shape_items(self._move.ann_id), *self.marks.handles, self.marks.outline]:
            if item is not None:
                item.moveBy(dx, dy)

    def _undrag(self) -> None:
        """Put the dragged items back where the shape is (a cancelled drag, or just before the edit redraws it)."""
        if self._move is not None:
            self._shift_items(-self._move.offset[0], -self._move.offset[1])
            self._move = None

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._move is not None and event.button() == LEFT:
            self._move_shape(event, pos)  # where the release is, even with no move event before it
            move = self._move
            offset = move.offset
            self._undrag()
            if move.dragging:
                self.editor.state.move(move.ann_id, *offset)
            else:  # a click: the view's pick (the smallest shape there); on the selected one's outline it stays
                picked = self.editor.view.annotation_at(event.position().toPoint())
                if picked is not None or move.ann_id != self.editor.selected:
                    self.editor.select(picked)
                self.editor.state.active_vertex = None
            self._draw()
            return True
        if self._drag is None or event.button() != LEFT:
            return False
        start, (part, index) = self._drag_at, self._drag
        self._drag = self._drag_at = None
        moved = (
            start is not None and max(abs(pos.x() - start[0]), abs(pos.y() - start[1])) * self.editor.view.zoom() >= 1
        )
        if moved:
            self.editor.state.drag(part, index, pos.x(), pos.y())
        self._draw()
        return True

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != LEFT:
            return False
        state = self.editor.state
        ann = state.selected_annotation()
        if ann is not None and state.shape() is None and self.editor.shape_at(event.position().toPoint()) == ann["id"]:
            self.editor.convert_mask()  # a mask: its vertices are edited as polygons
            return True
        inserted = state.insert_vertex(pos.x(), pos.y(), self.editor.tolerance())
        if inserted:
            self._draw()
        return inserted is not None

    # ------------------------------------------------------------------ keys
    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in DELETE_KEYS and self.editor.delete():
            self._draw()
            return True
        if key in NUDGE_STEPS and self.editor.selected is not None and not self.in_gesture():
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            step = NUDGE_SHIFT_PX if shift else NUDGE_PX
            dx, dy = NUDGE_STEPS[key]
            self.editor.state.nudge(dx * step, dy * step)
            self._draw()
            return True
        if key in CANCEL_KEYS:
            if self.in_gesture():
                self.cancel()
                self._draw()
            elif self.active is not None:
                self.editor.state.active_vertex = None
                self._draw()
            elif self.editor.selected is not None:
                self.editor.select(None)
            else:
                return False
            return True
        return False


class PolygonTool(Tool):
    """Click adds a point; a double-click, Enter or a click on the first point closes; Backspace or right-click
    removes the last point; Esc cancels."""

    name = "polygon"
    title = "Polygon"
    tip = (
        "Click to add points; double-click, Enter or a click on the first point closes; "
        "Backspace removes the last point; Esc cancels"
    )

    def __init__(self, editor: ToolHost):
        super().__init__(editor)
        self.points: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None

    def cancel(self) -> None:
        self.points, self._cursor = [], None
        super().cancel()

    def _draw(self) -> None:
        if not self.points:
            self.marks.clear()
            return
        outline = self.points + ([self._cursor] if self._cursor is not None else [])
        self.marks.show(self.editor.view.scene(), self.points, outline=outline, closed=False, first_bigger=True)

    def in_gesture(self) -> bool:
        return bool(self.points)

    def step_back(self) -> bool:
        if not self.points:
            return False
        self.points.pop()
        self._draw()
        return True

    def finish(self) -> bool:
        """Turn the points into a polygon annotation (needs 3 points)."""
        if len(self.points) < 3:
            return False
        flat = [v for p in self.points for v in p]
        self.cancel()
        self.editor.add_shape("polygon", flat)
        return True

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() == RIGHT:
            return self.step_back()
        if event.button() != LEFT:
            return False
        x, y = self.editor.state.clamp(pos.x(), pos.y())
        tol = self.editor.tolerance()
        if hit.closes_polygon(self.points, x, y, tol):
            self.finish()
            return True
        self._add_point(pos)
        self._draw()
        return True

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if not self.points:
            return False
        self._cursor = self.editor.state.clamp(pos.x(), pos.y())
        self._draw()
        return True

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return event.button() == LEFT or (event.button() == RIGHT and bool(self.points))

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != LEFT:
            return False
        self._add_point(pos)  # the press before a double-click normally added it already: then a no-op
        self.finish()
        return True

    def _add_point(self, pos: QPointF) -> None:
        x, y = self.editor.state.clamp(pos.x(), pos.y())
        if not self.points or math.dist(self.points[-1], (x, y)) > self.editor.tolerance() / 4:
            self.points.append((x, y))  # a repeat of the last point is not a new point
        self._cursor = (x, y)

    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in ENTER_KEYS:
            return self.finish() or bool(self.points)
        if key in CANCEL_KEYS and self.points:
            self.cancel()
            return True
        if key in BACK_KEYS:
            return self.step_back()
        return False


class BoxTool(Tool):
    """Press at one corner, drag, release at the opposite one; Esc while dragging cancels."""

    name = "box"
    title = "Box"
    tip = "Press, drag and release to draw a box; Esc cancels"

    def __init__(self, editor: ToolHost):
        super().__init__(editor)
        self.start: tuple[float, float] | None = None

    def cancel(self) -> None:
        self.start = None
        super().cancel()

    def in_gesture(self) -> bool:
        return self.start is not None

    def step_back(self) -> bool:
        if self.start is None:
            return False
        self.cancel()
        return True

    def _box(self, pos: QPointF) -> list[float]:
        x, y = self.editor.state.clamp(pos.x(), pos.y())
        return hit.box_from_points(self.start[0], self.start[1], x, y)  # type: ignore[index]

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != LEFT:
            return False
        self.start = self.editor.state.clamp(pos.x(), pos.y())
        return True

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self.start is None:
            return False
        corners = hit.box_corners(self._box(pos))
        self.marks.show(self.editor.view.scene(), corners, outline=corners)
        return True

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self.start is None or event.button() != LEFT:
            return False
        box = self._box(pos)
        self.cancel()
        if min(box[2], box[3]) * self.editor.view.zoom() >= MIN_BOX_PX:
            self.editor.add_shape("box", box)
        return True

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() in CANCEL_KEYS and self.start is not None:
            self.cancel()
            return True
        return False


TOOLS = (SelectTool, PolygonTool, BoxTool)
