"""The per-class table of the Data page: class, instances, images (counted by the load job)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from studio.core.dataset.summary import ClassStat
from studio.gui.common import palette

CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 1


class ClassStatsTable(QTableWidget):
    """Sortable; double-clicking a class emits ``class_activated(category_id)``."""

    class_activated = Signal(object)
    HEADERS = ("Class", "Instances", "Images")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(self.HEADERS), parent)
        self.setHorizontalHeaderLabels(self.HEADERS)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Double-click a class to list only the images that contain it")
        self.cellDoubleClicked.connect(
            lambda row, _col: self.class_activated.emit(self.item(row, 0).data(CATEGORY_ROLE))
        )

    def set_stats(self, stats: list[ClassStat]) -> None:
        self.setSortingEnabled(False)
        self.setRowCount(len(stats))
        for r, s in enumerate(stats):
            name = QTableWidgetItem(palette.dot_icon(palette.class_color(s.category_id)), s.name)
            name.setData(CATEGORY_ROLE, s.category_id)
            name.setToolTip(f"category id {s.category_id}" + ("" if s.known else " (not in 'categories')"))
            if not s.known:
                name.setForeground(palette.ERROR)
            self.setItem(r, 0, name)
            for c, v in ((1, s.instances), (2, s.images)):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, int(v))  # numeric sort
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # keep category-id order
        self.setSortingEnabled(True)

    def rows(self) -> list[tuple[Any, str, int, int]]:
        """(category id, name, instances, images) in display order."""
        return [
            (
                self.item(r, 0).data(CATEGORY_ROLE),
                self.item(r, 0).text(),
                int(self.item(r, 1).data(Qt.ItemDataRole.DisplayRole)),
                int(self.item(r, 2).data(Qt.ItemDataRole.DisplayRole)),
            )
            for r in range(self.rowCount())
        ]
