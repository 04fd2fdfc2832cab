"""The Predictions tab: a checkpoint's val predictions image by image, worst first.

Left: the val images sorted by error score (missed objects + scores of false alarms) with their TP /
FP / FN counts, filterable by a confusion-matrix cell. Middle: ground truth and predictions side by side
(sharing zoom and pan) or overlaid (one view, the whole width), TP green / FP red / FN orange, and the
current image's detections, any of which can be sent to the editor or written as an annotation. Right: the
confusion matrix (click a cell to list its images), the per-class PR curves and F1 against the score, whose
best threshold one click puts on the score slider (:mod:`studio.gui.inspect.f1_chart`). What the tab knows and
decides (the thresholds, the list, the image shown, what the buttons allow) is the Qt-free
:class:`~studio.gui.inspect.predictions_state.PredictionsState`; the panel renders it and runs predicting,
re-matching at a new score / IoU and decoding in workers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.evaluation.matching import FP, TP
from studio.gui.common.image_cache import ImageLoader
from studio.gui.common.image_view import ImageView
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label
from studio.gui.common.sections import section_label, title_row
from studio.gui.common.workers import Jobs
from studio.gui.inspect.draw import COLORS, draw_ground_truth, draw_predictions
from studio.gui.inspect.f1_chart import F1Chart
from studio.gui.inspect.jobs import Matching, ValPredictions, accept_and_reload, predict_val, rematch
from studio.gui.inspect.prediction_widgets import ConfusionTable, DetectionTable, ImageTable, PRPlot
from studio.gui.inspect.predictions_state import DEFAULT_SCORE, OVERLAID, SIDE_BY_SIDE, PredictionsState

log = logging.getLogger("studio.gui.inspect")

REMATCH_DELAY_MS = 150  # a dragged slider re-matches once it rests


class PredictionsPanel(QWidget):
    """See the module docstring. ``set_source`` names the checkpoint and its val set; ``run`` predicts."""

    # "Send to editor": the selected detections with the annotation file they belong to (an EditorProposals)
    send_to_editor = Signal(object)
    # the same, one signal per shape without the file: image id, category id, polygon (flat xy) or bbox (xywh)
    annotation_proposed = Signal(object, object, object)
    image_shown = Signal(object)  # the path of the image now shown (the explain tabs follow it)
    score_changed = Signal(float)  # the score threshold the user set (the CAM tab follows it)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.state = PredictionsState()
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
        self.mode_combo.currentIndexChanged.connect(lambda i: self._set_view(mode=(SIDE_BY_SIDE, OVERLAID)[i]))
        self.masks_box = QCheckBox("Masks")
        self.masks_box.setChecked(True)
        self.masks_box.toggled.connect(lambda on: self._set_view(masks=on))
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
        ll.addWidget(section_label("Images"))
        fl = QHBoxLayout()
        fl.addWidget(self.filter_label, 1)
        fl.addWidget(self.show_all_button)
        ll.addLayout(fl)
        ll.addWidget(self.image_list, 1)

        # middle: the image(s) and its detections
        self.gt_view = ImageView()
        self.pred_view = ImageView()
        self.gt_view.link(self.pred_view)  # side by side: one zoom and pan for both
        self.gt_title = QLabel("Ground truth")
        self.pred_title = QLabel("Predictions")
        legend = " ".join(
            colored(f"■ {t}", COLORS[k], bold=True) for t, k in (("correct", TP), ("false alarm", FP), ("missed", "FN"))
        )
        self.legend = QLabel(legend + "  <span style='color:gray'>(dashed: ground truth)</span>")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        # each view in a column widget: hiding the ground-truth column (overlaid) gives its room to the other
        self.views = QWidget()
        views = QHBoxLayout(self.views)
        views.setContentsMargins(0, 0, 0, 0)
        self.gt_column, self.pred_column = QWidget(), QWidget()
        for column, title, view in (
            (self.gt_column, self.gt_title, self.gt_view),
            (self.pred_column, self.pred_title, self.pred_view),
        ):
            # a long file name in a title must not widen its column: the two views stay the same size
            title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            column.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
            col = QVBoxLayout(column)
            col.setContentsMargins(0, 0, 0, 0)
            col.addWidget(title)
            col.addWidget(view, 1)
            views.addWidget(column, 1)
        self.det_table = DetectionTable()
        self.det_table.itemSelectionChanged.connect(self._on_det_selection)
        self.accept_button = QPushButton("Send to editor")
        self.accept_button.setToolTip(
            "Add the selected predictions as annotations in the Data page's editor (model-assisted labelling); "
            "it opens the val annotation file they were predicted on when another file is open"
        )
        self.accept_button.clicked.connect(self.propose_selected)
        self.write_button = QPushButton("Add to val file")
        self.write_button.setToolTip("Write the selected predictions into the val annotation file as new annotations")
        self.write_button.clicked.connect(self.write_selected)
        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(4, 0, 4, 0)
        ml.addWidget(self.views, 3)
        ml.addWidget(self.legend)
        ml.addLayout(title_row("Detections of this image", self.accept_button, self.write_button))
        ml.addWidget(self.det_table, 1)

        # right: confusion matrix and PR curves
        self.confusion = ConfusionTable()
        self.confusion.cellClicked.connect(self.filter_cell)
        self.pr_plot = PRPlot()
        self.iou_type_combo = QComboBox()
        self.iou_type_combo.currentIndexChanged.connect(lambda _i: self._show_curves())
        self.metrics_label = QLabel()
        self.metrics_label.setWordWrap(True)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        rl.addWidget(section_label("Confusion matrix (true × predicted)"))
        rl.addWidget(self.confusion, 1)
        self.f1_chart = F1Chart()
        self.f1_chart.apply_requested.connect(self.set_score)
        self.f1_chart.set_current(self.state.score_thr)
        self.curve_tabs = QTabWidget()
        self.curve_tabs.addTab(self.pr_plot, "Precision / recall")
        self.curve_tabs.addTab(self.f1_chart, "F1 / score")
        rl.addLayout(title_row("Curves at IoU 0.5", self.iou_type_combo))
        rl.addWidget(self.curve_tabs, 1)
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

    # ------------------------------------------------------------------ the state, for the page and tests
    checkpoint = property(lambda self: self.state.checkpoint)
    val_images = property(lambda self: self.state.val_images)
    preds = property(lambda self: self.state.preds)
    matching = property(lambda self: self.state.matching)
    cell = property(lambda self: self.state.cell)
    image_id = property(lambda self: self.state.image_id)
    score_thr = property(lambda self: self.state.score_thr)
    iou_thr = property(lambda self: self.state.iou_thr)

    @property
    def val_ann(self) -> Path | None:
        return self.state.val_ann

    @val_ann.setter
    def val_ann(self, path: Path | None) -> None:
        self.state.val_ann = path

    @property
    def running(self) -> bool:
        return self.predict_slot.running

    # ------------------------------------------------------------------ source and prediction
    def set_source(self, checkpoint: Path | None, val_ann: Path | None = None, val_images: Path | None = None) -> None:
        """The checkpoint to inspect and the val set to run it on (None: the one its config names)."""
        if not self.state.set_source(checkpoint, val_ann, val_images):
            return
        self.predict_slot.cancel()
        self.match_slot.cancel()
        self.table.show(None, None, [])
        self.confusion.empty()
        self.pr_plot.clear()
        self.f1_chart.show_curves(None, "")
        self.metrics_label.clear()
        self._clear_views()
        self.status.setText(self.state.source_hint())
        self._update()

    def run(self) -> bool:
        if not self.state.can_run(self.running):
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
        self.state.predicted(preds)
        self.progress.setVisible(False)
        self.status.setText(self.state.summary())
        self.metrics_label.setText(self.state.metrics_text())
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
        before = self.score_thr
        pending = self.state.set_thresholds(self.score_slider.value() / 100.0, self.iou_spin.value())
        self.score_label.setText(f"{self.score_thr:.2f}")
        self.f1_chart.set_current(self.score_thr)
        if self.score_thr != before:
            self.score_changed.emit(self.score_thr)
        if pending:
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
        show = self.state.matched(matching)
        counts = zip(("TP", "FP", "FN"), self.state.totals(), (TP, FP, "FN"))
        self.totals.setText(" ".join(colored(f"{k} {n}", COLORS[key], bold=True) for k, n, key in counts))
        names = [self.state.short_name(n) for n in matching.confusion.names]
        self.confusion.show_cells(names, self.state.confusion_cells(), self.cell)
        self._show_list()
        self._select_image(show)

    # ------------------------------------------------------------------ the list and the confusion cell
    def _show_list(self) -> None:
        self.filter_label.setText(self.state.filter_text())
        self.show_all_button.setVisible(self.cell is not None)
        self.table.show(self.preds, self.matching, self.state.listed())

    def filter_cell(self, row: int | None, col: int | None = None) -> None:
        """List only the images behind confusion cell (row, col); None lists all images again."""
        show = self.state.filter_cell(row, col)
        if self.cell is None:
            self.confusion.clearSelection()
        self._show_list()
        if show is not None:
            self._select_image(show)

    def _show_curves(self) -> None:
        self.pr_plot.show_curves(self.preds.curves if self.preds else None, self.iou_type_combo.currentText())
        self.f1_chart.show_curves(self.preds.f1 if self.preds else None, self.iou_type_combo.currentText())

    def set_score(self, score_thr: float) -> None:
        """Move the score slider (the F1 chart's "Use" button): the tab re-matches as for a drag."""
        self.score_slider.setValue(round(score_thr * 100))

    # ------------------------------------------------------------------ one image
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

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.table.ids):
            self._show_image(self.table.ids[row])

    def _show_image(self, image_id: Any) -> None:
        if self.state.show_image(image_id):
            path = self.state.image_file()
            self._image = self.loader.request(path)
            self.image_shown.emit(path)
        self.det_table.show_rows(self.state.detection_rows())
        self._update()
        self._redraw()

    def _on_image_loaded(self, path: str, img: QImage) -> None:
        if str(self.state.image_file()) == path:
            self._image = img
            self._redraw()

    def _on_image_failed(self, path: str, message: str) -> None:
        if str(self.state.image_file()) == path:
            self.status.setText(error_html(message))

    def _clear_views(self) -> None:
        self.state.clear_image()
        self._image = None
        for v in (self.gt_view, self.pred_view):
            v.clear()
        self.det_table.setRowCount(0)

    def selected_detections(self) -> list[int]:
        return self.det_table.selected()

    def _on_det_selection(self) -> None:
        self._redraw()
        self._update()

    def _set_view(self, **how) -> None:
        """Side by side or overlaid (``mode``), masks or not (``masks``)."""
        for k, v in how.items():
            setattr(self.state, k, v)
        self.gt_column.setVisible(self.state.mode == SIDE_BY_SIDE)
        self._redraw()

    def _redraw(self) -> None:
        st = self.state
        if st.preds is None or st.image_id is None:
            return
        image = st.preds.gt.image(st.image_id)
        m = st.matching.matches.get(st.image_id) if st.matching else None
        side = st.mode == SIDE_BY_SIDE
        sel = self.selected_detections()
        for v in (self.gt_view, self.pred_view):
            v.set_canvas(int(image.get("width") or 1), int(image.get("height") or 1))
            if self._image is not None:
                v.set_image(self._image)
        names = st.class_names()
        draw_ground_truth(
            (self.gt_view if side else self.pred_view).scene(),
            st.preds.gt.anns_for_image(st.image_id),
            m,
            lambda cid: names.get(cid, str(cid)),
            st.preds.class_map.cat_ids,
        )
        draw_predictions(
            self.pred_view.scene(),
            st.preds.detections[st.image_id],
            m,
            st.threshold(),
            st.preds.class_map.names,
            masks=st.masks,
            selected=sel[0] if sel else None,
            labels=st.labelled(),
        )
        self.pred_title.setText(st.title())
        self.pred_title.setToolTip(image.get("file_name"))

    # ------------------------------------------------------------------ accepting predictions
    def propose_selected(self) -> int:
        """Send the selected detections to the editor: ``send_to_editor`` with the annotation file they belong
        to, and ``annotation_proposed`` for each; returns how many."""
        sent = self.state.to_editor(self.selected_detections())
        if sent is None:
            return 0
        self.send_to_editor.emit(sent)
        for p in sent.proposals:
            self.annotation_proposed.emit(p.image_id, p.category_id, p.shape)
        self.status.setText(self.state.sent_text(sent))
        return len(sent.proposals)

    def write_selected(self) -> bool:
        """Add the selected detections to the val annotation file (in a worker), then re-match."""
        props = self.state.proposals(self.selected_detections())
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
        self.status.setText(self.state.written(*out))
        self.rematch()
        self._update()

    # ------------------------------------------------------------------ buttons
    def _update(self) -> None:
        b = self.state.buttons(
            self.predict_slot.running, self.accept_slot.running, bool(self.det_table.selectedIndexes())
        )
        self.run_button.setEnabled(b.run)
        self.cancel_button.setEnabled(b.cancel)
        self.accept_button.setEnabled(b.accept)
        self.write_button.setEnabled(b.write)
        self.score_label.setText(f"{self.score_thr:.2f}")

    def stop(self) -> None:
        for slot in (self.predict_slot, self.match_slot, self.accept_slot):
            slot.cancel()
