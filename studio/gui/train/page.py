"""The Train page: start, pause, resume, stop and extend a run; live charts; the runs table.

The trainer runs as a core job in a Worker whose cancel token is a :class:`RunControl` (pause, stop).
Its events fill a :class:`RunHistory` in the worker thread; the charts redraw from it at 15 Hz, and only
the rare events (epoch, checkpoint, message, outcome) come to this page as signals, so a fast GPU run
never floods the GUI thread.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.text import format_duration, plural
from studio.core.training.console import ConsoleReporter
from studio.core.training.control import RunControl
from studio.core.training.events import EventKind, RunCancelled, RunFailed, RunFinished
from studio.core.training.history import RunHistory
from studio.core.training.run_lock import held_message, lock_holder
from studio.core.training.runs import new_run_dir
from studio.gui.common.workers import Jobs, Worker
from studio.gui.train.charts import TrainCharts
from studio.gui.train.jobs import delete_runs, load_histories, load_history, run_training, scan_runs
from studio.gui.train.runs_panel import RunsPanel

log = logging.getLogger("studio.gui.train")

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"
STATUS_MS = 250  # the status line (epoch, speed, ETA) follows the history at 4 Hz


class _EventBridge(QObject):
    """Carries the trainer's non-iteration events from the worker thread to the GUI thread."""

    event = Signal(object)


class _LogStream(io.TextIOBase):
    """A text stream that appends to the log view (ConsoleReporter writes lines to it)."""

    def __init__(self, view: QPlainTextEdit):
        self.view = view

    def write(self, s: str) -> int:
        for line in s.rstrip("\n").split("\n"):
            if line:
                self.view.appendPlainText(line)
        return len(s)


