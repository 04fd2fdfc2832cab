"""The Export page: pick a run and checkpoint, a format and its options, export and verify in a worker.

Left: the workspace's runs that hold a checkpoint (kept current: a new or finished run shows without a
Refresh, see :mod:`studio.gui.common.run_picker`), the checkpoint and what it holds. Middle: the
format table (:data:`studio.core.export.formats.FORMATS`) with the options generated from it, each
greyed with the reason :func:`~studio.core.export.formats.unavailable` gives; the verification set
and the output folder. Right: the verification report and latency table of the last export (cleared
when another run or checkpoint is chosen).
Listing runs, reading a checkpoint and the export itself are core jobs in workers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.export.formats import FORMAT_KEY, FORMATS, ExportFormat, unavailable, validate_options
from studio.core.export.jobs import export_checkpoint
from studio.core.export.setup import DEFAULT_VERIFY_IMAGES
from studio.core.text import plural
from studio.gui.common.checkpoint_runs import CheckpointRun
from studio.gui.common.job_slot import progress_bar, show_progress
from studio.gui.common.messages import colored, error_html, status_label, warning_color
from studio.gui.common.path_field import PathField
from studio.gui.common.run_picker import RunPicker
from studio.gui.common.sections import section_label, title_row
from studio.gui.common.workers import Jobs, Worker
from studio.gui.export.benchmark_panel import BenchmarkPanel, BenchmarkSource
from studio.gui.export.jobs import ExportSource, describe_checkpoint, infer_command
from studio.gui.export.options import ExportOptions
from studio.gui.export.report_view import ExportReportView

log = logging.getLogger("studio.gui.export")

DEVICE_TAGS = {"cpu": "CPU", "gpu": "GPU"}


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


class ExportPage(RunPicker, QWidget):
    title = "Export"

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self._init_run_picker()
        self.exports_root: Path | None = None
        self.info: ExportSource | None = None  # the checkpoint being exported, once read
        self.worker: Worker | None = None
        self.latency_runs = 10  # median of this many timed runs per backend (tests lower it)
        self._out_auto = ""  # the output folder the page last proposed: replaced while the user has not edited it
        self._build()
        self._select_format("onnx")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        # left: runs and checkpoint
        self.run_list = QListWidget()
        self.run_list.currentRowChanged.connect(self._on_run_row)
        self.runs_empty = _muted("No run with a checkpoint in this workspace yet: train one on the Train page.")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_runs)
        self.ckpt_combo = QComboBox()
        self.ckpt_combo.setToolTip("best.pt: the best val metric; last.pt: the last epoch; epoch_N.pt: kept snapshots")
        self.ckpt_combo.currentIndexChanged.connect(self._on_ckpt_choice)
        self.ckpt_info = QLabel("Pick a run.")
        self.ckpt_info.setWordWrap(True)
        self.ckpt_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        ll.addLayout(title_row("Runs", self.refresh_button))
        ll.addWidget(self.run_list, 1)
        ll.addWidget(self.runs_empty)
        ll.addWidget(section_label("Checkpoint"))
        ll.addWidget(self.ckpt_combo)
        ll.addWidget(self.ckpt_info)

        # middle: format, options, verification set, output, export
        self.format_list = QListWidget()
        self.format_list.setSpacing(1)
        for f in FORMATS.values():
            it = QListWidgetItem(f"{f.title}    [{DEVICE_TAGS.get(f.device, f.device)}]")
            it.setData(Qt.ItemDataRole.UserRole, f.name)
            it.setToolTip(f.description)
            self.format_list.addItem(it)
        self.format_list.setFixedHeight(self.format_list.sizeHintForRow(0) * len(FORMATS) + 12)
        self.format_list.currentRowChanged.connect(
            lambda r: self._select_format(self.format_list.item(r).data(Qt.ItemDataRole.UserRole)) if r >= 0 else None
        )
        self.format_desc = _muted()
        self.format_note = QLabel()
        self.format_note.setWordWrap(True)
        self.format_note.setTextFormat(Qt.TextFormat.RichText)
        self.options = ExportOptions()
        self.options.changed.connect(self._update)
        self.verify_ann = PathField("open", "Verification annotations", "COCO (*.json)")
        self.verify_ann.edit.setPlaceholderText("the run config's val set")
        self.verify_ann.setToolTip("COCO file of the images the export is checked on (mAP needs it)")
        self.verify_images = PathField("dir", "Verification images")
        self.verify_images.edit.setPlaceholderText("the folder the annotations name")
        self.n_verify = QSpinBox()
        self.n_verify.setRange(0, 5000)
        self.n_verify.setValue(DEFAULT_VERIFY_IMAGES)
        self.n_verify.setSpecialValueText("no verification")
        self.n_verify.setToolTip("How many val images to compare PyTorch and the export on (0: skip the verification)")
        self.out_field = PathField("dir", "Output folder")
        self.out_field.changed.connect(lambda _t: self._update())
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Annotations", self.verify_ann)
        form.addRow("Images", self.verify_images)
        form.addRow("Images to verify", self.n_verify)
        out_form = QFormLayout()
        out_form.setContentsMargins(0, 0, 0, 0)
        out_form.addRow("Folder", self.out_field)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = progress_bar()
        self.status = status_label()
        # a long path or command in the status never widens the window: the label takes the width it is given
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMinimumWidth(40)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)

        body = QWidget()
        ml = QVBoxLayout(body)
        ml.setContentsMargins(6, 0, 10, 0)
        ml.addWidget(section_label("Format"))
        ml.addWidget(self.format_list)
        ml.addWidget(self.format_desc)
        ml.addWidget(self.format_note)
        ml.addWidget(section_label("Options"))
        ml.addWidget(self.options)
        ml.addSpacing(4)
        ml.addWidget(section_label("Verify on"))
        ml.addLayout(form)
        ml.addSpacing(4)
        ml.addWidget(section_label("Output"))
        ml.addLayout(out_form)
        ml.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        middle = QWidget()
        mid = QVBoxLayout(middle)
        mid.setContentsMargins(0, 0, 0, 0)
        mid.addWidget(scroll, 1)
        mid.addLayout(buttons)
        mid.addWidget(self.progress)
        mid.addWidget(self.status)

        # right: the report
        self.report_view = ExportReportView()
        self.report_view.copied.connect(
            lambda cmd: self.status.setText(colored(f"copied: {cmd}", self.palette().text().color()))
        )
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(middle)
        self.benchmark = BenchmarkPanel(self.jobs, self._benchmark_source)
        self.benchmark.busy_changed.connect(self._update)
        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(self.report_view, "Verification")
        self.right_tabs.addTab(self.benchmark, "Benchmark")
        split.addWidget(self.right_tabs)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 1)
        split.setSizes([270, 520, 560])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addWidget(split, 1)

    # ------------------------------------------------------------------ workspace and runs (RunPicker)
    def set_workspace(self, ws) -> None:
        self.exports_root = ws.folder("exports")
        super().set_workspace(ws)

    def _fill_runs(self, runs: list[CheckpointRun]) -> None:
        self.run_list.blockSignals(True)
        self.run_list.clear()
        for r in runs:
            best = f"  ·  best {r.best_metric:.3f}" if r.best_metric is not None else ""
            detail = " · ".join(x for x in (r.arch, r.status) if x) or "no training log"
            it = QListWidgetItem(f"{r.name}\n{detail}{best}")
            it.setToolTip(str(r.path) + (f"\nconfig.yaml: {r.config_error}" if r.config_error else ""))
            self.run_list.addItem(it)
        self.run_list.blockSignals(False)
        self.runs_empty.setVisible(not runs)

    def _set_run_row(self, row: int) -> None:
        self.run_list.blockSignals(True)
        self.run_list.setCurrentRow(row)
        self.run_list.blockSignals(False)

    def _runs_shown(self) -> None:
        self._update()

    def _run_shown(self, run: CheckpointRun | None, changed: bool) -> None:
        if changed:
            self.report_view.clear()  # the report was another run's
            self.benchmark.clear()
        if changed and run is not None:
            self.verify_ann.set_path(run.verify_ann)
            self.verify_images.set_path(run.verify_images)

    def _busy(self) -> bool:
        return self.running  # the list follows new runs once the export has ended

    def _set_checkpoint(self, path: Path) -> None:
        if path == self.checkpoint:
            return
        if not self.running:
            self.report_view.clear()  # the report was another checkpoint's
            self.benchmark.clear()
        self.checkpoint, self.info = path, None
        if self.run is None:
            self._show_run(None, None)
        self.ckpt_info.setText(f"Reading {path.name}…")
        self._propose_out_dir()
        self._update()
        self.jobs.run(
            describe_checkpoint,
            path,
            title=f"Reading {path.name}",
            show=False,
            on_finished=self._on_info,
            on_failed=lambda msg, _tb, p=path: self._on_info_failed(p, msg),
        )

    def _on_info(self, source: ExportSource) -> None:
        info = source.checkpoint
        if info.path != self.checkpoint:
            return  # another checkpoint was picked meanwhile
        self.info = source
        classes = ", ".join(info.classes[:12]) + (f" … ({len(info.classes)})" if len(info.classes) > 12 else "")
        best = (
            f"<br>best {info.metric_name or 'metric'}: {info.best_metric:.4f}" if info.best_metric is not None else ""
        )
        size = f", {info.image_size} px" if info.image_size else ""
        self.ckpt_info.setText(
            f"<b>{source.arch.name}</b> ({source.arch.task}{size})<br>epoch {info.epoch}{best}<br>"
            f"{plural(len(info.classes), 'class', 'classes')}: {classes}<br>"
            + (f"{info.complexity_text()}<br>" if info.params is not None else "")
            + f"<span style='color:gray'>exporting on: {source.device.upper()}</span>"
        )
        self._update()

    def _on_info_failed(self, path: Path, msg: str) -> None:
        if path == self.checkpoint:
            self.ckpt_info.setText(error_html(msg))
            self._update()

    # ------------------------------------------------------------------ format and options
    @property
    def fmt(self) -> ExportFormat:
        return self.options.fmt

    def _select_format(self, name: str) -> None:
        fmt = FORMATS[name]
        row = list(FORMATS).index(name)
        if self.format_list.currentRow() != row:
            self.format_list.setCurrentRow(row)  # comes back here through currentRowChanged
            return
        self.options.set_format(fmt)
        self.format_desc.setText(fmt.description)
        self._propose_out_dir()
        self._update()

    def select_format(self, name: str) -> None:
        self._select_format(name)

    def format_reason(self, name: str) -> str:
        """Why format ``name`` cannot be used with the current checkpoint here ("" when it can)."""
        if self.info is None:
            return ""
        return unavailable(FORMATS[name], self.info.arch, {}, self.info.device).get(FORMAT_KEY, "")

    def _reasons(self) -> dict[str, str]:
        if self.info is None:
            return {}
        return unavailable(self.fmt, self.info.arch, self.options.values(), self.info.device)

    def _out_path(self, suffix: str) -> Path:
        """``exports/RUN[-CHECKPOINT]-SUFFIX`` for the current checkpoint (beside it outside a workspace)."""
        base = self.run.name if self.run is not None else self.checkpoint.stem
        if self.run is not None and self.checkpoint.name != "best.pt":
            base += f"-{self.checkpoint.stem}"
        return (self.exports_root or self.checkpoint.parent) / f"{base}-{suffix}"

    def _propose_out_dir(self) -> None:
        if self.checkpoint is None:
            return
        proposed = str(self._out_path(self.fmt.name))
        if self.out_field.text() in ("", self._out_auto):
            self.out_field.set_path(proposed)
        self._out_auto = proposed

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _update(self) -> None:
        reasons = self._reasons()
        for r in range(self.format_list.count()):
            it = self.format_list.item(r)
            name = it.data(Qt.ItemDataRole.UserRole)
            why = self.format_reason(name)
            f = FORMATS[name]
            it.setForeground(self.palette().placeholderText().color() if why else self.palette().text().color())
            it.setText(
                f"{f.title}    [{DEVICE_TAGS.get(f.device, f.device)}]" + ("    — not available here" if why else "")
            )
            it.setToolTip(f"Not available: {why}" if why else f.description)
        self.options.set_unavailable(reasons)
        off = reasons.get(FORMAT_KEY, "")
        self.format_note.setText(colored(f"Not available: {off}", warning_color(), bold=True) if off else "")
        self.format_note.setVisible(bool(off))
        self.options.setEnabled(not off and not self.running)
        idle = not self.running
        for w in (
            self.run_list,
            self.ckpt_combo,
            self.format_list,
            self.verify_ann,
            self.verify_images,
            self.n_verify,
            self.out_field,
            self.refresh_button,
        ):
            w.setEnabled(idle)
        why_not = self._why_not_export(reasons)
        self.export_button.setEnabled(idle and not why_not)
        self.export_button.setToolTip(
            why_not
            or f"Export {self.checkpoint.name if self.checkpoint else ''} to {self.fmt.title} "
            "and verify it against PyTorch"
        )
        self.cancel_button.setEnabled(self.running)
        self.benchmark.refresh()

    def _why_not_export(self, reasons: dict[str, str]) -> str:
        if self.checkpoint is None:
            return "pick a run and a checkpoint"
        if self.info is None:
            return "reading the checkpoint"
        if self.benchmark.running:
            return "a benchmark is running (Benchmark tab)"
        if FORMAT_KEY in reasons:
            return reasons[FORMAT_KEY]
        errors = self.options.errors()
        if errors:
            return "; ".join(f"{k}: {m}" for k, m in errors.items())
        if self.out_field.path() is None:
            return "choose an output folder"
        return ""

    # ------------------------------------------------------------------ export
    def export(self) -> bool:
        """Start the export with the page's choices; False (and the reason shown) when it cannot start."""
        why = "already exporting" if self.running else self._why_not_export(self._reasons())
        if why:
            self.status.setText(error_html(why))
            return False
        opts = {k: v for k, v in self.options.values().items() if v is not None}
        try:
            validate_options(self.fmt, opts, self.info.arch, self.info.device)
        except StudioError as e:
            self.status.setText(error_html(str(e)))
            return False
        out = self.out_field.path()
        ann, images = self.verify_ann.path(), self.verify_images.path()
        self.report_view.clear()
        self.status.setText(f"Exporting {self.checkpoint.name} to {self.fmt.title}…")
        w = Worker(
            export_checkpoint,
            self.checkpoint,
            self.fmt.name,
            opts,
            out,
            ann,
            images,
            self.n_verify.value(),
            device=self.info.device,
            latency_runs=self.latency_runs,
            title=f"Exporting {self.checkpoint.name} to {self.fmt.title}",
        )
        w.progress.connect(self._on_progress)
        w.finished.connect(lambda res, im=images: self._on_exported(res, im))
        w.failed.connect(self._on_failed)
        w.cancelled.connect(
            lambda: self.status.setText(
                colored("Export cancelled: the output folder was left as it was.", warning_color())
            )
        )
        w.ended.connect(self._on_ended)
        self.worker = w
        show_progress(self.progress, 0, 0)
        self._update()
        self.jobs.start(w, log_failure=False)
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling after the current step…")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total)
        self.status.setText(message)

    def _on_exported(self, result, images: Path | None) -> None:
        rep = result.report
        cmd = (
            infer_command(result.model, images if images and images.is_dir() else None, result.out_dir)
            if result.model.suffix in (".onnx", ".xml", ".engine")
            else ""
        )  # a plugin's format has its own runtime
        self.report_view.show_report(rep, result.out_dir, cmd)
        self.right_tabs.setCurrentWidget(self.report_view)
        n = len(rep.get("warnings") or [])
        tail = f", {n} warning(s)" if n else ""
        self.status.setText(
            colored(f"Exported to {result.out_dir.name}{tail}", warning_color() if n else self.palette().text().color())
        )
        self.status.setToolTip(str(result.out_dir))
        log.info("exported %s to %s", self.checkpoint, result.out_dir)

    def _on_failed(self, message: str, tb: str) -> None:
        self.status.setText(error_html(f"Export failed: {message}"))
        log.error("export failed: %s\n%s", message, tb.rstrip())

    def _on_ended(self) -> None:
        self.worker = None
        self.progress.setVisible(False)
        self._update()
        self.follow()  # a run that ended or appeared during the export

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Cancel a running export or benchmark and wait for its thread (the window is closing); True when it ended."""
        if not self.benchmark.stop_and_wait(timeout_ms):
            return False
        if self.worker is None:
            return True
        w = self.worker
        w.cancel()
        return w.wait(timeout_ms)

    # ------------------------------------------------------------------ benchmark
    def _benchmark_source(self) -> BenchmarkSource:
        """What the Benchmark tab measures: this checkpoint on the verification images, into exports/RUN-benchmark."""
        why = self._why_not_benchmark()
        if why:
            return BenchmarkSource(why_not=why)
        return BenchmarkSource(
            self.checkpoint,
            self.verify_ann.path(),
            self.verify_images.path(),
            self.n_verify.value() or DEFAULT_VERIFY_IMAGES,
            self._out_path("benchmark"),
            self.info.device,
        )

    def _why_not_benchmark(self) -> str:
        if self.running:
            return "an export is running"
        if self.checkpoint is None:
            return "pick a run and a checkpoint"
        if self.info is None:
            return "reading the checkpoint"
        return ""
