"""The runs table: the workspace's run history, to open, compare and delete runs.

Rows come from :func:`studio.core.training.run_index.list_runs` (run in a worker); the panel renders
them and forwards intent (open, compare, delete, resume) as signals.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.training.run_index import RunSummary
from studio.core.training.run_lock import held_message
from studio.gui.common.sections import section_label

COLUMNS = ["Run", "Arch", "Epochs", "Best", "Duration", "Status"]
STATUS_COLORS = {
    "finished": "#5cb85c",
    "running": "#4c8dff",
    "held": "#4c8dff",
    "failed": "#e0554f",
    "cancelled": "#d9a33f",
    "interrupted": "#d9a33f",
}


def fmt_duration(s: float) -> str:
    s = int(max(0, s))
    if s >= 3600:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s"


class RunsPanel(QWidget):
    open_requested = Signal(object)  # Path of one run
    compare_requested = Signal(list)  # Paths of 2+ runs
    delete_requested = Signal(list)  # Paths
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs: list[RunSummary] = []
        title = section_label("Runs")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS) - 1):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        # the status can be long ("held by pid 12345 (host)"): a fixed width, elided, the whole text in its tooltip
        head.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(len(COLUMNS) - 1, 92)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.itemDoubleClicked.connect(lambda _it: self._open())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show the selected run's charts (double-click a row does the same)")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Overlay the selected runs' loss, lr and val metric (select 2 or more)")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected run folders (checkpoints included)")
        self.refresh_button = QPushButton("Refresh")
        self.open_button.clicked.connect(self._open)
        self.compare_button.clicked.connect(lambda: self.compare_requested.emit(self.selected_paths()))
        self.delete_button.clicked.connect(lambda: self.delete_requested.emit(self.selected_paths()))
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.empty = QLabel("No runs yet: pick a config and press Start.")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.compare_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(title)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.empty)
        lay.addLayout(buttons)
        self.set_runs([])

    def set_runs(self, runs: list[RunSummary]) -> None:
        keep = set(self.selected_paths())
        self.runs = list(runs)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(runs))
        for r, s in enumerate(runs):
            best = f"{s.best_metric:.3f}" if s.best_metric is not None else "–"
            cells = [s.name, s.arch, f"{s.epochs_done}/{s.epochs}", best, fmt_duration(s.duration_s), s.display_status]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setData(Qt.ItemDataRole.UserRole, str(s.path))
                if c == 0:
                    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at))
                    it.setToolTip(f"{s.path}\nstarted {started}")
                elif c == 3:
                    it.setToolTip(f"best {s.metric_name}" + (f" at epoch {s.best_epoch}" if s.best_epoch else ""))
                elif c == 5:
                    held = s.display_status != s.status
                    it.setForeground(QColor(STATUS_COLORS.get("held" if held else s.status, "#c8cad0")))
                    tip = s.reason or s.status
                    if held:
                        tip = held_message(s.path, s.holder)
                    elif s.resumable and s.status in ("cancelled", "failed", "interrupted"):
                        tip += "\nlast.pt is kept: select it and press Resume"
                    it.setToolTip(tip)
                self.table.setItem(r, c, it)
            if str(s.path) in keep:
                self.table.selectRow(r)
        self.empty.setVisible(not runs)
        self._update_buttons()

    def select_run(self, path: Path) -> None:
        for r, s in enumerate(self.runs):
            if Path(s.path) == Path(path):
                self.table.selectRow(r)
                return

    def selected_paths(self) -> list[Path]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [Path(self.runs[r].path) for r in rows if r < len(self.runs)]

    def selected(self) -> list[RunSummary]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.runs[r] for r in rows if r < len(self.runs)]

    def summary_of(self, path: Path) -> RunSummary | None:
        for s in self.runs:
            if Path(s.path) == Path(path):
                return s
        return None

    def _open(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.open_requested.emit(paths[0])

    def _update_buttons(self) -> None:
        n = len(self.selected_paths())
        self.open_button.setEnabled(n == 1)
        self.compare_button.setEnabled(n >= 2)
        self.delete_button.setEnabled(n >= 1 and not any(s.status == "running" for s in self.selected()))
