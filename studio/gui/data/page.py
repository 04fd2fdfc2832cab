"""The Data page: browse a COCO dataset's images and annotations, and its check report.

Loading and checking run in workers (:mod:`studio.gui.data.jobs`); this page wires their results into
the image list, the image viewer, the class table and the check tree.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from studio.core.dataset.model import image_path
from studio.core.dataset.summary import follow_class_stats, image_summary
from studio.gui.common import palette
from studio.gui.common.commands import Command
from studio.gui.common.sections import titled
from studio.gui.common.workers import Jobs, Worker
from studio.gui.data.auto_label_dialog import AutoLabelAction
from studio.gui.data.box2mask_dialog import BoxToMaskAction
from studio.gui.data.check_panel import CheckPanel, CheckRerun
from studio.gui.data.class_stats import ClassStatsTable
from studio.gui.data.image_list import ImageListPanel
from studio.gui.data.image_panel import ImagePanel
from studio.gui.data.info_header import InfoHeader
from studio.gui.data.jobs import CheckResult, LoadedDataset, check_loaded, load_dataset, prepare_demo
from studio.gui.data.label_model import LabellingModelAction, LabellingModelChoice
from studio.gui.data.label_next import LabelNextOrder
from studio.gui.data.labelling import Labelling, titled_with
from studio.gui.data.provenance_counts import ProvenanceFollower
from studio.gui.data.retrain import Retrain
from studio.gui.data.thumb_grid import ThumbGrid
from studio.gui.editor.actions import EditorActions
from studio.gui.editor.controller import EditorController
from studio.gui.editor.shape_list import ShapeList
from studio.gui.editor.toolbar import EditorToolbar

log = logging.getLogger("studio.gui.data")

EMPTY, LOADING, CHECKING, READY, FAILED = "empty", "loading", "checking", "ready", "failed"


class DataPage(QWidget):
    title = "Data"

    state_changed = Signal(str)
    dataset_opened = Signal(object)  # Path of the annotation file, once loaded
    dirty_changed = Signal(bool)  # unsaved edits
    commands_changed = Signal()  # what File > Save and Edit > Undo / Redo / Delete may do changed

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.state = EMPTY
        self.loaded: LoadedDataset | None = None
        self.check: CheckResult | None = None
        self._workers: list[Worker] = []

        self.header = InfoHeader()
        self.images = ImageListPanel()
        self.grid = ThumbGrid(self.images.proxy, self.images.view.selectionModel())
        self.images.set_grid(self.grid)
        self.images.view_mode_changed.connect(self._on_view_mode)
        self.viewer = ImagePanel(jobs)
        self.classes = ClassStatsTable()
        self.problems = CheckPanel()
        self.editor = EditorController(self.viewer, jobs, parent=self)
        self.recovery_ask = None  # None: a question box decides whether unsaved edits are replayed
        self.edit_bar = EditorToolbar(self.editor)
        self.edit_actions = EditorActions(self, self.editor, self.images)  # V/P/B, D/A, 1-9, Ctrl+C/V/D… page-wide
        self.box2mask = BoxToMaskAction(self)  # Actions > Box → mask…
        self.labelling_model = LabellingModelChoice(self)  # the model that labels: auto-label, label next, box prompts
        self.labelling_model_action = LabellingModelAction(self)  # Actions > Labelling model…
        self.auto_label = AutoLabelAction(self)  # Actions > Auto-label with…, and its button in the header
        self.retrain = Retrain(self)  # Retrain…: the window links it to the Train page
        self.label_next = LabelNextOrder(self)  # the image list's "Label next (model)" order
        self.provenance: ProvenanceFollower | None = None  # the header's counts by source and status
        self.header.add_buttons(self.auto_label.button, self.retrain.button)
        self.addActions([self.auto_label.action, self.retrain.action])  # their keys work page-wide
        self.edit_bar.set_actions(
            [
                *self.edit_actions.menu(),
                None,
                self.box2mask.action,
                self.labelling_model_action.action,
                self.auto_label.action,
                self.retrain.action,
            ]
        )
        self.addActions(self.edit_bar.options_bar.key_actions)  # [ and ]: the brush's size, page-wide
        self.shapes = ShapeList(self.editor, self.viewer)
        self.rechecker = CheckRerun(jobs, self._check_input, self._show_check, parent=self)
        self.labelling = Labelling(self)  # progress in the header, Add images…, the label manager
        self.editor.set_enabled(False)  # until the check worker is done reading the dataset
        center = QWidget()
        center_lay = QVBoxLayout(center)
        center_lay.setContentsMargins(0, 0, 0, 0)
        center_lay.setSpacing(2)
        center_lay.addWidget(self.edit_bar)
        center_lay.addWidget(self.viewer, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(titled_with("Classes", self.classes, self.labelling.manage_button))
        right.addWidget(titled("Shapes", self.shapes))
        right.addWidget(titled("Check report", self.problems))
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 2)
        right.setStretchFactor(2, 2)
        right.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(titled_with("Images", self.images, self.labelling.add_button))
        self.splitter.addWidget(center)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([260, 640, 470])
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 4)
        lay.addWidget(self.header)
        lay.addWidget(self.splitter, 1)

        self.images.image_selected.connect(self._show_image)
        self.problems.problem_activated.connect(self.go_to_problem)
        self.classes.class_activated.connect(self.images.set_class_filter)
        self.editor.edited.connect(self._on_edited)
        self.editor.edited.connect(self.rechecker.schedule)
        self.editor.show_request.connect(self.select_image)
        self.editor.dirty_changed.connect(self.dirty_changed)
        self.editor.changed.connect(self.commands_changed)

    # ------------------------------------------------------------------ the window's File and Edit commands
    def commands(self) -> dict[str, Command]:
        """Save, Undo, Redo and Delete of the annotation editor, as its toolbar allows them."""
        a = self.editor.actions()
        return {
            "save": Command(lambda: self.editor.save(), a.save and self.loaded is not None, "&Save annotations"),
            "undo": Command(self.editor.undo, a.undo, a.undo_text),
            "redo": Command(self.editor.redo, a.redo, a.redo_text),
            "delete": Command(self.editor.delete, a.delete, "&Delete shape"),
        }

    # ------------------------------------------------------------------ opening
    def open(self, annotations: str | Path, images_dir: str | Path | None = None) -> None:
        """Load ``annotations`` (COCO JSON) with its ``images_dir`` in a worker, then check it in another.

        Without ``images_dir`` the worker uses the folder recorded at import, else the usual places.
        """
        if not self.editor.confirm_close(self.window()):
            return
        self.rechecker.cancel()
        self.editor.close_dataset()
        self.editor.set_enabled(False)
        annotations = Path(annotations)
        images_dir = Path(images_dir) if images_dir is not None else None
        self._cancel()
        self.loaded, self.check = None, None
        self.images.set_images([])
        self.grid.set_images_dir(None)
        self.images.set_classes([])
        self.classes.set_stats([])
        self.viewer.clear("Loading…")
        self.viewer.loader.clear()
        self.problems.set_message("Waiting for the dataset to load…")
        self.header.show_opening(annotations, images_dir)
        self._set_state(LOADING)
        log.info("opening %s (images: %s)", annotations, images_dir or "recorded or usual folder")
        w = Worker(load_dataset, annotations, images_dir, title=f"Loading {annotations.name}")
        w.finished.connect(self._on_loaded)
        w.failed.connect(self._on_load_failed)
        self._track(w)

    def clear(self, message: str) -> None:
        """No dataset: an empty page that says why and what to do."""
        self._cancel()
        self.rechecker.cancel()
        self.loaded, self.check = None, None
        self.images.set_images([])
        self.images.set_classes([])
        self.classes.set_stats([])
        self.viewer.clear(message)
        self.problems.set_message("")
        self.header.show_preparing("No dataset", message)
        self._set_state(EMPTY)

    def open_demo(self) -> None:
        """Open the built-in demo set, generating it first if needed (in a worker)."""
        self._cancel()
        self.header.show_preparing("Demo dataset", "generating the built-in shapes dataset on first use…")
        self._set_state(LOADING)
        w = Worker(prepare_demo, title="Preparing the demo dataset")
        w.finished.connect(lambda paths: self.open(*paths))
        w.failed.connect(self._on_load_failed)
        self._track(w)

    def reload(self) -> None:
        if self.loaded is not None:
            self.open(self.loaded.annotations, self.loaded.images_dir)

    def busy(self) -> bool:
        return self.state in (LOADING, CHECKING)

    # ------------------------------------------------------------------ navigation
    def select_image(self, image_id: Any, ann_id: Any = None) -> bool:
        """Select an image in the list (clearing filters that hide it) and highlight one of its annotations."""
        if not self.images.select_image(image_id):
            return False
        if self.viewer.image is None or self.viewer.image.get("id") != image_id:
            self._show_image(image_id)
        self.viewer.select_annotation(ann_id)
        return True

    def select_first_image(self) -> bool:
        return self.images.select_row(0)

    def go_to_problem(self, image_id: Any, ann_id: Any) -> None:
        if image_id is None and ann_id is not None and self.loaded is not None:
            try:
                image_id = self.loaded.dataset.annotation(ann_id)["image_id"]
            except KeyError:
                return
        if image_id is not None:
            self.select_image(image_id, ann_id)

    # ------------------------------------------------------------------ worker results
    def _on_loaded(self, loaded: LoadedDataset) -> None:
        self.loaded = loaded
        ds = loaded.dataset
        self.header.show_opening(loaded.annotations, loaded.images_dir)
        self.header.show_counts(len(ds.images), len(ds.annotations), len(ds.categories))
        self.provenance = ProvenanceFollower(ds)
        self.header.show_provenance(self.provenance.counts)
        self.labelling.loaded(loaded)
        self.grid.set_images_dir(loaded.images_dir)
        self.images.set_images(loaded.images)
        self.images.set_classes(loaded.class_stats)
        self.classes.set_stats(loaded.class_stats)
        # before the check starts: it may replay a recovery journal, and the check then sees the result
        self.editor.open_dataset(loaded.dataset, loaded.annotations, ask=self.recovery_ask)
        self.viewer.clear("Select an image in the list" if ds.images else "This dataset has no images")
        # the rest in the next event-loop turn: each turn stays short and the list is laid out before
        # the check's thread starts competing for the GIL
        QTimer.singleShot(0, self, lambda: self._select_first_and_check(loaded))  # dropped if the page goes

    def _select_first_and_check(self, loaded: LoadedDataset) -> None:
        if self.loaded is not loaded:  # another dataset was opened meanwhile
            return
        ds = loaded.dataset
        self.images.select_row(0)
        self.problems.set_message("Checking…")
        self.header.show_checking("checking…")
        log.info(
            "loaded %s: %d image(s), %d annotation(s), %d class(es)",
            loaded.annotations.name,
            len(ds.images),
            len(ds.annotations),
            len(ds.categories),
        )
        self.dataset_opened.emit(loaded.annotations)
        self._set_state(CHECKING)
        w = Worker(check_loaded, ds, loaded.images_dir, title=f"Checking {loaded.annotations.name}")
        w.progress.connect(lambda d, t, m: self.header.show_checking(f"{m}… {d}/{t}" if t else f"{m}…"))
        w.finished.connect(self._on_checked)
        w.failed.connect(self._on_check_failed)
        self._track(w)

    def _on_load_failed(self, message: str, _tb: str) -> None:
        self.header.show_error(message)
        self.problems.set_message("The dataset could not be loaded", palette.ERROR)
        self.viewer.clear(message)
        self._set_state(FAILED)

    def _on_checked(self, result: CheckResult) -> None:
        self._show_check(result)
        rep = result.report
        log.info(
            "check of %s: %d error(s), %d warning(s)",
            Path(rep.annotation_file or "").name,
            len(rep.errors),
            len(rep.warnings),
        )
        self.editor.set_enabled(True)
        self._set_state(READY)

    def _show_check(self, result: CheckResult) -> None:
        """A check's result in the report, the image list and the header (the first one, or a re-run after edits)."""
        self.check = result
        rep = result.report
        self.images.set_problems(result.by_image)
        self.problems.set_report(rep)
        self.header.show_check(len(rep.errors), len(rep.warnings))
        if self.viewer.image is not None:
            self.viewer.set_problems(self._problems_of(self.viewer.image["id"]))

    def _check_input(self) -> tuple | None:
        """What a re-run of the check after edits needs, once the first check is done."""
        if self.state != READY or self.loaded is None or self.check is None:
            return None
        return self.loaded.dataset, self.loaded.annotations, self.loaded.images_dir, self.check

    def _on_check_failed(self, message: str, _tb: str) -> None:
        self.problems.set_message(f"The check failed: {message}", palette.ERROR)
        self.header.show_checking("check failed")
        self.editor.set_enabled(True)
        self._set_state(READY)

    def _on_view_mode(self, mode: str) -> None:
        """The grid needs room for thumbnail columns; the list is fine narrow."""
        left, middle, right = self.splitter.sizes()
        if mode == "grid":  # two thumbnail columns: room from the viewer (down to its minimum), then the side panel
            from_middle = max(0, middle - self.splitter.widget(1).minimumSizeHint().width())
            from_right = max(0, right - 300)
            want = min(470, left + from_middle + from_right)
            take = want - left
            m = min(take, from_middle)
            self.splitter.setSizes([want, middle - m, right - (take - m)])
        else:
            want = min(left, 260)
            self.splitter.setSizes([want, middle + (left - want), right])

    def _on_edited(self, event) -> None:
        """Statistics, the image's row and the header counts follow every edit (and undo/redo)."""
        ds = self.loaded.dataset
        self.loaded.class_stats = follow_class_stats(self.loaded.class_stats, ds, event)
        self.classes.set_stats(self.loaded.class_stats)
        if event.categories_changed:
            self.images.set_classes(self.loaded.class_stats)
        if event.command.image is not None:
            self.images.model.update_image(image_summary(ds, event.command.image))
        self.header.show_counts(len(ds.images), len(ds.annotations), len(ds.categories))
        if self.provenance is not None and self.provenance.ds is ds:
            self.header.show_provenance(self.provenance.follow(event))
        self.labelling.follow(event)

    def labelling_model_path(self) -> tuple[Path | None, str]:
        """The model that labels the open dataset, and where it comes from: the chosen labelling model, else the best
        checkpoint of the newest run training on this file (None, and why, when there is neither)."""
        if self.labelling_model.path is not None:
            return self.labelling_model.path, f"The labelling model ({self.labelling_model.describe()})."
        ckpt = self.retrain.newest_checkpoint()
        name = self.loaded.annotations.name if self.loaded is not None else "this file"
        if ckpt is not None:
            return ckpt, f"The newest run training on {name}: {ckpt.parent.name}/{ckpt.name}."
        return None, f"No labelling model is chosen and no run trains on {name}: browse for a model."

    def redraw_image(self) -> None:
        """Draw the image shown again from the dataset: after an edit across the dataset (a class renamed, merged or
        deleted), whose shapes and names the editor does not redraw one by one."""
        if self.viewer.image is not None and self.loaded is not None:
            self._show_image(self.viewer.image.get("id"), again=True)

    # ------------------------------------------------------------------ helpers
    def _show_image(self, image_id: Any, again: bool = False) -> None:
        if self.loaded is None or image_id is None or not self.loaded.dataset.has_image(image_id):
            return
        ds = self.loaded.dataset
        if not again and self.viewer.image is not None and self.viewer.image.get("id") == image_id:
            return
        im = ds.image(image_id)
        names = {c["id"]: c["name"] for c in ds.categories}
        self.viewer.show_image(
            im,
            ds.anns_for_image(image_id),
            image_path(self.loaded.images_dir, im),
            lambda cid: names.get(cid, f"unknown {cid}"),
            self._problems_of(image_id),
        )

    def _problems_of(self, image_id: Any) -> list:
        entry = self.check.by_image.get(image_id) if self.check is not None else None
        return entry.problems if entry is not None else []

    def _track(self, w: Worker) -> None:
        self._workers.append(w)
        w.ended.connect(lambda w=w: self._workers.remove(w) if w in self._workers else None)
        self.jobs.start(w)

    def _cancel(self) -> None:
        """Cancel this page's load/check jobs and drop their pending results."""
        for w in self._workers:
            for sig in (w.finished, w.failed):
                try:
                    sig.disconnect()
                except (RuntimeError, TypeError):
                    pass
            w.cancel()
        self._workers.clear()

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)
