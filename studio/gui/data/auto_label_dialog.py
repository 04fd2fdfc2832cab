"""Data page > Auto-label with…: a trained model proposes annotations for the open dataset, to review.

The dialog picks the model (a checkpoint, a run folder or an exported ONNX model; pre-filled with the page's
labelling model, else the newest checkpoint of a run training on this file), the score threshold and the images
(the unlabelled ones by default). :func:`propose_job` loads the model and runs
:func:`studio.core.labelling.auto.propose` in a worker, with progress and Cancel; it reads image files only, never
the dataset, so editing may go on. Its result comes back to the GUI thread as one
:class:`~studio.core.dataset.review_edits.AddProposals` edit on the editor's stack: journaled, saved with the
dataset, and one Ctrl+Z takes it all back. The proposals are pending (``source: model``) until reviewed.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.edits import EditEvent
from studio.core.dataset.model import Dataset, image_path
from studio.core.dataset.provenance import MODEL, is_pending, source_of, unlabelled_images
from studio.core.dataset.review_edits import AddProposals
from studio.core.dataset.summary import image_summary
from studio.core.errors import StudioError, error_message
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.labelling.auto import ProposalBatch, checkpoint_label, load_model, propose
from studio.core.text import plural
from studio.gui.common import palette
from studio.gui.common.commands import bind
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.shortcuts import keys_text, with_keys

if TYPE_CHECKING:  # the page owns this action: no import at run time (it would be a cycle)
    from studio.gui.data.page import DataPage

log = logging.getLogger("studio.gui.data")

TITLE = "Auto-label"
MODEL_FILTER = "Checkpoints and exported models (*.pt *.onnx *.engine);;All files (*)"
UNLABELLED, ALL, LISTED, CURRENT = "unlabelled", "all", "listed", "current"
SHOWN_WARNINGS = 200  # the dialog lists this many; the log has them all


def propose_job(
    model_path: Path,
    items: list[tuple[Any, Path]],
    *,
    score_thr: float,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ProposalBatch:
    """Load the model, then its proposals for ``items`` (image id, image path): the worker's whole job."""
    progress(0, 0, f"loading {Path(model_path).name}")
    try:
        model = load_model(model_path, device=device, score_thr=min(0.05, score_thr))
    except StudioError:
        raise
    except Exception as e:  # a file that is no model: torch's or ONNX Runtime's own words, with the file named
        raise StudioError(f"cannot load the model: {error_message(e)}", file=model_path) from e
    if cancel is not None:
        cancel.raise_if_cancelled()
    return propose(
        model, items, score_thr=score_thr, checkpoint=checkpoint_label(model_path), progress=progress, cancel=cancel
    )


def scope_ids(ds: Dataset, scope: str, listed: list[Any], current: Any) -> list[Any]:
    """The image ids a scope names: images without accepted annotations, every image, the ones the image list shows
    (its filters), or the image shown."""
    if scope == UNLABELLED:
        return [im["id"] for im in unlabelled_images(ds)]
    if scope == ALL:
        return [im["id"] for im in ds.images]
    if scope == LISTED:
        return [i for i in listed if ds.has_image(i)]
    return [current] if current is not None and ds.has_image(current) else []


def still_there(ds: Dataset, batch: ProposalBatch) -> ProposalBatch:
    """``batch`` without the images taken out of the dataset while the model ran (an undone Add images)."""
    gone = {i for i in batch.images_done if not ds.has_image(i)}
    if not gone:
        return batch
    return dataclasses.replace(
        batch,
        proposals=[p for p in batch.proposals if p.image_id not in gone],
        images_done=[i for i in batch.images_done if i not in gone],
    )


def pending_model_count(ds: Dataset, image_ids: list[Any]) -> int:
    """Pending model proposals on ``image_ids`` (what a new batch for them replaces)."""
    wanted = set(image_ids)
    return sum(1 for a in ds.annotations if a["image_id"] in wanted and is_pending(a) and source_of(a) == MODEL)


