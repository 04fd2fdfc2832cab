"""What the Train page knows and decides, without Qt: the run state machine, the buttons, the status line,
the run shown and the log sections.

:class:`TrainState` drives a run through its phases::

    idle ──start/resume/extend──> starting ──RunStarted──> training <──resume── paused
                                     │                        │ ──pause──────────> │
                                     └──────────stop──────────┴──> stopping <──stop┘
    any running phase ──its outcome──> finished | failed | cancelled   (as idle: a new run may start)

The outcome is settled by the first report of it: the trainer's RunFinished / RunFailed / RunCancelled
event (at once, while its process still winds down) or else the worker's result. A later report never
overwrites it (a Cancel pressed while the finished run's process exits does not make it "cancelled"), and
a stopped extension of a finished run leaves it finished: only the extension was stopped.

It owns the :class:`~studio.core.training.control.RunControl` the trainer polls (pause, resume, stop),
knows the chosen config, the runs folder, the live run and the run shown, and decides what each button
allows, whether a selected run can be resumed or extended, which runs another process holds, and the
headline and detail texts (epoch, speed, ETA, GPU memory, time against the time limit) and the live run's
row of the runs table. The log sections are here too: the log shows one run at a time under a header line
(the live run's lines, which a :class:`~studio.core.training.console.ConsoleReporter` writes, are kept
while another run is shown), the checkpoints written, the error of a failed run and the section to show.

The page (:class:`studio.gui.train.page.TrainPage`) renders this and runs the trainer and the run-folder
reads in workers.
"""

from __future__ import annotations

import dataclasses
import io
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from studio.core.text import format_duration, plural
from studio.core.training.console import ConsoleReporter
from studio.core.training.control import RunControl
from studio.core.training.events import (
    CheckpointSaved,
    Event,
    EventKind,
    RunCancelled,
    RunFailed,
    RunFinished,
)
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


SETTLED = (FINISHED, FAILED, CANCELLED)
#: the runs table's status of the live run, by phase
ROW_STATUS = {
    STARTING: "running",
    TRAINING: "running",
    PAUSED: "paused",
    STOPPING: "stopping",
    FINISHED: "finished",
    FAILED: "failed",
    CANCELLED: "cancelled",
}


class _LogStream(io.TextIOBase):
    """A text stream whose lines go to ``write_line`` (a ConsoleReporter writes to it)."""

    def __init__(self, write_line: Callable[[str], None]):
        self.write_line = write_line

    def write(self, s: str) -> int:
        for line in s.rstrip("\n").split("\n"):
            if line:
                self.write_line(line)
        return len(s)


def checkpoint_text(ev: CheckpointSaved) -> str:
    return f"epoch {ev.epoch}  ·  {ev.role}  ·  {Path(ev.path).name}"


def section_header(run_dir: Path) -> str:
    """The first line of a run's log section."""
    return f"──── {Path(run_dir).name} ────"


