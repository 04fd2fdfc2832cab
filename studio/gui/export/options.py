"""The export options form: one input per :class:`~studio.core.export.formats.OptionSpec` of a format.

Generated from the format table, so a new option needs no GUI change. An option that
:func:`~studio.core.export.formats.unavailable` rules out is disabled, its reason in the tooltip and in a
note under it. Numbers and shapes are line edits: an option whose default is "the checkpoint's value"
(None) stays empty until typed, and a wrong value is shown under the field rather than refused key by key.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLabel, QLineEdit, QWidget

from studio.core.errors import StudioError
from studio.core.export.formats import ExportFormat, OptionSpec, format_shape
from studio.gui.common import palette
from studio.gui.common.messages import warning_color


def _text(spec: OptionSpec, value: Any) -> str:
    if value is None:
        return ""
    if spec.type == "shape":
        return format_shape(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Option:
    """The widgets of one option: label, editor, and the note (reason it is off, or what is wrong)."""

    def __init__(self, spec: OptionSpec, on_change):
        self.spec = spec
        self.label = QLabel(spec.name)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.reason = ""
        self.error = ""
        if spec.type == "bool":
            self.editor: QWidget = QCheckBox()
            self.editor.setChecked(bool(spec.default))
            self.editor.toggled.connect(on_change)
        elif spec.choices:
            self.editor = QComboBox()
            for c in spec.choices:
                self.editor.addItem(str(c), c)
            self.editor.setCurrentIndex(
                max(0, list(spec.choices).index(spec.default) if spec.default in spec.choices else 0)
            )
            self.editor.currentIndexChanged.connect(on_change)
        else:
            self.editor = QLineEdit(_text(spec, spec.default))
            self.editor.setPlaceholderText("default" if spec.default is None else _text(spec, spec.default))
            self.editor.textChanged.connect(on_change)

    def raw(self) -> Any:
        """The user's value: None where a text field is left empty (the format's default then applies)."""
        if isinstance(self.editor, QCheckBox):
            return self.editor.isChecked()
        if isinstance(self.editor, QComboBox):
            return self.editor.currentData()
        return self.editor.text().strip() or None

    def value(self) -> Any:
        """The checked value (None for the default); sets ``error`` when it does not parse."""
        try:
            v = self.spec.check(self.raw())
            self.error = ""
            return v
        except StudioError as e:
            self.error = e.message
            return None

    def show(self, reason: str) -> None:
        self.reason = reason
        off = bool(reason)
        self.editor.setEnabled(not off)
        self.label.setEnabled(not off)
        tip = f"Not available: {reason}" if off else self.spec.help
        self.editor.setToolTip(tip)
        self.label.setToolTip(tip)
        text, color = (reason, warning_color()) if off else (self.error, palette.ERROR)
        self.note.setText(text)
        self.note.setStyleSheet(f"color: {color.name()}; font-size: 11px;")
        self.note.setVisible(bool(text))


class ExportOptions(QWidget):
    """``changed()`` after any edit; :meth:`values` gives the options to export with."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fmt: ExportFormat | None = None
        self.rows: dict[str, _Option] = {}
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(3)
        self.grid.setColumnStretch(1, 1)

    def set_format(self, fmt: ExportFormat) -> None:
        """Rebuild for ``fmt``; values typed for an option of the same name carry over."""
        if self.fmt is not None and self.fmt.name == fmt.name:
            return
        kept = {n: r.raw() for n, r in self.rows.items()}
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.hide()  # deleteLater only runs when control returns to the event loop
                w.deleteLater()
        self.fmt, self.rows = fmt, {}
        for i, spec in enumerate(fmt.options):
            row = _Option(spec, self._on_change)
            if spec.name in kept and kept[spec.name] is not None:
                ed = row.editor
                if isinstance(ed, QCheckBox):
                    ed.setChecked(bool(kept[spec.name]))
                elif isinstance(ed, QLineEdit):
                    ed.setText(str(kept[spec.name]))
            row.show("")
            self.rows[spec.name] = row
            self.grid.addWidget(row.label, 2 * i, 0)
            self.grid.addWidget(row.editor, 2 * i, 1)
            self.grid.addWidget(row.note, 2 * i + 1, 1)

    def values(self) -> dict[str, Any]:
        """Each option's value, None where left at its default or ruled out (so the core's default applies)."""
        return {n: (None if r.reason else r.value()) for n, r in self.rows.items()}

    def errors(self) -> dict[str, str]:
        return {n: r.error for n, r in self.rows.items() if r.error and not r.reason}

    def set_unavailable(self, reasons: dict[str, str]) -> None:
        for n, r in self.rows.items():
            r.value()  # refresh the parse error
            r.show(reasons.get(n, ""))

    def reason(self, name: str) -> str:
        return self.rows[name].reason

    def set_value(self, name: str, value: Any) -> None:
        ed = self.rows[name].editor
        if isinstance(ed, QCheckBox):
            ed.setChecked(bool(value))
        elif isinstance(ed, QComboBox):
            ed.setCurrentIndex(ed.findData(value))
        else:
            ed.setText(_text(self.rows[name].spec, value))

    def _on_change(self, *_a) -> None:
        self.changed.emit()
