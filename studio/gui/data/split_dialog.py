"""Data > Split…: train / val / test subsets of the open COCO file, stratified by class.

Changing a ratio or the seed recomputes the preview (images, annotations and instances per class in
each subset) in a worker; the file is parsed once and the preview reuses it. "Write" then writes the
subsets with ``studio.api.dataset_split``, which picks the very same images for the same seed.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.model import Dataset
from studio.gui.common import palette
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.path_field import PathField
from studio.gui.common.workers import Jobs
from studio.gui.data.dialog_jobs import SplitPreview, preview_split, write_split

log = logging.getLogger("studio.gui.split")

SUBSETS = ("train", "val", "test")
DEFAULT_RATIOS = (0.7, 0.2, 0.1)
PREVIEW_DELAY_MS = 250
SUM_TOL = 1e-6


class SplitDialog(QDialog):
    """``split_written(list[Path])`` carries the subset files once written."""

    split_written = Signal(object)

    def __init__(
        self, jobs: Jobs, annotations: str | Path, images_dir: str | Path | None = None, parent: QWidget | None = None
    ):
        super().__init__(parent)
        self.annotations = Path(annotations)
        self.images_dir = Path(images_dir) if images_dir is not None else None
        self.preview_job = JobSlot(jobs, self, progress=self._on_progress)
        self.write_job = JobSlot(jobs, self, progress=self._on_progress)
        self.preview: SplitPreview | None = None
        self.written: list[tuple[Path, int, int]] = []
        self._dataset: Dataset | None = None  # parsed by the first preview, reused by the next ones
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self.setWindowTitle(f"Split {self.annotations.name}")

        self.ratios: dict[str, QDoubleSpinBox] = {}
        ratio_row = QHBoxLayout()
        for name, value in zip(SUBSETS, DEFAULT_RATIOS):
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 1.0)
            spin.setSingleStep(0.05)
            spin.setDecimals(2)
            spin.setValue(value)
            spin.setToolTip(f"Share of the images in {name}.json (0 leaves the subset out)")
            self.ratios[name] = spin
            ratio_row.addWidget(QLabel(f"{name}:"))
            ratio_row.addWidget(spin)
            ratio_row.addSpacing(8)
        self.sum_label = QLabel()
        self.sum_label.setTextFormat(Qt.TextFormat.RichText)
        ratio_row.addWidget(self.sum_label, 1)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("The same seed always gives the same split")
        self.seed.setMaximumWidth(140)
        self.output = PathField("dir", "Write the subsets into this folder")
        self.output.set_path(self.annotations.parent / f"{self.annotations.stem}_split")
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.overwrite = QCheckBox("Replace them")
        self.overwrite.toggled.connect(lambda _on: self._refresh())

        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.status = status_label()
        self.bar = progress_bar()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Ratios:", ratio_row)
        form.addRow("Seed:", self.seed)
        form.addRow("Output folder:", self.output)
        form.addRow("", self.note)
        form.addRow("", self.overwrite)
        self.form = form
        self.buttons = QDialogButtonBox()
        self.write_button = QPushButton("Write subsets")
        self.write_button.setDefault(True)
        self.close_button = QPushButton("Close")
        self.buttons.addButton(self.write_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        title = QLabel(
            "Preview: images, annotations and instances per class in each subset "
            "(stratified so every class is spread in the requested ratios)"
        )
        title.setWordWrap(True)
        title.setStyleSheet("font-weight: 600")
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(title)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self.resize(760, 520)

        for spin in self.ratios.values():
            spin.valueChanged.connect(lambda _v: self._on_settings())
        self.seed.valueChanged.connect(lambda _v: self._on_settings())
        self.output.changed.connect(lambda _t: self._refresh())
        self._timer.timeout.connect(self.start_preview)
        self.write_button.clicked.connect(self.start_write)
        self.close_button.clicked.connect(self.reject)
        self._on_settings()

    # ------------------------------------------------------------------ settings
    def subsets(self) -> tuple[list[str], list[float]]:
        """Names and ratios of the subsets with a positive ratio."""
        chosen = [(n, s.value()) for n, s in self.ratios.items() if s.value() > 0]
        return [n for n, _ in chosen], [r for _, r in chosen]

    def ratios_valid(self) -> bool:
        _, ratios = self.subsets()
        return bool(ratios) and abs(sum(ratios) - 1.0) < SUM_TOL

    def set_ratios(self, train: float, val: float, test: float) -> None:
        for spin, v in zip(self.ratios.values(), (train, val, test)):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)
        self._on_settings()

    def _on_settings(self) -> None:
        total = sum(s.value() for s in self.ratios.values())
        self.preview = None  # until the preview of these settings arrives
        self.preview_job.cancel()  # a preview of the old settings must not land after this
        if self.ratios_valid():
            self.sum_label.setText(colored(f"sum {total:.2f}", palette.OK.darker(130)))
            self._timer.start()
        else:
            self.sum_label.setText(error_html(f"sum {total:.2f}: the ratios must add up to 1"))
            self._timer.stop()
            self.table.clear()
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.bar.setVisible(False)
            self.status.setText("Set ratios that add up to 1 to see the split.")
        self._refresh()

    # ------------------------------------------------------------------ preview
    def _on_progress(self, done: int, total: int, _message: str) -> None:
        show_progress(self.bar, done, total)

    def start_preview(self) -> None:
        if not self.ratios_valid():
            return
        names, ratios = self.subsets()
        self.preview = None
        self.status.setText("Computing the split…")
        show_progress(self.bar, 0, 0)
        source = self._dataset if self._dataset is not None else self.annotations
        self.preview_job.start(
            preview_split,
            source,
            ratios,
            names,
            self.seed.value(),
            title=f"Previewing the split of {self.annotations.name}",
            done=self._on_preview,
            failed=self._on_failed,
        )
        self._refresh()

    def _on_preview(self, preview: SplitPreview) -> None:
        self._dataset = preview.dataset
        self.preview = preview
        self.bar.setVisible(False)
        self._fill_table(preview)
        total = sum(preview.images)
        parts = ", ".join(f"{n}: {k}" for n, k in zip(preview.names, preview.images))
        text = html.escape(f"{total} images → {parts}")
        empty = [n for n, k in zip(preview.names, preview.images) if k == 0]
        if empty:
            text += "<br>" + colored(
                f"{', '.join(empty)} would get no image: raise its ratio or leave it out (ratio 0).", warning_color()
            )
        self.status.setText(text)
        self._refresh()

    def _fill_table(self, p: SplitPreview) -> None:
        cols = [*p.names, "total"]
        self.table.clear()
        self.table.setColumnCount(1 + len(cols))
        self.table.setHorizontalHeaderLabels(["", *cols])
        rows = [("Images", p.images, None), ("Annotations", p.annotations, None)]
        rows += [(name, counts, cid) for cid, name, counts in p.classes]
        self.table.setRowCount(len(rows))
        for r, (label, counts, cid) in enumerate(rows):
            head = (
                QTableWidgetItem(label)
                if cid is None
                else QTableWidgetItem(palette.dot_icon(palette.class_color(cid)), label)
            )
            if cid is None:
                font = head.font()
                font.setBold(True)
                head.setFont(font)
            self.table.setItem(r, 0, head)
            total = sum(counts)
            for c, v in enumerate([*counts, total]):
                share = f" ({100 * v / total:.0f}%)" if total and c < len(counts) else ""
                item = QTableWidgetItem(f"{v}{share}")
                item.setData(Qt.ItemDataRole.UserRole, int(v))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if cid is not None and total and v == 0 and c < len(counts):
                    item.setForeground(warning_color())
                    item.setToolTip(f"no '{label}' instance in {cols[c]}")
                self.table.setItem(r, 1 + c, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 1 + len(cols)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)

    def counts(self) -> dict[str, list[int]]:
        """Table contents by row label (tests): the subset counts then the total."""
        out = {}
        for r in range(self.table.rowCount()):
            out[self.table.item(r, 0).text()] = [
                int(self.table.item(r, c).data(Qt.ItemDataRole.UserRole)) for c in range(1, self.table.columnCount())
            ]
        return out

    # ------------------------------------------------------------------ write
    def start_write(self) -> None:
        out = self.output.path()
        if out is None or not self.ratios_valid() or self.write_job.running:
            return
        names, ratios = self.subsets()
        self.written = []
        self.status.setText(
            f"Writing {html.escape(', '.join(n + '.json' for n in names))} into {html.escape(str(out))}…"
        )
        show_progress(self.bar, 0, 0)
        self.write_job.start(
            write_split,
            self.annotations,
            ratios,
            names,
            out,
            self.seed.value(),
            self.images_dir,
            overwrite=self.overwrite.isVisibleTo(self) and self.overwrite.isChecked(),
            title=f"Splitting {self.annotations.name}",
            done=self._on_written,
            failed=self._on_failed,
        )
        self._refresh()

    def _on_written(self, written: list[tuple[Path, int, int]]) -> None:
        self.written = list(written)
        self.bar.setVisible(False)
        lines = [f"{f.name}: {n_img} images, {n_ann} annotations" for f, n_img, n_ann in self.written]
        folder = self.written[0][0].parent if self.written else self.output.path()
        self.status.setText(colored(f"Wrote into {folder}: " + "; ".join(lines), palette.OK.darker(130), bold=True))
        log.info("split %s into %s", self.annotations.name, ", ".join(str(f) for f, _, _ in self.written))
        self._refresh()
        self.split_written.emit([f for f, _, _ in self.written])

    def _on_failed(self, message: str) -> None:
        self.bar.setVisible(False)
        self.status.setText(error_html(message if message == "cancelled" else f"Failed: {message}"))
        self._refresh()

    def done(self, result: int) -> None:
        self.preview_job.cancel()
        self.write_job.cancel()
        super().done(result)

    def _refresh(self) -> None:
        out = self.output.path()
        clash: list[str] = []
        source: list[str] = []
        blocked = out is None or out.is_file()
        if out is None:
            self.note.setText(error_html("Choose the folder to write the subsets into."))
        elif out.is_file():
            self.note.setText(error_html("This is a file: choose a folder."))
        else:
            names, _ = self.subsets()
            clash = [n for n in names if (out / f"{n}.json").exists()]
            source = [n for n in clash if (out / f"{n}.json").resolve() == self.annotations.resolve()]
            if source:
                blocked = True
                self.note.setText(error_html(f"{source[0]}.json here is the file being split: choose another folder."))
            else:
                verb = "exists" if len(clash) == 1 else "exist"
                self.note.setText(
                    colored(f"{', '.join(n + '.json' for n in clash)} {verb} in this folder.", warning_color())
                    if clash
                    else ""
                )
                self.overwrite.setText("Replace it" if len(clash) == 1 else "Replace them")
                blocked = bool(clash) and not self.overwrite.isChecked()
        self.form.setRowVisible(self.overwrite, bool(clash) and not source)
        self.write_button.setEnabled(not blocked and self.ratios_valid() and not self.write_job.running)