class TrainPage(QWidget):
    title = "Train"
    training_changed = Signal(bool)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.runs_root: Path | None = None
        self.config: Path | None = None
        self.state = IDLE
        self.worker: Worker | None = None
        self.control: RunControl | None = None
        self.live: RunHistory | None = None
        self.live_dir: Path | None = None
        self.shown_dir: Path | None = None
        self.isolate = True  # train in a child process (see studio.core.training.ddp); tests may turn it off
        self._bridge = _EventBridge()
        self._bridge.event.connect(self._on_event)
        self._build()
        self.reporter = ConsoleReporter(out=_LogStream(self.log_view))
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_MS)
        self.status_timer.timeout.connect(self._update_status)
        self._set_state(IDLE)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.config_combo = QComboBox()
        self.config_combo.setMinimumWidth(260)
        self.config_combo.setToolTip("The config a new run trains (the Config page edits it)")
        self.config_combo.currentIndexChanged.connect(self._on_config_choice)
        self.browse_button = QPushButton("…")
        self.browse_button.setToolTip("Pick a config file")
        self.browse_button.setFixedWidth(32)
        self.browse_button.clicked.connect(self._browse_config)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train the config into a new run folder")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Hold the run after the current batch (the time limit does not count pauses)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue a paused run, or a stopped / failed run from its last.pt")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch; last.pt is kept to resume")
        self.extend_spin = QSpinBox()
        self.extend_spin.setRange(1, 10_000)
        self.extend_spin.setValue(5)
        self.extend_spin.setSuffix(" epochs")
        self.extend_button = QPushButton("Extend")
        self.extend_button.setToolTip("Train a finished run for more epochs (a short cosine from 0.1x the peak lr)")
        self.per_class_button = QPushButton("Per-class AP")
        self.per_class_button.setCheckable(True)
        self.per_class_button.setChecked(True)
        self.per_class_button.toggled.connect(lambda on: self.charts.set_per_class_visible(on))
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.stop_button.clicked.connect(self.stop)
        self.extend_button.clicked.connect(lambda: self.extend(self.extend_spin.value()))
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Config"))
        bar.addWidget(self.config_combo, 1)
        bar.addWidget(self.browse_button)
        for w in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            bar.addWidget(w)
        bar.addSpacing(12)
        bar.addWidget(self.extend_spin)
        bar.addWidget(self.extend_button)
        bar.addSpacing(12)
        bar.addWidget(self.per_class_button)

        self.status = QLabel("No run")
        self.status.setObjectName("title")
        self.detail = QLabel("")
        self.detail.setObjectName("muted")
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.charts = TrainCharts()
        self.runs = RunsPanel()
        self.runs.open_requested.connect(self.open_run)
        self.runs.compare_requested.connect(self.compare_runs)
        self.runs.delete_requested.connect(self.delete_runs)
        self.runs.refresh_requested.connect(self.refresh_runs)
        self.runs.table.itemSelectionChanged.connect(self._update_buttons)

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setObjectName("log")
        self.checkpoints = QListWidget()
        self.error_view = QPlainTextEdit()
        self.error_view.setReadOnly(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.checkpoints, "Checkpoints")
        self.tabs.addTab(self.error_view, "Error")

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.charts)
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([560, 180])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.runs)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 1000])

        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        lay.addWidget(self.detail)
        lay.addWidget(split, 1)

    # ------------------------------------------------------------------ workspace and config
    def set_workspace(self, ws) -> None:
        self.runs_root = ws.folder("runs")
        self.config_combo.blockSignals(True)
        self.config_combo.clear()
        for p in ws.configs():
            self.config_combo.addItem(p.name, str(p))
        self.config_combo.blockSignals(False)
        if self.config is None or not self.config.is_file():
            self._on_config_choice(self.config_combo.currentIndex())
        else:
            self.set_config(self.config)
        self.refresh_runs()

    def set_config(self, path: str | Path) -> None:
        path = Path(path)
        i = self.config_combo.findData(str(path))
        if i < 0:
            self.config_combo.addItem(path.name, str(path))
            i = self.config_combo.count() - 1
        self.config_combo.setCurrentIndex(i)
        self.config = path
        self._update_buttons()

    def _on_config_choice(self, i: int) -> None:
        data = self.config_combo.itemData(i) if i >= 0 else None
        self.config = Path(data) if data else None
        self._update_buttons()

    def _browse_config(self) -> None:
        start = str(self.config.parent) if self.config else ""
        path, _ = QFileDialog.getOpenFileName(self, "Config to train", start, "Configs (*.yaml *.yml)")
        if path:
            self.set_config(path)

    # ------------------------------------------------------------------ run control
    def is_training(self) -> bool:
        return self.state != IDLE

    def start(self, config: str | Path | None = None) -> bool:
        """Train ``config`` (default: the chosen one) into a new run folder under the workspace's runs/."""
        if config is not None:
            self.set_config(config)
        if self.is_training() or self.config is None:
            return False
        root = self.runs_root or self.config.parent.parent / "runs"
        run_dir = new_run_dir(self.config.stem, root)
        return self._launch(self.config, run_dir, resume=None, overrides=(), fresh=True)

    def resume(self) -> bool:
        """Unpause; or, when idle, continue the selected stopped / failed run from its last.pt."""
        if self.state == PAUSED and self.control is not None:
            self.control.resume()
            self._set_state(RUNNING)
            return True
        if self.is_training():
            return False
        s = self._selected_resumable()
        if s is None or self._refuse_held([s.path], "Resume"):
            return False
        return self._launch(s.path / "config.yaml", s.path, resume=s.path / "last.pt", overrides=(), fresh=False)

    def extend(self, epochs: int) -> bool:
        """Train the selected finished run ``epochs`` more epochs (no time limit for the extension)."""
        s = self._selected_finished()
        if s is None or self.is_training() or self._refuse_held([s.path], "Extend"):
            return False
        overrides = (f"train.epochs={s.epochs_done + int(epochs)}", "train.time_limit=null")
        return self._launch(s.path / "config.yaml", s.path, resume=s.path / "last.pt", overrides=overrides, fresh=False)

    def pause(self) -> None:
        if self.state == RUNNING and self.control is not None:
            self.control.pause()
            self._set_state(PAUSED)

    def stop(self) -> None:
        if self.state in (RUNNING, PAUSED) and self.control is not None:
            self.control.cancel()
            self._set_state(STOPPING)

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        """Stop the run and wait for its thread (the window is closing); True when it ended."""
        if self.worker is None or not self.worker.running:
            return True
        self.stop()
        return self.worker.wait(timeout_ms)

    def _launch(self, config: Path, run_dir: Path, *, resume: Path | None, overrides, fresh: bool) -> bool:
        self.control = RunControl()
        history = (
            RunHistory() if fresh or self.shown_dir != run_dir or self.charts.history is None else self.charts.history
        )
        if not fresh and history.started is None and (run_dir / "events.jsonl").is_file():
            history = RunHistory.from_run(run_dir)  # continue the curves of the run being resumed
        self.live, self.live_dir = history, run_dir
        self.shown_dir = run_dir
        self.charts.show_history(history)
        self.checkpoints.clear()
        for c in history.checkpoints:
            self._add_checkpoint(c)
        self.error_view.clear()
        self.tabs.setCurrentWidget(self.log_view)
        self.log_view.appendPlainText(f"{'resuming' if resume else 'starting'} {config} -> {run_dir}")
        w = Worker(
            run_training,
            config,
            run_dir,
            history,
            resume=resume,
            overrides=tuple(overrides),
            on_event=self._bridge.event.emit,
            isolate=self.isolate,
            token=self.control,
            title=f"Training {run_dir.name}",
        )
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.ended.connect(self._on_ended)
        self.worker = w
        self._set_state(RUNNING)
        self.jobs.start(w, log_failure=False)
        self.status_timer.start()
        self.refresh_runs()
        return True

    # ------------------------------------------------------------------ worker results (GUI thread)
    def _on_event(self, ev) -> None:
        if ev.kind is EventKind.CHECKPOINT:
            self._add_checkpoint(ev)
        elif ev.kind is EventKind.FAILED:
            self._show_failure(ev)
        elif ev.kind is EventKind.STARTED:
            self.refresh_runs()
        if ev.kind is not EventKind.FAILED:  # the error itself goes to the Error tab
            self.reporter(ev)
        self._update_status()

    def _on_finished(self, result) -> None:
        log.info(
            "run %s %s (%s) after %d epochs", result.run_dir.name, result.status, result.reason, result.epochs_done
        )

    def _on_failed(self, message: str, tb: str) -> None:
        if not self.error_view.toPlainText():  # failed before the trainer could send RunFailed (bad config)
            self.error_view.setPlainText(f"{message}\n\n{tb}")
            self.tabs.setCurrentWidget(self.error_view)
        self.log_view.appendPlainText(f"error: {message}")
        log.error("training failed: %s", message)

    def _on_cancelled(self) -> None:
        self.log_view.appendPlainText("stopped")

    def _on_ended(self) -> None:
        self.worker, self.control = None, None
        self.status_timer.stop()
        self._set_state(IDLE)
        self._update_status()
        self.refresh_runs()

    def _show_failure(self, ev: RunFailed) -> None:
        hint = "\n\nlast.pt is kept: fix the cause, select the run and press Resume." if ev.resumable else ""
        self.error_view.setPlainText(f"{ev.error}{hint}\n\n{ev.traceback}")
        self.tabs.setCurrentWidget(self.error_view)

    def _add_checkpoint(self, ev) -> None:
        it = QListWidgetItem(f"epoch {ev.epoch}  ·  {ev.role}  ·  {Path(ev.path).name}")
        it.setToolTip(ev.path)
        it.setData(Qt.ItemDataRole.UserRole, ev.path)
        self.checkpoints.insertItem(0, it)

    # ------------------------------------------------------------------ runs table
    def refresh_runs(self) -> None:
        if self.runs_root is None:
            return
        live = [self.live_dir] if self.is_training() and self.live_dir else []
        self.jobs.run(scan_runs, self.runs_root, live, title="Reading runs", show=False, on_finished=self._on_runs)

    def _on_runs(self, runs) -> None:
        self.runs.set_runs(runs)
        if self.shown_dir is not None:
            self.runs.table.blockSignals(True)
            self.runs.select_run(self.shown_dir)
            self.runs.table.blockSignals(False)
        self._update_buttons()

    def open_run(self, run_dir: Path) -> None:
        """Show a run's charts: the live history for the running run, else its events.jsonl replayed."""
        run_dir = Path(run_dir)
        self.shown_dir = run_dir
        if self.live is not None and self.live_dir == run_dir:
            self._show(self.live, run_dir)
            return
        self.jobs.run(
            load_history,
            run_dir,
            title=f"Opening {run_dir.name}",
            show=False,
            on_finished=lambda h, d=run_dir: self._show(h, d) if self.shown_dir == d else None,
            on_failed=lambda msg, _tb: self.log_view.appendPlainText(f"cannot open {run_dir}: {msg}"),
        )

    def _show(self, history: RunHistory, run_dir: Path) -> None:
        self.charts.show_history(history)
        if history is not self.live:
            self.log_view.clear()
            replay = ConsoleReporter(out=_LogStream(self.log_view))
            for ev in history.notable:
                if ev.kind is not EventKind.FAILED:
                    replay(ev)
            self.checkpoints.clear()
            for c in history.checkpoints:
                self._add_checkpoint(c)
            if isinstance(history.outcome, RunFailed):
                self._show_failure(history.outcome)
        self._update_status()

    def compare_runs(self, run_dirs: list[Path]) -> None:
        if len(run_dirs) < 2:
            return
        self.shown_dir = None

        def show(histories: list[RunHistory]) -> None:
            runs = []
            for d, h in zip(run_dirs, histories):
                runs.append((d.name, self.live if self.live is not None and d == self.live_dir else h))
            self.charts.compare(runs)
            self._update_status()

        self.jobs.run(load_histories, list(run_dirs), title="Reading runs to compare", show=False, on_finished=show)

    def delete_runs(self, run_dirs: list[Path]) -> None:
        run_dirs = [d for d in run_dirs if not (self.is_training() and d == self.live_dir)]
        if not run_dirs or self._refuse_held(run_dirs, "Delete runs"):
            return
        names = "\n".join(d.name for d in run_dirs[:10]) + ("\n…" if len(run_dirs) > 10 else "")
        ans = QMessageBox.question(
            self, "Delete runs", f"Delete {len(run_dirs)} run folder(s), checkpoints included?\n\n{names}"
        )
        if ans != QMessageBox.StandardButton.Yes:
            return
        if self.shown_dir in run_dirs:
            self.shown_dir = None
            self.charts.show_history(None)
        self.jobs.run(
            delete_runs,
            run_dirs,
            title="Deleting runs",
            on_finished=lambda _n: self.refresh_runs(),
            on_failed=lambda msg, _tb: QMessageBox.warning(self, "Delete runs", msg),
        )

    def _refuse_held(self, run_dirs: list[Path], title: str) -> bool:
        """Refuse (True, with the holder named) when another process trains one of ``run_dirs`` now."""
        for d in run_dirs:
            holder = lock_holder(d)
            if holder is not None:
                msg = held_message(d, holder)
                self.log_view.appendPlainText(f"error: {msg}")
                self.refresh_runs()
                QMessageBox.warning(self, title, msg)
                return True
        return False

    # ------------------------------------------------------------------ state and status
    def _selected_resumable(self):
        sel = self.runs.selected()
        if len(sel) == 1 and sel[0].resumable and sel[0].status in ("cancelled", "failed", "interrupted"):
            return sel[0]
        return None

    def _selected_finished(self):
        sel = self.runs.selected()
        if len(sel) == 1 and sel[0].status == "finished" and sel[0].resumable:
            return sel[0]
        return None

    def _set_state(self, state: str) -> None:
        was = self.is_training()
        self.state = state
        self._update_buttons()
        self._update_status()
        if was != self.is_training():
            self.training_changed.emit(self.is_training())

    def _update_buttons(self) -> None:
        s = self.state
        self.start_button.setEnabled(s == IDLE and self.config is not None)
        self.pause_button.setEnabled(s == RUNNING)
        self.resume_button.setEnabled(s == PAUSED or (s == IDLE and self._selected_resumable() is not None))
        self.stop_button.setEnabled(s in (RUNNING, PAUSED))
        can_extend = s == IDLE and self._selected_finished() is not None
        self.extend_button.setEnabled(can_extend)
        self.extend_spin.setEnabled(can_extend)
        self.config_combo.setEnabled(s == IDLE)

    def _update_status(self) -> None:
        h = self.charts.history
        if h is None:
            self.status.setText("Comparing runs" if self.charts.compared else "No run")
            self.detail.setText(", ".join(n for n, _ in self.charts.compared))
            return
        self.status.setText(self._headline(h))
        self.detail.setText(self._detail(h))

    def _headline(self, h: RunHistory) -> str:
        st, it, out = h.started, h.last_iteration, h.outcome
        name = (self.shown_dir or Path("run")).name
        live = h is self.live and self.is_training()
        if live and self.state == PAUSED:
            what = "paused"
        elif live and self.state == STOPPING:
            what = "stopping…"
        elif live:
            what = "training" if st else "starting…"
        elif isinstance(out, RunFinished):
            what = f"finished ({out.reason.replace('_', ' ')})"
        elif isinstance(out, RunFailed):
            what = "failed"
        elif isinstance(out, RunCancelled):
            what = "stopped"
        else:
            what = "interrupted" if st else "no events"
        parts = [f"{name}: {what}"]
        if it is not None and st is not None:
            parts.append(f"epoch {it.epoch}/{st.epochs}, iteration {it.iteration}/{it.iters_per_epoch}")
        best, best_epoch = h.best()
        if best is not None:
            parts.append(f"best {h.metric_name} {best:.3f} (epoch {best_epoch})")
        return "  ·  ".join(parts)

    def _detail(self, h: RunHistory) -> str:
        st, it = h.started, h.last_iteration
        if st is None:
            return ""
        parts = [
            f"{st.arch} on {st.device}" + (f" x{st.world_size}" if st.world_size > 1 else ""),
            plural(len(st.classes), "class", "classes"),
            f"batch {st.batch_size}",
        ]
        if it is not None:
            parts.append(f"{it.images_per_s:.1f} img/s")
            parts.append(f"{it.images_per_s / max(st.batch_size * st.world_size, 1):.2f} it/s")
            if h is self.live and self.is_training():
                parts.append(f"ETA {format_duration(it.eta_s)}")
            parts.append(f"elapsed {format_duration(it.elapsed_s)}")
            if it.gpu_mem_mb is not None:
                parts.append(f"GPU {it.gpu_mem_mb / 1024:.2f} GB")
            parts.append(f"lr {it.lr:.2e}")
        return "  ·  ".join(parts)
