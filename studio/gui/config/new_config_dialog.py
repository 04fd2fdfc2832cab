""" "New from dataset…": which training set (and validation set) a new config trains on, and its file.

The dialog only asks; the Config page runs ``init_config`` in a worker with the answers. Picking a
``train.json`` proposes the ``val.json`` next to it, as ``studio dataset split`` writes them. The window
opens it pre-filled for a dataset just imported (:func:`train_val_pair`: given either split, both).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common.messages import error_html, status_label
from studio.gui.common.path_field import PathField

NO_VAL = "(no validation set)"


def _ann_picker(paths: list[Path], optional: bool) -> tuple[QWidget, QComboBox]:
    combo = QComboBox()
    combo.setEditable(True)
    combo.setMinimumContentsLength(40)
    if optional:
        combo.addItem(NO_VAL, None)
    for p in paths:
        combo.addItem(str(p), str(p))
    button = QPushButton("Browse…")
    holder = QWidget()
    lay = QHBoxLayout(holder)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(combo, 1)
    lay.addWidget(button)

    def browse() -> None:
        chosen, _ = QFileDialog.getOpenFileName(holder, "Annotation file", combo.currentText(), "COCO JSON (*.json)")
        if chosen:
            combo.setEditText(chosen)

    button.clicked.connect(browse)
    return holder, combo


def _swap(path: Path, old: str, new: str) -> Path | None:
    """``path`` with the split name ``old`` in its file name replaced by ``new``, when that file exists."""
    if old not in path.name:
        return None
    other = path.with_name(path.name.replace(old, new))
    return other if other.is_file() else None


def train_val_pair(path: Path) -> tuple[Path, Path | None]:
    """The training and validation files for ``path``: ``x_val.json`` with an ``x_train.json`` beside it is the
    val set of that one; otherwise ``path`` trains, with the ``val`` file beside it if there is one."""
    path = Path(path)
    if (train := _swap(path, "val", "train")) is not None:
        return train, path
    return path, _swap(path, "train", "val")


def unique_config_path(folder: Path, stem: str) -> Path:
    """``folder/stem.yaml``, or ``stem_2.yaml``... when taken."""
    out = folder / f"{stem}.yaml"
    n = 2
    while out.exists():
        out = folder / f"{stem}_{n}.yaml"
        n += 1
    return out


class NewConfigDialog(QDialog):
    """After ``exec()``: :meth:`answers` gives ``(train_ann, val_ann or None, config path)``."""

    def __init__(
        self,
        datasets: list[Path],
        configs_dir: Path | None,
        parent: QWidget | None = None,
        train: Path | None = None,
        val: Path | None = None,
    ):
        """``train`` / ``val``: the sets to propose (a dataset just imported), else the first of ``datasets``."""
        super().__init__(parent)
        self.setWindowTitle("New config from a dataset")
        self.configs_dir = configs_dir
        train_box, self.train = _ann_picker(datasets, optional=False)
        val_box, self.val = _ann_picker(datasets, optional=True)
        self.out = PathField("save", "Config file", "YAML (*.yaml *.yml)")
        self.status = status_label()
        form = QFormLayout()
        form.addRow("Training set:", train_box)
        form.addRow("Validation set:", val_box)
        form.addRow("Save as:", self.out)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addWidget(buttons)
        self.train.currentTextChanged.connect(self._on_train)
        self.resize(720, self.sizeHint().height())
        if train is not None:
            self.train.setEditText(str(train))  # proposes the val file beside it and the config's name
        self._on_train(self.train.currentText())
        if val is not None:
            self.val.setEditText(str(val))

    def _on_train(self, text: str) -> None:
        if not text:
            return
        train = Path(text)
        sibling = train.with_name(train.name.replace("train", "val")) if "train" in train.name else None
        if sibling is not None and sibling.is_file():
            self.val.setEditText(str(sibling))
        folder = self.configs_dir or train.parent
        stem = train.parent.parent.name if train.parent.name == "annotations" else train.stem
        self.out.set_path(unique_config_path(folder, stem or "config"))

    def answers(self) -> tuple[Path, Path | None, Path]:
        val = self.val.currentText().strip()
        return Path(self.train.currentText().strip()), (Path(val) if val and val != NO_VAL else None), self.out.path()

    def _accept(self) -> None:
        train, val, out = self.answers()
        if not train.is_file():
            self.status.setText(error_html(f"training annotation file not found: {train}"))
        elif val is not None and not val.is_file():
            self.status.setText(error_html(f"validation annotation file not found: {val}"))
        elif out is None or out.suffix not in (".yaml", ".yml"):
            self.status.setText(error_html("the config file must end in .yaml"))
        elif out.exists():
            self.status.setText(error_html(f"{out} exists: pick another name"))
        else:
            self.accept()
