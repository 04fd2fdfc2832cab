"""File > New dataset from image folder…: name the classes of a folder of unlabelled images and where the COCO file
goes; Create writes it in a worker (every image listed with its size, no annotations) and emits ``created``.

The file is proposed beside the images folder, or in the workspace's datasets folder when one is open
(:func:`~studio.gui.data.new_dataset_jobs.default_new_output`); an existing file is refused, never replaced.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.new_project import check_class_names, parse_class_names
from studio.core.errors import StudioError
from studio.core.text import plural
from studio.gui.common import palette
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.path_field import PathField
from studio.gui.common.workers import Jobs
from studio.gui.data.new_dataset_jobs import ImageFolder, count_images, create_dataset, default_new_output

log = logging.getLogger("studio.gui.new_dataset")

PROBE_DELAY_MS = 300  # typing a folder: look for images once the user pauses
MAX_WARNINGS_SHOWN = 5


class NewDatasetDialog(QDialog):
    """``created(Path)`` once the file is written (the window opens it on the Data page)."""

    created = Signal(object)

    def __init__(
        self,
        jobs: Jobs,
        images_dir: str | Path | None = None,
        datasets_dir: str | Path | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("New dataset from image folder")
        self.datasets_dir = Path(datasets_dir) if datasets_dir is not None else None
        self.folder_info: ImageFolder | None = None
        self.written: Path | None = None
        self._default_output = ""
        self.probe = JobSlot(jobs, self)
        self.job = JobSlot(jobs, self, progress=self._on_progress)
        self._probe_timer = QTimer(self, singleShot=True, interval=PROBE_DELAY_MS)

        intro = QLabel(
            "Studio lists every image of the folder (sub-folders too) with its size, and the classes you name. "
            "Nothing is labelled yet: the dataset opens on the Data page, ready to label. The images stay where "
            "they are."
        )
        intro.setWordWrap(True)
        self.folder = PathField("dir", "Folder of images")
        self.found = QLabel()
        self.found.setTextFormat(Qt.TextFormat.RichText)
        self.found.setWordWrap(True)
        self.classes = QPlainTextEdit()
        self.classes.setPlaceholderText("One class a line, or separated by commas:\ncat\ndog")
        self.classes.setTabChangesFocus(True)
        self.classes.setFixedHeight(96)
        self.classes_note = QLabel()
        self.classes_note.setTextFormat(Qt.TextFormat.RichText)
        self.classes_note.setWordWrap(True)
        self.output = PathField("save", "Save the new dataset as", "COCO JSON (*.json)")
        self.output_note = QLabel()
        self.output_note.setTextFormat(Qt.TextFormat.RichText)
        self.output_note.setWordWrap(True)
        self.bar = progress_bar()
        self.status = status_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create_button.setDefault(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Images folder:", self.folder)
        form.addRow("", self.found)
        form.addRow("Classes:", self.classes)
        form.addRow("", self.classes_note)
        form.addRow("Save as:", self.output)
        form.addRow("", self.output_note)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addSpacing(4)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addStretch(1)
        lay.addWidget(self.buttons)
        self.resize(620, 440)

        self.folder.changed.connect(self._on_folder_edited)
        self._probe_timer.timeout.connect(self._start_probe)
        self.classes.textChanged.connect(self._refresh)
        self.output.changed.connect(self._refresh)
        self.create_button.clicked.connect(self.create)
        self.buttons.rejected.connect(self.reject)
        if images_dir is not None:
            self.folder.set_path(images_dir)
            self._probe_timer.stop()
            self._start_probe()  # no pause to wait for: the folder was picked
        self._refresh()

    # ------------------------------------------------------------------ what the form holds
    def class_names(self) -> list[str]:
        return parse_class_names(self.classes.toPlainText())

    def problems(self) -> list[str]:
        """Why Create cannot run now (empty when it can)."""
        out = []
        if self.folder_info is None or not self.folder_info.images:
            out.append("a folder with images")
        try:
            check_class_names(self.class_names())
        except StudioError as e:
            out.append(e.message)
        path = self.output.path()
        if path is None or path.suffix.lower() != ".json" or path.exists():
            out.append("a new .json file to write")
        return out

    def ready(self) -> bool:
        return not self.problems() and not self.job.running and not self.probe.running

    # ------------------------------------------------------------------ the folder
    def _on_folder_edited(self, _text: str) -> None:
        self.probe.cancel()
        self.folder_info = None
        folder = self.folder.path()
        if folder is not None:
            default = str(default_new_output(folder, self.datasets_dir))
            if not self.output.text() or self.output.text() == self._default_output:
                self.output.set_path(default)  # follows the folder until the user names a file
            self._default_output = default
            self.found.setText("Looking for images…")
            self._probe_timer.start()
        else:
            self.found.setText("")
        self._refresh()

    def _start_probe(self) -> None:
        folder = self.folder.path()
        if folder is None:
            return
        if not folder.is_dir():
            self.found.setText(error_html(f"{folder}: no such folder"))
            self._refresh()
            return
        self.probe.start(
            count_images,
            folder,
            title=f"Looking for images in {folder.name}",
            done=self._on_found,
            failed=self._on_probe_failed,
        )
        self._refresh()

    def _on_found(self, info: ImageFolder) -> None:
        self.folder_info = info
        if info.images:
            self.found.setText(colored(f"{info.describe()} found", palette.OK.darker(130), bold=True))
        else:
            self.found.setText(error_html("No images in this folder (jpg, png, bmp, tif, webp; sub-folders too)"))
        self._refresh()

    def _on_probe_failed(self, message: str) -> None:
        self.folder_info = None
        if message != "cancelled":
            self.found.setText(error_html(message))
        self._refresh()

    # ------------------------------------------------------------------ validation
    def _refresh(self) -> None:
        names = self.class_names()
        try:
            check_class_names(names)
        except StudioError as e:
            text = self.classes.toPlainText().strip()
            self.classes_note.setText(error_html(e.message) if text else "Name at least one class.")
        else:
            self.classes_note.setText(html.escape(f"{plural(len(names), 'class', 'classes')}: {', '.join(names)}"))
        path = self.output.path()
        if path is None:
            self.output_note.setText(error_html("Choose where to write the COCO file."))
        elif path.suffix.lower() != ".json":
            self.output_note.setText(error_html("The file name must end in .json."))
        elif path.is_dir():
            self.output_note.setText(error_html("This is a folder: name the file to write."))
        elif path.exists() and path != self.written:
            self.output_note.setText(
                colored("This file exists: choose another name (a new dataset never replaces a file).", warning_color())
            )
        else:
            self.output_note.setText("")
        self.create_button.setEnabled(self.ready())

    # ------------------------------------------------------------------ create
    def create(self) -> bool:
        """Start writing the file (a worker); the dialog closes once it is written. False when it cannot start."""
        if not self.ready():
            self._refresh()
            return False
        folder, out, names = self.folder.path(), self.output.path(), self.class_names()
        self.status.setText(f"Writing {html.escape(str(out))}…")
        show_progress(self.bar, 0, 0)
        self.job.start(
            create_dataset,
            folder,
            names,
            out,
            title=f"New dataset {out.name}",
            done=self._on_created,
            failed=self._on_failed,
        )
        self._refresh()
        return True

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.bar, done, total)
        if message:
            self.status.setText(html.escape(f"{message}… {done}/{total}" if total else f"{message}…"))

    def _on_created(self, result) -> None:
        self.written = result.annotations
        self.bar.setVisible(False)
        ds = result.dataset
        log.info(
            "new dataset %s: %d image(s), %d class(es), %d unreadable left out",
            result.annotations,
            len(ds.images),
            len(ds.categories),
            result.skipped,
        )
        for w in result.warnings[:MAX_WARNINGS_SHOWN]:
            log.warning("%s", w)
        self.created.emit(result.annotations)
        self.accept()

    def _on_failed(self, message: str) -> None:
        self.bar.setVisible(False)
        text = "The dataset was not written (cancelled)." if message == "cancelled" else message
        self.status.setText(error_html(text))
        self._refresh()

    def done(self, result: int) -> None:
        if result != QDialog.DialogCode.Accepted:
            self.probe.cancel()
            self.job.cancel()
        super().done(result)
