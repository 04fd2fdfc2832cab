"""The check report as a tree: one group per problem kind, one row per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core.dataset.check import ERROR, KINDS, CheckReport
from studio.gui.common import palette

KIND_ROLE = Qt.ItemDataRole.UserRole + 1
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 2
ANN_ROLE = Qt.ItemDataRole.UserRole + 3
MAX_ROWS_PER_KIND = 2000  # a tree of 100k rows is unusable; the CLI's --json has them all


class CheckPanel(QTreeWidget):
    """Clicking a problem emits ``problem_activated(image_id, ann_id)`` (either may be None)."""

    problem_activated = Signal(object, object)
    HEADERS = ("Problem / file", "Image", "Ann.", "Message")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(len(self.HEADERS))
        self.setHeaderLabels(self.HEADERS)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(30)
        header.resizeSection(0, 150)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._on_item)
        self.itemActivated.connect(self._on_item)
        self.set_message("No check report yet")

    def set_message(self, text: str, color: QColor | None = None) -> None:
        """A single informative row (before the check, while it runs, or when it failed)."""
        self.clear()
        item = QTreeWidgetItem([text])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        if color is not None:
            item.setForeground(0, QBrush(color))
        self.addTopLevelItem(item)
        item.setFirstColumnSpanned(True)

    def set_report(self, report: CheckReport) -> None:
        self.clear()
        groups = report.by_kind()
        if not groups:
            item = QTreeWidgetItem(["No problems found"])
            item.setIcon(0, palette.dot_icon(palette.OK))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)
            return
        for kind, problems in groups.items():
            severity, title = KINDS[kind]
            color = palette.ERROR if severity == ERROR else palette.WARNING
            group = QTreeWidgetItem([f"{title} — {len(problems)}"])
            group.setIcon(0, palette.dot_icon(color))
            group.setData(0, KIND_ROLE, kind)
            group.setToolTip(0, f"{severity}: {title} [{kind}]")
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setForeground(0, QBrush(color.darker(115)))
            children = []
            for p in problems[:MAX_ROWS_PER_KIND]:
                child = QTreeWidgetItem(
                    [
                        Path(p.file).name if p.file else "",
                        "" if p.image_id is None else str(p.image_id),
                        "" if p.ann_id is None else str(p.ann_id),
                        p.message,
                    ]
                )
                child.setToolTip(0, p.file or "")
                child.setToolTip(3, p.message)
                child.setData(0, KIND_ROLE, kind)
                child.setData(0, IMAGE_ROLE, p.image_id)
                child.setData(0, ANN_ROLE, p.ann_id)
                children.append(child)
            if len(problems) > MAX_ROWS_PER_KIND:
                more = QTreeWidgetItem([f"... and {len(problems) - MAX_ROWS_PER_KIND} more not listed"])
                more.setFlags(Qt.ItemFlag.ItemIsEnabled)
                children.append(more)
            group.addChildren(children)
            self.addTopLevelItem(group)
            group.setFirstColumnSpanned(True)
        if len(groups) <= 3:
            self.expandAll()
        self.resizeColumnToContents(0)
        self.setColumnWidth(0, min(self.columnWidth(0), 170))

    # ------------------------------------------------------------------ queries (tests, navigation)
    def group(self, kind: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.data(0, KIND_ROLE) == kind:
                return item
        return None

    def kinds(self) -> list[str]:
        return [k for i in range(self.topLevelItemCount()) if (k := self.topLevelItem(i).data(0, KIND_ROLE))]

    def _on_item(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        if item.parent() is None:
            return
        image_id: Any = item.data(0, IMAGE_ROLE)
        ann_id: Any = item.data(0, ANN_ROLE)
        if image_id is not None or ann_id is not None:
            self.problem_activated.emit(image_id, ann_id)
