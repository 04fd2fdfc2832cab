"""The Dataset summary panel: counts of the dataset open on the Data page, per class.

A panel contribution is a factory ``make_panel(context) -> QWidget``. ``context`` is the app's
:class:`studio.gui.common.plugin_panels.PanelContext`: ``dataset()`` (the open Dataset or None) and the
``dataset_changed`` signal, ``workspace()`` and ``workspace_changed``, ``jobs`` (run slow work in a
thread) and ``show_message(text)``. Only the GUI imports this module: Qt stays out of Studio's core.
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget


def make_panel(context) -> QWidget:
    return DatasetSummary(context)


class DatasetSummary(QWidget):
    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dataset_summary")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Class", "Objects", "Images"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        self._pending = context.dataset()
        self._shown = object()  # nothing shown yet
        context.dataset_changed.connect(self.set_dataset)
        self.set_dataset(self._pending)

    def set_dataset(self, ds) -> None:
        """Counted now when the panel is visible, else when it is shown (a hidden panel costs nothing)."""
        self._pending = ds
        if self.isVisible():
            self.show_dataset(ds)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not self._shown:
            self.show_dataset(self._pending)

    def show_dataset(self, ds) -> None:
        self._shown = ds
        if ds is None:
            self.summary.setText("No dataset open.")
            self.table.setRowCount(0)
            return
        objects = Counter(a["category_id"] for a in ds.annotations)
        images = Counter()
        for cid, _img in {(a["category_id"], a["image_id"]) for a in ds.annotations}:
            images[cid] += 1
        annotated = len({a["image_id"] for a in ds.annotations})
        n_img = len(ds.images)
        per_image = len(ds.annotations) / n_img if n_img else 0.0
        self.summary.setText(
            f"{n_img} images ({n_img - annotated} without objects), {len(ds.annotations)} objects "
            f"({per_image:.1f} per image), {len(ds.categories)} classes"
        )
        cats = sorted(ds.categories, key=lambda c: c["id"])
        self.table.setRowCount(len(cats))
        for row, cat in enumerate(cats):
            for col, value in enumerate((cat["name"], objects.get(cat["id"], 0), images.get(cat["id"], 0))):
                item = QTableWidgetItem(str(value))
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
