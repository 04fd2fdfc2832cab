"""The Feature maps and CAM tabs: pick an image and layers, run in a worker, look at the overlay, save it.

Layers are picked from the model's module tree (a QTreeWidget of the probed :class:`ModelLayers`,
with the output shape of each module) or with the shortcut buttons for the backbone stages and the
neck (FPN) outputs, never typed. The model is loaded once per checkpoint (an
:class:`~studio.gui.inspect.jobs.ExplainSession`); both tabs share one job slot so a single forward
uses it at a time. The alpha slider re-blends the maps already computed (in a worker, no forward).

The CAM tab's score threshold (the model's at first; it follows the Predictions tab's slider when that
moves) decides which detections exist: the best boxes and box indices count those at or above it, and a
named class with none there is explained by its strongest candidate below it, which the tab says.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.draw import COLORMAPS
from studio.core.explain.cam import methods
from studio.core.explain.featmap import REDUCTIONS
from studio.core.explain.methods import cam_method_title
from studio.gui.common.image_view import ImageView
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.sections import section_label
from studio.gui.common.workers import Jobs
from studio.gui.inspect.draw import qimage_of
from studio.gui.inspect.jobs import ExplainSession, render_cam, render_featmaps, run_cam, run_featmap, save_picture

TOPK = "top-k channels (grid)"
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "eigencam": "EigenCAM"}
RERENDER_DELAY_MS = 120


class _ExplainTab(QWidget):
    """What both tabs share: the session, the image choice, alpha and colormap, the picture and Save PNG."""

    kind = "explain"

    def __init__(self, jobs: Jobs, slot: JobSlot, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.slot = slot
        self.session: ExplainSession | None = None
        self.pictures: list = []
        self.saved: Path | None = None
        self.image_combo = QComboBox()
        self.image_combo.setMinimumWidth(160)
        self.image_combo.setToolTip("A val image of the run, or any image file (Open…)")
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self._open_image)
        self.alpha = QSlider(Qt.Orientation.Horizontal)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(50)
        self.alpha.setToolTip("Heat map opacity over the image")
        self.alpha.valueChanged.connect(lambda _v: self._rerender_timer.start())
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.currentIndexChanged.connect(lambda _i: self._rerender_timer.start())
        self.run_button = QPushButton("Compute")
        self.run_button.clicked.connect(self.compute)
        self.save_button = QPushButton("Save PNG…")
        self.save_button.clicked.connect(lambda: self.save_png())
        self.picture_combo = QComboBox()
        self.picture_combo.currentIndexChanged.connect(lambda _i: self._show_picture())
        self.view = ImageView()
        self.progress = progress_bar()
        self.status = status_label()
        self._rerender_timer = QTimer(self, singleShot=True, interval=RERENDER_DELAY_MS)
        self._rerender_timer.timeout.connect(self._rerender)

    def image_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.image_combo, 1)
        row.addWidget(self.open_button)
        return row

    def result_column(self) -> QWidget:
        top = QHBoxLayout()
        top.addWidget(self.picture_combo, 1)
        top.addWidget(QLabel("Alpha"))
        top.addWidget(self.alpha)
        top.addWidget(self.colormap)
        top.addWidget(self.save_button)
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(4, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        return w

    def controls(self) -> tuple[QWidget, QVBoxLayout]:
        """The left column and its layout, started with the image choice; the tab adds its own rows, then
        :meth:`lay_out`."""
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 4, 0)
        ll.addWidget(section_label("Image"))
        ll.addLayout(self.image_row())
        return left, ll

    def add_run_rows(self, controls: QVBoxLayout) -> None:
        """Compute, its progress bar and the status line."""
        controls.addWidget(self.run_button)
        controls.addWidget(self.progress)
        controls.addWidget(self.status)

    def lay_out(self, controls: QWidget) -> None:
        """The tab: the controls column beside :meth:`result_column`, in a splitter."""
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(controls)
        split.addWidget(self.result_column())
        split.setStretchFactor(1, 1)
        split.setSizes([430, 900])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)
        lay.addWidget(split)

    # ------------------------------------------------------------------ session and image
    def set_session(self, session: ExplainSession | None) -> None:
        self.session = session
        self.pictures = []
        self.picture_combo.clear()
        self.view.clear()
        self.image_combo.clear()
        if session is not None:
            for name, path in session.images:
                self.image_combo.addItem(name, str(path))
        self._update()

    def set_image(self, path: str | Path) -> None:
        """Pick ``path`` (a val image shown on the Predictions tab, or any file)."""
        i = self.image_combo.findData(str(path))
        if i < 0:
            self.image_combo.addItem(Path(path).name, str(path))
            i = self.image_combo.count() - 1
        self.image_combo.setCurrentIndex(i)

    def image(self) -> str | None:
        return self.image_combo.currentData()

    def _open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Image to explain", "", "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp)"
        )
        if path:
            self.set_image(path)

    # ------------------------------------------------------------------ running
    def _start(self, fn, *args, title: str) -> bool:
        if self.slot.running:  # the other tab is using the model: hooks of two forwards must not mix
            self.status.setText(error_html("The model is busy with another computation: try again when it ends."))
            return False
        show_progress(self.progress, 0, 0)
        self.status.setText(f"{title}…")
        self.slot.start(fn, *args, title=title, done=self._on_done, failed=self._on_failed)
        self._update()
        return True

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total)

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.status.setText(error_html("Cancelled." if message == "cancelled" else message))
        self._update()

    def _on_done(self, result: Any) -> None:
        self.progress.setVisible(False)
        self._update()

    def set_pictures(self, pictures: list, titles: list[str]) -> None:
        keep = self.picture_combo.currentIndex()
        self.pictures = list(pictures)
        self.picture_combo.blockSignals(True)
        self.picture_combo.clear()
        self.picture_combo.addItems(titles)
        self.picture_combo.setCurrentIndex(keep if 0 <= keep < len(titles) else 0)
        self.picture_combo.blockSignals(False)
        self._show_picture()

    def _show_picture(self) -> None:
        i = self.picture_combo.currentIndex()
        if 0 <= i < len(self.pictures):
            pic = self.pictures[i]
            self.view.set_canvas(pic.shape[1], pic.shape[0])
            self.view.set_image(qimage_of(pic))
        self._update()

    def _rerender(self) -> None:
        """Re-blend the last result at the new alpha / colormap: each tab knows its own result."""
        raise NotImplementedError

    def blend(self, render, *result) -> None:
        """Re-blend ``result`` with ``render(*result, alpha, colormap)`` in the job slot (no forward), unless busy."""
        if self.slot.running:
            return
        self.slot.start(
            render,
            *result,
            self.alpha.value() / 100,
            self.colormap.currentText(),
            title="Blending",
            done=self._on_done,
            failed=self._on_failed,
        )

    def save_png(self, path: str | Path | None = None) -> bool:
        """Save the picture shown (asks where when ``path`` is None), in a worker."""
        i = self.picture_combo.currentIndex()
        if not 0 <= i < len(self.pictures):
            return False
        if path is None:
            stem = Path(self.image() or "image").stem
            name = f"{stem}_{self.kind}_{self.picture_combo.currentText().replace(' ', '_').replace(':', '-')}.png"
            path, _ = QFileDialog.getSaveFileName(self, "Save PNG", name, "PNG (*.png)")
            if not path:
                return False
        self.jobs.run(
            save_picture,
            Path(path),
            self.pictures[i],
            title="Saving PNG",
            show=False,
            on_finished=self._on_saved,
            on_failed=lambda msg, _tb: self.status.setText(error_html(msg)),
        )
        return True

    def _on_saved(self, path: Path) -> None:
        self.saved = path
        self.status.setText(f"Saved {path}")

    def _update(self) -> None:
        ready = self.session is not None
        self.run_button.setEnabled(ready and self.image() is not None and not self.slot.running)
        self.save_button.setEnabled(bool(self.pictures))


class FeatmapPanel(_ExplainTab):
    """Feature maps of the picked layers: one overlay (or a top-k grid) per layer."""

    kind = "featmap"

    def __init__(self, jobs: Jobs, slot: JobSlot, parent: QWidget | None = None):
        super().__init__(jobs, slot, parent)
        self.view_result = None  # the last FeatmapView
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Module", "Type", "Output"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setColumnWidth(0, 170)
        self.tree.setColumnWidth(1, 130)
        self.tree.header().setStretchLastSection(True)
        self.tree.itemSelectionChanged.connect(self._on_tree_selection)
        self.shortcut_box = QWidget()
        self.shortcut_layout = QGridLayout(self.shortcut_box)
        self.shortcut_layout.setContentsMargins(0, 0, 0, 0)
        self.shortcut_buttons: dict[str, QPushButton] = {}
        self.chosen_label = QLabel()
        self.chosen_label.setWordWrap(True)
        self.chosen: list[str] = []
        self.reduction = QComboBox()
        self.reduction.addItems([*REDUCTIONS, TOPK])
        self.reduction.setToolTip(
            "squeeze_mean: mean over channels; select_max: the strongest channel; "
            "top-k: the k strongest channels side by side"
        )
        self.reduction.currentIndexChanged.connect(lambda _i: self._update())
        self.topk = QSpinBox()
        self.topk.setRange(1, 64)
        self.topk.setValue(4)
        self.topk.setToolTip("How many channels the top-k grid shows")
        form = QFormLayout()
        form.addRow("Reduction", self.reduction)
        form.addRow("Top-k", self.topk)
        left, ll = self.controls()
        ll.addWidget(section_label("Layers"))
        ll.addWidget(self.shortcut_box)
        ll.addWidget(self.tree, 1)
        ll.addWidget(self.chosen_label)
        ll.addLayout(form)
        self.add_run_rows(ll)
        self.lay_out(left)
        self.run_button.setText("Compute feature maps")
        self._update()

    def set_session(self, session: ExplainSession | None) -> None:
        super().set_session(session)
        self.tree.clear()
        for b in self.shortcut_buttons.values():
            b.deleteLater()
        self.shortcut_buttons = {}
        if session is None:
            self.choose([])
            return
        self._fill_tree(session.layers.tree, self.tree.invisibleRootItem())
        self.tree.expandToDepth(1)
        shortcuts = session.layers.shortcuts
        words = [w for w in ("backbone", "neck") if w in shortcuts]
        rows = [words, [w for w in shortcuts if w.startswith("stage")], [w for w in shortcuts if w.startswith("level")]]
        for r, c, word in ((r, c, w) for r, row in enumerate(rows) for c, w in enumerate(row)):
            b = QPushButton(word)
            b.setToolTip(" ".join(shortcuts[word]))
            b.setCheckable(True)
            b.setMinimumWidth(10)
            b.clicked.connect(lambda _c=False, w=word: self.choose_shortcut(w))
            self.shortcut_layout.addWidget(b, r, c)
            self.shortcut_buttons[word] = b
        self.choose_shortcut(session.layers.default[0] if session.layers.default else "backbone")

    def _fill_tree(self, node, parent: QTreeWidgetItem) -> None:
        for child in node.children:
            shapes = ", ".join("×".join(map(str, s[1:])) for _k, s in child.outputs if len(s) == 4)
            it = QTreeWidgetItem([child.name.rsplit(".", 1)[-1], child.type, shapes])
            it.setData(0, Qt.ItemDataRole.UserRole, child.name)
            it.setToolTip(0, child.name)
            if not child.spatial:
                it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                it.setForeground(0, self.palette().placeholderText().color())
            parent.addChild(it)
            self._fill_tree(child, it)

    def choose_shortcut(self, word: str) -> None:
        """Pick the layers a shortcut stands for (``backbone``, ``neck``, ``stage2``, ``level1``...)."""
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        self.tree.blockSignals(False)
        self.choose(list(self.session.layers.shortcuts[word]), word)

    def choose(self, layers: list[str], word: str | None = None) -> None:
        self.chosen = list(layers)
        for w, b in self.shortcut_buttons.items():
            b.setChecked(w == word)
        self.chosen_label.setText(
            ("Chosen: " + ", ".join(self.chosen)) if self.chosen else "Pick layers in the tree or a shortcut."
        )
        self._update()

    def _on_tree_selection(self) -> None:
        names = [it.data(0, Qt.ItemDataRole.UserRole) for it in self.tree.selectedItems()]
        if names:
            self.choose(names)

    def select_layer(self, name: str) -> bool:
        """Select one module of the tree by its dotted name (as a click would)."""
        for it in self._items():
            if it.data(0, Qt.ItemDataRole.UserRole) == name and it.flags() & Qt.ItemFlag.ItemIsSelectable:
                self.tree.clearSelection()
                it.setSelected(True)
                self.tree.scrollToItem(it)
                return True
        return False

    def _items(self):
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            it = stack.pop()
            yield it
            stack.extend(it.child(i) for i in range(it.childCount()))

    def compute(self) -> bool:
        if self.session is None or self.image() is None or not self.chosen:
            return False
        topk = self.topk.value() if self.reduction.currentText() == TOPK else 0
        reduction = self.reduction.currentText() if not topk else "squeeze_mean"
        return self._start(
            run_featmap,
            self.session,
            self.image(),
            list(self.chosen),
            reduction,
            topk,
            self.alpha.value() / 100,
            self.colormap.currentText(),
            title="Computing feature maps",
        )

    def _on_done(self, result) -> None:
        super()._on_done(result)
        if hasattr(result, "maps"):
            self.view_result = result
            self.status.setText(f"{len(result.maps)} map(s) from {Path(self.image() or '').name}")
            self._titles = [f"{fm.layer} · {fm.reduction} · {'×'.join(map(str, fm.shape))}" for fm in result.maps]
            self.set_pictures(result.pictures, self._titles)
        else:  # a re-blend
            self.set_pictures(result, self._titles)

    def _rerender(self) -> None:
        if self.view_result is not None:
            self.blend(render_featmaps, self.view_result.rgb, self.view_result.maps)

    def _update(self) -> None:
        super()._update()
        self.run_button.setEnabled(self.run_button.isEnabled() and bool(getattr(self, "chosen", [])))
        if hasattr(self, "topk"):
            self.topk.setEnabled(self.reduction.currentText() == TOPK)


class CamPanel(_ExplainTab):
    """Grad-CAM / Grad-CAM++ / EigenCAM of one box, one class or the best boxes, with mass-in-box figures."""

    kind = "cam"

    def __init__(self, jobs: Jobs, slot: JobSlot, parent: QWidget | None = None):
        super().__init__(jobs, slot, parent)
        self.cam_view = None
        self.method = QComboBox()

        for m in methods():  # the built-in methods, then the plugins'
            self.method.addItem(METHOD_TITLES.get(m) or cam_method_title(m) or m, m)
        self.layer = QComboBox()
        self.layer.setToolTip("The layer(s) the maps are computed on: a shortcut or a module of the tree")
        self.target = QComboBox()
        self.target.addItems(["Best boxes", "One box", "One class"])
        self.target.currentIndexChanged.connect(lambda _i: self._update())
        self.box_index = QSpinBox()
        self.box_index.setRange(0, 99)
        self.box_index.setToolTip("Index of the detection at or above the score threshold (0: the highest score)")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip(
            "The class's detections at or above the score threshold; with none there, its strongest candidate"
        )
        self.score_spin = QDoubleSpinBox()
        self.score_spin.setRange(0.0, 1.0)
        self.score_spin.setDecimals(2)
        self.score_spin.setSingleStep(0.05)
        self.score_spin.setToolTip(
            "Detections scoring below this do not exist for the CAM (best boxes, box indices, a class's boxes). "
            "Starts at the model's threshold and follows the Predictions tab's slider."
        )
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Layer", self.layer)
        form.addRow("Score ≥", self.score_spin)
        form.addRow("Explain", self.target)
        form.addRow("Box #", self.box_index)
        form.addRow("Class", self.class_combo)
        self.stats = QTableWidget(0, 6)
        self.stats.setHorizontalHeaderLabels(["Target", "Class", "Score", "Mass in box", "Area share", "Ratio"])
        self.stats.verticalHeader().setVisible(False)
        self.stats.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.stats.horizontalHeader().setStretchLastSection(True)
        self.stats.setToolTip(
            "Mass in box: share of the CAM inside the box(es); area share: their share of the image. "
            "A map that follows the object has a ratio well above 1."
        )
        self.run_button.setText("Compute CAM")
        left, ll = self.controls()
        ll.addWidget(section_label("Explain"))
        ll.addLayout(form)
        self.add_run_rows(ll)
        ll.addWidget(section_label("Where the map falls"))
        ll.addWidget(self.stats, 1)
        self.lay_out(left)
        self._update()

    def set_session(self, session: ExplainSession | None) -> None:
        super().set_session(session)
        self.layer.clear()
        self.class_combo.clear()
        self.stats.setRowCount(0)
        self.cam_view = None
        if session is None:
            return
        self.layer.addItem("Default (neck; its finest level for EigenCAM)", None)
        self.layer.setItemData(
            0,
            "Gradient methods: every neck level, weighed by the gradient. EigenCAM has no target "
            "to weigh them by, so it uses the finest level, the one that follows objects best.",
            Qt.ItemDataRole.ToolTipRole,
        )
        for word in session.layers.shortcuts:
            if word != "fpn":
                self.layer.addItem(f"{word} (shortcut)", word)
        for name in session.layers.spatial_layers():
            self.layer.addItem(name, name)
        self.layer.setCurrentIndex(0)
        self.class_combo.addItems(list(session.class_names))
        self.score_spin.setValue(float(session.predictor.score_thr))

    def follow_score(self, score_thr: float) -> None:
        """The Predictions tab's threshold moved: the CAM uses the same from now on."""
        self.score_spin.setValue(float(score_thr))

    def score_thr(self) -> float:
        return round(self.score_spin.value(), 4)

    def compute(self) -> bool:
        if self.session is None or self.image() is None:
            return False
        kind = self.target.currentIndex()
        box = self.box_index.value() if kind == 1 else None
        cls = self.class_combo.currentText() if kind == 2 else None
        return self._start(
            run_cam,
            self.session,
            self.image(),
            self.method.currentData(),
            self.layer.currentData(),
            box,
            cls,
            self.score_thr(),
            self.alpha.value() / 100,
            self.colormap.currentText(),
            title=f"Computing {self.method.currentText()}",
        )

    def _titles(self) -> list[str]:
        res = self.cam_view.result
        out = ["all targets"]
        for i, e in enumerate(res.cam.targets):
            what = f"box #{e.detection}" if e.kind == "box" else "class"
            below = f" (strongest candidate, score {e.score:.3f})" if e.below_threshold else ""
            out.append(f"target {i}: {what} {res.class_names[e.label - 1]}{below}")
        return out

    def _on_done(self, result) -> None:
        super()._on_done(result)
        if hasattr(result, "result"):
            self.cam_view = result
            self._fill_stats()
            res = result.result
            done = (
                f"{METHOD_TITLES.get(res.cam.method, res.cam.method)} on {', '.join(res.cam.layers)} "
                f"at score ≥ {res.score_thr:g} in {res.seconds:.1f} s"
            )
            notes = [colored(n, warning_color(), bold=True) for n in res.notes()]
            self.status.setText("<br>".join([*notes, html.escape(done)]))
            self.set_pictures(result.pictures, self._titles())
        else:
            self.set_pictures(result, self._titles())

    def _fill_stats(self) -> None:
        rows = self.cam_view.result.stats()
        self.stats.setRowCount(len(rows))
        for r, s in enumerate(rows):
            target = f"box #{s['detection']}" if s["kind"] == "box" else "class"
            if s["below_threshold"]:
                target += " (below the threshold)"
            vals = [
                f"{s['target']}: {target}",
                s["class"],
                f"{s['score']:.3f}",
                "—" if s["mass_in_box"] is None else f"{s['mass_in_box']:.1%}",
                f"{s['area_share']:.1%}",
                "—" if s["ratio"] is None else f"{s['ratio']:.2f}×",
            ]
            for c, v in enumerate(vals):
                it = QTableWidgetItem(str(v))
                if c >= 2:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.stats.setItem(r, c, it)

    def _rerender(self) -> None:
        if self.cam_view is not None:
            self.blend(render_cam, self.cam_view.rgb, self.cam_view.result)

    def _update(self) -> None:
        super()._update()
        if hasattr(self, "class_combo"):
            self.box_index.setEnabled(self.target.currentIndex() == 1)
            self.class_combo.setEnabled(self.target.currentIndex() == 2)
