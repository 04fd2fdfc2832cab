"""The config form: one input per schema field, generated from :class:`~studio.core.config.form.FormSpec`.

The form renders values and forwards intent: a user edit emits ``edited(path, raw_value)`` and the
page decides what follows (validation, the YAML text, the diff). What it shows comes back through
:meth:`ConfigForm.set_values` (the merged raw values), :meth:`set_errors` (one message under each
field at fault) and :meth:`set_diff` (keys this file changes from its base: bold on a tinted label,
the base value in the tooltip, a reset button in base mode). A file without a base is compared with the
defaults of its architecture's family: those are the "Default:" of every tooltip and placeholder then, so
the tooltip never names two different defaults.

Numbers and lists are line edits, not spin boxes: a value out of range or of the wrong type is typed
as the user means it and the validation message says what is wrong, instead of the box refusing keys.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.config.diff import BASE, ConfigDiff
from studio.core.config.form import (
    ARCH_PATH,
    MISSING,
    FieldSpec,
    FormSpec,
    GroupSpec,
    format_value,
    get_path,
    parse_text,
)
from studio.gui.common import palette

TASK_TITLES = {"segment": "Instance segmentation", "detect": "Detection"}
LABEL_WIDTH = 140
LABEL_INDENT = 11  # a nested group box's frame and margins
DIFF_BG = "#fff1c2"
DIFF_FG = "#6b4a00"

STYLE = f"""
QLabel[diff="true"] {{ background: {DIFF_BG}; color: {DIFF_FG}; font-weight: 600; border-radius: 3px; \
padding: 1px 4px; }}
QLabel[diff="false"] {{ padding: 1px 4px; }}
QLabel#field_error {{ color: {palette.ERROR.darker(115).name()}; font-size: 11px; }}
QLabel#arch_help {{ color: palette(placeholder-text); font-size: 11px; }}
QLineEdit[invalid="true"], QComboBox[invalid="true"] {{ border: 1px solid {palette.ERROR.name()}; \
border-radius: 3px; padding: 2px; }}
QGroupBox {{ font-weight: 600; margin-top: 14px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; }}
QGroupBox QGroupBox {{ font-weight: 500; }}
"""


def _repolish(w: QWidget) -> None:
    w.style().unpolish(w)
    w.style().polish(w)


class _Row:
    """The widgets of one field: its label, input, error line and (base mode) reset button."""

    def __init__(
        self,
        spec: FieldSpec,
        label: QLabel,
        editor: QWidget,
        error: QLabel,
        reset: QToolButton,
        line: QLineEdit | None,
        extra: QLabel | None = None,
    ):
        self.spec, self.label, self.editor, self.error, self.reset, self.line, self.extra = (
            spec,
            label,
            editor,
            error,
            reset,
            line,
            extra,
        )
        self.value: Any = MISSING


class ConfigForm(QScrollArea):
    """Signals: ``edited(path, value)`` for a new raw value, ``reset_requested(path)`` to drop the file's own
    value of ``path`` (it falls back to the base)."""

    edited = Signal(str, object)
    reset_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.spec: FormSpec | None = None
        self.rows: dict[str, _Row] = {}
        self.boxes: dict[str, QGroupBox] = {}
        self.base_folder: Path | None = None
        self.diff: ConfigDiff | None = None
        self._updating = False
        self._val_memory: dict | None = None  # data.val as it was before the box was unticked
        self.placeholder = QLabel("Reading the model zoo…")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("muted")
        self.setWidget(self.placeholder)

    @property
    def ready(self) -> bool:
        return self.spec is not None

    # ------------------------------------------------------------------ building
    def build(self, spec: FormSpec) -> None:
        self.spec = spec
        self.rows.clear()
        self.boxes.clear()
        body = QWidget()
        body.setObjectName("config_form")
        body.setStyleSheet(STYLE)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 0, 10, 8)
        lay.setSpacing(6)
        for group in spec.children_of(""):
            lay.addWidget(self._group_box(group))
        lay.addStretch(1)
        self.setWidget(body)

    def _group_box(self, group: GroupSpec) -> QGroupBox:
        box = QGroupBox(group.title)
        box.setToolTip(group.help or group.title)
        self.boxes[group.path] = box
        if group.optional:
            box.setCheckable(True)
            box.toggled.connect(lambda on, g=group.path: self._on_section_toggled(g, on))
        grid = QGridLayout(box)
        grid.setContentsMargins(10, 8, 8, 8)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        row = 0
        for spec in self.spec.fields_of(group.path):
            row = self._add_row(grid, row, spec)
        for child in self.spec.children_of(group.path):
            grid.addWidget(self._group_box(child), row, 0, 1, 3)
            row += 1
        return box

    def _add_row(self, grid: QGridLayout, row: int, spec: FieldSpec) -> int:
        label = QLabel(spec.label)
        label.setFixedWidth(LABEL_WIDTH - LABEL_INDENT * spec.group.count("."))  # inputs line up across groups
        label.setProperty("diff", False)
        label.setToolTip(spec.tooltip())
        line: QLineEdit | None = None
        extra: QLabel | None = None
        if spec.kind == "bool":
            editor: QWidget = QCheckBox()
            editor.toggled.connect(lambda on, p=spec.path: self._emit(p, bool(on)))
        elif spec.kind == "choice":
            editor = self._combo(spec)
            if spec.path == ARCH_PATH:
                extra = QLabel()
                extra.setObjectName("arch_help")
                extra.setWordWrap(True)
        elif spec.suggestions:
            editor = QComboBox()
            editor.setEditable(True)
            editor.addItems(list(spec.suggestions))
            editor.activated.connect(lambda i, s=spec, cb=editor: self._emit(s.path, parse_text(s, cb.itemText(i))))
            line = editor.lineEdit()
        elif spec.kind == "path":
            editor, line = self._path_editor(spec)
        else:
            editor = line = QLineEdit()
        if line is not None:
            line.setPlaceholderText(self._placeholder(spec))
            line.textEdited.connect(lambda text, s=spec: self._emit(s.path, parse_text(s, text)))
        if spec.kind == "choice" or spec.suggestions:
            editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        editor.setToolTip(spec.tooltip())
        editor.setObjectName(f"field:{spec.path}")
        reset = QToolButton()
        reset.setText("↺")
        reset.setAutoRaise(True)
        reset.setToolTip("Remove this key from the file: the value comes from the base again")
        reset.clicked.connect(lambda _=False, p=spec.path: self.reset_requested.emit(p))
        policy = reset.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # every group keeps the column: inputs line up
        reset.setSizePolicy(policy)
        reset.setVisible(False)
        error = QLabel()
        error.setObjectName("field_error")
        error.setWordWrap(True)
        error.setVisible(False)
        grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(editor, row, 1)
        grid.addWidget(reset, row, 2)
        row += 1
        if extra is not None:
            grid.addWidget(extra, row, 1)
            row += 1
        grid.addWidget(error, row, 1, 1, 2)
        self.rows[spec.path] = _Row(spec, label, editor, error, reset, line, extra)
        return row + 1

    def _placeholder(self, spec: FieldSpec) -> str:
        if spec.empty_means:
            return spec.empty_means
        if spec.required:
            return "required"
        if spec.default is not MISSING and spec.default is not None:
            text = f"default {format_value(spec, spec.default)}"
            return f"{text}; {spec.range_text()}" if spec.range_text() else text
        return spec.range_text()

    def _combo(self, spec: FieldSpec) -> QComboBox:
        combo = QComboBox()
        combo.setMaxVisibleItems(20)
        task = None
        for c in spec.choices:
            if c.task and c.task != task:  # a header row per task (model.arch)
                task = c.task
                combo.addItem(f"— {TASK_TITLES.get(task, task)} —")
                item = combo.model().item(combo.count() - 1) if isinstance(combo.model(), QStandardItemModel) else None
                if item is not None:
                    item.setEnabled(False)
            combo.addItem(str(c.value), c.value)
            if c.description:
                combo.setItemData(combo.count() - 1, c.description, Qt.ItemDataRole.ToolTipRole)
        if spec.optional:  # shown while the key is empty (no item chosen)
            combo.setPlaceholderText(self._placeholder(spec))
        combo.activated.connect(lambda index, s=spec, cb=combo: self._on_combo(s, cb, index))
        return combo

    def _path_editor(self, spec: FieldSpec) -> tuple[QWidget, QLineEdit]:
        holder = QWidget()
        h = QHBoxLayout(holder)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(2)
        line = QLineEdit()
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Browse")
        browse.clicked.connect(lambda _=False, s=spec, le=line: self._browse(s, le))
        h.addWidget(line, 1)
        h.addWidget(browse)
        return holder, line

    # ------------------------------------------------------------------ user intent
    def _emit(self, path: str, value: Any) -> None:
        if not self._updating:
            self.rows[path].value = value
            self.edited.emit(path, value)

    def _on_combo(self, spec: FieldSpec, combo: QComboBox, index: int) -> None:
        value = combo.itemData(index)
        if value is None and combo.itemText(index).startswith("—"):
            return
        self._emit(spec.path, value if value is not None else combo.itemText(index))

    def _on_section_toggled(self, group: str, on: bool) -> None:
        if self._updating:
            return
        if on:
            value = self._val_memory or {f.name: None for f in self.spec.fields_of(group)} | {"ann": ""}
        else:
            current = {f.name: self.rows[f.path].value for f in self.spec.fields_of(group)}
            self._val_memory = {k: (None if v is MISSING else v) for k, v in current.items()}
            value = None
        self.edited.emit(group, value)

    def _browse(self, spec: FieldSpec, line: QLineEdit) -> None:
        start = line.text().strip()
        if start and self.base_folder is not None and not os.path.isabs(start):
            start = str(self.base_folder / start)
        start = start or (str(self.base_folder) if self.base_folder else "")
        if spec.path_mode == "dir":
            chosen = QFileDialog.getExistingDirectory(self, spec.label, start)
        else:
            filt = (
                "Weights (*.pt *.pth);;All files (*)" if spec.name == "weights" else "COCO JSON (*.json);;All files (*)"
            )
            chosen, _ = QFileDialog.getOpenFileName(self, spec.label, start, filt)
        if chosen:
            self.set_path_text(spec.path, chosen)

    def set_path_text(self, path: str, chosen: str) -> None:
        """Put a chosen file or folder in the box of ``path``, relative to the config's folder like
        ``studio config init`` writes it, and emit the edit."""
        row = self.rows[path]
        text = chosen
        if self.base_folder is not None:
            try:
                text = os.path.relpath(Path(chosen).resolve(), self.base_folder)
            except ValueError:  # another drive on Windows
                text = str(chosen)
        row.line.setText(text)
        self._emit(path, parse_text(row.spec, text))

    # ------------------------------------------------------------------ what the page shows
    def set_values(self, display: dict) -> None:
        """Show the merged raw values. A box being typed in keeps its text while it means the same value."""
        if self.spec is None:
            return
        self._updating = True
        try:
            for group, box in self.boxes.items():
                g = self.spec.group(group)
                if g is not None and g.optional:
                    box.setChecked(isinstance(get_path(display, group), dict))
            for path, row in self.rows.items():
                value = get_path(display, path)
                if value is MISSING:
                    value = row.spec.default
                row.value = value
                self._show_value(row, value)
        finally:
            self._updating = False

    def _show_value(self, row: _Row, value: Any) -> None:
        spec = row.spec
        if isinstance(row.editor, QCheckBox):
            row.editor.setChecked(bool(value) if isinstance(value, bool) else False)
            row.editor.setText(
                "" if isinstance(value, bool) or value in (None, MISSING) else f"(not a boolean: {value})"
            )
            return
        if spec.kind == "choice":
            combo: QComboBox = row.editor
            index = combo.findData(value) if value not in (None, MISSING) else -1
            if index < 0 and value not in (None, MISSING):  # a value the list does not have: show it as it is
                unknown = f"{value}"
                index = combo.findText(unknown)
                if index < 0:
                    combo.addItem(unknown, value)
                    index = combo.count() - 1
                    combo.setItemData(index, "not a known choice", Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(index)
            if row.extra is not None:
                choice = spec.choice(value)
                row.extra.setText(choice.description if choice else "")
                row.extra.setVisible(bool(choice and choice.description))
            return
        text = format_value(spec, value)
        line = row.line
        if line.hasFocus() and parse_text(spec, line.text()) == value:
            return  # the user is typing this value: leave the text and the cursor alone
        if line.text() != text:
            line.setText(text)

    def set_errors(self, errors: dict[str, str]) -> dict[str, str]:
        """Show each message under its field; returns the messages that have no field here."""
        unplaced = dict(errors)
        for path, row in self.rows.items():
            msg = unplaced.pop(path, None)
            row.error.setText(msg or "")
            row.error.setVisible(bool(msg))
            target = row.line if row.line is not None and not isinstance(row.editor, QComboBox) else row.editor
            if target.property("invalid") != bool(msg):
                target.setProperty("invalid", bool(msg))
                _repolish(target)
        for path, box in self.boxes.items():  # a whole section at fault (data.val: 5)
            if path in unplaced:
                box.setToolTip(unplaced[path])
        return unplaced

    def field_spec(self, path: str, defaults: dict | None = None) -> FieldSpec:
        """The spec of field ``path`` with its default taken from ``defaults`` (the diff's reference) when
        that has one."""
        spec = self.rows[path].spec
        if defaults is None:
            return spec
        value = get_path(defaults, path)
        return spec if value is MISSING else replace(spec, default=value)

    def set_diff(self, diff: ConfigDiff | None, defaults: dict | None = None) -> None:
        """Highlight the keys ``diff`` reports as added or changed; the tooltip names the base value.
        ``defaults``: what a file without a base is compared with (the family's defaults): the tooltips' and
        placeholders' "Default:" is that value, the one "Differs from the default" means."""
        self.diff = diff
        differing = diff.differing() if diff is not None else {}
        own = set(diff.keys) if diff is not None else set()
        for path, row in self.rows.items():
            hit = [k for k in differing if k == path or k.startswith(path + ".")]
            on = bool(hit)
            if row.label.property("diff") != on:
                row.label.setProperty("diff", on)
                _repolish(row.label)
            spec = self.field_spec(path, defaults)
            why = diff.describe(hit[0]) if on and diff is not None else ""
            tip = f"{why}\n\n{spec.tooltip()}" if why else spec.tooltip()
            row.label.setToolTip(tip)
            row.editor.setToolTip(spec.tooltip())
            if row.line is not None:
                row.line.setPlaceholderText(self._placeholder(spec))
            sets = any(k == path or k.startswith(path + ".") for k in own)
            row.reset.setVisible(diff is not None and diff.reference == BASE and sets)

    def set_base_folder(self, folder: Path | None) -> None:
        self.base_folder = folder

    def show_field(self, path: str) -> bool:
        """Scroll to the field ``path`` names (or the longest one it lies in) and focus it."""
        if self.spec is None:
            return False
        owner = self.spec.owner(path)
        if owner in self.rows:
            w = self.editor(owner)
            self.ensureWidgetVisible(w, 40, 80)
            w.setFocus(Qt.FocusReason.OtherFocusReason)
            return True
        if owner in self.boxes:
            self.ensureWidgetVisible(self.boxes[owner], 40, 80)
            return True
        return False

    # ------------------------------------------------------------------ queries (tests, the page)
    def editor(self, path: str) -> QWidget:
        row = self.rows[path]
        return row.line if row.line is not None else row.editor

    def error_text(self, path: str) -> str:
        return self.rows[path].error.text()

    def is_highlighted(self, path: str) -> bool:
        return bool(self.rows[path].label.property("diff"))

    def text_of(self, path: str) -> str:
        row = self.rows[path]
        if isinstance(row.editor, QCheckBox):
            return "true" if row.editor.isChecked() else "false"
        if isinstance(row.editor, QComboBox) and not row.editor.isEditable():
            return row.editor.currentText()
        return row.line.text()

    def section_enabled(self, path: str) -> bool:
        box = self.boxes[path]
        return not box.isCheckable() or box.isChecked()
