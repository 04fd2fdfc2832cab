"""Data page > Actions > Box → mask…: a polygon for every box-only annotation of the open dataset, in one undoable edit.

The core job (:func:`studio.core.smart.boxes_to_masks`, GrabCut on a crop around each box, as
``studio dataset box2mask`` runs it) works on a copy of the dataset in a worker, with progress and Cancel, while the
editor is switched off (nothing may change what the job reads). Its result becomes one
:class:`~studio.core.dataset.shape_edits.Batch` of :class:`~studio.core.dataset.shape_edits.BoxToMask` edits on the
editor's stack: journaled like any edit, saved with the dataset, and one Ctrl+Z takes it all back. The dialog then
says how many were converted, skipped (they had a mask already, or are crowd regions) and failed (left as boxes, each
with a warning naming the image file and the annotation).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.edits import EditEvent
from studio.core.dataset.model import Dataset
from studio.core.dataset.shape_edits import Batch, BoxToMask, geometry_of
from studio.core.smart import Box2MaskResult, boxes_to_masks, is_box_only
from studio.core.smart.box2mask import TOLERANCE
from studio.core.text import plural
from studio.gui.common import palette
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.editor.controller import EditorController
from studio.gui.editor.tool_options import TOLERANCE_RANGE

if TYPE_CHECKING:  # the page owns this action: no import at run time (it would be a cycle)
    from studio.gui.data.page import DataPage

log = logging.getLogger("studio.gui.data")

TITLE = "Box → mask"
SHOWN_WARNINGS = 200  # the dialog lists this many; the log has them all


def box_only(ds: Dataset) -> tuple[int, int]:
    """How many annotations the job would convert (box-only, not crowd regions), and on how many images."""
    anns = [a for a in ds.annotations if not a.get("iscrowd") and is_box_only(a)]
    return len(anns), len({a["image_id"] for a in anns})


def batch_of(ds: Dataset, result: Box2MaskResult, refit_boxes: bool) -> Batch | None:
    """The job's polygons as one edit of ``ds``: a BoxToMask per converted annotation (None: nothing converted).
    The box stays as drawn unless ``refit_boxes``."""
    edits = []
    for aid in result.converted:
        old = geometry_of(ds.annotation(aid))
        seg = result.dataset.annotation(aid)["segmentation"]
        new = {"segmentation": seg, "bbox": None if refit_boxes else old["bbox"], "area": None}
        edits.append(BoxToMask(aid, old, new))
    return Batch(edits, title="box to mask") if edits else None


class BoxToMaskDialog(QDialog):
    """Options, progress and the report of one run (see the module docstring)."""

    def __init__(self, editor: EditorController, images_dir: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setModal(True)
        self.editor, self.images_dir = editor, images_dir
        self.job = JobSlot(editor.jobs, self, progress=self._on_progress)
        self.result: Box2MaskResult | None = None
        self._refit = False
        self._was_enabled = True

        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setRange(*TOLERANCE_RANGE)
        self.tolerance.setDecimals(1)
        self.tolerance.setSingleStep(0.5)
        self.tolerance.setSuffix(" px")
        self.tolerance.setValue(TOLERANCE)
        self.tolerance.setToolTip("How far a polygon may stray from GrabCut's pixels: more gives fewer vertices")
        self.refit = QCheckBox("Refit each box to its polygon")
        self.refit.setToolTip("Off: the boxes stay as drawn; on: each becomes the tight box of its polygon")
        self.bar = progress_bar()
        self.status = status_label()
        self.warnings = QPlainTextEdit()
        self.warnings.setReadOnly(True)
        self.warnings.setVisible(False)
        self.warnings.setMinimumHeight(120)
        self.buttons = QDialogButtonBox()
        self.convert_button = QPushButton("Convert")
        self.convert_button.setDefault(True)
        self.close_button = QPushButton("Close")
        self.buttons.addButton(self.convert_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Simplify", self.tolerance)
        form.addRow("", self.refit)
        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.warnings, 1)
        lay.addWidget(self.buttons)
        self.convert_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self._close_or_cancel)
        self.resize(560, 260)
        self._count()

    def _count(self) -> None:
        ds = self.editor.ds
        n, images = box_only(ds) if ds is not None else (0, 0)
        name = self.editor.ann_path.name if self.editor.ann_path is not None else "this dataset"
        if n:
            self.intro.setText(
                f"GrabCut outlines the object in each box-only annotation (one without a polygon or mask): "
                f"{plural(n, 'annotation')} on {plural(images, 'image')} of {name}. "
                "One edit: Undo (Ctrl+Z) takes it all back."
            )
        else:
            self.intro.setText(f"{name} has no box-only annotation: every shape has a polygon or a mask already.")
        self.convert_button.setEnabled(bool(n) and not self.job.running)

    # ------------------------------------------------------------------ running
    def start(self) -> bool:
        """Run the job on the dataset open in the editor (the editor is off until it ends)."""
        ds = self.editor.ds
        if ds is None or self.job.running or not self.editor.state.editable():
            return False
        self._refit = self.refit.isChecked()
        self._was_enabled = self.editor.enabled
        self.editor.set_enabled(False)
        self.convert_button.setEnabled(False)
        self.close_button.setText("Cancel")
        self.warnings.setVisible(False)
        self.status.setText("Converting…")
        show_progress(self.bar, 0, 0)
        self.job.start(
            boxes_to_masks,
            ds,
            self.images_dir,
            tolerance=float(self.tolerance.value()),
            refit_boxes=self._refit,
            title=f"Box → mask on {self.editor.ann_path.name if self.editor.ann_path else 'the dataset'}",
            done=self._on_done,
            failed=self._on_failed,
        )
        return True

    def _on_progress(self, done: int, total: int, _message: str) -> None:
        show_progress(self.bar, done, total)
        self.status.setText(f"Converting… {done} / {total}")

    def _ended(self) -> None:
        self.bar.setVisible(False)
        self.close_button.setText("Close")
        self.editor.set_enabled(self._was_enabled)

    def _on_failed(self, message: str) -> None:
        self._ended()
        if message == "cancelled":
            self.status.setText("Cancelled: nothing was changed.")
        else:
            self.status.setText(error_html(f"Box → mask failed: {message}"))
        self._count()

    def _on_done(self, result: Box2MaskResult) -> None:
        self._ended()
        self.result = result
        ds = self.editor.ds
        batch = batch_of(ds, result, self._refit) if ds is not None else None
        applied = batch is not None and self.editor.state.do(batch)
        for w in result.warnings:
            log.warning("box to mask: %s", w)
        summary = result.summary() + f", in {result.seconds:.1f} s"
        if applied:
            self.status.setText(colored(f"{summary}. Undo (Ctrl+Z) takes it back.", palette.OK.darker(140)))
        elif batch is None:
            self.status.setText(colored(f"{summary}: nothing to change.", warning_color()))
        else:
            self.status.setText(error_html(f"{summary}, but the edit was refused (see the editor's message)."))
        if result.warnings:
            shown = result.warnings[:SHOWN_WARNINGS]
            more = len(result.warnings) - len(shown)
            self.warnings.setPlainText("\n".join(shown) + (f"\n… and {more} more (in the log)" if more else ""))
            self.warnings.setVisible(True)
            self.resize(self.width(), max(self.height(), self.sizeHint().height()))
        self._count()

    def _close_or_cancel(self) -> None:
        if self.job.running:
            self.job.cancel()
            self._on_failed("cancelled")
        else:
            self.accept()

    def reject(self) -> None:  # Esc, the window's close button
        self._close_or_cancel()


class BoxToMaskAction(QObject):
    """The Data page's "Box → mask…" action and its dialog; after the edit (and its undo or redo) the image shown is
    drawn again, since the edit spans many images and the editor redraws one image's shapes only."""

    def __init__(self, page: DataPage):
        super().__init__(page)
        self.page = page
        self.dialog: BoxToMaskDialog | None = None
        self.action = QAction(f"{TITLE}…", page)
        self.action.setToolTip("Give every box-only annotation a polygon from GrabCut (one undoable edit)")
        self.action.triggered.connect(lambda _=False: self.open_dialog())
        page.editor.edited.connect(self._on_edited)
        page.editor.changed.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        self.action.setEnabled(self.page.loaded is not None and self.page.editor.state.editable())

    def open_dialog(self) -> BoxToMaskDialog | None:
        loaded = self.page.loaded
        if loaded is None:
            return None
        self.dialog = BoxToMaskDialog(self.page.editor, loaded.images_dir, parent=self.page)
        self.dialog.finished.connect(self._closed)
        self.dialog.show()
        return self.dialog

    def _closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def _on_edited(self, event: EditEvent) -> None:
        command = event.command
        shown = self.page.viewer.image
        if isinstance(command, Batch) and shown is not None and shown.get("id") in command.images_touched():
            self.page.redraw_image()
