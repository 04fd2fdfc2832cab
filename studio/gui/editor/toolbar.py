"""The editor toolbar above the image: tools, the class of new shapes, undo / redo / delete / save, dirty marker.

It only forwards intent to the :class:`~studio.gui.editor.controller.EditorController` and shows its
state (what :meth:`~studio.gui.editor.state.EditorState.actions` allows). Its buttons have no keys of their
own: Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y and Ctrl+S are the window's Edit > Undo / Redo and File > Save, which run
the Data page's commands (:meth:`~studio.gui.data.page.DataPage.commands`, the same controller calls), and
the tool keys (V, P, B) are the image view's; all of them are in the table of :mod:`studio.gui.shortcuts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common import palette
from studio.gui.editor.controller import EditorController
from studio.gui.shortcuts import keys_text

ADD_CLASS = "\0add-class"  # item data of the "Add class…" entry (no category id looks like it)
MESSAGE_MS = 10_000
DIRTY_TEXTS = ("● unsaved", "saving…", "saved")
DIRTY_MARKS = {  # EditActions.mark -> the dirty label's text and style
    "unsaved": (DIRTY_TEXTS[0], f"color: {palette.WARNING.name()}; font-weight: 600"),
    "saving": (DIRTY_TEXTS[1], ""),
    "saved": (DIRTY_TEXTS[2], "color: palette(placeholder-text)"),
    "": ("", "color: palette(placeholder-text)"),
}

TOOL_BUTTONS = (
    (
        "select",
        "Select",
        keys_text("editor.select"),
        "Select a shape and drag its vertices; double-click an edge to add a vertex, "
        "right-click a vertex or press Delete to remove it; Delete removes a selected shape",
    ),
    (
        "polygon",
        "Polygon",
        keys_text("editor.polygon"),
        "Click to add points; double-click, Enter or a click on the first point closes; "
        "Backspace removes the last point; Esc cancels",
    ),
    ("box", "Box", keys_text("editor.box"), "Press, drag and release to draw a box; Esc cancels"),
)


def ask_class_name(parent: QWidget) -> str | None:
    name, ok = QInputDialog.getText(parent, "Add class", "Name of the new class:")
    return name if ok else None


class EditorToolbar(QWidget):
    def __init__(self, editor: EditorController, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = editor
        self.ask_class_name: Callable[[QWidget], str | None] = ask_class_name

        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, text, key, tip in TOOL_BUTTONS:
            b = QToolButton(text=text, checkable=True)
            b.setToolTip(f"{tip} ({key})")
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.tool_group.addButton(b)
            self.tool_buttons[name] = b
            b.clicked.connect(lambda _=False, n=name: self.editor.set_tool(n))
        self.tool_buttons["select"].setChecked(True)

        self.class_combo = QComboBox()
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(9)
        self.class_combo.setToolTip("Class of new shapes; with a shape selected, picking a class relabels it")

        self.undo_action = self._action("Undo", self.editor.undo)
        self.redo_action = self._action("Redo", self.editor.redo)
        self.delete_action = self._action("Delete", self.editor.delete_selected)
        self.delete_action.setToolTip(f"Delete the selected shape ({keys_text('editor.delete')})")
        self.save_action = self._action("Save", lambda: self.editor.save())
        self.dirty_label = QLabel()
        bold = QFont(self.dirty_label.font())
        bold.setBold(True)
        self.dirty_label.setMinimumWidth(max(QFontMetrics(bold).horizontalAdvance(t) for t in DIRTY_TEXTS) + 6)
        # a line under the buttons, always there (the canvas must not jump when a message comes or goes);
        # a long message is elided, the tooltip has it whole
        self.message_label = QLabel()
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.message_label.setFixedHeight(self.message_label.fontMetrics().height() + 2)
        self.message_label.setStyleSheet(f"color: {palette.ERROR.name()}")
        self._message = ""
        self._message_timer = QTimer(self, singleShot=True, interval=MESSAGE_MS)
        self._message_timer.timeout.connect(self.clear_message)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 2)
        outer.setSpacing(2)
        lay = QHBoxLayout()
        lay.setSpacing(4)
        outer.addLayout(lay)
        outer.addWidget(self.message_label)
        for b in self.tool_buttons.values():
            lay.addWidget(b)
        lay.addSpacing(8)
        lay.addWidget(QLabel("Class"))
        lay.addWidget(self.class_combo)
        lay.addSpacing(8)
        for act in (self.undo_action, self.redo_action, self.delete_action, self.save_action):
            b = QToolButton()
            b.setDefaultAction(act)
            lay.addWidget(b)
        lay.addWidget(self.dirty_label)
        lay.addStretch(1)

        self.class_combo.activated.connect(self._on_class_activated)
        editor.changed.connect(self._refresh)
        editor.classes_changed.connect(self._fill_classes)
        editor.selection_changed.connect(lambda _a: self._show_category())
        editor.tool_changed.connect(lambda n: self.tool_buttons[n].setChecked(True))
        editor.message.connect(self.show_message)
        editor.saved.connect(lambda _p: self.clear_message())
        self._fill_classes()
        self._refresh()

    def _action(self, text: str, slot: Callable[[], Any]) -> QAction:
        act = QAction(text, self)
        act.triggered.connect(lambda _=False: slot())
        return act

    # ------------------------------------------------------------------ classes
    def _fill_classes(self) -> None:
        combo = self.class_combo
        combo.blockSignals(True)
        combo.clear()
        for c in self.editor.categories():
            combo.addItem(palette.dot_icon(palette.class_color(c["id"])), str(c["name"]), c["id"])
        if combo.count():
            combo.insertSeparator(combo.count())
        combo.addItem("Add class…", ADD_CLASS)
        combo.blockSignals(False)
        self._show_category()

    def _show_category(self) -> None:
        i = self.class_combo.findData(self.editor.category_id) if self.editor.category_id is not None else -1
        self.class_combo.blockSignals(True)
        self.class_combo.setCurrentIndex(i)
        self.class_combo.blockSignals(False)

    def _on_class_activated(self, index: int) -> None:
        data = self.class_combo.itemData(index)
        if data != ADD_CLASS:
            self.editor.set_category(data)
            return
        self._show_category()  # leave "Add class…" whatever happens next
        name = self.ask_class_name(self)
        if name is None:
            return
        cid = self.editor.add_class(name)
        if cid is not None:
            self.editor.set_category(cid)
            self._show_category()

    # ------------------------------------------------------------------ state
    def _refresh(self) -> None:
        a = self.editor.actions()
        self.undo_action.setEnabled(a.undo)
        self.redo_action.setEnabled(a.redo)
        self.undo_action.setToolTip(a.undo_tip)
        self.redo_action.setToolTip(a.redo_tip)
        self.delete_action.setEnabled(a.delete)
        self.save_action.setEnabled(a.save)
        self.save_action.setToolTip(a.save_tip)
        for b in self.tool_buttons.values():
            b.setEnabled(a.on)
        self.class_combo.setEnabled(a.on)
        text, style = DIRTY_MARKS[a.mark]
        self.dirty_label.setText(text)
        self.dirty_label.setStyleSheet(style)

    def show_message(self, text: str) -> None:
        """Why an edit was refused or a save failed; it goes after a while, or at the next save."""
        self._message = text
        self.message_label.setToolTip(text)
        self._elide()
        self._message_timer.start()

    def message(self) -> str:
        return self._message

    def clear_message(self) -> None:
        self._message = ""
        self.message_label.clear()
        self.message_label.setToolTip("")

    def _elide(self) -> None:
        fm = self.message_label.fontMetrics()
        self.message_label.setText(fm.elidedText(self._message, Qt.TextElideMode.ElideRight, max(self.width() - 4, 40)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()
