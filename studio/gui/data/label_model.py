"""The labelling model: the trained model the Data page labels with (auto-label, the "label next" order, box prompts).

:class:`LabellingModelChoice` holds the choice (a checkpoint, a run folder or an exported ONNX / TensorRT file) and the
detections it made for the smart box (:class:`~studio.core.labelling.box_prompt.DetectionCache`: the model runs once
per image, in the smart box's worker; loading it imports torch, which stays off the GUI thread). The choice is
remembered per annotation file in QSettings, so reopening a dataset labels with the same model.
:class:`LabellingModelAction` is the Data page's "Labelling model…" action and its small dialog, and wires the choice
to the smart box tool and to the dataset the page opens.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.labelling.auto import load_model
from studio.core.labelling.box_prompt import DetectionCache
from studio.gui.common import palette
from studio.gui.common.path_field import PathField

if TYPE_CHECKING:  # the page imports this module
    from studio.gui.data.page import DataPage

log = logging.getLogger("studio.gui.data")

TITLE = "Labelling model"
SETTINGS_GROUP = "labelling_model"
MODEL_SUFFIXES = (".pt", ".onnx", ".xml", ".engine")
MODEL_FILTER = "Models (*.pt *.onnx *.xml *.engine);;All files (*)"
#: the box prompt looks at every detection from this score on: a box drawn around an object is evidence enough
PROMPT_SCORE_THR = 0.05


def load_prompt_model(path: Path) -> object:
    """The model of ``path`` for box prompts (in a worker: loading imports torch or ONNX Runtime)."""
    return load_model(path, score_thr=PROMPT_SCORE_THR)


def model_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a labelling model (None when it can): a missing file, a folder without a checkpoint, a
    file that is no model."""
    if not path.exists():
        return f"{path} does not exist"
    if path.is_dir():
        if not ((path / "best.pt").is_file() or (path / "last.pt").is_file()):
            return f"{path} is a folder without best.pt or last.pt (not a run folder)"
        return None
    if path.suffix.lower() not in MODEL_SUFFIXES:
        return f"{path.name} is not a checkpoint (.pt) or an exported model (.onnx, .engine)"
    return None


def _settings_key(ann: Path) -> str:
    digest = hashlib.sha1(str(ann.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"{SETTINGS_GROUP}/{digest}"


class LabellingModelChoice(QObject):
    """The model the Data page labels with; ``path`` None: none chosen (the smart box then uses GrabCut alone)."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.path: Path | None = None
        self.ann_path: Path | None = None  # the annotation file the choice is remembered for
        self.cache = DetectionCache(lambda path: load_prompt_model(path))  # looked up at each load (tests swap it)

    def set_path(self, path: Path | str | None) -> None:
        """Choose ``path`` (None: no model); remembered for the open annotation file."""
        new = Path(path) if path is not None and str(path) else None
        if new == self.path:
            return
        self.path = new
        self.cache.clear()
        if self.ann_path is not None:
            QSettings().setValue(_settings_key(self.ann_path), "" if new is None else str(new))
        log.info("labelling model: %s", new or "none")
        self.changed.emit()

    def follow_dataset(self, ann_path: Path | str | None) -> None:
        """A dataset was opened: the model remembered for it (none when its file is gone); the current choice stays
        for a file that has none remembered."""
        self.ann_path = Path(ann_path) if ann_path is not None else None
        settings, key = QSettings(), _settings_key(self.ann_path) if self.ann_path is not None else ""
        if not key or not settings.contains(key):
            return
        saved = settings.value(key, "")
        path = Path(str(saved)) if saved else None
        if path is not None and model_problem(path) is not None:
            path = None
        if path != self.path:
            self.path = path
            self.cache.clear()
            self.changed.emit()

    def describe(self) -> str:
        """A short name for menus and messages: the file, with its run folder for best.pt / last.pt."""
        if self.path is None:
            return "none"
        if self.path.name in ("best.pt", "last.pt") and self.path.parent.name:
            return f"{self.path.parent.name}/{self.path.name}"
        return self.path.name


class LabellingModelDialog(QDialog):
    """Choose the labelling model: a file (checkpoint or exported model) or a run folder; Clear for none."""

    def __init__(self, choice: LabellingModelChoice, parent: QWidget | None = None):
        super().__init__(parent)
        self.choice = choice
        self.setWindowTitle(TITLE)
        intro = QLabel(
            "The trained model that proposes shapes: a box drawn with the smart box (M) takes the model's mask of "
            "the object in it (GrabCut when the model finds none), and Auto-label and the “label next” order use "
            "it. A checkpoint (.pt), a run folder (its best.pt) or an exported model (.onnx)."
        )
        intro.setWordWrap(True)
        self.field = PathField("open", "Choose the labelling model", MODEL_FILTER)
        self.field.set_path(choice.path)
        self.folder_button = QPushButton("Run folder…")
        self.folder_button.clicked.connect(self._browse_folder)
        self.field.layout().addWidget(self.folder_button)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {palette.ERROR.name()}")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.clear_button = buttons.addButton("Use none", QDialogButtonBox.ButtonRole.ResetRole)
        self.clear_button.clicked.connect(self._clear)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.field)
        lay.addWidget(self.problem)
        lay.addWidget(buttons)
        self.field.changed.connect(lambda _t: self.problem.setText(""))
        self.resize(560, self.sizeHint().height())

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder", self.field.text())
        if folder:
            self.field.set_path(folder)

    def _clear(self) -> None:
        self.choice.set_path(None)
        self.accept()

    def _accept(self) -> None:
        path = self.field.path()
        if path is None:
            self.choice.set_path(None)
            self.accept()
            return
        problem = model_problem(path)
        if problem is not None:
            self.problem.setText(problem)
            return
        self.choice.set_path(path)
        self.accept()


class LabellingModelAction(QObject):
    """The Data page's "Labelling model…" action: the dialog, the choice remembered per dataset, and the smart box
    tool asking the chosen model first."""

    def __init__(self, page: DataPage):
        super().__init__(page)
        self.page = page
        self.choice: LabellingModelChoice = page.labelling_model
        self.dialog: LabellingModelDialog | None = None
        self.action = QAction(f"{TITLE}…", page)
        self.action.triggered.connect(lambda _=False: self.open_dialog())
        self.choice.changed.connect(self._show_choice)
        page.dataset_opened.connect(self.choice.follow_dataset)
        page.editor.tools["smart_box"].use_model(self.choice)
        self._show_choice()

    def open_dialog(self) -> LabellingModelDialog:
        self.dialog = LabellingModelDialog(self.choice, parent=self.page)
        self.dialog.finished.connect(self._closed)
        self.dialog.show()
        return self.dialog

    def _closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def _show_choice(self) -> None:
        self.action.setToolTip(
            f"The model that proposes shapes (smart box, auto-label, label next); now: {self.choice.describe()}"
        )
        if self.choice.path is not None:
            self.page.editor.note.emit(f"Labelling model: {self.choice.describe()} (the smart box asks it first)")
