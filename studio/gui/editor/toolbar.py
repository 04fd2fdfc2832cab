"""The editor toolbar above the image: tools, the class box, undo / redo / delete and the shape actions; under
them save, the dirty marker, the autosave and "use last label" switches, and a message line.

It only forwards intent to the :class:`~studio.gui.editor.controller.EditorController` and shows its
state (what :meth:`~studio.gui.editor.state.EditorState.actions` allows). The class box shows the selected
shape's class (picking one relabels it: "Relabel") or, with nothing selected, the class of the next shape
("Draw as"). Its buttons have no keys of their own: Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y and Ctrl+S are the window's
Edit > Undo / Redo and File > Save, which run the Data page's commands
(:meth:`~studio.gui.data.page.DataPage.commands`, the same controller calls); the tool keys and the shape
actions of the Actions menu are the Data page's actions (:mod:`studio.gui.editor.actions`); all of them
are in the table of :mod:`studio.gui.shortcuts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common import palette
from studio.gui.editor.controller import EditorController
from studio.gui.editor.options_bar import ToolOptionsBar
from studio.gui.editor.review_bar import ReviewBar
from studio.gui.shortcuts import keys_text

ADD_CLASS = "\0add-class"  # item data of the "Add class…" entry (no category id looks like it)
CLASS_LABELS = ("Draw as", "Relabel")  # the class box's caption: nothing selected / a shape selected
MESSAGE_MS = 10_000
DIRTY_TEXTS = ("● unsaved", "saving…", "saved")
DIRTY_MARKS = {  # EditActions.mark -> the dirty label's text and style
    "unsaved": (DIRTY_TEXTS[0], f"color: {palette.WARNING.name()}; font-weight: 600"),
    "saving": (DIRTY_TEXTS[1], ""),
    "saved": (DIRTY_TEXTS[2], "color: palette(placeholder-text)"),
    "": ("", "color: palette(placeholder-text)"),
}


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
        for name, tool in editor.tools.items():  # a tool's button, like its key, comes with the tool
            b = QToolButton(text=tool.title, checkable=True)
            b.setToolTip(f"{tool.tip} ({keys_text(f'editor.{name}')})")
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.tool_group.addButton(b)
            self.tool_buttons[name] = b
            b.clicked.connect(lambda _=False, n=name: self.editor.set_tool(n))
        self.tool_buttons["select"].setChecked(True)
        self.review_button = QToolButton(text="Review", checkable=True)
        self.review_button.setToolTip(
            f"Review the model's pending proposals image by image ({keys_text('review.toggle')})"
        )
        self.review_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.review_button.clicked.connect(lambda _=False: self.editor.review.toggle())
        self.review_bar = ReviewBar(editor.review)  # a fourth row, shown in review mode

        self.class_combo = QComboBox()
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(9)
        self.class_label = QLabel()
        self.class_label.setFixedWidth(max(self.class_label.fontMetrics().horizontalAdvance(t) for t in CLASS_LABELS))
        self.actions_button = QToolButton(text="Actions")
        self.actions_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.actions_button.setToolTip("Duplicate, copy and paste shapes, convert a mask to polygons, delete a part")
        self.actions_button.setEnabled(False)  # until the Data page gives its actions (set_actions)
        self.last_label_box = QCheckBox("Use last label")
        self.last_label_box.setToolTip("On: a drawn shape takes the class of the last one; off: a prompt asks it")
        self.last_label_box.setChecked(editor.use_last_label)
        self.autosave_box = QCheckBox("Autosave")
        self.autosave_box.setToolTip("Save a few seconds after the last edit (the recovery file keeps every edit)")
        self.autosave_box.setChecked(editor.autosave.enabled)

        self.options_bar = ToolOptionsBar(editor)
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
        self._noting = False  # the line shows a tool's note, not a warning
        self._message_timer = QTimer(self, singleShot=True, interval=MESSAGE_MS)
        self._message_timer.timeout.connect(self.clear_message)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 2)
        outer.setSpacing(2)
        # three rows, to fit the centre of a 1280 px window: the tools and undo / redo; the class box, the shape
        # actions and the settings of the tool (brush radius, simplify tolerance: only for the tools using them);
        # saving, the switches and the message line
        lay = QHBoxLayout()
        lay.setSpacing(4)
        outer.addLayout(lay)
        shape_row = QHBoxLayout()
        shape_row.setSpacing(4)
        outer.addLayout(shape_row)
        below = QHBoxLayout()
        below.setSpacing(8)
        for b in self.tool_buttons.values():
            lay.addWidget(b)
        lay.addSpacing(8)
        lay.addWidget(self.review_button)
        lay.addStretch(1)
        for act in (self.undo_action, self.redo_action):
            lay.addWidget(self._button(act))
        shape_row.addWidget(self.class_label)
        shape_row.addWidget(self.class_combo)
        shape_row.addSpacing(6)
        shape_row.addWidget(self._button(self.delete_action))
        shape_row.addWidget(self.actions_button)
        shape_row.addStretch(1)
        shape_row.addWidget(self.options_bar)
        below.addWidget(self._button(self.save_action))
        below.addWidget(self.dirty_label)
        below.addWidget(self.autosave_box)
        below.addWidget(self.last_label_box)
        below.addWidget(self.message_label, 1)
        outer.addLayout(below)
        outer.addWidget(self.review_bar)

        self.class_combo.activated.connect(self._on_class_activated)
        self.last_label_box.toggled.connect(editor.set_use_last_label)
        self.autosave_box.toggled.connect(editor.autosave.set_enabled)
        editor.changed.connect(self._refresh)
        editor.classes_changed.connect(self._fill_classes)
        editor.selection_changed.connect(lambda _a: self._show_category())
        editor.tool_changed.connect(lambda n: self.tool_buttons[n].setChecked(True))
        editor.message.connect(self.show_message)
        editor.note.connect(self.show_note)
        editor.saved.connect(lambda _p: self.clear_message())
        editor.review.changed.connect(lambda: self.review_button.setChecked(editor.review.active))
        self._fill_classes()
        self._refresh()

    def set_actions(self, actions: list[QAction | None]) -> None:
        """The Data page's shape actions (None: a separator) behind the Actions button; their keys show there."""
        menu = QMenu(self)
        for act in actions:
            if act is None:
                menu.addSeparator()
            else:
                menu.addAction(act)
        self.actions_button.setMenu(menu)
        self.actions_button.setEnabled(True)

    @staticmethod
    def _button(action: QAction) -> QToolButton:
        b = QToolButton()
        b.setDefaultAction(action)
        return b

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
        """The selected shape's class ("Relabel"), else the class of the next shape ("Draw as")."""
        cid = self.editor.state.shown_category()
        i = self.class_combo.findData(cid) if cid is not None else -1
        self.class_combo.blockSignals(True)
        self.class_combo.setCurrentIndex(i)
        self.class_combo.blockSignals(False)
        selected = self.editor.selected is not None
        self.class_label.setText(CLASS_LABELS[1] if selected else CLASS_LABELS[0])
        self.class_combo.setToolTip(
            "Class of the selected shape: picking one relabels it (keys 1-9 too); the next shape keeps its class"
            if selected
            else "Class of the next shape drawn (keys 1-9 pick one)"
        )

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
        self.review_button.setEnabled(a.on)
        self.class_combo.setEnabled(a.on)
        self._show_category()
        text, style = DIRTY_MARKS[a.mark]
        self.dirty_label.setText(text)
        self.dirty_label.setStyleSheet(style)

    def show_message(self, text: str) -> None:
        """Why an edit was refused or a save failed; it goes after a while, or at the next save."""
        self.message_label.setStyleSheet(f"color: {palette.ERROR.name()}")
        self._noting = False
        self._message = text
        self.message_label.setToolTip(text)
        self._elide()
        self._message_timer.start()

    def show_note(self, text: str) -> None:
        """What a tool is doing or found (GrabCut working…), in the muted colour; "" takes it away (a warning stays)."""
        if not text:
            if self._noting:
                self.clear_message()
            return
        self.show_message(text)
        self.message_label.setStyleSheet("color: palette(placeholder-text)")
        self._noting = True

    def message(self) -> str:
        return self._message

    def clear_message(self) -> None:
        self._noting = False
        self._message = ""
        self.message_label.clear()
        self.message_label.setToolTip("")

    def _elide(self) -> None:
        fm = self.message_label.fontMetrics()
        self.message_label.setText(fm.elidedText(self._message, Qt.TextElideMode.ElideRight, max(self.width() - 4, 40)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()
