"""Panning the image view whatever the tool: drag with the middle button, or hold Space and drag.

The editor asks the :class:`Panner` first for every mouse event and key press, so a pan never reaches the
tool: a polygon being drawn keeps its points, and Space held down never adds a vertex. The key (Space)
comes from the shortcut table (``editor.pan``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from studio.gui.common.commands import qt_keys
from studio.gui.common.image_view import ImageView

PAN_KEYS = qt_keys("editor.pan")
MIDDLE, LEFT = Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton


class Panner(QObject):
    """Scrolls ``view`` by the mouse's travel during a pan; ``tool_cursor()`` gives the cursor to put back after."""

    def __init__(self, view: ImageView, tool_cursor: Callable[[], Qt.CursorShape]):
        super().__init__(view)
        self.view = view
        self.tool_cursor = tool_cursor
        self.space_held = False
        self._button: Qt.MouseButton | None = None  # the button dragging now
        self._last: QPoint | None = None
        view.installEventFilter(self)

    def panning(self) -> bool:
        return self._button is not None

    # ------------------------------------------------------------------ events (the editor asks first)
    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() not in PAN_KEYS:
            return False
        if not event.isAutoRepeat() and not self.space_held:
            self.space_held = True
            self._cursor(Qt.CursorShape.OpenHandCursor)
        return True

    def press(self, event: QMouseEvent) -> bool:
        button = event.button()
        if button != MIDDLE and not (button == LEFT and self.space_held):
            return False
        self._button, self._last = button, event.position().toPoint()
        self._cursor(Qt.CursorShape.ClosedHandCursor)
        return True

    def move(self, event: QMouseEvent) -> bool:
        if self._button is None or self._last is None:
            return False
        pos = event.position().toPoint()
        delta, self._last = pos - self._last, pos
        h, v = self.view.horizontalScrollBar(), self.view.verticalScrollBar()
        h.setValue(h.value() - delta.x())
        v.setValue(v.value() - delta.y())
        return True

    def release(self, event: QMouseEvent) -> bool:
        if self._button is None or event.button() != self._button:
            return False
        self._button = self._last = None
        self._cursor(Qt.CursorShape.OpenHandCursor if self.space_held else self.tool_cursor())
        return True

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Space let go (or the view lost the focus, which loses the key's release): panning ends."""
        kind = event.type()
        if kind == QEvent.Type.KeyRelease and isinstance(event, QKeyEvent):
            if event.key() in PAN_KEYS and not event.isAutoRepeat():
                self._let_go()
        elif kind == QEvent.Type.FocusOut:
            self._let_go()
        return False

    def _let_go(self) -> None:
        if not self.space_held:
            return
        self.space_held = False
        if self._button is None:
            self._cursor(self.tool_cursor())

    def _cursor(self, shape: Qt.CursorShape) -> None:
        self.view.viewport().setCursor(shape)
