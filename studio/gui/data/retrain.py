"""Retrain from the Data page: continue the newest finished run that trains on the open annotation file.

The loop of model-in-the-loop labelling is: auto-label, review, retrain. Retrain saves the dataset first (the
run re-reads the file, and pending proposals are left out of training by ``open_split``), then extends the run
through the Train page's own Extend, so the run, its charts and its log are the Train page's as for any run.

Which runs train on a file is read from each run's ``config.yaml`` (the resolved config the trainer writes,
whose data paths are absolute); the Train page's runs table, which follows the runs folder, says which runs
there are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.provenance import count_pending, labelled_image_ids
from studio.core.text import plural
from studio.core.training.run_index import RunSummary
from studio.gui.common.commands import bind
from studio.gui.shortcuts import with_keys

if TYPE_CHECKING:  # the page owns this helper: no import at run time (it would be a cycle)
    from studio.gui.data.page import DataPage

log = logging.getLogger("studio.gui.data")


# ---------------------------------------------------------------------------------------------- which runs
def train_annotations(run_dir: Path) -> Path | None:
    """The training annotation file of a run, from its ``config.yaml`` (None: no readable config)."""
    try:
        raw = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
        ann = raw["data"]["train"]["ann"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    if not isinstance(ann, str) or not ann:
        return None
    path = Path(ann)
    return (path if path.is_absolute() else Path(run_dir) / path).resolve()


def runs_training_on(runs: Sequence[RunSummary], ann: Path) -> list[RunSummary]:
    """The runs (in the order given: the runs table lists the newest first) whose config trains on ``ann``."""
    target = Path(ann).resolve()
    return [s for s in runs if train_annotations(s.path) == target]


def extendable(s: RunSummary) -> bool:
    """A finished run with a last.pt, not held by another process: the Train page's Extend takes it."""
    return s.status == "finished" and s.resumable and s.holder is None


def newest_checkpoint(runs: Sequence[RunSummary], ann: Path) -> Path | None:
    """best.pt (else last.pt) of the newest run training on ``ann`` that has one: the model that labels it."""
    for s in runs_training_on(runs, ann):
        for name in ("best.pt", "last.pt"):
            if (s.path / name).is_file():
                return s.path / name
    return None


