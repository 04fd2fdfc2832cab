"""The Export page's Benchmark tab: one checkpoint on every backend here, as one table.

The page says what to benchmark (:class:`BenchmarkSource`: the checkpoint, its verification images and an
output folder, or why nothing can run now); this panel picks the formats, runs
:func:`studio.core.export.benchmark.benchmark_checkpoint` in a worker with progress and Cancel, and renders the
table it returns, the same ``benchmark.json`` the command line writes. A backend that does not exist here is a
greyed row with its reason, cut short in the cell and whole in the tooltip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.export.benchmark import BENCH_FORMATS, DEFAULT_FORMATS, PYTORCH, benchmark_checkpoint
from studio.core.export.formats import FORMATS
from studio.gui.common.job_slot import progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.sections import section_label
from studio.gui.common.workers import Jobs, Worker
from studio.gui.export.report_view import short_note

log = logging.getLogger("studio.gui.export")

EMPTY = (
    "Run the checkpoint through PyTorch and every export format that works here, on the same images: "
    "file size, mAP, agreement with PyTorch, median latency and FPS in one table."
)
REASON_CHARS = 90  # a reason longer than this is cut short in its row (whole in the tooltip)
COLUMNS = ["Format · backend", "MB", "mAP", "Δ mAP", "Match", "ms", "FPS"]


@dataclass(frozen=True)
class BenchmarkSource:
    """What the page gives the benchmark: ``why_not`` is set (and the rest may be None) when it cannot run."""

    checkpoint: Path | None = None
    ann: Path | None = None
    images: Path | None = None
    n_images: int = 20
    out_dir: Path | None = None
    device: str | None = None
    why_not: str = ""


def _format_title(name: str) -> str:
    return "PyTorch" if name == PYTORCH else FORMATS[name].title


class BenchmarkPanel(QWidget):
    """Formats to run, Benchmark / Cancel, progress, and the table of the last benchmark (until :meth:`clear`)."""

    busy_changed = Signal()  # a benchmark started or ended: the page re-reads what its buttons may do

    def __init__(self, jobs: Jobs, source: Callable[[], BenchmarkSource], parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.source = source
        self.worker: Worker | None = None
        self.runs = 20  # timed runs per backend (tests lower it)
        self.table_data: dict | None = None
        self.out_dir: Path | None = None
        self.checks: dict[str, QCheckBox] = {}
        picks = QHBoxLayout()
        picks.setSpacing(10)
        for name in BENCH_FORMATS:
            box = QCheckBox(_format_title(name))
            box.setChecked(name in DEFAULT_FORMATS)
            box.setToolTip("PyTorch eager: the reference" if name == PYTORCH else FORMATS[name].description)
            box.toggled.connect(lambda _on: self.refresh())
            self.checks[name] = box
            picks.addWidget(box)
        picks.addStretch(1)
        self.run_button = QPushButton("Benchmark")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self.open_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        self.progress = progress_bar()
        self.status = status_label()
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMinimumWidth(40)
        self.headline = QLabel(EMPTY)
        self.headline.setObjectName("muted")
        self.headline.setWordWrap(True)
        self.headline.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setShowGrid(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)  # sized to the figures (_fit_columns)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(section_label("Benchmark"))
        lay.addWidget(self.headline)
        lay.addLayout(picks)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        self.clear()

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.worker is not None

    def formats(self) -> list[str]:
        return [name for name, box in self.checks.items() if box.isChecked()]

    def why_not(self) -> str:
        """Why Benchmark cannot start now ("" when it can)."""
        if self.running:
            return "a benchmark is running"
        if not self.formats():
            return "tick at least one format"
        return self.source().why_not

    def refresh(self) -> None:
        """Enable what may be used now (the page calls this whenever its own state changes)."""
        why = self.why_not()
        self.run_button.setEnabled(not why)
        self.run_button.setToolTip(why or "Export to the ticked formats and measure them all on the same images")
        self.cancel_button.setEnabled(self.running)
        for box in self.checks.values():
            box.setEnabled(not self.running)
        self.open_button.setEnabled(self.out_dir is not None and self.out_dir.is_dir())

    def clear(self) -> None:
        """Back to empty (another run or checkpoint chosen)."""
        if self.running:
            return
        self.table_data, self.out_dir = None, None
        self.headline.setText(EMPTY)
        self.table.setRowCount(0)
        self.note.setText("")
        self.status.setText("")
        self.refresh()

    # ------------------------------------------------------------------ running
    def start(self) -> bool:
        """Start a benchmark of the page's checkpoint; False (and the reason shown) when it cannot start."""
        why = self.why_not()
        if why:
            self.status.setText(error_html(why))
            return False
        src = self.source()
        w = Worker(
            benchmark_checkpoint,
            src.checkpoint,
            self.formats(),
            src.out_dir,
            src.images,
            src.ann,
            src.n_images,
            self.runs,
            device=src.device,
            title=f"Benchmarking {src.checkpoint.name}",
        )
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(
            lambda: self.status.setText(colored("Benchmark cancelled: its folder was left as it was.", warning_color()))
        )
        w.ended.connect(self._on_ended)
        self.worker = w
        self.status.setText(f"Benchmarking {src.checkpoint.name}…")
        show_progress(self.progress, 0, 0)
        self.refresh()
        self.busy_changed.emit()
        self.jobs.start(w, log_failure=False)
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling after the current step…")
            self.cancel_button.setEnabled(False)

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Cancel a running benchmark and wait for its thread (the window is closing); True when it ended."""
        if self.worker is None:
            return True
        w = self.worker
        w.cancel()
        return w.wait(timeout_ms)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total)
        self.status.setText(message)

    def _on_finished(self, result) -> None:
        self.out_dir = result.out_dir
        self.show_table(result.table)
        self.status.setText(f"Written: {result.markdown.name} and {result.json.name} in {result.out_dir.name}")
        self.status.setToolTip(str(result.out_dir))
        log.info("benchmarked %s into %s", result.table.get("checkpoint"), result.out_dir)

    def _on_failed(self, message: str, tb: str) -> None:
        self.status.setText(error_html(f"Benchmark failed: {message}"))
        log.error("benchmark failed: %s\n%s", message, tb.rstrip())

    def _on_ended(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self.refresh()
        self.busy_changed.emit()

    def open_folder(self) -> None:
        if self.out_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.out_dir)))

    # ------------------------------------------------------------------ the table
    def show_table(self, table: dict) -> None:
        """Render a ``benchmark.json`` dict: a row per format and backend, the missing ones greyed with the reason."""
        self.table_data = table
        metric = table.get("metric") or "mAP"
        self.table.setHorizontalHeaderLabels(
            [COLUMNS[0], COLUMNS[1], metric.replace("_", " "), "Δ", COLUMNS[4], COLUMNS[5], COLUMNS[6]]
        )
        self.headline.setText(
            f"{table['arch']} on {table['device'].upper()}: {table['images']}; score ≥ {table['score_thr']}"
        )
        self.headline.setToolTip(table.get("checkpoint", ""))
        rows = table["rows"]
        self.table.clearSpans()
        self.table.setRowCount(len(rows))
        muted = self.palette().placeholderText().color()
        for r, row in enumerate(rows):
            fmt = _format_title(row["format"])
            name = row["title"] if row["title"].startswith(fmt) else f"{fmt} · {row['title']}"
            first = QTableWidgetItem(name)
            first.setData(Qt.ItemDataRole.UserRole, (row["format"], row["backend"]))
            self.table.setItem(r, 0, first)
            if row["reason"]:
                first.setForeground(muted)
                first.setToolTip(row["reason"])
                why = QTableWidgetItem(short_note(row["reason"], REASON_CHARS))
                why.setForeground(muted)
                why.setToolTip(row["reason"])
                self.table.setItem(r, 1, why)
                self.table.setSpan(r, 1, 1, len(COLUMNS) - 1)
                continue
            first.setToolTip(row["file"] or "")
            cells = (
                _num(row["size_mb"], ".1f"),
                _num(row["map"], ".4f"),
                _num(row["map_delta"], "+.4f"),
                _num(row["box_match"], ".1%"),
                _num(row["latency_ms"], ".1f"),
                _num(row["fps"], ".1f"),
            )
            for c, text in enumerate(cells, start=1):
                it = QTableWidgetItem(text)
                it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)
        self._fit_columns()
        self.note.setText(f"Latency: {table.get('latency_note', '')}.")
        self.refresh()

    def _fit_columns(self) -> None:
        """Each figure column as wide as its header and figures: a reason row's text spans them and never
        widens one (a spanned cell would count for its first column), the name column takes the rest."""
        fm = self.table.fontMetrics()
        head = self.table.horizontalHeader()
        for c in range(1, len(COLUMNS)):
            texts = [self.table.horizontalHeaderItem(c).text()]
            texts += [
                self.table.item(r, c).text()
                for r in range(self.table.rowCount())
                if self.table.item(r, c) is not None and self.table.columnSpan(r, c) == 1
            ]
            head.resizeSection(c, max(fm.horizontalAdvance(t) for t in texts) + 18)

    def row_texts(self) -> dict[tuple[str, str], list[str]]:
        """(format, backend) -> the texts of its cells (a reason row: the name and the reason), for tests."""
        out = {}
        for r in range(self.table.rowCount()):
            key = self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)
            texts = [self.table.item(r, c).text() for c in range(len(COLUMNS)) if self.table.item(r, c) is not None]
            out[tuple(key)] = texts
        return out


def _num(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)