def replay_lines(events: Iterable[Event]) -> list[str]:
    """The log lines of replayed events (a failure's error goes to its own section)."""
    lines: list[str] = []
    reporter = ConsoleReporter(out=_LogStream(lines.append))
    for ev in events:
        if ev.kind is not EventKind.FAILED:
            reporter(ev)
    return lines


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
        self.log_lines: deque[str] = deque(maxlen=LOG_LINES)  # what the log shows: the section of log_dir
        self.log_dir: Path | None = None  # the run whose lines the log shows
        self.live_log: deque[str] = deque(maxlen=LOG_LINES)  # the live run's lines (kept while another is shown)
        self.checkpoints: list[CheckpointSaved] = []  # newest first
        self.error = ""
        self.outcome: str | None = None  # how the live run ended: its first report (see the module docstring)
        self.extending = False  # the live run extends a finished run
        #: each new log line, for the view (cleared lines: ``on_log(None)``)
        self.on_log: Callable[[str | None], None] = lambda _line: None
        self.reporter = ConsoleReporter(out=_LogStream(self._live_line))

    # ------------------------------------------------------------------ the state machine
    @property
    def control_state(self) -> str:
        """idle, running, paused or stopping: what the buttons follow."""
        return CONTROL.get(self.phase, IDLE)

    def is_training(self) -> bool:
        return self.control_state != IDLE

    def launch(
        self,
        config: Path,
        run_dir: Path,
        *,
        resume: Path | None,
        overrides=(),
        fresh: bool,
        shown=None,
        extending: bool = False,
    ) -> Launch:
        """Start a run: a new control, the history to fill (``shown``, the charts' history, is continued when it
        is that run's; a resumed run's curves are read from its log), the log shows the run's own section (its
        earlier lines replayed when it is continued)."""
        self.control = RunControl()
        history = RunHistory() if fresh or self.shown_dir != run_dir or shown is None else shown
        if not fresh and history.started is None and (run_dir / "events.jsonl").is_file():
            history = RunHistory.from_run(run_dir)  # continue the curves of the run being resumed
        self.live, self.live_dir, self.shown_dir = history, run_dir, run_dir
        self.checkpoints = list(reversed(history.checkpoints))
        self.error, self.outcome, self.extending = "", None, extending
        self.reporter = ConsoleReporter(out=_LogStream(self._live_line))
        self._switch(LOG)
        self.live_log.clear()
        self.live_log.append(section_header(run_dir))
        self.live_log.extend(replay_lines(history.notable))
        self.live_log.append(f"{'resuming' if resume else 'starting'} {config} -> {run_dir}")
        self._show_section(run_dir, self.live_log)
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
            s.path / "config.yaml",
            s.path,
            resume=s.path / "last.pt",
            overrides=overrides,
            fresh=False,
            shown=shown,
            extending=True,
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
        """A trainer event of the live run (not an iteration); True when its run folder changed for the run lists
        (started, an epoch, a checkpoint, its outcome). An outcome settles the phase at once."""
        if ev.kind is EventKind.CHECKPOINT:
            if self.shown_dir == self.live_dir:
                self.checkpoints.insert(0, ev)
        elif ev.kind is EventKind.FAILED:
            self._show_failure(ev)
            self._settle(FAILED)
        elif ev.kind is EventKind.STARTED and self.phase == STARTING:
            self.phase = TRAINING
        elif ev.kind is EventKind.FINISHED:
            self._settle(FINISHED)
        elif ev.kind is EventKind.CANCELLED:
            self._settle(FINISHED if self.extending else CANCELLED)
        if ev.kind is not EventKind.FAILED:  # the error itself goes to the Error section
            self.reporter(ev)
        if ev.kind is EventKind.CANCELLED and self.extending:
            self._live_line("the extension was stopped: the run stays finished (its checkpoints hold its schedule)")
        return ev.kind is not EventKind.MESSAGE

    def _settle(self, outcome: str) -> None:
        """The live run's outcome: the first report wins; the phase shows it at once."""
        if self.outcome is None:
            self.outcome = outcome
        if self.phase not in SETTLED and self.control is not None:
            self.phase = self.outcome

    def _show_failure(self, ev: RunFailed) -> None:
        hint = "\n\nlast.pt is kept: fix the cause, select the run and press Resume." if ev.resumable else ""
        self.error = f"{ev.error}{hint}\n\n{ev.traceback}"
        self._switch(ERROR)

    def finished(self, status: str) -> None:
        """The trainer returned: the run finished, or stopped (status "cancelled"; an extension stays finished)."""
        self._settle(FINISHED if status == "finished" or self.extending else CANCELLED)

    def failed(self, message: str, tb: str) -> None:
        """The trainer raised (a bad config fails before it could report RunFailed: its error is shown here)."""
        if not self.error:
            self.error = f"{message}\n\n{tb}"
            self._switch(ERROR)
        self._live_line(f"error: {message}")
        self._settle(FAILED)

    def cancelled(self) -> None:
        """The worker was cancelled (the trainer stopped before it could report, or after it already had)."""
        if self.outcome is None:
            self._live_line("extension stopped: the run stays finished" if self.extending else "stopped")
        self._settle(FINISHED if self.extending else CANCELLED)

    def ended(self) -> None:
        """The worker is gone: the phase is the outcome (as idle: a new run may start)."""
        self.control = None
        self.phase = self.outcome or IDLE

    def live_dirs(self) -> list[Path]:
        """The run being trained here (the runs table shows it as running)."""
        return [self.live_dir] if self.is_training() and self.live_dir else []

    def live_row(self, s: RunSummary) -> RunSummary:
        """The runs table's row of ``s``: for the run trained here (until its worker is gone) its status from the
        phase (running, paused, stopping, or its outcome at once) and its epochs and time from the live history;
        any other run as read from its folder."""
        h = self.live
        if h is None or self.control is None or Path(s.path) != self.live_dir:
            return s
        st, it, ep = h.started, h.last_iteration, h.last_epoch
        done = max(ep.epoch if ep else 0, st.start_epoch) if st else s.epochs_done
        if isinstance(h.outcome, RunFinished):
            done = h.outcome.epochs_done
        elapsed = max([e.elapsed_s for e in (it, ep) if e is not None], default=s.duration_s)
        if isinstance(h.outcome, RunFinished):
            elapsed = h.outcome.elapsed_s
        extension = s.extension
        if self.extending and self.phase in (FINISHED, CANCELLED) and not isinstance(h.outcome, RunFinished):
            extension = "stopped"
        return dataclasses.replace(
            s,
            status=ROW_STATUS.get(self.phase, s.status),
            epochs_done=done,
            epochs=done if extension == "stopped" else (st.epochs if st else s.epochs),
            duration_s=elapsed,
            time_limit_s=st.time_limit_s if st else s.time_limit_s,
            holder=None,  # this app's own trainer, winding down
            extension=extension,
        )

    # ------------------------------------------------------------------ the run shown
    def open_run(self, run_dir: Path) -> RunHistory | None:
        """Show ``run_dir``: its live history when it is the run trained here, else None (read its log)."""
        self.shown_dir = Path(run_dir)
        return self.live if self.live is not None and self.live_dir == self.shown_dir else None

    def show(self, history: RunHistory) -> None:
        """The log sections of a shown run: the live run's own lines, or any other run's replayed from its events."""
        self.checkpoints = list(reversed(history.checkpoints))
        if history is self.live:
            self._show_section(self.live_dir, self.live_log)
            return
        run_dir = self.shown_dir or Path(history.started.run_dir if history.started else "run")
        self._show_section(run_dir, [section_header(run_dir), *replay_lines(history.notable)])
        self.error = ""
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
        """A line in the log as shown now (a note about the run shown: a refusal, a read error)."""
        self.log_lines.append(line)
        self.on_log(line)

    def log_stream(self) -> io.TextIOBase:
        return _LogStream(self.log)

    def _live_line(self, line: str) -> None:
        """A line of the live run: kept in its section, shown when the log shows that run."""
        self.live_log.append(line)
        if self.log_dir is not None and self.log_dir == self.live_dir:
            self.log(line)

    def _show_section(self, run_dir: Path | None, lines: Iterable[str]) -> None:
        """The log shows ``run_dir``'s lines from now on (cleared first)."""
        lines = list(lines)
        self.log_dir = run_dir
        self.log_lines.clear()
        self.on_log(None)
        for line in lines:
            self.log(line)

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
        settled = h is self.live and self.control is not None and self.phase in SETTLED  # still winding down
        if live and self.phase == PAUSED:
            what = "paused"
        elif live and self.phase == STOPPING:
            what = "stopping…"
        elif live:
            what = "training" if st else "starting…"
        elif isinstance(out, RunFinished):
            what = f"finished ({out.reason.replace('_', ' ')})"
        elif isinstance(out, RunFailed) or (settled and self.phase == FAILED):
            what = "failed"
        elif h.finished is not None and (h.extension_ended or settled):
            what = f"finished ({h.finished.reason.replace('_', ' ')}), extension {h.extension_ended or 'stopped'}"
        elif isinstance(out, RunCancelled) or (settled and self.phase == CANCELLED):
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
            if st.time_limit_s:  # the run ends at its time limit: its progress is in time
                parts.append(
                    f"elapsed {format_duration(it.elapsed_s)} of {format_duration(st.time_limit_s)} "
                    f"({h.progress():.0%})"
                )
            else:
                parts.append(f"elapsed {format_duration(it.elapsed_s)}")
            if it.gpu_mem_mb is not None:
                parts.append(f"GPU {it.gpu_mem_mb / 1024:.2f} GB")
            parts.append(f"lr {it.lr:.2e}")
        return "  ·  ".join(parts)
