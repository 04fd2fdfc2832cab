"""What the Train page knows and decides, without Qt: the run state machine, the buttons, the status line,
the run shown and the log sections.

:class:`TrainState` drives a run through its phases::

    idle ──start/resume/extend──> starting ──RunStarted──> training <──resume── paused
                                     │                        │ ──pause──────────> │
                                     └──────────stop──────────┴──> stopping <──stop┘
    any running phase ──the worker ends──> finished | failed | cancelled   (as idle: a new run may start)

It owns the :class:`~studio.core.training.control.RunControl` the trainer polls (pause, resume, stop),
knows the chosen config, the runs folder, the live run and the run shown, and decides what each button
allows, whether a selected run can be resumed or extended, which runs another process holds, and the
headline and detail texts (epoch, speed, ETA, GPU memory). The log sections are here too: the log lines
(a :class:`~studio.core.training.console.ConsoleReporter` writes into :meth:`TrainState.log_stream`), the
checkpoints written, the error of a failed run and the section to show.

The page (:class:`studio.gui.train.page.TrainPage`) renders this and runs the trainer and the run-folder
reads in workers.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio.core.text import format_duration, plural
from studio.core.training.console import ConsoleReporter
from studio.core.training.control import RunControl
from studio.core.training.events import CheckpointSaved, Event, EventKind, RunCancelled, RunFailed, RunFinished
from studio.core.training.history import RunHistory
from studio.core.training.run_index import RunSummary
from studio.core.training.run_lock import held_message, lock_holder
from studio.core.training.runs import new_run_dir

# the phases of a run (see the module docstring)
IDLE, STARTING, TRAINING, PAUSED, STOPPING = "idle", "starting", "training", "paused", "stopping"
FINISHED, FAILED, CANCELLED = "finished", "failed", "cancelled"
#: the page's control state (what the buttons follow): a phase as idle / running / paused / stopping
RUNNING = "running"
CONTROL = {STARTING: RUNNING, TRAINING: RUNNING, PAUSED: PAUSED, STOPPING: STOPPING}
# the log sections (the page's tabs)
LOG, CHECKPOINTS, ERROR = "Log", "Checkpoints", "Error"
LOG_LINES = 5000  # the log keeps the last lines only


@dataclass(frozen=True)
class Buttons:
    start: bool
    pause: bool
    resume: bool
    stop: bool
    extend: bool  # the Extend button and its epochs box
    config: bool  # the config picker


@dataclass(frozen=True)
class Launch:
    """One run to start: the trainer's arguments."""

    config: Path
    run_dir: Path
    history: RunHistory  # filled as the events come (the charts read it)
    resume: Path | None
    overrides: tuple[str, ...]


class _LogStream(io.TextIOBase):
    """A text stream whose lines go to the log (a ConsoleReporter writes to it)."""

    def __init__(self, state: TrainState):
        self.state = state

    def write(self, s: str) -> int:
        for line in s.rstrip("\n").split("\n"):
            if line:
                self.state.log(line)
        return len(s)


def checkpoint_text(ev: CheckpointSaved) -> str:
    return f"epoch {ev.epoch}  ·  {ev.role}  ·  {Path(ev.path).name}"


