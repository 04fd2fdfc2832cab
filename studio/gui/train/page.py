"""The Train page: start, pause, resume, stop and extend a run; live charts; the runs table.

A thin view over :class:`~studio.gui.train.state.TrainState` (the run state machine, what each button
allows, the status line, the run shown, the log sections). The trainer runs as a core job in a Worker whose
cancel token is the state's :class:`RunControl` (pause, stop). Its events fill a :class:`RunHistory` in the
worker thread; the charts redraw from it at 15 Hz, and only the rare events (epoch, checkpoint, message,
outcome) come to this page as signals, so a fast GPU run never floods the GUI thread. An outcome shows at
once (the header, the buttons, the runs table), while the trainer's process still winds down.

The runs table follows the runs folder (:class:`~studio.gui.common.run_watch.RunWatch`: this page's own
runs notify every run list of the app at once, runs of other processes are seen by polling); the live
run's row follows its history at 4 Hz. The log shows one run at a time, under a header line, and follows
its newest line unless the user scrolled up.
"""

from __future__ import annotations

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

from studio.core.training.history import RunHistory
from studio.gui.common.log_panel import TailLog
from studio.gui.common.run_watch import RunWatch, notify_runs_changed
from studio.gui.common.workers import Jobs, Worker
from studio.gui.train.charts import TrainCharts
from studio.gui.train.jobs import delete_runs, load_histories, load_history, run_training, scan_runs
from studio.gui.train.runs_panel import RunsPanel
from studio.gui.train.state import (  # noqa: F401  (IDLE...STOPPING: the page's states, for its callers)
    CHECKPOINTS,
    ERROR,
    IDLE,
    LOG,
    LOG_LINES,
    PAUSED,
    RUNNING,
    STOPPING,
    Launch,
    TrainState,
    checkpoint_text,
)

log = logging.getLogger("studio.gui.train")

STATUS_MS = 250  # the status line (epoch, speed, ETA) follows the history at 4 Hz


class _EventBridge(QObject):
    """Carries the trainer's non-iteration events from the worker thread to the GUI thread."""

    event = Signal(object)


