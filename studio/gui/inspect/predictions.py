"""The Predictions tab: a checkpoint's val predictions image by image, worst first.

Left: the val images sorted by error score (missed objects + scores of false alarms) with their TP /
FP / FN counts, filterable by a confusion-matrix cell. Middle: ground truth and predictions side by
side or overlaid, TP green / FP red / FN orange, and the current image's detections, any of which can
be accepted as an annotation. Right: the confusion matrix (click a cell to list its images) and the
per-class PR curves. Predicting, re-matching at a new score / IoU and decoding run in workers; the
widgets only show what :mod:`studio.gui.inspect.jobs` returns.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.evaluation.matching import FP, TP
from studio.gui.common import palette
from studio.gui.common.image_cache import ImageLoader
from studio.gui.common.image_view import ImageView
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label
from studio.gui.common.workers import Jobs
from studio.gui.inspect.draw import COLORS, draw_ground_truth, draw_predictions
from studio.gui.inspect.jobs import Matching, ValPredictions, accept_and_reload, predict_val, proposal, rematch

log = logging.getLogger("studio.gui.inspect")

DEFAULT_SCORE = 0.25
REMATCH_DELAY_MS = 150  # a dragged slider re-matches once it rests
MAX_LABELLED = 25  # more predictions than this on one image: tags only on the selected one (else a wall of tags)
CURVE_COLORS = ["#4c8dff", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("section")
    return label


class ImageTable(QAbstractTableModel):
    """The val images in worst-first order (or a confusion cell's subset): name, TP, FP, FN, error."""

    HEADERS = ("Image", "TP", "FP", "FN", "Error")

    def __init__(self):
        super().__init__()
        self.preds: ValPredictions | None = None
        self.matching: Matching | None = None
        self.ids: list[Any] = []

    def show(self, preds: ValPredictions | None, matching: Matching | None, only: list[Any] | None = None) -> None:
        self.beginResetModel()
        self.preds, self.matching = preds, matching
        if matching is None:
            self.ids = []
        elif only is None:
            self.ids = list(matching.order)
        else:
            wanted = set(only)
            self.ids = [i for i in matching.order if i in wanted]
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


class PredictionsPanel(QWidget):
    """See the module docstring. ``set_source`` names the checkpoint and its val set; ``run`` predicts."""

    annotation_proposed = Signal(object, object, object)  # image id, category id, polygon (flat xy) or bbox (xywh)
    image_shown = Signal(object)  # the path of the image now shown (the explain tabs follow it)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.checkpoint: Path | None = None
        self.val_ann: Path | None = None
        self.val_images: Path | None = None
        self.preds: ValPredictions | None = None
        self.matching: Matching | None = None
        self.cell: tuple[int, int] | None = None  # the confusion cell filtering the list
        self.image_id: Any = None
        self._image: QImage | None = None
        self.predict_slot = JobSlot(jobs, self, self._on_progress)
        self.match_slot = JobSlot(jobs, self)
        self.accept_slot = JobSlot(jobs, self)
        self.loader = ImageLoader(jobs, parent=self)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(lambda path, msg: self._on_image_failed(path, msg))
        self._rematch_timer = QTimer(self, singleShot=True, interval=REMATCH_DELAY_MS)
        self._rematch_timer.timeout.connect(self.rematch)
        self._build()
        self._update()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.run_button = QPushButton("Predict val set")
        self.run_button.setToolTip("Run the checkpoint on every val image (in the background)")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.score_slider = QSlider(Qt.Orientation.Horizontal)
        self.score_slider.setRange(0, 100)
        self.score_slider.setValue(round(DEFAULT_SCORE * 100))
        self.score_slider.setFixedWidth(160)
        self.score_slider.setToolTip("Predictions scoring below this are not shown nor counted")
        self.score_label = QLabel()
        self.score_label.setMinimumWidth(34)
        self.score_slider.valueChanged.connect(self._on_threshold)
        self.iou_spin = QDoubleSpinBox()
        self.iou_spin.setRange(0.05, 0.95)
        self.iou_spin.setSingleStep(0.05)
        self.iou_spin.setValue(0.5)
        self.iou_spin.setToolTip("Box IoU a prediction needs with a GT object of its class to count as correct")
        self.iou_spin.valueChanged.connect(self._on_threshold)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["Side by side", "Overlaid"])
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._redraw())
        self.masks_box = QCheckBox("Masks")
        self.masks_box.setChecked(True)
        self.masks_box.toggled.connect(lambda _on: self._redraw())
        self.totals = QLabel()
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.progress = progress_bar()
        self.status = status_label()

        bar = QHBoxLayout()
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Score ≥"))
        bar.addWidget(self.score_slider)
        bar.addWidget(self.score_label)
        bar.addWidget(QLabel("IoU"))
        bar.addWidget(self.iou_spin)
        bar.addSpacing(8)
        bar.addWidget(self.mode_combo)
        bar.addWidget(self.masks_box)
        bar.addSpacing(12)
        bar.addWidget(self.totals, 1)

        # left: the images
        self.table = ImageTable()
        self.image_list = QTableView()
        self.image_list.setModel(self.table)
        self.image_list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.image_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.image_list.verticalHeader().setVisible(False)
        self.image_list.verticalHeader().setDefaultSectionSize(22)
        hh = self.image_list.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.image_list.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._on_row(cur.row()))
        self.filter_label = QLabel("Worst first")
        self.filter_label.setWordWrap(True)
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.clicked.connect(lambda: self.filter_cell(None))
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 4, 0)
        ll.addWidget(_section("Images"))
        fl = QHBoxLayout()
        fl.addWidget(self.filter_label, 1)
        fl.addWidget(self.show_all_button)
        ll.addLayout(fl)
        ll.addWidget(self.image_list, 1)

        # middle: the image(s) and its detections
        self.gt_view = ImageView()
        self.pred_view = ImageView()
        self.gt_title = QLabel("Ground truth")
        self.pred_title = QLabel("Predictions")
        legend = " ".join(
            colored(f"■ {t}", COLORS[k], bold=True) for t, k in (("correct", TP), ("false alarm", FP), ("missed", "FN"))
        )
        self.legend = QLabel(legend + "  <span style='color:gray'>(dashed: ground truth)</span>")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        views = QHBoxLayout()
        for title, view in ((self.gt_title, self.gt_view), (self.pred_title, self.pred_view)):
            # a long file name in a title must not widen its column: the two views stay the same size
            title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            col = QVBoxLayout()
            col.addWidget(title)
            col.addWidget(view, 1)
            views.addLayout(col, 1)
        self.det_table = QTableWidget(0, 5)
        self.det_table.setHorizontalHeaderLabels(["#", "Class", "Score", "Outcome", "IoU"])
        self.det_table.verticalHeader().setVisible(False)
        self.det_table.verticalHeader().setDefaultSectionSize(22)
        self.det_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.det_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.det_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.det_table.itemSelectionChanged.connect(self._on_det_selection)
        self.accept_button = QPushButton("Send to editor")
        self.accept_button.setToolTip(
            "Propose the selected predictions as annotations in the editor (model-assisted labelling)"
        )
        self.accept_button.clicked.connect(self.propose_selected)
        self.write_button = QPushButton("Add to val file")
        self.write_button.setToolTip("Write the selected predictions into the val annotation file as new annotations")
        self.write_button.clicked.connect(self.write_selected)
        acc = QHBoxLayout()
        acc.addWidget(_section("Detections of this image"))
        acc.addStretch(1)
        acc.addWidget(self.accept_button)
        acc.addWidget(self.write_button)
        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(4, 0, 4, 0)
        ml.addLayout(views, 3)
        ml.addWidget(self.legend)
        ml.addLayout(acc)
        ml.addWidget(self.det_table, 1)

        # right: confusion matrix and PR curves
        self.confusion = QTableWidget(0, 0)
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.confusion.cellClicked.connect(self.filter_cell)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion.setToolTip("Rows: true class; columns: predicted class. Click a cell to list its images.")
        pg.setConfigOptions(antialias=True, background="#1e2024", foreground="#c8cad0")
        self.pr_plot = pg.PlotWidget()
        self.pr_plot.setMenuEnabled(False)
        self.pr_plot.setLabel("bottom", "recall")
        self.pr_plot.setLabel("left", "precision")
        self.pr_plot.setXRange(0, 1, padding=0.02)
        self.pr_plot.setYRange(0, 1, padding=0.02)
        self.pr_plot.setMinimumHeight(200)
        self.pr_legend = self.pr_plot.addLegend(offset=(-6, 6), labelTextSize="8pt", brush=pg.mkBrush(30, 32, 36, 200))
        self.iou_type_combo = QComboBox()
        self.iou_type_combo.currentIndexChanged.connect(lambda _i: self._show_curves())
        self.metrics_label = QLabel()
        self.metrics_label.setWordWrap(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        rl.addWidget(_section("Confusion matrix (true × predicted)"))
        rl.addWidget(self.confusion, 1)
        ph = QHBoxLayout()
        ph.addWidget(_section("PR curves at IoU 0.5"))
        ph.addStretch(1)
        ph.addWidget(self.iou_type_combo)
        rl.addLayout(ph)
        rl.addWidget(self.pr_plot, 1)
        rl.addWidget(self.metrics_label)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(middle)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 620, 500])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)

    # ------------------------------------------------------------------ source and prediction
    @property
    def score_thr(self) -> float:
        return self.score_slider.value() / 100.0

    @property
    def iou_thr(self) -> float:
        return round(self.iou_spin.value(), 3)

    @property
    def running(self) -> bool:
        return self.predict_slot.running

    def set_source(self, checkpoint: Path | None, val_ann: Path | None = None, val_images: Path | None = None) -> None:
        """The checkpoint to inspect and the val set to run it on (None: the one its config names)."""
        if (checkpoint, val_ann, val_images) == (self.checkpoint, self.val_ann, self.val_images):
            return
        self.predict_slot.cancel()
        self.match_slot.cancel()
        self.checkpoint, self.val_ann, self.val_images = checkpoint, val_ann, val_images
        self.preds, self.matching, self.cell, self.image_id = None, None, None, None
        self.table.show(None, None)
        self.confusion.clear()
        self.confusion.setRowCount(0)
        self.confusion.setColumnCount(0)
        self.pr_plot.clear()
        self.metrics_label.clear()
        self._clear_views()
        self.status.setText("Press “Predict val set” to run the checkpoint on its val images." if checkpoint else "")
        self._update()

    def run(self) -> bool:
        if self.checkpoint is None or self.running:
            return False
        self.status.setText(f"Predicting the val set with {self.checkpoint.name}…")
        show_progress(self.progress, 0, 0)
        self.predict_slot.start(
            predict_val,
            self.checkpoint,
            self.val_ann,
            self.val_images,
            title="Predicting the val set",
            done=self._on_predicted,
            failed=self._on_predict_failed,
        )
        self._update()
        return True

    def cancel(self) -> None:
        self.predict_slot.cancel()
        self.progress.setVisible(False)
        self.status.setText("Cancelled.")
        self._update()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total)
        self.status.setText(f"{message} {done}/{total}" if total else message)

    def _on_predicted(self, preds: ValPredictions) -> None:
        self.preds = preds
        self.progress.setVisible(False)
        n = sum(len(d) for d in preds.detections.values())
        self.status.setText(f"{len(preds.detections)} val images, {n} predictions from {preds.checkpoint.name}.")
        m = {k: v for k, v in preds.metrics.items() if k.endswith(("_mAP", "_mAP_50")) and v is not None}
        self.metrics_label.setText("   ".join(f"{k}: {v:.3f}" for k, v in m.items()))
        self.iou_type_combo.blockSignals(True)
        self.iou_type_combo.clear()
        self.iou_type_combo.addItems(preds.curves.iou_types)
        self.iou_type_combo.blockSignals(False)
        self._show_curves()
        self.rematch()
        self._update()

    def _on_predict_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.status.setText(error_html("Cancelled." if message == "cancelled" else f"Prediction failed: {message}"))
        self._update()

    # ------------------------------------------------------------------ thresholds and matching
    def _on_threshold(self, *_a) -> None:
        self.score_label.setText(f"{self.score_thr:.2f}")
        if self.preds is not None:
            self._rematch_timer.start()

    def rematch(self) -> None:
        if self.preds is None:
            return
        self._rematch_timer.stop()
        self.totals.setText(self.totals.text() + " <span style='color:gray'>…</span>" if self.matching else "matching…")
        self.match_slot.start(
            rematch,
            self.preds,
            self.score_thr,
            self.iou_thr,
            title="Matching predictions",
            done=self._on_matched,
            failed=lambda msg: self.status.setText(error_html(msg)) if msg != "cancelled" else None,
        )

    def _on_matched(self, matching: Matching) -> None:
        self.matching = matching
        self.totals.setText(
            " ".join(
                [
                    colored(f"TP {matching.tp}", COLORS[TP], bold=True),
                    colored(f"FP {matching.fp}", COLORS[FP], bold=True),
                    colored(f"FN {matching.fn}", COLORS["FN"], bold=True),
                ]
            )
        )
        self._show_confusion()
        current = self.image_id
        self._show_list()
        self._select_image(current if current in self.table.ids else (self.table.ids[0] if self.table.ids else None))

    # ------------------------------------------------------------------ the list and the confusion cell
    def _show_list(self) -> None:
        only = None
        if self.cell is not None and self.matching is not None:
            r, c = self.cell
            only = self.matching.confusion.image_ids[r][c]
            names = self.matching.confusion.names
            self.filter_label.setText(f"<b>{names[r]}</b> predicted as <b>{names[c]}</b>: {len(only)} image(s)")
        else:
            self.filter_label.setText("All images, worst first")
        self.show_all_button.setVisible(self.cell is not None)
        self.table.show(self.preds, self.matching, only)

    def filter_cell(self, row: int | None, col: int | None = None) -> None:
        """List only the images behind confusion cell (row, col); None lists all images again."""
        self.cell = None if row is None else (int(row), int(col))
        if self.cell is None:
            self.confusion.clearSelection()
        self._show_list()
        if self.table.ids:
            self._select_image(self.image_id if self.image_id in self.table.ids else self.table.ids[0])

    def _show_confusion(self) -> None:
        conf = self.matching.confusion
        names = conf.names
        short = [n if len(n) <= 12 else n[:11] + "…" for n in names]
        self.confusion.blockSignals(True)
        self.confusion.clear()
        self.confusion.setRowCount(len(names))
        self.confusion.setColumnCount(len(names))
        self.confusion.setHorizontalHeaderLabels(short)
        self.confusion.setVerticalHeaderLabels(short)
        norm = conf.normalized()
        base = self.palette().base().color()
        for r in range(len(names)):
            for c in range(len(names)):
                n = int(conf.counts[r, c])
                it = QTableWidgetItem(str(n) if n else "")
                it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                good = r == c and r < conf.num_classes
                tint = palette.OK if good else palette.ERROR
                share = float(norm[r, c]) if r < conf.num_classes else min(1.0, n / max(1, conf.counts[r].sum()))
                if n:
                    col = QColor(tint)
                    col.setAlphaF(0.15 + 0.6 * share)
                    it.setBackground(_over(base, col))
                it.setToolTip(
                    f"true {names[r]}, predicted {names[c]}: {n} object(s) in {len(conf.image_ids[r][c])} image(s)"
                )
                self.confusion.setItem(r, c, it)
        self.confusion.blockSignals(False)
        if self.cell is not None:
            self.confusion.setCurrentCell(*self.cell)

    def _show_curves(self) -> None:
        self.pr_plot.clear()
        if self.preds is None or not self.iou_type_combo.currentText():
            return
        curves = self.preds.curves
        recall = curves.recall
        for k, c in enumerate(curves.curves.get(self.iou_type_combo.currentText(), [])):
            if c.precision_50 is None:
                continue
            pen = pg.mkPen(CURVE_COLORS[k % len(CURVE_COLORS)], width=2)
            self.pr_plot.plot(recall, c.precision_50, pen=pen, name=f"{c.name} AP50 {c.ap50:.2f}")

    # ------------------------------------------------------------------ one image
    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.table.ids):
            self._show_image(self.table.ids[row])

    def _select_image(self, image_id: Any) -> None:
        if image_id is None:
            self._clear_views()
            return
        row = self.table.ids.index(image_id)
        sm = self.image_list.selectionModel()
        if self.image_list.currentIndex().row() != row:
            self.image_list.setCurrentIndex(self.table.index(row, 0))  # -> _on_row
        else:
            self._show_image(image_id)
        sm.select(self.table.index(row, 0), sm.SelectionFlag.ClearAndSelect | sm.SelectionFlag.Rows)

    def _show_image(self, image_id: Any) -> None:
        changed = image_id != self.image_id
        self.image_id = image_id
        path = self.preds.image_file(image_id)
        if changed:
            self._image = self.loader.request(path)
            self.image_shown.emit(path)
        self._fill_detections()
        self._redraw()

    def _on_image_loaded(self, path: str, img: QImage) -> None:
        if self.image_id is not None and str(self.preds.image_file(self.image_id)) == path:
            self._image = img
            self._redraw()

    def _on_image_failed(self, path: str, message: str) -> None:
        if self.image_id is not None and str(self.preds.image_file(self.image_id)) == path:
            self.status.setText(error_html(message))

    def _clear_views(self) -> None:
        self.image_id, self._image = None, None
        for v in (self.gt_view, self.pred_view):
            v.clear()
        self.det_table.setRowCount(0)

    def _visible_detections(self) -> list[int]:
        dets = self.preds.detections[self.image_id]
        thr = self.matching.score_thr if self.matching else self.score_thr
        return [i for i in range(len(dets)) if float(dets.scores[i]) >= thr]

    def _fill_detections(self) -> None:
        dets = self.preds.detections[self.image_id]
        m = self.matching.matches.get(self.image_id) if self.matching else None
        rows = self._visible_detections()
        self.det_table.blockSignals(True)
        self.det_table.setRowCount(len(rows))
        names = self.preds.class_map.names
        for r, i in enumerate(rows):
            status = m.status_of(i) if m else None
            pair = m.matched_annotation(i) if m else None
            cells = [
                str(i),
                names[int(dets.labels[i]) - 1],
                f"{float(dets.scores[i]):.3f}",
                {TP: "correct", FP: "false alarm"}.get(status, status or ""),
                f"{pair[1]:.2f}" if pair else "",
            ]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setData(Qt.ItemDataRole.UserRole, i)
                if c == 3 and status in COLORS:
                    it.setForeground(COLORS[status])
                self.det_table.setItem(r, c, it)
        self.det_table.blockSignals(False)
        self._update()

    def selected_detections(self) -> list[int]:
        rows = sorted({ix.row() for ix in self.det_table.selectedIndexes()})
        return [int(self.det_table.item(r, 0).data(Qt.ItemDataRole.UserRole)) for r in rows]

    def _on_det_selection(self) -> None:
        self._redraw()
        self._update()

    def _redraw(self) -> None:
        if self.preds is None or self.image_id is None:
            return
        image = self.preds.gt.image(self.image_id)
        anns = self.preds.gt.anns_for_image(self.image_id)
        dets = self.preds.detections[self.image_id]
        m = self.matching.matches.get(self.image_id) if self.matching else None
        thr = self.matching.score_thr if self.matching else self.score_thr
        side = self.mode_combo.currentIndex() == 0
        sel = self.selected_detections()
        cmap = self.preds.class_map
        name_of = {c: n for c, n in zip(cmap.cat_ids, cmap.names)}
        class_name = lambda cid: name_of.get(cid, str(cid))  # noqa: E731
        for v in (self.gt_view, self.pred_view):
            v.set_canvas(int(image.get("width") or 1), int(image.get("height") or 1))
            if self._image is not None:
                v.set_image(self._image)
        self.gt_view.setVisible(side)
        self.gt_title.setVisible(side)
        if side:
            draw_ground_truth(self.gt_view.scene(), anns, m, class_name, cmap.cat_ids)
        else:
            draw_ground_truth(self.pred_view.scene(), anns, m, class_name, cmap.cat_ids)
        shown = sum(1 for s in dets.scores if float(s) >= thr)
        draw_predictions(
            self.pred_view.scene(),
            dets,
            m,
            thr,
            cmap.names,
            masks=self.masks_box.isChecked(),
            selected=sel[0] if sel else None,
            labels=shown <= MAX_LABELLED,
        )
        name = image.get("file_name")
        self.pred_title.setText(f"Predictions · {name}" if side else f"Ground truth (dashed) and predictions · {name}")
        self.pred_title.setToolTip(name)

    # ------------------------------------------------------------------ accepting predictions
    def _proposals(self):
        out = []
        for i in self.selected_detections():
            p = proposal(self.preds, self.image_id, i)
            if p is not None:
                out.append(p)
        return out

    def propose_selected(self) -> int:
        """Emit ``annotation_proposed`` for each selected detection; returns how many."""
        props = self._proposals()
        for p in props:
            self.annotation_proposed.emit(p.image_id, p.category_id, p.shape)
        if props:
            self.status.setText(f"Sent {len(props)} prediction(s) to the editor.")
        return len(props)

    def write_selected(self) -> bool:
        """Add the selected detections to the val annotation file (in a worker), then re-match."""
        props = self._proposals()
        if not props or self.accept_slot.running:
            return False
        self.accept_slot.start(
            accept_and_reload,
            self.preds,
            props,
            title="Adding annotations",
            done=self._on_written,
            failed=lambda msg: self.status.setText(error_html(f"Not added: {msg}")),
        )
        self._update()
        return True

    def _on_written(self, out) -> None:
        added, preds = out
        self.preds = preds
        self.status.setText(f"Added {len(added)} annotation(s) to {preds.ann.name}.")
        self.rematch()
        self._update()

    # ------------------------------------------------------------------ state
    def _update(self) -> None:
        busy = self.predict_slot.running
        self.run_button.setEnabled(self.checkpoint is not None and not busy)
        self.cancel_button.setEnabled(busy)
        has_sel = self.preds is not None and bool(self.det_table.selectedIndexes())
        self.accept_button.setEnabled(has_sel)
        self.write_button.setEnabled(has_sel and not self.accept_slot.running)
        self.score_label.setText(f"{self.score_thr:.2f}")

    def stop(self) -> None:
        for slot in (self.predict_slot, self.match_slot, self.accept_slot):
            slot.cancel()


def _over(base: QColor, top: QColor) -> QColor:
    """``top`` (with alpha) composed over an opaque ``base``: table cells ignore a brush's alpha on some styles."""
    a = top.alphaF()
    return QColor(
        round(top.red() * a + base.red() * (1 - a)),
        round(top.green() * a + base.green() * (1 - a)),
        round(top.blue() * a + base.blue() * (1 - a)),
    )