class AutoLabelDialog(QDialog):
    """Model, threshold and images, then progress and the outcome of one run (see the module docstring)."""

    def __init__(self, page: DataPage, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.page = page
        self.job = JobSlot(page.jobs, self, progress=self._on_progress)
        self.batch: ProposalBatch | None = None
        self.added = 0
        self._ann: Path | None = None  # the annotation file the running job is for
        self._model: Path | None = None

        self.intro = QLabel(
            "A trained model proposes shapes for the images. They stay <b>pending</b> (dashed, with their score) until "
            "you review them; pending proposals never train. Running it again replaces the pending model proposals "
            "of the same images."
        )
        self.intro.setWordWrap(True)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("a checkpoint (.pt), a run folder or an exported model (.onnx)")
        self.model_edit.setMinimumWidth(380)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Pick a checkpoint (.pt) or an exported model (.onnx)")
        self.folder_button = QPushButton("Run folder…")
        self.folder_button.setToolTip("Pick a run folder: its best.pt labels")
        self.model_note = QLabel()
        self.model_note.setObjectName("muted")
        self.model_note.setWordWrap(True)
        self.score = QDoubleSpinBox()
        self.score.setRange(0.01, 1.0)
        self.score.setDecimals(2)
        self.score.setSingleStep(0.05)
        self.score.setValue(0.5)
        self.score.setToolTip("Proposals scoring below this are left out")
        self.scopes = QButtonGroup(self)
        self.scope_buttons: dict[str, QRadioButton] = {}
        self.scope_counts: dict[str, int] = {}
        scope_box = QVBoxLayout()
        scope_box.setSpacing(2)
        for key in (UNLABELLED, ALL, LISTED, CURRENT):
            b = QRadioButton()
            self.scope_buttons[key] = b
            self.scopes.addButton(b)
            scope_box.addWidget(b)
        self.scope_buttons[UNLABELLED].setChecked(True)
        self.bar = progress_bar()
        self.status = status_label()
        self.warnings = QPlainTextEdit()
        self.warnings.setReadOnly(True)
        self.warnings.setVisible(False)
        self.warnings.setMinimumHeight(100)
        self.buttons = QDialogButtonBox()
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.close_button = QPushButton("Close")
        self.buttons.addButton(self.run_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)

        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(self.browse_button)
        model_row.addWidget(self.folder_button)
        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("", self.model_note)
        form.addRow("Score at least", self.score)
        form.addRow("Images", scope_box)
        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.warnings, 1)
        lay.addWidget(self.buttons)

        self.browse_button.clicked.connect(self._browse_file)
        self.folder_button.clicked.connect(self._browse_folder)
        self.model_edit.textChanged.connect(lambda _t: self._enable())
        self.run_button.clicked.connect(lambda: self.start())
        self.close_button.clicked.connect(self._close_or_cancel)
        self._prefill()
        self.refresh()

    # ------------------------------------------------------------------ the form
    def _prefill(self) -> None:
        model, why = self.page.labelling_model_path()
        self.model_edit.setText(str(model) if model is not None else "")
        self.model_note.setText(why)

    def refresh(self) -> None:
        """The images of each scope, counted on the dataset as it is now."""
        ds = self._dataset()
        listed = self.page.images.visible_image_ids()
        current = self.page.images.current_image_id()
        texts = {
            UNLABELLED: "Unlabelled images (no accepted annotation)",
            ALL: "All images",
            LISTED: "The images the list shows (its filters)",
            CURRENT: "The image shown",
        }
        for key, b in self.scope_buttons.items():
            n = self.scope_counts[key] = len(scope_ids(ds, key, listed, current)) if ds is not None else 0
            b.setText(f"{texts[key]}: {plural(n, 'image')}")
        self._enable()

    def model_path(self) -> Path | None:
        text = self.model_edit.text().strip()
        return Path(text).expanduser() if text else None

    def scope(self) -> str:
        return next(k for k, b in self.scope_buttons.items() if b.isChecked())

    def _browse_file(self) -> None:
        start = str(self.model_path().parent) if self.model_path() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Model to label with", start, MODEL_FILTER)
        if path:
            self.model_edit.setText(path)
            self.model_note.setText("")

    def _browse_folder(self) -> None:
        start = str(self.model_path().parent) if self.model_path() else ""
        path = QFileDialog.getExistingDirectory(self, "Run folder to label with", start)
        if path:
            self.model_edit.setText(path)
            self.model_note.setText("")

    def _enable(self) -> None:
        running = self.job.running
        for w in (self.model_edit, self.browse_button, self.folder_button, self.score):
            w.setEnabled(not running)
        for key, b in self.scope_buttons.items():
            b.setEnabled(not running and self.scope_counts.get(key, 0) > 0)
        self.run_button.setEnabled(not running and self.model_path() is not None and self._dataset() is not None)
        self.close_button.setText("Cancel" if running else "Close")

    def _dataset(self) -> Dataset | None:
        loaded = self.page.loaded
        return loaded.dataset if loaded is not None else None

    # ------------------------------------------------------------------ running
    def start(self) -> bool:
        """Run the model over the chosen images in a worker; False (with the reason shown) when it cannot start."""
        loaded = self.page.loaded
        model = self.model_path()
        if loaded is None or self.job.running:
            return False
        if model is None:
            self.status.setText(error_html("Name the model to label with: a checkpoint, a run folder or an .onnx"))
            return False
        if not model.exists():
            self.status.setText(error_html(f"{model}: model not found"))
            return False
        ds = loaded.dataset
        ids = scope_ids(ds, self.scope(), self.page.images.visible_image_ids(), self.page.images.current_image_id())
        if not ids:
            self.status.setText(colored("No image to label in this choice.", warning_color()))
            return False
        items = [(i, image_path(loaded.images_dir, ds.image(i))) for i in ids]
        self._ann, self._model, self.batch, self.added = Path(loaded.annotations), model, None, 0
        self.warnings.setVisible(False)
        self.status.setText(f"Loading {model.name}…")
        show_progress(self.bar, 0, 0)
        self.job.start(
            propose_job,
            model,
            items,
            score_thr=float(self.score.value()),
            title=f"Auto-labelling {plural(len(items), 'image')} of {loaded.annotations.name}",
            done=self._on_done,
            failed=self._on_failed,
        )
        self._enable()
        return True

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.bar, done, total)
        self.status.setText(f"Labelling… {done} / {total}" if total else f"{message.capitalize()}…")

    def _ended(self) -> None:
        self.bar.setVisible(False)
        self._enable()

    def _on_failed(self, message: str) -> None:
        self._ended()
        if message == "cancelled":
            self.status.setText("Cancelled: nothing was added.")
        else:
            self.status.setText(error_html(f"Auto-label failed: {message}"))

    def _on_done(self, batch: ProposalBatch) -> None:
        self._ended()
        loaded = self.page.loaded
        if loaded is None or Path(loaded.annotations) != self._ann:
            self.status.setText(error_html("Another dataset was opened meanwhile: nothing was added."))
            return
        ds = loaded.dataset
        self.batch = batch = still_there(ds, batch)
        for w in batch.warnings:
            log.warning("auto-label: %s", w)
        replaced = pending_model_count(ds, list(batch.images_done))
        images = len({p.image_id for p in batch.proposals})
        if not batch.proposals and not replaced:
            self.status.setText(
                colored(
                    f"No proposal scored {self.score.value():.2f} or more on {plural(len(batch.images_done), 'image')}:"
                    " nothing was added. A lower score threshold gives more.",
                    warning_color(),
                )
            )
        elif not self.page.editor.state.do(AddProposals(batch)):
            self.status.setText(error_html("The proposals could not be added (see the editor's message)."))
        else:
            self.added = len(batch.proposals)
            self._model_used()
            more = f"; {plural(replaced, 'earlier proposal')} replaced" if replaced else ""
            if batch.below > self.added:  # a model trained for minutes scores low
                more += f" ({plural(batch.below, 'more detection')} scored under {self.score.value():.2f})"
            self.status.setText(
                colored(
                    f"Added {plural(self.added, 'proposal')} on {plural(images, 'image')}{more}; review them "
                    f"({keys_text('review.toggle')}). Undo (Ctrl+Z) takes them all back.",
                    palette.OK.darker(140),
                )
            )
            log.info(
                "auto-label of %s with %s: %d proposal(s) on %d image(s)",
                self._ann.name,
                self._model,
                self.added,
                images,
            )
        self._show_warnings(batch.warnings)
        self.refresh()

    def _model_used(self) -> None:
        """The model that labelled becomes the page's labelling model (the "label next" order and box prompts)."""
        choice = self.page.labelling_model
        if self._model is not None and choice.path != self._model:
            choice.set_path(self._model)

    def _show_warnings(self, warnings: list[str]) -> None:
        if not warnings:
            return
        shown = warnings[:SHOWN_WARNINGS]
        more = len(warnings) - len(shown)
        self.warnings.setPlainText(
            f"{plural(len(warnings), 'image')} skipped:\n"
            + "\n".join(shown)
            + (f"\n… and {more} more (in the log)" if more else "")
        )
        self.warnings.setVisible(True)
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def _close_or_cancel(self) -> None:
        if self.job.running:
            self.job.cancel()
            self._on_failed("cancelled")
        else:
            self.accept()

    def reject(self) -> None:  # Esc, the window's close button
        self._close_or_cancel()


