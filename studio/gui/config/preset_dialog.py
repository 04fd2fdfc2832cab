"""What a preset would change, before it is applied: one line per key, its value now and after; Apply or Cancel.

The Config page opens it (window-modal, not blocking) with :func:`studio.core.config.presets.preset_changes`'s
list and applies the preset when it is accepted.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.config.form import MISSING, get_path
from studio.core.config.presets import Change

NOT_SET = "(not set)"


def show_value(value: Any) -> str:
    """A value as the YAML writes it: ``none`` for null, ``true`` / ``false``, lists in brackets."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


class PresetDialog(QDialog):
    """``accepted`` means: apply. :meth:`rows` gives (key, now, after) as shown (tests)."""

    def __init__(self, name: str, description: str, changes: list[Change], own: dict, parent: QWidget | None = None):
        """``own``: the file's own dict now (a key it does not set shows as "(not set)")."""
        super().__init__(parent)
        self.name = name
        self.setWindowTitle(f"Apply the preset “{name}”?")
        intro = QLabel(
            f"<b>{html.escape(name)}</b>: {html.escape(description)}.<br>"
            f"It changes {len(changes)} key{'s' if len(changes) != 1 else ''} of this file; the others stay as they "
            "are. After applying, <i>Undo preset</i> puts the file back as it was."
        )
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Key", "Now", "After"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        for c in changes:
            now = NOT_SET if get_path(own, c.key) is MISSING else show_value(c.old)
            QTreeWidgetItem(self.tree, [c.key, now, show_value(c.new)])
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.buttons)
        self.resize(640, min(620, 170 + 24 * len(changes)))

    def rows(self) -> list[tuple[str, str, str]]:
        return [
            tuple(self.tree.topLevelItem(i).text(c) for c in range(3)) for i in range(self.tree.topLevelItemCount())
        ]