def default_epochs(s: RunSummary) -> int:
    """A quarter of the run's epochs (at least one): enough to learn the new labels, short of a new run."""
    return max(1, s.epochs // 4)


# ---------------------------------------------------------------------------------------------- the dialog
class RetrainDialog(QDialog):
    """How many more epochs, with what the run is and what it will train on."""

    def __init__(self, run: RunSummary, ann: Path, labelled: int, images: int, pending: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Retrain")
        self.run = run
        best = f", best {run.metric_name} {run.best_metric:.3f}" if run.best_metric is not None else ""
        about = QLabel(
            f"Continue run <b>{run.name}</b> ({plural(run.epochs_done, 'epoch')} done{best}) on {ann.name} as it is "
            f"saved now: {labelled} of {plural(images, 'image')} labelled."
            + (f" {plural(pending, 'pending proposal')} {'is' if pending == 1 else 'are'} left out." if pending else "")
        )
        about.setWordWrap(True)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(default_epochs(run))
        self.epochs.setSuffix(" epochs")
        self.epochs.setToolTip("How many epochs to add (a short cosine from 0.1x the peak learning rate)")
        form = QFormLayout()
        form.addRow("Train for", self.epochs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = buttons.addButton("Retrain", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(about)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.setMinimumWidth(440)


# ---------------------------------------------------------------------------------------------- the action
class Retrain(QObject):
    """The Data page's Retrain button; the window links it to the Train page (:meth:`link_train`)."""

    def __init__(self, page: DataPage):
        super().__init__(page)
        self.page = page
        self.train_page: Any = None  # the Train page: its runs table, is_training() and extend()
        self.show_train: Callable[[], None] = lambda: None
        #: asks the epochs (None: cancelled); tests answer it without a dialog
        self.ask_epochs: Callable[[RetrainDialog], int | None] = _ask_epochs
        tip = with_keys(
            "Save the dataset, then train the newest finished run on it a few more epochs (Train page, Extend)",
            "label.retrain",
        )
        self.action = bind(QAction("&Retrain…", page), "label.retrain")
        self.action.setToolTip(tip)
        self.action.triggered.connect(lambda _=False: self.start())
        self.button = QPushButton("Retrain…")
        self.button.setToolTip(tip)
        self.button.clicked.connect(lambda: self.start())
        page.state_changed.connect(lambda _s: self._enable())
        self._enable()

    def link_train(self, train_page: Any, show_train: Callable[[], None]) -> None:
        """The Train page whose runs are looked at and whose Extend runs; ``show_train`` shows it."""
        self.train_page, self.show_train = train_page, show_train

    def runs(self) -> list[RunSummary]:
        """The runs the Train page lists now, newest first (none without a Train page)."""
        return list(self.train_page.runs.runs) if self.train_page is not None else []

    def newest_checkpoint(self) -> Path | None:
        loaded = self.page.loaded
        return newest_checkpoint(self.runs(), loaded.annotations) if loaded is not None else None

    def _enable(self) -> None:
        on = self.page.state == "ready"
        self.button.setEnabled(on)
        self.action.setEnabled(on)

    # ------------------------------------------------------------------ the steps
    def start(self) -> bool:
        """Save (asking), pick the run, ask the epochs, then extend it on the Train page; False when not started."""
        loaded = self.page.loaded
        if loaded is None or self.train_page is None:
            return False
        parent = self.page.window()
        if self.train_page.is_training():
            QMessageBox.information(
                parent, "Retrain", "A run is training now: wait for it to end, or stop it on the Train page."
            )
            return False
        ann = Path(loaded.annotations)
        mine = runs_training_on(self.runs(), ann)
        run = next((s for s in mine if extendable(s)), None)
        if run is None:
            self._no_run(ann, mine)
            return False
        if not self.page.editor.confirm_close(parent, ask=_ask_save):
            return False
        ds = loaded.dataset
        dialog = RetrainDialog(
            run, ann, len(labelled_image_ids(ds)), len(ds.images), count_pending(ds.annotations), parent
        )
        epochs = self.ask_epochs(dialog)
        if epochs is None:
            return False
        self.show_train()
        self.train_page.runs.select_run(run.path)
        started = self.train_page.extend(epochs)
        log.info("retrain %s by %d epoch(s) on %s: %s", run.name, epochs, ann.name, "started" if started else "refused")
        return started

    def _no_run(self, ann: Path, mine: list[RunSummary]) -> None:
        """Say why nothing can be extended, and offer the Train page."""
        if mine:
            why = (
                f"No run training on {ann.name} has finished: the newest, {mine[0].name}, is {mine[0].display_status}. "
                "Resume or finish it on the Train page first."
            )
        else:
            why = (
                f"No run trains on {ann.name} yet. Make a config for it (Config page, New from dataset…) and train "
                "it once; Retrain then continues that run."
            )
        box = QMessageBox(QMessageBox.Icon.Information, "Retrain", why, parent=self.page.window())
        go = box.addButton("Show the Train page", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.exec()
        if box.clickedButton() is go:
            self.show_train()


def _ask_epochs(dialog: RetrainDialog) -> int | None:
    return dialog.epochs.value() if dialog.exec() == QDialog.DialogCode.Accepted else None


def _ask_save(parent: QWidget | None, name: str) -> str:
    """Retrain reads the saved file: save the edits, or do not retrain (discarding is not offered)."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent,
        "Save before retraining?",
        f"{name} has unsaved edits. The run trains on the saved file: save them now?",
        buttons.Save | buttons.Cancel,
        buttons.Save,
    )
    return "save" if answer == buttons.Save else "cancel"
