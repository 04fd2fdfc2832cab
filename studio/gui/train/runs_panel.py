"""The runs table: the workspace's run history, to open, compare and delete runs.

Rows come from :func:`studio.core.training.run_index.list_runs` (run in a worker, whenever the runs folder
changes) and, for the run training here, from its live history several times a second
(:meth:`RunsPanel.update_run`): a row is updated in place, so the selection and the scroll position stay.
A running row shows its epochs done / planned and its training time, or its time against the time limit
when the run has one; and "paused" while paused. The panel forwards intent (open, compare, delete,
resume) as signals.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
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
    "paused": "#d9a33f",
    "stopping": "#d9a33f",
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


LIVE = ("running", "paused", "stopping")


def row_cells(s: RunSummary) -> list[tuple[str, str]]:
    """(text, tooltip) of each column of run ``s``'s row."""
    best = f"{s.best_metric:.3f}" if s.best_metric is not None else "–"
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at))
    best_tip = f"best {s.metric_name}" + (f" at epoch {s.best_epoch}" if s.best_epoch else "")
    duration, duration_tip = fmt_duration(s.duration_s), "training time (pauses excluded)"
    if s.time_limit_s and s.status in LIVE:  # a time limit ends the run: its progress is in time
        duration = f"{fmt_duration(s.duration_s)}/{fmt_duration(s.time_limit_s)}"
        duration_tip = f"training time of the time limit ({s.progress:.0%})"
    held = s.display_status != s.status
    tip = s.reason or s.status
    if held:
        tip = held_message(s.path, s.holder)
    elif s.extension:
        tip += f"\nan extension of this finished run was {s.extension}: its checkpoints hold the completed run"
    elif s.resumable and s.status in ("cancelled", "failed", "interrupted"):
        tip += "\nlast.pt is kept: select it and press Resume"
    return [
        (s.name, f"{s.path}\nstarted {started}"),
        (s.arch, ""),
        (f"{s.epochs_done}/{s.epochs}", "epochs done / planned"),
        (best, best_tip),
        (duration, duration_tip),
        (s.display_status, tip),
    ]


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
        """Show ``runs`` (newest first); the selected runs stay selected, rows are updated in place."""
        runs = list(runs)
        if runs == self.runs:
            return
        keep = set(self.selected_paths())
        same_rows = [s.path for s in runs] == [s.path for s in self.runs]
        self.runs = runs
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(runs))
        for r, s in enumerate(runs):
            self._fill_row(r, s)
        if not same_rows:
            self.table.blockSignals(True)
            self.table.clearSelection()
            for r, s in enumerate(runs):
                if Path(s.path) in keep:
                    self._select_row(r, add=True)
            self.table.blockSignals(False)
            self.table.itemSelectionChanged.emit()
        self.empty.setVisible(not runs)
        self._update_buttons()

    def update_run(self, s: RunSummary) -> None:
        """Update the row of ``s.path`` in place (the live run, several times a second)."""
        for r, old in enumerate(self.runs):
            if Path(old.path) == Path(s.path):
                if old != s:
                    self.runs[r] = s
                    self._fill_row(r, s)
                    self._update_buttons()
                return

    def _fill_row(self, r: int, s: RunSummary) -> None:
        held = s.display_status != s.status
        for c, (text, tip) in enumerate(row_cells(s)):
            it = self.table.item(r, c)
            if it is None:
                it = QTableWidgetItem()
                self.table.setItem(r, c, it)
            if it.text() != text:
                it.setText(text)
            if it.toolTip() != tip:
                it.setToolTip(tip)
            it.setData(Qt.ItemDataRole.UserRole, str(s.path))
            if c == 5:
                it.setForeground(QColor(STATUS_COLORS.get("held" if held else s.status, "#c8cad0")))

    def _select_row(self, r: int, add: bool = False) -> None:
        flags = QItemSelectionModel.SelectionFlag.Rows | (
            QItemSelectionModel.SelectionFlag.Select if add else QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.table.selectionModel().select(self.table.model().index(r, 0), flags)

    def status_of(self, path: Path) -> str:
        """The status cell's text of run ``path`` ("" when it is not listed)."""
        for r, s in enumerate(self.runs):
            if Path(s.path) == Path(path):
                return self.table.item(r, 5).text()
        return ""

    def cells_of(self, path: Path) -> list[str]:
        """The texts of run ``path``'s row (empty when it is not listed)."""
        for r, s in enumerate(self.runs):
            if Path(s.path) == Path(path):
                return [self.table.item(r, c).text() for c in range(len(COLUMNS))]
        return []

    def select_run(self, path: Path) -> bool:
        """Select run ``path`` alone (False: it is not listed)."""
        for r, s in enumerate(self.runs):
            if Path(s.path) == Path(path):
                self._select_row(r)
                self.table.scrollToItem(self.table.item(r, 0))
                return True
        return False

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
        self.delete_button.setEnabled(n >= 1 and not any(s.status in LIVE for s in self.selected()))