class TrainState:
    """See the module docstring."""

    def __init__(self) -> None:
        self.phase = IDLE
        self.config: Path | None = None  # the config a new run trains
        self.runs_root: Path | None = None
        self.control: RunControl | None = None  # the running run's pause / stop token
        self.live: RunHistory | None = None  # the history the trainer fills (the last run started here)
        self.live_dir: Path | None = None
        self.shown_dir: Path | None = None  # the run the charts show (None: none, or several compared)
        self.selected: list[RunSummary] = []  # the runs selected in the table
        self.section = LOG  # the log section to show (the user may show another)
        self._section_changed = False
        self.log_lines: deque[str] = deque(maxlen=LOG_LINES)
        self.checkpoints: list[CheckpointSaved] = []  # newest first
        self.error = ""
        self.outcome: str | None = None  # how the running run ended, once the worker says so
        #: each new log line, for the view (cleared lines: ``on_log(None)``)
        self.on_log: Callable[[str | None], None] = lambda _line: None
        self.reporter = ConsoleReporter(out=self.log_stream())

    # ------------------------------------------------------------------ the state machine
    @property
    def control_state(self) -> str:
        """idle, running, paused or stopping: what the buttons follow."""
        return CONTROL.get(self.phase, IDLE)

    def is_training(self) -> bool:
        return self.control_state != IDLE

    def launch(
        self, config: Path, run_dir: Path, *, resume: Path | None, overrides=(), fresh: bool, shown=None
    ) -> Launch:
        """Start a run: a new control, the history to fill (``shown``, the charts' history, is continued when it
        is that run's; a resumed run's curves are read from its log), the log sections reset."""
        self.control = RunControl()
        history = RunHistory() if fresh or self.shown_dir != run_dir or shown is None else shown
        if not fresh and history.started is None and (run_dir / "events.jsonl").is_file():
            history = RunHistory.from_run(run_dir)  # continue the curves of the run being resumed
        self.live, self.live_dir, self.shown_dir = history, run_dir, run_dir
        self.checkpoints = list(reversed(history.checkpoints))
        self.error, self.outcome = "", None
        self._switch(LOG)
        self.log(f"{'resuming' if resume else 'starting'} {config} -> {run_dir}")
        self.phase = STARTING
        return Launch(config, run_dir, history, resume, tuple(overrides))

    def start(self) -> Launch | None:
        """A new run of the chosen config in a new folder under the runs folder (None: not now)."""
        if self.is_training() or self.config is None:
            return None
        root = self.runs_root or self.config.parent.parent / "runs"
        return self.launch(self.config, new_run_dir(self.config.stem, root), resume=None, fresh=True)

    def pause(self) -> bool:
        if self.control_state != RUNNING or self.control is None:
            return False
        self.control.pause()
        self.phase = PAUSED
        return True

    def unpause(self) -> bool:
        if self.phase != PAUSED or self.control is None:
            return False
        self.control.resume()
        self.phase = TRAINING if self.live is not None and self.live.started is not None else STARTING
        return True

    def stop(self) -> bool:
        if self.control_state not in (RUNNING, PAUSED) or self.control is None:
            return False
        self.control.cancel()
        self.phase = STOPPING
        return True

    def resumable(self) -> RunSummary | None:
        """The selected run when it is one stopped or failed run with a last.pt (Resume continues it)."""
        sel = self.selected
        if len(sel) == 1 and sel[0].resumable and sel[0].status in ("cancelled", "failed", "interrupted"):
            return sel[0]
        return None

    def extendable(self) -> RunSummary | None:
        """The selected run when it is one finished run with a last.pt (Extend trains it further)."""
        sel = self.selected
        if len(sel) == 1 and sel[0].status == "finished" and sel[0].resumable:
            return sel[0]
        return None

    def resume_run(self, s: RunSummary, shown=None) -> Launch:
        return self.launch(s.path / "config.yaml", s.path, resume=s.path / "last.pt", fresh=False, shown=shown)

    def extend_run(self, s: RunSummary, epochs: int, shown=None) -> Launch:
        """``epochs`` more epochs for a finished run (no time limit for the extension)."""
        overrides = (f"train.epochs={s.epochs_done + int(epochs)}", "train.time_limit=null")
        return self.launch(
            s.path / "config.yaml", s.path, resume=s.path / "last.pt", overrides=overrides, fresh=False, shown=shown
        )

    def held(self, run_dirs: list[Path]) -> str | None:
        """Why ``run_dirs`` must be left alone: another process trains one of them now (None: none does)."""
        for d in run_dirs:
            holder = lock_holder(d)
            if holder is not None:
                msg = held_message(d, holder)
                self.log(f"error: {msg}")
                return msg
        return None

    # ------------------------------------------------------------------ what the trainer reports
    def event(self, ev: Event) -> bool:
        """A trainer event (not an iteration); True when the runs table is to be read again (a run started)."""
        if ev.kind is EventKind.CHECKPOINT:
            self.checkpoints.insert(0, ev)
        elif ev.kind is EventKind.FAILED:
            self._show_failure(ev)
        elif ev.kind is EventKind.STARTED and self.phase == STARTING:
            self.phase = TRAINING
        if ev.kind is not EventKind.FAILED:  # the error itself goes to the Error section
            self.reporter(ev)
        return ev.kind is EventKind.STARTED

    def _show_failure(self, ev: RunFailed) -> None:
        hint = "\n\nlast.pt is kept: fix the cause, select the run and press Resume." if ev.resumable else ""
        self.error = f"{ev.error}{hint}\n\n{ev.traceback}"
        self._switch(ERROR)

    def finished(self, status: str) -> None:
        """The trainer returned: the run finished, or stopped (status "cancelled")."""
        self.outcome = FINISHED if status == "finished" else CANCELLED

    def failed(self, message: str, tb: str) -> None:
        """The trainer raised (a bad config fails before it could report RunFailed: its error is shown here)."""
        if not self.error:
            self.error = f"{message}\n\n{tb}"
            self._switch(ERROR)
        self.log(f"error: {message}")
        self.outcome = FAILED

    def cancelled(self) -> None:
        self.log("stopped")
        self.outcome = CANCELLED

    def ended(self) -> None:
        """The worker is gone: the phase is the outcome (as idle: a new run may start)."""
        self.control = None
        self.phase = self.outcome or IDLE

    def live_dirs(self) -> list[Path]:
        """The run being trained here (the runs table shows it as running)."""
        return [self.live_dir] if self.is_training() and self.live_dir else []

    # ------------------------------------------------------------------ the run shown
    def open_run(self, run_dir: Path) -> RunHistory | None:
        """Show ``run_dir``: its live history when it is the run training here, else None (read its log)."""
        self.shown_dir = Path(run_dir)
        return self.live if self.live is not None and self.live_dir == self.shown_dir else None

    def show(self, history: RunHistory) -> None:
        """The log sections of a shown run: replayed from its events, unless it is the live one."""
        if history is self.live:
            return
        self.log_lines.clear()
        self.on_log(None)
        replay = ConsoleReporter(out=self.log_stream())
        for ev in history.notable:
            if ev.kind is not EventKind.FAILED:
                replay(ev)
        self.checkpoints = list(reversed(history.checkpoints))
        if isinstance(history.outcome, RunFailed):
            self._show_failure(history.outcome)

    def comparison(self, run_dirs: list[Path], histories: list[RunHistory]) -> list[tuple[str, RunHistory]]:
        """(name, history) of each run compared; the live run's from the trainer."""
        return [
            (d.name, self.live if self.live is not None and d == self.live_dir else h)
            for d, h in zip(run_dirs, histories)
        ]

    def deletable(self, run_dirs: list[Path]) -> list[Path]:
        """``run_dirs`` without the run training here."""
        return [d for d in run_dirs if not (self.is_training() and d == self.live_dir)]

    # ------------------------------------------------------------------ log sections
    def _switch(self, section: str) -> None:
        self.section, self._section_changed = section, True

    def take_section(self) -> str | None:
        """The section to show now, once after a run started or failed; else None (the user's choice stays)."""
        changed, self._section_changed = self._section_changed, False
        return self.section if changed else None

    def log(self, line: str) -> None:
        self.log_lines.append(line)
        self.on_log(line)

    def log_stream(self) -> io.TextIOBase:
        return _LogStream(self)

    # ------------------------------------------------------------------ buttons and status
    def buttons(self) -> Buttons:
        s = self.control_state
        idle = s == IDLE
        can_extend = idle and self.extendable() is not None
        return Buttons(
            start=idle and self.config is not None,
            pause=s == RUNNING,
            resume=s == PAUSED or (idle and self.resumable() is not None),
            stop=s in (RUNNING, PAUSED),
            extend=can_extend,
            config=idle,
        )

    def status(self, history: RunHistory | None, compared: list[str]) -> tuple[str, str]:
        """(headline, detail) of what the charts show: ``history``, or the ``compared`` runs."""
        if history is None:
            return ("Comparing runs" if compared else "No run"), ", ".join(compared)
        return self.headline(history), self.detail(history)

    def headline(self, h: RunHistory) -> str:
        st, it, out = h.started, h.last_iteration, h.outcome
        name = (self.shown_dir or Path("run")).name
        live = h is self.live and self.is_training()
        if live and self.phase == PAUSED:
            what = "paused"
        elif live and self.phase == STOPPING:
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

    def detail(self, h: RunHistory) -> str:
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
