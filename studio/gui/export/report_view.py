"""The result of an export as the wizard shows it: agreement with PyTorch, mAP, latency and warnings.

It renders the ``export_report.json`` dict (:mod:`studio.core.export.report`), nothing more: a pass /
warn colour comes from the same thresholds the report's warnings use. A report never makes the window
grow: the report scrolls inside its column, every latency row is one line (a long reason is cut short in
its cell and whole in its tooltip) and long paths are named in tooltips.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.export.benchmark import BACKEND_TITLES
from studio.core.export.report import MAP_WARN, MATCH_WARN, box_compared
from studio.gui.common import palette
from studio.gui.common.messages import colored, warning_color
from studio.gui.common.sections import section_label

LATENCY_COLUMNS = ["Backend", "ms / image", "vs PyTorch", "Note"]


def _f(v, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


EMPTY = "Export a checkpoint to see how the exported model agrees with PyTorch and how fast it runs."
NOTE_CHARS = 48  # a latency note longer than this is cut short in its cell (whole in the tooltip)


def _ok_color(ok: bool) -> QColor:
    return palette.OK.darker(130) if ok else warning_color()


def short_note(text: str, limit: int = NOTE_CHARS) -> str:
    """The first clause of ``text``, at most ``limit`` characters (… when cut)."""
    cut = min((i for i in (text.find(c) for c in ";:(\n") if i > 0), default=len(text))
    head = text[:cut].rstrip(" ,.")
    if len(head) > limit:
        head = head[: limit - 1].rstrip() + "…"
    elif cut < len(text):
        head += " …"
    return head


def _wrapping(label: QLabel) -> QLabel:
    """A word-wrapped label that takes the width it is given (its text never widens the column)."""
    label.setWordWrap(True)
    label.setMinimumWidth(40)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


class ExportReportView(QWidget):
    """Empty until :meth:`show_report`; ``copied(text)`` after the infer command went to the clipboard."""

    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report: dict | None = None
        self.out_dir: Path | None = None
        self.command = ""
        title = section_label("Verification")
        self.headline = QLabel(EMPTY)
        self.headline.setObjectName("muted")
        _wrapping(self.headline)
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(3)
        grid.setColumnStretch(1, 1)
        for r, (key, text) in enumerate(
            (
                ("box_match", "Box match"),
                ("score_diff", "Score difference"),
                ("map_pytorch", "mAP PyTorch"),
                ("map_exported", "mAP exported"),
                ("map_delta", "mAP delta"),
                ("files", "Files"),
            )
        ):
            name = QLabel(text)
            val = QLabel("–")
            val.setTextFormat(Qt.TextFormat.RichText)
            _wrapping(val)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(name, r, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(val, r, 1)
            self.values[key] = val
        lat_title = section_label("Latency")
        self.latency = QTableWidget(0, len(LATENCY_COLUMNS))
        self.latency.setHorizontalHeaderLabels(LATENCY_COLUMNS)
        self.latency.verticalHeader().hide()
        self.latency.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.latency.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.latency.setWordWrap(False)  # one line a row: a long note is cut short, whole in its tooltip
        self.latency.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.latency.setShowGrid(False)
        self.latency.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.latency.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.latency.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.latency.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        head = self.latency.horizontalHeader()
        for c in range(3):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.latency_note = _wrapping(QLabel())
        self.latency_note.setObjectName("muted")
        self.warnings = _wrapping(QLabel())
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.warnings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open output folder")
        self.open_button.clicked.connect(self.open_folder)
        self.copy_button = QPushButton("Copy `studio infer` command")
        self.copy_button.clicked.connect(self.copy_command)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 4, 0)
        bl.addWidget(self.headline)
        bl.addLayout(grid)
        bl.addSpacing(6)
        bl.addWidget(lat_title)
        bl.addWidget(self.latency)
        bl.addWidget(self.latency_note)
        bl.addWidget(self.warnings)
        bl.addStretch(1)
        self.scroll = QScrollArea()  # a long report scrolls here: it never makes the window taller
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)
        self.scroll.setMinimumWidth(200)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(title)
        lay.addWidget(self.scroll, 1)
        lay.addLayout(buttons)
        self.clear()

    def clear(self) -> None:
        """Back to empty (a new export, another run or checkpoint chosen)."""
        self.report, self.out_dir, self.command = None, None, ""
        self.headline.setText(EMPTY)
        self.headline.setToolTip("")
        for v in self.values.values():
            v.setText("–")
            v.setToolTip("")
        self.latency.setRowCount(0)
        self._fit_latency()
        self.latency_note.setText("")
        self.warnings.setText("")
        self.open_button.setEnabled(False)
        self.copy_button.setEnabled(False)

    def show_report(self, report: dict, out_dir: Path, command: str) -> None:
        self.report, self.out_dir, self.command = report, Path(out_dir), command
        self.headline.setText(f"{report['format']} export of {report['arch']} → {report['model']}")
        self.headline.setToolTip(str(Path(out_dir) / report["model"]))
        self._fill_values(report)
        self._fill_latency(report)
        warnings = report.get("warnings") or []
        self.warnings.setText("<br>".join(colored("⚠ " + w, warning_color()) for w in warnings))
        self.warnings.setVisible(bool(warnings))
        self.open_button.setEnabled(True)
        self.copy_button.setEnabled(bool(command))  # none for a plugin format `studio infer` cannot run

    def _fill_values(self, rep: dict) -> None:
        v = self.values
        bm = rep.get("box_match")
        if bm and not box_compared(bm):  # a rate of 100 % over nothing says nothing: not green
            v["box_match"].setText(
                colored("No detections to compare", warning_color(), bold=True)
                + html.escape(f"  ·  neither PyTorch nor the export detected anything on {bm['images']} images")
            )
            v["score_diff"].setText("–")
        elif bm:
            ok = bm["match_rate"] >= MATCH_WARN
            v["box_match"].setText(
                colored(f"{bm['match_rate']:.1%}", _ok_color(ok), bold=True)
                + html.escape(
                    f"  ·  {bm['matched']} of {bm['pytorch_detections']} PyTorch / "
                    f"{bm['exported_detections']} exported "
                    f"detections paired at IoU ≥ {bm['iou_threshold']} on {bm['images']} images"
                )
            )
            v["score_diff"].setText(
                html.escape(f"max {_f(bm['max_score_diff'], '.2e')}, mean {_f(bm.get('mean_score_diff'), '.2e')}")
            )
        else:
            why = "not verified" if not rep.get("verified") else "no detections to compare"
            v["box_match"].setText(colored(why, warning_color()))
            v["score_diff"].setText("–")
        metric = rep.get("metric") or "mAP"
        v["map_pytorch"].setText(html.escape(f"{_f(rep.get('map_pytorch'))}  ({metric})"))
        v["map_exported"].setText(html.escape(_f(rep.get("map_exported"))))
        delta = rep.get("map_delta")
        if delta is None:
            v["map_delta"].setText("n/a")
        else:
            ok = abs(delta) <= MAP_WARN
            v["map_delta"].setText(
                colored(f"{delta:+.4f}", _ok_color(ok), bold=True)
                + html.escape(f"  (within ±{MAP_WARN:g})" if ok else f"  (more than ±{MAP_WARN:g})")
            )
        files = ", ".join(rep.get("files") or [])
        v["files"].setText(html.escape(files))
        v["files"].setToolTip(files)

    def _fill_latency(self, rep: dict) -> None:
        lat = rep.get("latency_ms") or {}
        speed = rep.get("speedup_vs_pytorch") or {}
        skipped = rep.get("latency_skipped") or {}
        rows = [
            (k, f"{ms:.1f}", f"{speed[k]:.2f}×" if k in speed else ("1.00×" if k.startswith("pytorch") else ""), "")
            for k, ms in lat.items()
        ]
        rows += [(k, "–", "", why) for k, why in skipped.items()]
        self.latency.setRowCount(len(rows))
        muted = self.palette().placeholderText().color()
        for r, (key, ms, sp, why) in enumerate(rows):
            for c, text in enumerate((BACKEND_TITLES.get(key, key), ms, sp, short_note(why) if why else "measured")):
                it = QTableWidgetItem(text)
                it.setData(Qt.ItemDataRole.UserRole, key)
                if c in (1, 2):
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if why:
                    it.setForeground(muted)
                    it.setToolTip(why)
                self.latency.setItem(r, c, it)
        self._fit_latency()
        note = rep.get("latency_note") or ""
        self.latency_note.setText(note)
        self.latency_note.setToolTip(note)

    def _fit_latency(self) -> None:
        """As tall as its one-line rows: the table never scrolls, and no empty block sits under a short one."""
        rows = sum(self.latency.rowHeight(r) for r in range(self.latency.rowCount()))
        self.latency.setFixedHeight(
            self.latency.horizontalHeader().height() + max(rows, 24) + 2 * self.latency.frameWidth()
        )

    def latency_rows(self) -> dict[str, str]:
        """backend key -> its ms cell ("–" when not measured), for tests and screenshots."""
        return {
            self.latency.item(r, 0).data(Qt.ItemDataRole.UserRole): self.latency.item(r, 1).text()
            for r in range(self.latency.rowCount())
        }

    def open_folder(self) -> None:
        if self.out_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.out_dir)))

    def copy_command(self) -> None:
        if self.command:
            QGuiApplication.clipboard().setText(self.command)
            self.copied.emit(self.command)
