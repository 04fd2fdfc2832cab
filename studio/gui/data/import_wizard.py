"""File > Import dataset…: a three-page wizard from any supported format to Studio's COCO file.

1. Source: a file or folder (browse, type or drop it); the format is detected in a worker and can be
   overridden; the options that format understands appear.
2. Preview: the import runs in memory in a worker (nothing written) and is checked against its images;
   the page shows counts, classes, a few drawn images, the importer's warnings and the check report.
3. Output: where the COCO file goes; Finish writes it (atomically, in a worker) and emits ``imported``.

A folder of images with no labels is no format to import: page 1 recognises it and offers to start a new dataset
from it instead (``new_dataset_requested``; the window then asks for the class names).

Every error (broken JSON, missing split...) is shown on the page with the file and item it names.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from studio.core.formats import import_formats
from studio.gui.common import palette
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.path_field import PathField
from studio.gui.common.sections import section_label, titled
from studio.gui.common.workers import Jobs
from studio.gui.data.check_panel import CheckPanel
from studio.gui.data.class_stats import ClassStatsTable
from studio.gui.data.dialog_jobs import (
    THUMB_SIZE,
    ImportPreview,
    ImportRequest,
    SourceInfo,
    default_output,
    format_title,
    preview_import,
    save_import,
    suggested_stem,
)
from studio.gui.data.new_dataset_jobs import ImageFolder, probe_source_or_images

log = logging.getLogger("studio.gui.import")

PROBE_DELAY_MS = 300  # typing a path: detect once the user pauses
MAX_WARNINGS = 500  # rows of import warnings listed (a lenient import of a bad set can have thousands)
_IMAGES_HINT = {
    "via": "default: the JSON file's folder",
    "coco": "default: ../images/<name>, ../images or ./images next to the JSON, else its folder",
    "labelme": "default: found through each JSON's imagePath",
    "voc": "default: JPEGImages/ of the VOC root",
}


def thumbnail_icon(rgb: np.ndarray, size: int = THUMB_SIZE) -> QIcon:
    """An RGB uint8 thumbnail centred on a transparent ``size`` square, so every tile lines up."""
    arr = np.ascontiguousarray(rgb)
    h, w = arr.shape[:2]
    image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888).copy()
    square = QPixmap(size, size)
    square.fill(Qt.GlobalColor.transparent)
    painter = QPainter(square)
    painter.drawImage((size - w) // 2, (size - h) // 2, image)
    painter.end()
    return QIcon(square)


# ---------------------------------------------------------------------------------------- shared parts
class _Page(QWizardPage):
    """A wizard page whose completeness is a hidden mandatory field, set from :meth:`ready`.

    QWizard re-reads the buttons when a mandatory field changes, so no ``completeChanged.emit()`` from
    Python is needed (each such emit drops a reference to ``True`` in the PySide6 build in use).
    """

    def __init__(self, field: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._ready_field = QLineEdit(self)
        self._ready_field.hide()
        self.registerField(f"{field}*", self._ready_field)

    def ready(self) -> bool:
        """True when Next / Finish may be pressed; each page says what that takes."""
        raise NotImplementedError

    def update_complete(self) -> None:
        self._ready_field.setText("ready" if self.ready() else "")


# ---------------------------------------------------------------------------------------- page 1
class SourcePage(_Page):
    """Pick the source; detection runs in a worker; format-specific options."""

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__("source_ready", parent)
        self.setTitle("Choose the dataset to import")
        self.setSubTitle(
            "A VIA or COCO JSON, a labelme folder, a Pascal VOC folder or a YOLO data.yaml. "
            "You can also drop it on this page."
        )
        self.info: SourceInfo | None = None
        self.probe = JobSlot(jobs, self)
        self._overridden = False  # the user picked the format: detection no longer changes it
        self._probe_timer = QTimer(self, singleShot=True, interval=PROBE_DELAY_MS)

        self.source = PathField(
            "open",
            "Annotation file to import",
            "Annotations (*.json *.xml *.yaml *.yml);;All files (*)",
            button="File…",
        )
        self.source.edit.setPlaceholderText("Path of an annotation file or a dataset folder")
        self.folder_button = QPushButton("Folder…")
        self.source.layout().addWidget(self.folder_button)
        self.image_folder: ImageFolder | None = None  # the source is a folder of images with no labels
        self.new_dataset_button = QPushButton("New dataset from these images…")
        self.new_dataset_button.setToolTip("Name the classes, and every image of the folder is listed, ready to label")
        self.new_dataset_button.setVisible(False)
        self.detected = QLabel("Pick a file or a folder to import.")
        self.detected.setWordWrap(True)
        self.detected.setTextFormat(Qt.TextFormat.RichText)
        self.detected.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_combo = QComboBox()
        for fmt in import_formats():
            self.format_combo.addItem(format_title(fmt), fmt)
        self.format_combo.setPlaceholderText("Choose the format")
        self.format_combo.setCurrentIndex(-1)

        self.images = PathField("dir", "Images folder")
        self.class_attr = QComboBox()
        self.class_attr.setEditable(True)
        self.class_attr.lineEdit().setPlaceholderText("guess (class, label, name, category, type…)")
        self.default_class = QLineEdit()
        self.default_class.setPlaceholderText("default: the dataset's folder name")
        self.labels = PathField("open", "labels.txt", "Text files (*.txt);;All files (*)")
        self.split = QComboBox()
        self.lenient = QCheckBox("Skip bad items with a warning instead of stopping at the first one (lenient)")

        self.options = QGroupBox("Options")
        self.form = QFormLayout(self.options)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Images folder:", self.images)
        self.form.addRow("Class attribute:", self.class_attr)
        self.form.addRow("Default class:", self.default_class)
        self.form.addRow("labels.txt:", self.labels)
        self.form.addRow("Split:", self.split)
        self.form.addRow("", self.lenient)

        top = QFormLayout()
        top.addRow("Source:", self.source)
        top.addRow("", self.detected)
        offer = QHBoxLayout()
        offer.addWidget(self.new_dataset_button)
        offer.addStretch(1)
        top.addRow("", offer)
        top.addRow("Format:", self.format_combo)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.options)
        lay.addStretch(1)

        self.setAcceptDrops(True)
        self.source.edit.installEventFilter(self)  # the line edit would take a dropped path as text
        self.folder_button.clicked.connect(self._browse_folder)
        self.new_dataset_button.clicked.connect(self._new_dataset)
        self.source.changed.connect(self._on_path_edited)
        self._probe_timer.timeout.connect(self._start_probe)
        self.format_combo.activated.connect(self._on_format_picked)
        self.format_combo.currentIndexChanged.connect(lambda _i: self._show_options())
        self._show_options()

    # ------------------------------------------------------------------ state
    def fmt(self) -> str | None:
        return self.format_combo.currentData()

    def set_source(self, path: str | Path) -> None:
        self.source.set_path(path)

    def request(self) -> ImportRequest:
        fmt = self.fmt()
        split = self.split.currentData() if fmt in ("voc", "yolo") else None
        attr = self.class_attr.currentText().strip() if fmt == "via" else ""
        default = self.default_class.text().strip() if fmt == "via" else ""
        labels = self.labels.path() if fmt == "labelme" else None
        images = self.images.path() if fmt in _IMAGES_HINT else None
        return ImportRequest(
            src=Path(os.path.abspath(self.source.text())),
            fmt=fmt,
            images=Path(os.path.abspath(images)) if images is not None else None,
            strict=not self.lenient.isChecked(),
            default_class=default or None,
            class_attr=attr or None,
            split=split,
            labels_file=labels,  # no labels.txt chosen: the importer finds the usual one itself
        )

    def ready(self) -> bool:
        return self.info is not None and not self.probe.running and self.fmt() is not None

    # ------------------------------------------------------------------ drag and drop
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.source.edit and event.type() in (QEvent.Type.DragEnter, QEvent.Type.Drop):
            (self.dragEnterEvent if event.type() == QEvent.Type.DragEnter else self.dropEvent)(event)
            return True
        return super().eventFilter(obj, event)

    def dragEnterEvent(self, event) -> None:
        if _dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = _dropped_path(event.mimeData())
        if path is not None:
            self.set_source(path)
            event.acceptProposedAction()

    # ------------------------------------------------------------------ detection
    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder to import", self.source.text())
        if folder:
            self.set_source(folder)

    def _on_path_edited(self, _text: str) -> None:
        self.probe.cancel()
        self.info, self._overridden = None, False
        self._show_image_folder(None)
        if self.source.text():
            self.detected.setText("Detecting the format…")
            self._probe_timer.start()
        else:
            self._probe_timer.stop()
            self.detected.setText("Pick a file or a folder to import.")
        self.update_complete()

    def _start_probe(self) -> None:
        path = self.source.path()
        if path is None:
            return
        self.probe.start(
            probe_source_or_images,
            path,
            title=f"Detecting the format of {path.name}",
            done=self._on_probed,
            failed=self._on_probe_failed,
        )
        self.update_complete()

    def _on_probed(self, found: SourceInfo | ImageFolder) -> None:
        folder = found if isinstance(found, ImageFolder) else None
        info = (
            found
            if folder is None
            else SourceInfo(folder.path, None, "a folder of images", suggested_stem(folder.path))
        )
        self.info = info
        color = palette.OK.darker(130) if info.fmt else warning_color()
        self.detected.setText(colored(info.label, color, bold=info.fmt is not None))
        if not self._overridden:
            self.format_combo.setCurrentIndex(self.format_combo.findData(info.fmt) if info.fmt else -1)
        self._fill_choices(info)
        self._show_options()
        self._show_image_folder(folder)
        self.update_complete()

    def _show_image_folder(self, folder: ImageFolder | None) -> None:
        """A folder of images with no labels: say so and offer a new dataset instead of an import (a format picked
        below still imports it)."""
        self.image_folder = folder
        self.new_dataset_button.setVisible(folder is not None)
        if folder is not None:
            self.detected.setText(
                colored(f"A folder of images with no labels: {folder.describe()}.", palette.OK.darker(130), bold=True)
                + "<br>There is nothing to import: start a new dataset from these images, name its classes and "
                "label them in Studio."
            )

    def _new_dataset(self) -> None:
        wizard = self.wizard()
        if self.image_folder is None or wizard is None:
            return
        folder = self.image_folder.path
        wizard.reject()
        wizard.new_dataset_requested.emit(folder)

    def _on_probe_failed(self, message: str) -> None:
        self.info = None
        self.detected.setText(error_html(message))
        self.update_complete()

    def _on_format_picked(self, _index: int) -> None:
        self._overridden = True
        self._show_options()
        self.update_complete()

    def _fill_choices(self, info: SourceInfo) -> None:
        attr = self.class_attr.currentText()
        self.class_attr.clear()
        self.class_attr.addItems(list(info.class_attrs))
        self.class_attr.setCurrentIndex(-1)
        self.class_attr.setEditText(attr if attr in info.class_attrs else "")
        self.split.clear()
        self.split.addItem("all splits", None)
        for s in info.splits:
            self.split.addItem(s, s)
        self.default_class.setPlaceholderText(
            f"default: '{info.default_class}' (the folder name) for regions without a class attribute"
            if info.default_class
            else "default: the dataset's folder name"
        )
        self.labels.edit.setPlaceholderText(
            f"default: {info.labels_file}" if info.labels_file else "default: none (classes sorted by name)"
        )

    def _show_options(self) -> None:
        fmt = self.fmt()
        self.form.setRowVisible(self.images, fmt in _IMAGES_HINT)
        self.images.edit.setPlaceholderText(_IMAGES_HINT.get(fmt or "", ""))
        self.form.setRowVisible(self.class_attr, fmt == "via")
        self.form.setRowVisible(self.default_class, fmt == "via")
        self.form.setRowVisible(self.labels, fmt == "labelme")
        self.form.setRowVisible(self.split, fmt in ("voc", "yolo"))
        self.options.setVisible(fmt is not None)


def _dropped_path(mime) -> str | None:
    if mime is None or not mime.hasUrls():
        return None
    local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
    return local[0] if local else None


# ---------------------------------------------------------------------------------------- page 2
class PreviewPage(_Page):
    """The import, in memory, with its check report; Next only once it succeeded."""

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__("preview_ready", parent)
        self.setTitle("Preview")
        self.setSubTitle("What the import gives, before anything is written.")
        self.preview: ImportPreview | None = None
        self.error: str | None = None
        self.job = JobSlot(jobs, self, progress=self._on_progress)

        self.status = status_label()
        self.bar = progress_bar()
        self.bar.setVisible(True)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setFlow(QListView.Flow.LeftToRight)
        self.thumbs.setWrapping(False)
        self.thumbs.setMovement(QListView.Movement.Static)
        self.thumbs.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.thumbs.setGridSize(QSize(THUMB_SIZE + 14, THUMB_SIZE + 40))
        self.thumbs.setFixedHeight(THUMB_SIZE + 62)
        self.thumbs.setWordWrap(True)
        self.thumbs.setSelectionMode(QListView.SelectionMode.NoSelection)
        self.thumbs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.classes = ClassStatsTable()
        self.warnings = QListWidget()
        self.warnings.setWordWrap(True)
        self.warnings.setAlternatingRowColors(True)
        self.report = CheckPanel()
        self.warnings_title = section_label("Import warnings")
        self.report_title = section_label("Check report")
        classes_title = section_label("Classes")
        for t in (self.warnings_title, self.report_title, classes_title):
            t.setStyleSheet("font-weight: 600")

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(titled(self.report_title, self.report))
        right.addWidget(titled(self.warnings_title, self.warnings))
        right.setChildrenCollapsible(False)
        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(titled(classes_title, self.classes))
        self.body.addWidget(right)
        self.body.setSizes([260, 600])
        self.body.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.bar)
        lay.addWidget(self.thumbs)
        lay.addWidget(self.body, 1)
        lay.addStretch(0)

    def initializePage(self) -> None:
        req = self.wizard().source_page.request()
        self.preview, self.error = None, None
        self._clear()
        self.status.setText(f"Importing {html.escape(req.src.name)} as {req.fmt}…")
        show_progress(self.bar, 0, 0)
        self.job.start(
            preview_import,
            req,
            title=f"Previewing the import of {req.src.name}",
            done=self._on_preview,
            failed=self._on_failed,
        )
        self.update_complete()

    def cleanupPage(self) -> None:
        self.job.cancel()
        self.preview, self.error = None, None
        self._clear()

    def ready(self) -> bool:
        return self.preview is not None

    # ------------------------------------------------------------------ results
    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.bar, done, total)
        if message:
            self.status.setText(html.escape(f"{message}… {done}/{total}" if total else f"{message}…"))

    def _on_preview(self, preview: ImportPreview) -> None:
        self.preview = preview
        self.bar.setVisible(False)
        ds, rep = preview.dataset, preview.report
        self.status.setText(summary_html(preview))
        for t in preview.thumbnails:
            item = QListWidgetItem(thumbnail_icon(t.rgb), _thumb_text(t.file_name, t.annotations, t.note))
            item.setToolTip(t.file_name + (f"\n{t.note}" if t.note else ""))
            if t.note:
                item.setForeground(palette.ERROR)
            self.thumbs.addItem(item)
        self.thumbs.setVisible(bool(preview.thumbnails))
        self.body.setVisible(True)
        self.classes.set_stats(preview.class_stats)
        self.report.set_report(rep)
        self.report_title.setText(f"Check report — {len(rep.errors)} error(s), {len(rep.warnings)} warning(s)")
        warn, warnings = warning_color(), preview.result.warnings
        for w in warnings[:MAX_WARNINGS]:
            item = QListWidgetItem(palette.dot_icon(palette.WARNING), w)
            item.setForeground(warn)
            item.setToolTip(w)
            self.warnings.addItem(item)
        if len(warnings) > MAX_WARNINGS:
            self.warnings.addItem(f"... and {len(warnings) - MAX_WARNINGS} more (studio dataset import lists them all)")
        if not preview.result.warnings:
            self.warnings.addItem(QListWidgetItem(palette.dot_icon(palette.OK), "No warnings"))
        self.warnings_title.setText(f"Import warnings — {len(preview.result.warnings)}")
        log.info(
            "import preview of %s: %d image(s), %d annotation(s), %d class(es), %d warning(s)",
            preview.request.src.name,
            len(ds.images),
            len(ds.annotations),
            len(ds.categories),
            len(preview.result.warnings),
        )
        self.update_complete()

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.bar.setVisible(False)
        if message == "cancelled":
            self.status.setText(colored("The import was cancelled. Go back and try again.", warning_color()))
        else:
            self.status.setText(
                error_html(f"The import failed: {message}") + "<br>Go back to change the "
                "format or the options (the lenient option skips bad items)."
            )
        self.update_complete()

    def _clear(self) -> None:
        self.thumbs.setVisible(False)
        self.body.setVisible(False)
        self.thumbs.clear()
        self.classes.set_stats([])
        self.warnings.clear()
        self.report.set_message("Waiting for the import…")
        self.report_title.setText("Check report")
        self.warnings_title.setText("Import warnings")


def summary_html(preview: ImportPreview) -> str:
    ds, rep = preview.dataset, preview.report
    counts = (
        f"<b>{len(ds.images)} images · {len(ds.annotations)} annotations · "
        f"{len(ds.categories)} {'class' if len(ds.categories) == 1 else 'classes'}</b>"
    )
    check = []
    if rep.errors:
        check.append(colored(f"{len(rep.errors)} error(s)", palette.ERROR, bold=True))
    if rep.warnings:
        check.append(colored(f"{len(rep.warnings)} warning(s)", warning_color(), bold=True))
    check_text = "check: " + (", ".join(check) if check else colored("no problems", palette.OK.darker(130), True))
    images = html.escape(str(preview.result.images_dir))
    return f"{counts} &nbsp; {check_text}<br><span>images in {images}</span>"


def _thumb_text(name: str, anns: int, note: str) -> str:
    short = name if len(name) <= 24 else name[:10] + "…" + name[-12:]
    return f"{short}\n{note}" if note else f"{short}\n{anns} annotation(s)"


# ---------------------------------------------------------------------------------------- page 3
class OutputPage(_Page):
    """Where to write; Finish writes in a worker and closes the wizard once the file is there."""

    def __init__(self, jobs: Jobs, datasets_dir: Path | None, parent: QWidget | None = None):
        super().__init__("output_ready", parent)
        self.setTitle("Write the COCO file")
        self.setSubTitle("Studio works on COCO JSON; the images stay where they are.")
        self.datasets_dir = datasets_dir
        self.job = JobSlot(jobs, self, progress=lambda d, t, _m: show_progress(self.bar, d, t))
        self.written: Path | None = None
        self._default: str = ""

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.output = PathField("save", "Write the COCO file as", "COCO JSON (*.json)")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.status = status_label()
        self.bar = progress_bar()
        form = QFormLayout()
        form.addRow("COCO file:", self.output)
        form.addRow("", self.note)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addSpacing(6)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.output.changed.connect(self._on_output_changed)

    def initializePage(self) -> None:
        preview: ImportPreview = self.wizard().preview_page.preview
        req = preview.request
        info = self.wizard().source_page.info
        stem = info.name if info is not None and info.name else suggested_stem(req.src)
        default = str(default_output(req.src, stem, self.datasets_dir))
        if not self.output.text() or self.output.text() == self._default:
            self.output.set_path(default)
        self._default = default
        ds = preview.dataset
        self.summary.setText(
            f"{len(ds.images)} images, {len(ds.annotations)} annotations and {len(ds.categories)} "
            f"{'class' if len(ds.categories) == 1 else 'classes'} will be written as COCO JSON. The images stay in "
            f"<b>{html.escape(str(preview.result.images_dir))}</b>; the file records that folder (relative to "
            "itself) so Studio finds them when you open it.<br><br>Import writes the file and opens it on the "
            "Data page."
        )
        self.status.setText("")
        self._on_output_changed()

    def cleanupPage(self) -> None:
        self.job.cancel()
        self.bar.setVisible(False)

    def ready(self) -> bool:
        path = self.output.path()
        return (
            path is not None and path.suffix.lower() == ".json" and not self._is_source(path) and not self.job.running
        )

    def _is_source(self, path: Path) -> bool:
        preview = self.wizard().preview_page.preview if self.wizard() is not None else None
        return preview is not None and os.path.abspath(path) == os.path.abspath(preview.request.src)

    def validatePage(self) -> bool:
        """Finish: start the write and refuse to close; the worker's success closes the wizard."""
        path = self.output.path()
        if self.written is not None and path == self.written:
            return True
        if self.job.running or path is None:
            return False
        preview = self.wizard().preview_page.preview
        self.status.setText(f"Writing {html.escape(str(path))}…")
        show_progress(self.bar, 0, 0)
        self.job.start(
            save_import, preview, path, title=f"Writing {path.name}", done=self._on_written, failed=self._on_failed
        )
        self.update_complete()
        return False

    def _on_output_changed(self, _text: str = "") -> None:
        path = self.output.path()
        self.written = None
        if not self.job.running:
            self.status.setText("")  # an error about another path no longer applies
        if path is None:
            self.note.setText(error_html("Choose where to write the COCO file."))
        elif path.suffix.lower() != ".json":
            self.note.setText(error_html("The file name must end in .json."))
        elif self._is_source(path):
            self.note.setText(error_html("This is the file being imported: choose another name so it stays."))
        elif path.exists():
            self.note.setText(colored("This file exists: Finish replaces it.", warning_color()))
        else:
            self.note.setText("")
        self.update_complete()

    def _on_written(self, path: Path) -> None:
        self.written = path
        self.bar.setVisible(False)
        self.status.setText(colored(f"Wrote {path}", palette.OK.darker(130), bold=True))
        log.info("imported dataset written to %s", path)
        self.update_complete()
        wizard = self.wizard()
        wizard.imported.emit(path)
        wizard.accept()

    def _on_failed(self, message: str) -> None:
        self.bar.setVisible(False)
        self.status.setText(error_html(f"Could not write the file: {message}"))
        self.update_complete()


# ---------------------------------------------------------------------------------------- the wizard
class ImportWizard(QWizard):
    """``imported(Path)`` is emitted once the COCO file is written (the Data page opens it)."""

    imported = Signal(object)
    new_dataset_requested = Signal(object)  # Path of a folder of images with no labels (page 1 offers it)

    def __init__(
        self,
        jobs: Jobs,
        datasets_dir: str | Path | None = None,
        source: str | Path | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Import a dataset")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.source_page = SourcePage(jobs)
        self.preview_page = PreviewPage(jobs)
        self.output_page = OutputPage(jobs, Path(datasets_dir) if datasets_dir is not None else None)
        for page in (self.source_page, self.preview_page, self.output_page):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Import")
        self.resize(980, 720)
        if source is not None:
            self.source_page.set_source(source)

    def done(self, result: int) -> None:
        if result != QWizard.DialogCode.Accepted:
            for page in (self.source_page, self.preview_page, self.output_page):
                (page.probe if page is self.source_page else page.job).cancel()
        super().done(result)
