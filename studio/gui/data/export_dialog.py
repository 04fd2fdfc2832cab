"""Data > Export…: write the open COCO file as COCO, YOLO, Pascal VOC or labelme, in a worker.

The dialog stays open after the export with the result (or the error naming the file at fault), so a
user can export another format without reopening it. Pending model proposals are left out unless
"Include pending model proposals" is ticked; the result says how many were left out or written.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.formats import ExportReport, export_formats
from studio.core.output_folder import folder_state
from studio.core.text import plural
from studio.gui.common import palette
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.path_field import PathField
from studio.gui.common.workers import Jobs
from studio.gui.data.dialog_jobs import export_dataset_job, format_title

log = logging.getLogger("studio.gui.export")

TASKS = (
    ("Automatic: polygons when the dataset has masks, else boxes", None),
    ("Boxes (detect)", "detect"),
    ("Polygons (segment)", "segment"),
)


class ExportDialog(QDialog):
    """``exported(Path)`` carries the output folder after a successful export."""

    exported = Signal(object)

    def __init__(
        self, jobs: Jobs, annotations: str | Path, images_dir: str | Path | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.annotations = Path(annotations)
        self.images_dir = Path(images_dir) if images_dir is not None else None
        self.job = JobSlot(jobs, self, progress=self._on_progress)
        self.written: list[Path] = []
        self._auto_output = ""
        self.setWindowTitle(f"Export {self.annotations.name}")

        source = QLabel(
            f"<b>{html.escape(self.annotations.name)}</b><br>"
            f"<span style='color:gray'>{html.escape(str(self.annotations))}<br>images: "
            f"{html.escape(str(self.images_dir) if self.images_dir else 'the folder recorded at import')}"
            "</span>"
        )
        source.setTextFormat(Qt.TextFormat.RichText)
        source.setWordWrap(True)
        source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_combo = QComboBox()
        for fmt in export_formats():
            self.format_combo.addItem(format_title(fmt), fmt)
        self.output = PathField("dir", "Export into this folder")
        self.copy_images = QCheckBox("Place the images in the output folder (hard links where possible)")
        self.copy_images.setChecked(True)
        self.include_pending = QCheckBox("Include pending model proposals (not reviewed yet)")
        self.include_pending.setToolTip(
            "Unticked, only accepted annotations are written: pending proposals are not ground truth.\n"
            "Ticked, COCO and labelme keep them marked as pending (with score and checkpoint);\n"
            "YOLO and Pascal VOC cannot mark them, so they become plain objects there."
        )
        self.overwrite = QCheckBox("Replace the previous export in this folder")
        self.overwrite.toggled.connect(lambda _on: self._refresh())
        self.task = QComboBox()
        for text, value in TASKS:
            self.task.addItem(text, value)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.bar = progress_bar()
        self.result = status_label()

        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Format:", self.format_combo)
        self.form.addRow("Output folder:", self.output)
        self.form.addRow("", self.note)
        self.form.addRow("", self.overwrite)
        self.form.addRow("YOLO labels:", self.task)
        self.form.addRow("", self.copy_images)
        self.form.addRow("", self.include_pending)
        self.buttons = QDialogButtonBox()
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel export")
        self.close_button = QPushButton("Close")
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        lay = QVBoxLayout(self)
        lay.addWidget(source)
        lay.addSpacing(4)
        lay.addLayout(self.form)
        lay.addWidget(self.bar)
        lay.addWidget(self.result)
        lay.addStretch(1)
        lay.addWidget(self.buttons)
        self.resize(720, 360)

        self.format_combo.currentIndexChanged.connect(lambda _i: self._on_format())
        self.output.changed.connect(lambda _t: self._refresh())
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self._cancel_export)
        self.close_button.clicked.connect(self.reject)
        self._on_format()

    def fmt(self) -> str:
        return self.format_combo.currentData()

    def set_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))

    # ------------------------------------------------------------------ actions
    def start_export(self) -> None:
        out = self.output.path()
        if out is None or self.job.running:
            return
        fmt = self.fmt()
        task = self.task.currentData() if fmt == "yolo" else None
        self.written = []
        self.result.setText(f"Exporting as {html.escape(fmt)} into {html.escape(str(out))}…")
        show_progress(self.bar, 0, 0)
        self.job.start(
            export_dataset_job,
            self.annotations,
            fmt,
            out,
            self.images_dir,
            copy_images=self.copy_images.isChecked(),
            task=task,
            overwrite=self.overwrite.isVisibleTo(self) and self.overwrite.isChecked(),
            include_pending=self.include_pending.isChecked(),
            title=f"Exporting {self.annotations.name} as {fmt}",
            done=self._on_done,
            failed=self._on_failed,
        )
        self._refresh()

    def _cancel_export(self) -> None:
        self.job.cancel()
        self.bar.setVisible(False)
        self.result.setText(colored("Export cancelled; files already written stay in the folder.", warning_color()))
        self._refresh()

    def done(self, result: int) -> None:
        self.job.cancel()
        super().done(result)

    # ------------------------------------------------------------------ results
    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.bar, done, total)
        if message:
            self.result.setText(html.escape(f"{message}… {done}/{total}" if total else f"{message}…"))

    def _on_done(self, report: ExportReport) -> None:
        self.written = list(report.written)
        out = self.output.path()
        self.bar.setVisible(False)
        lines = [
            colored(
                f"Exported as {self.fmt()}: {len(self.written)} file(s) written in {out}",
                palette.OK.darker(130),
                bold=True,
            )
        ]
        if report.pending_written:
            lines.append(html.escape(f"{plural(report.pending_written, 'pending proposal')} written."))
        if report.pending_left_out:
            lines.append(
                html.escape(
                    f"{plural(report.pending_left_out, 'pending proposal')} left out "
                    "(tick “Include pending model proposals” to write them)."
                )
            )
        if report.images_left_out:
            lines.append(
                html.escape(
                    f"{plural(report.images_left_out, 'image')} not labelled yet left out "
                    "(no accepted annotation; the same tick writes them)."
                )
            )
        lines += [colored(f"Warning: {w}", warning_color()) for w in report.warnings]
        self.result.setText("<br>".join(lines))
        log.info("exported %s as %s into %s (%d files)", self.annotations.name, self.fmt(), out, len(self.written))
        self._refresh()
        self.exported.emit(out)

    def _on_failed(self, message: str) -> None:
        self.bar.setVisible(False)
        self.result.setText(error_html(f"Export failed: {message}"))
        self._refresh()

    # ------------------------------------------------------------------ state
    def _on_format(self) -> None:
        fmt = self.fmt()
        default = str(self.annotations.parent / f"{self.annotations.stem}_{fmt}")
        if not self.output.text() or self.output.text() == self._auto_output:
            self.output.set_path(default)
        self._auto_output = default
        self.form.setRowVisible(self.task, fmt == "yolo")
        self._refresh()

    def _refresh(self) -> None:
        running = self.job.running
        out = self.output.path()
        for w in (self.format_combo, self.output, self.copy_images, self.task, self.overwrite, self.include_pending):
            w.setEnabled(not running)
        state = folder_state(out) if out is not None else "none"
        self.form.setRowVisible(self.overwrite, state == "previous_export")
        blocked = state in ("none", "file", "not_empty") or (
            state == "previous_export" and not self.overwrite.isChecked()
        )
        self.export_button.setEnabled(not blocked and not running)
        self.cancel_button.setVisible(running)
        self.note.setText(
            {
                "none": error_html("Choose the folder to export into."),
                "file": error_html("This is a file: choose a folder."),
                "not_empty": error_html(
                    "This folder is not empty and holds no earlier export: choose a new or empty folder."
                ),
                "previous_export": colored(
                    "This folder holds an earlier export: it is replaced as a whole if you tick the box below.",
                    warning_color(),
                ),
            }.get(state, "")
        )
        self.form.setRowVisible(self.note, bool(self.note.text()))
