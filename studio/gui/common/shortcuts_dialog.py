"""Help > Keyboard shortcuts: the table of :mod:`studio.gui.shortcuts`, grouped by where each key works."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from studio.gui.shortcuts import SHORTCUTS, Shortcut


def native_keys(row: Shortcut) -> str:
    """The keys of ``row`` as this platform writes them (Cmd on macOS), separated by commas."""
    return ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in row.keys)


class ShortcutsDialog(QDialog):
    """One group per place (everywhere, the Edit menu, the image view), one line per shortcut: keys, what."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Keys", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        groups: dict[str, QTreeWidgetItem] = {}
        for row in SHORTCUTS:
            group = groups.get(row.where)
            if group is None:
                group = groups[row.where] = QTreeWidgetItem(self.tree, [row.where])
                group.setFirstColumnSpanned(True)
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item = QTreeWidgetItem(group, [native_keys(row), row.description])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            item.setToolTip(1, row.description)
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tree, 1)
        lay.addWidget(buttons)
        self.resize(900, 620)

    def listed_ids(self) -> list[str]:
        """The table ids the dialog shows, in order (tests)."""
        out = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            out += [group.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(group.childCount())]
        return out
