"""The class prompt that follows a drawn shape (unless "Use last label" is on): a small list of the classes at
the cursor, made to be answered from the keyboard.

Typing filters the list (a name that matches no class offers to add it), Up and Down move, Enter gives the
shape the highlighted class, Esc drops the shape, and so does a click outside the prompt. It opens on the
class of the last shape drawn, so Enter alone repeats it. The keys come from the shortcut table
(``editor.finish``, ``editor.cancel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QGuiApplication, QHideEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common import palette
from studio.gui.common.commands import qt_keys

ENTER_KEYS = qt_keys("editor.finish")
CANCEL_KEYS = qt_keys("editor.cancel")
VISIBLE_ROWS = 8


@dataclass(frozen=True)
class NewClass:
    """The answer "add a class of this name" (the typed text matched no class)."""

    name: str


class ClassPrompt(QFrame):
    """Emits ``chosen(category id or NewClass)`` or ``cancelled()``, once per :meth:`ask`."""

    chosen = Signal(object)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel("Class of the new shape (Esc drops it)")
        self.title.setObjectName("muted")
        self.filter = QLineEdit(placeholderText="Type to filter or add a class")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay in the filter; Up/Down are forwarded
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        lay.addWidget(self.title)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        self._classes: list[tuple[Any, str]] = []
        self._answered = True
        self.filter.textChanged.connect(self._refill)
        self.filter.returnPressed.connect(self.accept)
        self.list.itemClicked.connect(lambda _item: self.accept())

    # ------------------------------------------------------------------ asking
    def ask(self, classes: list[tuple[Any, str]], current: Any, at: QPoint) -> None:
        """Show the classes (``(id, name)`` in class-box order) at ``at`` (global), ``current`` highlighted."""
        self._classes = list(classes)
        self._answered = False
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.blockSignals(False)
        self._refill()
        row = next((i for i, (cid, _n) in enumerate(self._classes) if cid == current), 0)
        if self.list.count():
            self.list.setCurrentRow(row)
        width = max(220, self.list.sizeHintForColumn(0) + 40)
        rows = min(max(self.list.count(), 1), VISIBLE_ROWS)
        self.list.setFixedHeight(rows * max(self.list.sizeHintForRow(0), 18) + 6)
        self.resize(width, self.sizeHint().height())
        self.move(self._on_screen(at))
        self.show()
        self.filter.setFocus()

    def _on_screen(self, at: QPoint) -> QPoint:
        screen = QGuiApplication.screenAt(at) or QGuiApplication.primaryScreen()
        if screen is None:
            return at
        area = screen.availableGeometry()
        x = min(max(at.x(), area.left()), area.right() - self.width())
        y = min(max(at.y(), area.top()), area.bottom() - self.height())
        return QPoint(x, y)

    def names(self) -> list[str]:
        """The rows shown, as text (tests)."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    # ------------------------------------------------------------------ answering
    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None or self._answered:  # Enter reaches both the filter and the prompt: one answer
            return
        answer = item.data(Qt.ItemDataRole.UserRole)
        self._answered = True
        self.hide()
        self.chosen.emit(answer)

    def cancel(self) -> None:
        if self._answered:
            return
        self._answered = True
        self.hide()
        self.cancelled.emit()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        if not self._answered:  # closed by a click outside it
            self._answered = True
            self.cancelled.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Keys the filter does not use arrive here: Enter and Esc answer, the rest (Up, Down, Page Up...) move
        in the list."""
        if event.key() in CANCEL_KEYS:
            self.cancel()
        elif event.key() in ENTER_KEYS:
            self.accept()
        else:
            QApplication.sendEvent(self.list, event)

    def _refill(self) -> None:
        text = self.filter.text().strip()
        low = text.lower()
        self.list.clear()
        for cid, name in self._classes:
            if low in name.lower():
                item = QListWidgetItem(palette.dot_icon(palette.class_color(cid)), name)
                item.setData(Qt.ItemDataRole.UserRole, cid)
                self.list.addItem(item)
        if text and all(name.strip().lower() != low for _cid, name in self._classes):
            item = QListWidgetItem(f"Add class “{text}”")
            item.setData(Qt.ItemDataRole.UserRole, NewClass(text))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
