"""The label manager: rename, merge and delete classes across the whole dataset, and add new ones.

Each change is one command on the editor's undo stack (:class:`~studio.core.dataset.dataset_edits.RenameClass`,
:class:`~studio.core.dataset.dataset_edits.MergeClass`, :class:`~studio.core.dataset.dataset_edits.DeleteClass`,
:class:`~studio.core.dataset.edits.AddClass`), so it is journaled like a drawn shape, saved with the dataset, and
Ctrl+Z takes it back, here or in the window. The table shows the Data page's class statistics, which follow every
edit. Deleting a class deletes its annotations too: the question says how many, and No changes nothing.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.dataset_edits import DeleteClass, MergeClass, RenameClass
from studio.core.dataset.edits import AddClass, Command, EditEvent
from studio.core.dataset.summary import ClassStat
from studio.core.text import plural
from studio.gui.common import palette
from studio.gui.common.commands import bind
from studio.gui.common.messages import colored, error_html, status_label
from studio.gui.data.class_stats import ClassStatsTable
from studio.gui.shortcuts import keys_text

if TYPE_CHECKING:  # for the annotations only: the dialog needs no more of the editor than it is handed
    from studio.gui.editor.controller import EditorController

EDITING_OFF = "Editing is off while the dataset is read or checked."
#: asks before a class and its annotations are deleted: (parent, title, text) -> True to go ahead
Confirm = Callable[[QWidget | None, str, str], bool]


def ask_yes_no(parent: QWidget | None, title: str, text: str) -> bool:
    buttons = QMessageBox.StandardButton
    return QMessageBox.question(parent, title, text, buttons.Yes | buttons.No, buttons.No) == buttons.Yes


class LabelManager(QDialog):
    """Class edits for the dataset the ``editor`` edits; ``stats()`` gives the class rows to show (kept current by
    the Data page). Not modal: the page behind it follows each change."""

    def __init__(
        self,
        editor: EditorController,
        stats: Callable[[], list[ClassStat]],
        parent: QWidget | None = None,
        confirm: Confirm | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Label manager")
        self.editor = editor
        self.stats = stats
        self.confirm = confirm or ask_yes_no
        self._last_error: str | None = None

        name = editor.ann_path.name if editor.ann_path is not None else "the dataset"
        intro = QLabel(
            f"The classes of <b>{html.escape(name)}</b>. Each change applies to the whole dataset and is one "
            f"step of Undo ({html.escape(keys_text('edit.undo'))}); save the dataset to keep it."
        )
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setWordWrap(True)
        self.table = ClassStatsTable()
        self.table.setToolTip("The classes, their annotations and the images that have them")
        self.selected = QLabel()
        self.selected.setTextFormat(Qt.TextFormat.RichText)
        self.selected.setWordWrap(True)
        self.new_name = QLineEdit(placeholderText="new name")
        self.rename_button = QPushButton("Rename")
        self.merge_target = QComboBox()
        self.merge_target.setMinimumContentsLength(12)
        self.merge_target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.merge_button = QPushButton("Merge")
        self.merge_button.setToolTip("Give every annotation of the selected class the class chosen here; the "
                                     "selected class goes")  # fmt: skip
        self.delete_button = QPushButton("Delete class…")
        self.delete_button.setToolTip("Delete the selected class and every annotation of it (asks first)")
        self.add_name = QLineEdit(placeholderText="name of a new class")
        self.add_button = QPushButton("Add")
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.close_button = QPushButton("Close")
        self.status = status_label()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Rename to:", _row(self.new_name, self.rename_button))
        form.addRow("Merge into:", _row(self.merge_target, self.merge_button))
        form.addRow("", _row(self.delete_button, None))
        form.addRow("New class:", _row(self.add_name, self.add_button))
        bottom = QHBoxLayout()
        bottom.addWidget(self.undo_button)
        bottom.addWidget(self.redo_button)
        bottom.addStretch(1)
        bottom.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.selected)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addLayout(bottom)
        self.resize(520, 560)

        # Ctrl+Z / Ctrl+Shift+Z here too: the dialog has the focus, and the window's Edit actions do not reach it
        self.undo_action = bind(QAction("Undo", self), "edit.undo")
        self.redo_action = bind(QAction("Redo", self), "edit.redo")
        for act, slot in ((self.undo_action, self.undo), (self.redo_action, self.redo)):
            act.triggered.connect(slot)
            self.addAction(act)

        self.table.itemSelectionChanged.connect(self._refresh)
        self.new_name.textChanged.connect(self._refresh)
        self.new_name.returnPressed.connect(self.rename)
        self.add_name.textChanged.connect(self._refresh)
        self.add_name.returnPressed.connect(self.add)
        self.rename_button.clicked.connect(self.rename)
        self.merge_button.clicked.connect(self.merge)
        self.delete_button.clicked.connect(self.delete)
        self.add_button.clicked.connect(self.add)
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.close_button.clicked.connect(self.close)
        editor.edited.connect(self._on_edited)
        editor.message.connect(self._on_message)
        editor.changed.connect(self._refresh)
        self.reload()

    # ------------------------------------------------------------------ content
    def reload(self, select: Any = None) -> None:
        """Show the class rows again, keeping (or making) ``select`` the selected class."""
        current = select if select is not None else self.current_id()
        self.table.set_stats(self.stats())
        row = next((r for r, s in enumerate(self.table.rows()) if s[0] == current), 0 if self.table.rowCount() else -1)
        if row >= 0:
            self.table.selectRow(row)
        self._refresh()

    def current_id(self) -> Any:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.table.rows()[rows[0].row()][0]

    def _current(self) -> tuple[Any, str, int, int] | None:
        cid = self.current_id()
        return next((r for r in self.table.rows() if r[0] == cid), None)

    def _known(self, cid: Any) -> bool:
        ds = self.editor.ds
        return ds is not None and ds.has_category(cid)

    def _refresh(self) -> None:
        on = self.editor.state.editable()
        row = self._current()
        known = row is not None and self._known(row[0])
        if row is None:
            self.selected.setText("Select a class in the table." if on else "")
        else:
            cid, name, instances, images = row
            self.selected.setText(
                f"<b>{html.escape(name)}</b> (id {html.escape(str(cid))}): {plural(instances, 'annotation')} on "
                f"{plural(images, 'image')}"
            )
        others = [(r[0], r[1]) for r in self.table.rows() if (row is None or r[0] != row[0]) and self._known(r[0])]
        if [
            (self.merge_target.itemData(i), self.merge_target.itemText(i)) for i in range(self.merge_target.count())
        ] != others:
            self.merge_target.clear()  # only when the classes changed: a refresh keeps the target picked
            for cid, name in others:
                self.merge_target.addItem(palette.dot_icon(palette.class_color(cid)), name, cid)
        new = self.new_name.text().strip()
        self.rename_button.setEnabled(on and known and bool(new) and new != (row[1] if row else None))
        self.merge_button.setEnabled(on and known and self.merge_target.count() > 0)
        self.delete_button.setEnabled(on and known)
        self.add_button.setEnabled(on and bool(self.add_name.text().strip()))
        a = self.editor.actions()
        self.undo_button.setEnabled(a.undo)
        self.undo_button.setToolTip(a.undo_tip)
        self.redo_button.setEnabled(a.redo)
        self.redo_button.setToolTip(a.redo_tip)
        self.undo_action.setEnabled(a.undo)
        self.redo_action.setEnabled(a.redo)
        if not on:
            self.status.setText(colored(EDITING_OFF, palette.WARNING))
        elif EDITING_OFF in self.status.text():
            self.status.setText("")

    # ------------------------------------------------------------------ edits
    def _do(self, command: Command, done: str) -> bool:
        """Run ``command`` through the editor's stack; its refusal (a taken name...) shows here."""
        self._last_error = None
        if not self.editor.state.do(command):
            self.status.setText(error_html(self._last_error or "This change cannot be made now."))
            return False
        self.status.setText(colored(f"{done} Undo ({keys_text('edit.undo')}) takes it back.", palette.OK.darker(130)))
        return True

    def rename(self) -> bool:
        row = self._current()
        new = self.new_name.text().strip()
        if row is None or not new or not self._known(row[0]):
            return False
        cid, old, _n, _i = row
        if self._do(RenameClass(cid, old, new), f"Renamed {old!r} to {new!r}."):
            self.new_name.clear()
            self.reload(cid)
            return True
        return False

    def merge(self) -> bool:
        row = self._current()
        target = self.merge_target.currentData()
        if row is None or target is None or not self._known(row[0]):
            return False
        cid, name, instances, images = row
        into = self.merge_target.currentText()
        if self._do(MergeClass(cid, target), f"Merged {name!r} into {into!r} ({plural(instances, 'annotation')})."):
            self.reload(target)
            return True
        return False

    def delete(self) -> bool:
        """Ask (naming how many annotations go), then delete the selected class; No changes nothing."""
        row = self._current()
        if row is None or not self._known(row[0]):
            return False
        cid, name, instances, images = row
        what = (
            f"and its {plural(instances, 'annotation')} (on {plural(images, 'image')})"
            if instances
            else "(it has no annotations)"
        )
        if not self.confirm(
            self,
            "Delete class",
            f"Delete the class {name!r} {what}?\n\nUndo ({keys_text('edit.undo')}) brings them back until the "
            "dataset is closed.",
        ):
            self.status.setText("Nothing deleted.")
            return False
        if self._do(DeleteClass(cid), f"Deleted {name!r} and {plural(instances, 'annotation')}."):
            self.reload()
            return True
        return False

    def add(self) -> bool:
        name = self.add_name.text().strip()
        if not name:
            return False
        command = AddClass(name)
        if self._do(command, f"Added the class {name!r}."):
            self.add_name.clear()
            self.reload(command.category_id)
            return True
        return False

    def undo(self) -> None:
        self.editor.undo()

    def redo(self) -> None:
        self.editor.redo()

    # ------------------------------------------------------------------ following the editor
    def _on_edited(self, event: EditEvent) -> None:
        if event.categories_changed or event.deltas:
            self.reload()

    def _on_message(self, text: str) -> None:
        ann = self.editor.ann_path
        prefix = f"{ann}: " if ann is not None else None
        self._last_error = text[len(prefix) :] if prefix and text.startswith(prefix) else text  # the file is known here


def _row(first: QWidget, second: QWidget | None) -> QWidget:
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(first, 1)
    if second is not None:
        lay.addWidget(second)
    else:
        lay.addStretch(1)
    return box