class AutoLabelAction(QObject):
    """The Data page's "Auto-label with…" (a button and a menu action) and its dialog; after the edit (and its undo
    or redo) the rows of the images it touched and the image shown follow, since it spans many images."""

    def __init__(self, page: DataPage):
        super().__init__(page)
        self.page = page
        self.dialog: AutoLabelDialog | None = None
        tip = with_keys("Run a trained model over the images: pending proposals to review", "label.auto")
        self.action = bind(QAction("Auto-label &with…", page), "label.auto")
        self.action.setToolTip(tip)
        self.action.triggered.connect(lambda _=False: self.open_dialog())
        self.button = QPushButton("Auto-label…")
        self.button.setToolTip(tip)
        self.button.clicked.connect(lambda: self.open_dialog())
        page.editor.edited.connect(self._on_edited)
        page.editor.changed.connect(self._enable)
        page.state_changed.connect(lambda _s: self._enable())
        self._enable()

    def _enable(self) -> None:
        on = self.page.loaded is not None and self.page.editor.state.editable()
        self.action.setEnabled(on)
        self.button.setEnabled(on)

    def open_dialog(self) -> AutoLabelDialog | None:
        if self.page.loaded is None:
            return None
        if self.dialog is None:
            self.dialog = AutoLabelDialog(self.page, parent=self.page)
            self.dialog.finished.connect(self._closed)
        else:
            self.dialog.refresh()
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def _closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def _on_edited(self, event: EditEvent) -> None:
        if not isinstance(event.command, AddProposals) or self.page.loaded is None:
            return
        ds = self.page.loaded.dataset
        touched = set(event.command.batch["images_done"])
        for image_id in touched:
            if ds.has_image(image_id):
                self.page.images.model.update_image(image_summary(ds, image_id))
        shown = self.page.viewer.image
        if shown is not None and shown.get("id") in touched:
            self.page.redraw_image()
