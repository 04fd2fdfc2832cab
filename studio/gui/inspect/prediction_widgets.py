"""The Predictions tab's tables and plot: the image list, the detections of the image shown, the confusion
matrix and the PR curves. Each renders what :class:`~studio.gui.inspect.predictions_state.PredictionsState`
gives and decides nothing."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from studio.core.evaluation.curves import PRCurves
from studio.core.evaluation.matching import FP
from studio.gui.common import palette
from studio.gui.inspect.draw import COLORS
from studio.gui.inspect.jobs import Matching, ValPredictions
from studio.gui.inspect.predictions_state import ConfusionCell, DetectionRow

CURVE_COLORS = ["#4c8dff", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


class ImageTable(QAbstractTableModel):
    """The val images in worst-first order (or a confusion cell's subset): name, TP, FP, FN, error."""

    HEADERS = ("Image", "TP", "FP", "FN", "Error")

    def __init__(self):
        super().__init__()
        self.preds: ValPredictions | None = None
        self.matching: Matching | None = None
        self.ids: list[Any] = []

    def show(self, preds: ValPredictions | None, matching: Matching | None, ids: list[Any]) -> None:
        self.beginResetModel()
        self.preds, self.matching, self.ids = preds, matching, list(ids)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.matching is None:
            return None
        iid = self.ids[index.row()]
        m = self.matching.matches[iid]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return str(self.preds.gt.image(iid).get("file_name"))
            return [None, len(m.tp), len(m.fp), len(m.fn), f"{m.error:.2f}"][col]
        if role == Qt.ItemDataRole.ForegroundRole and col in (2, 3):
            n = len(m.fp) if col == 2 else len(m.fn)
            return COLORS[FP if col == 2 else "FN"] if n else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return f"image {iid}: {len(m.tp)} correct, {len(m.fp)} false alarm(s), {len(m.fn)} missed"
        return None


class DetectionTable(QTableWidget):
    """The detections of the image shown: index, class, score, outcome (coloured), IoU."""

    def __init__(self):
        super().__init__(0, 5)
        self.setHorizontalHeaderLabels(["#", "Class", "Score", "Outcome", "IoU"])
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

    def show_rows(self, rows: list[DetectionRow]) -> None:
        self.blockSignals(True)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate([str(row.index), row.class_name, row.score, row.outcome, row.iou]):
                it = QTableWidgetItem(text)
                it.setData(Qt.ItemDataRole.UserRole, row.index)
                if c == 3 and row.status in COLORS:
                    it.setForeground(COLORS[row.status])
                self.setItem(r, c, it)
        self.blockSignals(False)

    def selected(self) -> list[int]:
        """The detection indices of the selected rows."""
        rows = sorted({ix.row() for ix in self.selectedIndexes()})
        return [int(self.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in rows]


class ConfusionTable(QTableWidget):
    """The confusion matrix, true class x predicted class, each cell tinted by its share of the row."""

    def __init__(self):
        super().__init__(0, 0)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setToolTip("Rows: true class; columns: predicted class. Click a cell to list its images.")

    def empty(self) -> None:
        self.clear()
        self.setRowCount(0)
        self.setColumnCount(0)

    def show_cells(self, names: list[str], cells: list[list[ConfusionCell]], current: tuple[int, int] | None) -> None:
        self.blockSignals(True)
        self.clear()
        self.setRowCount(len(names))
        self.setColumnCount(len(names))
        self.setHorizontalHeaderLabels(names)
        self.setVerticalHeaderLabels(names)
        base = self.palette().base().color()
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                it = QTableWidgetItem(cell.text)
                it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if cell.count:
                    col = QColor(palette.OK if cell.good else palette.ERROR)
                    col.setAlphaF(0.15 + 0.6 * cell.share)
                    it.setBackground(_over(base, col))
                it.setToolTip(cell.tooltip)
                self.setItem(r, c, it)
        self.blockSignals(False)
        if current is not None:
            self.setCurrentCell(*current)


class PRPlot(pg.PlotWidget):
    """Per-class precision-recall curves at IoU 0.5."""

    def __init__(self):
        pg.setConfigOptions(antialias=True, background="#1e2024", foreground="#c8cad0")
        super().__init__()
        self.setMenuEnabled(False)
        self.setLabel("bottom", "recall")
        self.setLabel("left", "precision")
        self.setXRange(0, 1, padding=0.02)
        self.setYRange(0, 1, padding=0.02)
        self.setMinimumHeight(200)
        self.legend = self.addLegend(offset=(-6, 6), labelTextSize="8pt", brush=pg.mkBrush(30, 32, 36, 200))

    def show_curves(self, curves: PRCurves | None, iou_type: str) -> None:
        self.clear()
        if curves is None or not iou_type:
            return
        for k, c in enumerate(curves.curves.get(iou_type, [])):
            if c.precision_50 is None:
                continue
            pen = pg.mkPen(CURVE_COLORS[k % len(CURVE_COLORS)], width=2)
            self.plot(curves.recall, c.precision_50, pen=pen, name=f"{c.name} AP50 {c.ap50:.2f}")


def _over(base: QColor, top: QColor) -> QColor:
    """``top`` (with alpha) composed over an opaque ``base``: table cells ignore a brush's alpha on some styles."""
    a = top.alphaF()
    return QColor(
        round(top.red() * a + base.red() * (1 - a)),
        round(top.green() * a + base.green() * (1 - a)),
        round(top.blue() * a + base.blue() * (1 - a)),
    )