class TrainPage(QWidget):
    title = "Train"
    training_changed = Signal(bool)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.train_state = TrainState()
        self.worker: Worker | None = None
        self.isolate = True  # train in a child process (see studio.core.training.ddp); tests may turn it off
        self._bridge = _EventBridge()
        self._bridge.event.connect(self._on_event)
        self._select_next: Path | None = None  # a run to select once the table lists it (the one just launched)
        self.run_watch = RunWatch(
            jobs, scan_runs, logs=True, args=lambda: (self.train_state.live_dirs(),), title="Reading runs", parent=self
        )
        self.run_watch.listed.connect(self._on_runs)
        self._build()
        self.train_state.on_log = self._on_log
        self._shown: tuple[list, str] = ([], "")  # the checkpoints and the error the view shows
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_MS)
        self.status_timer.timeout.connect(self._tick)
        self._render()

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
        self.runs.table.itemSelectionChanged.connect(self._render)

        self.log_view = TailLog(LOG_LINES)
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

    # ------------------------------------------------------------------ the state, for the window and tests
    config = property(lambda self: self.train_state.config)
    runs_root = property(lambda self: self.train_state.runs_root)
    control = property(lambda self: self.train_state.control)
    live = property(lambda self: self.train_state.live)
    live_dir = property(lambda self: self.train_state.live_dir)
    shown_dir = property(lambda self: self.train_state.shown_dir)
    state = property(lambda self: self.train_state.control_state)  # IDLE, RUNNING, PAUSED or STOPPING

    def is_training(self) -> bool:
        return self.train_state.is_training()

    # ------------------------------------------------------------------ workspace and config
    def set_workspace(self, ws) -> None:
        self.train_state.runs_root = ws.folder("runs")
        self.config_combo.blockSignals(True)
        self.config_combo.clear()
        for p in ws.configs():
            self.config_combo.addItem(p.name, str(p))
        self.config_combo.blockSignals(False)
        if self.config is None or not self.config.is_file():
            self._on_config_choice(self.config_combo.currentIndex())
        else:
            self.set_config(self.config)
        self.run_watch.set_root(self.runs_root)

    def set_config(self, path: str | Path) -> None:
        path = Path(path)
        i = self.config_combo.findData(str(path))
        if i < 0:
            self.config_combo.addItem(path.name, str(path))
            i = self.config_combo.count() - 1
        self.config_combo.setCurrentIndex(i)
        self.train_state.config = path
        self._render()

    def _on_config_choice(self, i: int) -> None:
        data = self.config_combo.itemData(i) if i >= 0 else None
        self.train_state.config = Path(data) if data else None
        self._render()

    def _browse_config(self) -> None:
        start = str(self.config.parent) if self.config else ""
        path, _ = QFileDialog.getOpenFileName(self, "Config to train", start, "Configs (*.yaml *.yml)")
        if path:
            self.set_config(path)

    # ------------------------------------------------------------------ run control
    def start(self, config: str | Path | None = None) -> bool:
        """Train ``config`` (default: the chosen one) into a new run folder under the workspace's runs/."""
        if config is not None:
            self.set_config(config)
        return self._launch(self.train_state.start())

    def resume(self) -> bool:
        """Unpause; or, when idle, continue the selected stopped / failed run from its last.pt."""
        st = self.train_state
        if st.unpause():
            self._render()
            return True
        if st.is_training():
            return False
        s = self._selected().resumable()
        if s is None or self._refuse_held([s.path], "Resume"):
            return False
        return self._launch(st.resume_run(s, shown=self.charts.history))

    def extend(self, epochs: int) -> bool:
        """Train the selected finished run ``epochs`` more epochs (no time limit for the extension)."""
        s = self._selected().extendable()
        if s is None or self.is_training() or self._refuse_held([s.path], "Extend"):
            return False
        return self._launch(self.train_state.extend_run(s, epochs, shown=self.charts.history))

    def pause(self) -> None:
        if self.train_state.pause():
            self._render()

    def stop(self) -> None:
        if self.train_state.stop():
            self._render()

    def stop_and_wait(self, timeout_ms: int = 60_000) -> bool:
        """Stop the run and wait for its thread (the window is closing); True when it ended."""
        if self.worker is None or not self.worker.running:
            return True
        self.stop()
        return self.worker.wait(timeout_ms)

    def _launch(self, run: Launch | None) -> bool:
        if run is None:
            return False
        self.charts.show_history(run.history)
        w = Worker(
            run_training,
            run.config,
            run.run_dir,
            run.history,
            resume=run.resume,
            overrides=run.overrides,
            on_event=self._bridge.event.emit,
            isolate=self.isolate,
            token=self.control,
            title=f"Training {run.run_dir.name}",
        )
        # a worker still winding down after its run's outcome may outlive it: only the current one reports
        w.finished.connect(lambda result, w=w: self._on_finished(w, result))
        w.failed.connect(lambda msg, tb, w=w: self._on_failed(w, msg, tb))
        w.cancelled.connect(lambda w=w: self._on_cancelled(w))
        w.ended.connect(lambda w=w: self._on_ended(w))
        self.worker = w
        self._select_next = run.run_dir
        self._render()
        self.training_changed.emit(True)
        self.jobs.start(w, log_failure=False)
        self.status_timer.start()
        self.refresh_runs()
        return True

    # ------------------------------------------------------------------ worker results (GUI thread)
    def _on_event(self, ev) -> None:
        was = self.is_training()
        if self.train_state.event(ev) and self.live_dir is not None:
            notify_runs_changed(self.live_dir)  # every run list of the app reads the runs folder now
        self._render()
        if was and not self.is_training():  # its outcome: shown now, while the process winds down
            self.training_changed.emit(False)

    def _on_finished(self, w: Worker, result) -> None:
        log.info(
            "run %s %s (%s) after %d epochs", result.run_dir.name, result.status, result.reason, result.epochs_done
        )
        if w is self.worker:
            self.train_state.finished(result.status)

    def _on_failed(self, w: Worker, message: str, tb: str) -> None:
        log.error("training failed: %s", message)
        if w is self.worker:
            self.train_state.failed(message, tb)
            self._render()

    def _on_cancelled(self, w: Worker) -> None:
        if w is self.worker:
            self.train_state.cancelled()
            self._render()

    def _on_ended(self, w: Worker) -> None:
        run_dir = self.live_dir
        if w is self.worker:
            self.worker = None
            self.status_timer.stop()
            was = self.is_training()
            self.train_state.ended()
            self._render()
            if was != self.is_training():
                self.training_changed.emit(self.is_training())
        if run_dir is not None:
            notify_runs_changed(run_dir)  # its lock is gone: the lists read it as it is now

    # ------------------------------------------------------------------ runs table
    def refresh_runs(self) -> None:
        """Read the runs folder now (it is also read whenever it changes)."""
        self.run_watch.refresh()

    def _on_runs(self, runs) -> None:
        """A fresh list: the newest run is selected when it is new and the selection was the newest or none (a
        run the user picked stays picked); a run just launched here is selected once listed."""
        table = self.runs
        before = [Path(s.path) for s in table.runs]
        selected = table.selected_paths()
        table.set_runs([self.train_state.live_row(s) for s in runs])
        newest = Path(runs[0].path) if runs else None
        if self._select_next is not None and table.select_run(self._select_next):
            self._select_next = None
        elif newest is not None and newest not in before and (not selected or selected == before[:1]):
            table.select_run(newest)
        self._render()

    def _update_live_row(self) -> None:
        if self.live_dir is not None:
            s = self.runs.summary_of(self.live_dir)
            if s is not None:
                self.runs.update_run(self.train_state.live_row(s))

    def open_run(self, run_dir: Path) -> None:
        """Show a run's charts: the live history for the running run, else its events.jsonl replayed."""
        run_dir = Path(run_dir)
        live = self.train_state.open_run(run_dir)
        if live is not None:
            self._show(live)
            return
        self.jobs.run(
            load_history,
            run_dir,
            title=f"Opening {run_dir.name}",
            show=False,
            on_finished=lambda h, d=run_dir: self._show(h) if self.shown_dir == d else None,
            on_failed=lambda msg, _tb: self.train_state.log(f"cannot open {run_dir}: {msg}"),
        )

    def _show(self, history: RunHistory) -> None:
        self.charts.show_history(history)
        self.train_state.show(history)
        self._render()

    def compare_runs(self, run_dirs: list[Path]) -> None:
        if len(run_dirs) < 2:
            return
        self.train_state.shown_dir = None

        def show(histories: list[RunHistory]) -> None:
            self.charts.compare(self.train_state.comparison(run_dirs, histories))
            self._render()

        self.jobs.run(load_histories, list(run_dirs), title="Reading runs to compare", show=False, on_finished=show)

    def delete_runs(self, run_dirs: list[Path]) -> None:
        run_dirs = self.train_state.deletable(run_dirs)
        if not run_dirs or self._refuse_held(run_dirs, "Delete runs"):
            return
        names = "\n".join(d.name for d in run_dirs[:10]) + ("\n…" if len(run_dirs) > 10 else "")
        ans = QMessageBox.question(
            self, "Delete runs", f"Delete {len(run_dirs)} run folder(s), checkpoints included?\n\n{names}"
        )
        if ans != QMessageBox.StandardButton.Yes:
            return
        if self.shown_dir in run_dirs:
            self.train_state.shown_dir = None
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
        msg = self.train_state.held(run_dirs)
        if msg is not None:
            self.refresh_runs()
            QMessageBox.warning(self, title, msg)
        return msg is not None

    def _selected(self) -> TrainState:
        self.train_state.selected = self.runs.selected()
        return self.train_state

    # ------------------------------------------------------------------ rendering the state
    def _on_log(self, line: str | None) -> None:
        if line is None:
            self.log_view.clear()
        else:
            self.log_view.append_line(line)

    def _render(self) -> None:
        """Buttons, log sections and status from the state."""
        b = self._selected().buttons()
        self.start_button.setEnabled(b.start)
        self.pause_button.setEnabled(b.pause)
        self.resume_button.setEnabled(b.resume)
        self.stop_button.setEnabled(b.stop)
        self.extend_button.setEnabled(b.extend)
        self.extend_spin.setEnabled(b.extend)
        self.config_combo.setEnabled(b.config)
        st = self.train_state
        if st.checkpoints != self._shown[0]:
            self.checkpoints.clear()
            for c in st.checkpoints:
                it = QListWidgetItem(checkpoint_text(c))
                it.setToolTip(c.path)
                it.setData(Qt.ItemDataRole.UserRole, c.path)
                self.checkpoints.addItem(it)
        if st.error != self._shown[1]:
            self.error_view.setPlainText(st.error)
        self._shown = (list(st.checkpoints), st.error)
        if (section := st.take_section()) is not None:
            self.tabs.setCurrentIndex([LOG, CHECKPOINTS, ERROR].index(section))
        self._update_status()
        self._update_live_row()  # paused, stopping, an outcome: at once

    def _update_status(self) -> None:
        headline, detail = self.train_state.status(self.charts.history, [n for n, _ in self.charts.compared])
        self.status.setText(headline)
        self.detail.setText(detail)

    def _tick(self) -> None:
        """4 Hz while a run trains: the status line and the live run's row."""
        self._update_status()
        self._update_live_row()
