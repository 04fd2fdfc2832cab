"""The Inspect page: what a trained checkpoint gets right and wrong, and where it looks.

On top: the workspace's runs with a checkpoint and the checkpoint to inspect (any other file through
:meth:`InspectPage.select_checkpoint`). The list is kept current without a Refresh: a run that finishes
or appears is listed and, while the page shows the newest run, shown (:mod:`studio.gui.common.run_picker`).
Below, three tabs: Predictions (val images worst first, TP / FP / FN, confusion matrix, PR curves,
accepting predictions as annotations), Feature maps and CAM.
Every computation is a job in a worker (:mod:`studio.gui.inspect.jobs`); the page only shows.

``annotation_proposed(image_id, category_id, polygon_or_bbox)`` carries a prediction the user
accepted, for the Data page's editor to add (model-assisted labelling).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from studio.core.text import plural
from studio.gui.common.job_slot import JobSlot
from studio.gui.common.messages import error_html, status_label
from studio.gui.common.run_picker import RunCombo, RunPicker
from studio.gui.common.workers import Jobs
from studio.gui.inspect.explain import CamPanel, FeatmapPanel
from studio.gui.inspect.jobs import ExplainSession, open_explain
from studio.gui.inspect.predictions import PredictionsPanel

log = logging.getLogger("studio.gui.inspect")


class InspectPage(RunCombo, RunPicker, QWidget):
    title = "Inspect"

    annotation_proposed = Signal(object, object, object)  # image id, category id, flat polygon or xywh box

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self._init_run_picker()
        self.session: ExplainSession | None = None
        self.session_slot = JobSlot(jobs, self)
        self.explain_slot = JobSlot(jobs, self)
        self._build()

    def _build(self) -> None:
        self._make_run_combos(260, 120)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_runs)
        self.info = QLabel("No run with a checkpoint yet: train one on the Train page.")
        self.info.setObjectName("muted")
        self.status = status_label()
        top = QHBoxLayout()
        top.addWidget(QLabel("Run"))
        top.addWidget(self.run_combo)
        top.addWidget(QLabel("Checkpoint"))
        top.addWidget(self.ckpt_combo)
        top.addWidget(self.refresh_button)
        top.addSpacing(12)
        top.addWidget(self.info, 1)

        self.predictions = PredictionsPanel(self.jobs)
        self.predictions.annotation_proposed.connect(self.annotation_proposed)
        self.featmaps = FeatmapPanel(self.jobs, self.explain_slot)
        self.cam = CamPanel(self.jobs, self.explain_slot)
        self.predictions.image_shown.connect(self._follow_image)
        self.predictions.score_changed.connect(self.cam.follow_score)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.predictions, "Predictions")
        self.tabs.addTab(self.featmaps, "Feature maps")
        self.tabs.addTab(self.cam, "CAM")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs, 1)

    # ------------------------------------------------------------------ runs (RunPicker)
    def _runs_shown(self) -> None:
        if not self.runs:
            self.info.setText("No run with a checkpoint yet: train one on the Train page.")

    def _set_checkpoint(self, path: Path) -> None:
        if path == self.checkpoint:
            return
        self.checkpoint = path
        if self.run is None or self.run.path != path.parent:
            self._show_run(self._find_run(path.parent), path.name)
        ann = self.run.verify_ann if self.run is not None else None
        images = self.run.verify_images if self.run is not None else None
        where = f"val set {ann.name}" if ann is not None else "the val set of the checkpoint's config"
        self.info.setText(f"{path} · {where}")
        self.predictions.set_source(path, ann, images)
        self.session = None
        self.featmaps.set_session(None)
        self.cam.set_session(None)
        self.status.setText(f"Loading {path.name} for feature maps and CAM…")
        self.session_slot.start(
            open_explain,
            path,
            ann,
            images,
            title=f"Loading {path.name}",
            done=self._on_session,
            failed=self._on_session_failed,
        )

    def _on_session(self, session: ExplainSession) -> None:
        if session.checkpoint != self.checkpoint:
            return
        self.session = session
        self.featmaps.set_session(session)
        self.cam.set_session(session)
        n = len(session.layers.spatial_layers())
        self.status.setText(
            f"{session.checkpoint.name}: {plural(len(session.class_names), 'class', 'classes')}, "
            f"{n} layers with feature maps."
        )
        if self.predictions.image_id is not None:
            self._follow_image(self.predictions.preds.image_file(self.predictions.image_id))

    def _on_session_failed(self, message: str) -> None:
        if message != "cancelled":
            self.status.setText(error_html(f"Cannot load the checkpoint: {message}"))

    def _follow_image(self, path: Path) -> None:
        """The explain tabs start on the image the Predictions tab shows."""
        if self.session is not None:
            self.featmaps.set_image(path)
            self.cam.set_image(path)

    # ------------------------------------------------------------------ shutdown
    def stop(self) -> None:
        """Cancel this page's jobs (the window is closing; Jobs.shutdown joins them)."""
        self.predictions.stop()
        self.session_slot.cancel()
        self.explain_slot.cancel()
