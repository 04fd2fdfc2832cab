"""The runs of a workspace: one summary row per run folder, and deleting a run.

A run folder is any folder holding an ``events.jsonl`` (written by the trainer from its first event).
The summary is read from the log alone, so listing a hundred runs never loads a checkpoint. A log is
read incrementally: what was parsed is kept (per folder, keyed by the file's identity) and a later
call reads only the lines appended since, so the window can poll the runs folder of a live run cheaply.

A session is what one ``RunStarted`` begins (a new run, a resume, an extension). The status is the
latest session's outcome, except that a finished run stays finished when a later extension of it is
stopped or interrupted: its checkpoints still hold the completed schedule (``extension`` says what
became of the extension).
"""

from __future__ import annotations

import copy
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.training.events import (
    EpochEnd,
    IterationEnd,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunStarted,
    from_record,
)
from studio.core.training.run_lock import LockInfo, RunHeldError, live_lock, lock_holder
from studio.core.training.runlog import LOG_NAME


@dataclass(frozen=True)
class RunSummary:
    path: Path
    name: str
    arch: str
    task: str
    epochs_done: int
    epochs: int
    metric_name: str
    best_metric: float | None
    best_epoch: int | None
    duration_s: float  # training time so far (pauses excluded): the last event's elapsed
    status: str  # finished, cancelled, failed, running or interrupted (the process died)
    reason: str  # completed, early_stopping, time_limit; or the error; "" otherwise
    started_at: float  # unix time of the first event
    resumable: bool  # a last.pt exists to continue from
    holder: LockInfo | None = None  # another live process training it now (its run.lock)
    time_limit_s: float | None = None  # the latest session's train.time_limit: its progress is measured in time
    extension: str = ""  # a finished run extended since: "stopped", "interrupted" or "training" (else "")

    @property
    def display_status(self) -> str:
        """What the runs table shows: the status, or ``held by pid N (host)`` while another process trains it."""
        return self.holder.short() if self.holder is not None and self.status != "running" else self.status

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / "best.pt").is_file() or (self.path / "last.pt").is_file()

    @property
    def progress(self) -> float:
        """How far the latest session is, 0..1: in time with a time limit, else in epochs."""
        if self.time_limit_s:
            return min(1.0, max(0.0, self.duration_s / self.time_limit_s))
        return min(1.0, self.epochs_done / self.epochs) if self.epochs > 0 else 0.0


class _Scan:
    """What a run log says so far, built event by event (one per folder, kept between calls)."""

    __slots__ = (
        "key",
        "offset",
        "head",
        "tail",
        "first_t",
        "first",
        "start",
        "last_epoch",
        "last_iter",
        "outcome",
        "finished",
    )

    def __init__(self, key: tuple[int, int]):
        self.key = key  # (st_dev, st_ino) of the log
        self.offset = 0  # bytes parsed (whole lines)
        self.head = b""  # the first bytes and the last bytes before offset: a file rewritten rather than
        self.tail = b""  # appended to is read again from the start
        self.first_t: float | None = None  # "t" of the first readable event
        self.first: RunStarted | None = None  # the first start names the run; resumes keep it
        self.start: RunStarted | None = None  # the latest session's start
        self.last_epoch: EpochEnd | None = None
        self.last_iter: IterationEnd | None = None
        self.outcome: RunFinished | RunFailed | RunCancelled | None = None  # the latest session's
        self.finished: RunFinished | None = None  # the latest RunFinished of any session

    def line(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            rec = orjson.loads(line)
            ev = from_record(rec)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return
        if self.first_t is None:
            try:
                self.first_t = float(rec["t"])
            except (KeyError, TypeError, ValueError):
                pass
        if isinstance(ev, RunStarted):
            self.first = self.first or ev
            self.start, self.outcome = ev, None
        elif isinstance(ev, IterationEnd):
            self.last_iter = ev
        elif isinstance(ev, EpochEnd):
            self.last_epoch = ev
        elif isinstance(ev, (RunFinished, RunFailed, RunCancelled)):
            self.outcome = ev
            if isinstance(ev, RunFinished):
                self.finished = ev


_TAIL = 64
_scans: dict[Path, _Scan] = {}
_scans_lock = threading.Lock()


def _scan(log: Path) -> _Scan | None:
    """The log's scan, brought up to date with the lines appended since the last call (None: unreadable)."""
    try:
        with open(log, "rb") as f:
            st = os.fstat(f.fileno())
            key = (st.st_dev, st.st_ino)
            with _scans_lock:
                scan = _scans.get(log)
            if scan is not None and (scan.key != key or st.st_size < scan.offset):
                scan = None
            if scan is not None and scan.offset:
                head = f.read(len(scan.head))
                f.seek(scan.offset - len(scan.tail))
                if head != scan.head or f.read(len(scan.tail)) != scan.tail:
                    scan = None  # rewritten, not appended to
            scan = copy.copy(scan) if scan is not None else _Scan(key)
            f.seek(scan.offset)
            data = f.read(max(0, st.st_size - scan.offset))
    except OSError:
        return None
    end = data.rfind(b"\n") + 1  # whole lines only: the last may still be being written
    for line in data[:end].split(b"\n"):
        scan.line(line)
    if end:
        if len(scan.head) < _TAIL:
            scan.head = (scan.head + data[:end])[:_TAIL]
        scan.tail = (scan.tail + data[:end])[-_TAIL:]
        scan.offset += end
    with _scans_lock:
        _scans[log] = scan
    if data[end:].strip():  # a last line without its newline (a hand-written log, or one being written)
        scan = copy.copy(scan)
        scan.line(data[end:])
    return scan


def summarize_run(run_dir: str | Path, live: Callable[[Path], bool] = lambda p: False) -> RunSummary | None:
    """The summary of one run folder, or None when it holds no readable log. ``live(path)``: is it training now."""
    run_dir = Path(run_dir)
    log = run_dir / LOG_NAME
    if not log.is_file():
        return None
    scan = _scan(log)
    if scan is None or scan.start is None:
        return None
    first, start, outcome, last_epoch, it = scan.first, scan.start, scan.outcome, scan.last_epoch, scan.last_iter
    holder = lock_holder(run_dir)
    extension = ""
    if live(run_dir):
        status, reason = "running", ""
    elif isinstance(outcome, RunFinished):
        status, reason = "finished", outcome.reason
    elif isinstance(outcome, RunFailed):
        status, reason = "failed", outcome.error
    elif scan.finished is not None:  # an extension of a finished run, stopped, interrupted or training elsewhere
        extension = "stopped" if isinstance(outcome, RunCancelled) else "training" if holder else "interrupted"
        status, reason = "finished", scan.finished.reason
    elif isinstance(outcome, RunCancelled):
        status, reason = "cancelled", ""
    else:
        status, reason = "interrupted", ""
    if isinstance(outcome, RunFinished):
        elapsed = outcome.elapsed_s
    else:
        elapsed = max([e.elapsed_s for e in (last_epoch, it) if e is not None], default=0.0)
    best, best_epoch = None, None
    for ev in (outcome, last_epoch):
        if isinstance(ev, (RunFinished, EpochEnd)) and ev.best_metric is not None:
            best, best_epoch = ev.best_metric, ev.best_epoch
            break
    if isinstance(outcome, RunFinished):
        epochs_done = outcome.epochs_done
    else:
        epochs_done = max(last_epoch.epoch if last_epoch else 0, start.start_epoch)
    epochs = epochs_done if extension in ("stopped", "interrupted") else start.epochs
    try:
        first_t = scan.first_t if scan.first_t is not None else log.stat().st_mtime
    except OSError:
        first_t = 0.0
    return RunSummary(
        run_dir,
        run_dir.name,
        first.arch,
        first.task,
        epochs_done,
        epochs,
        start.metric_name,
        best,
        best_epoch,
        elapsed,
        status,
        reason,
        first_t,
        (run_dir / "last.pt").is_file(),
        holder,
        start.time_limit_s,
        extension,
    )


def list_runs(
    root: str | Path,
    live: Callable[[Path], bool] = lambda p: False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[RunSummary]:
    """Every run folder directly under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    out = []
    for k, p in enumerate(folders):
        if cancel is not None:
            cancel.raise_if_cancelled()
        s = summarize_run(p, live)
        if s is not None:
            out.append(s)
        progress(k + 1, len(folders), "reading run logs")
    return sorted(out, key=lambda s: -s.started_at)


def runs_stamp(root: str | Path, logs: bool = True) -> tuple:
    """A cheap fingerprint of the runs folder (a few stat calls per run): it changes when a run folder
    appears or goes, a file is added, removed or replaced in one (a checkpoint, the lock) and, with ``logs``,
    when a run's log grows. Equal stamps: nothing a run list shows has changed."""
    root = Path(root)
    out = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return ()
    for e in entries:
        try:
            if not e.is_dir():
                continue
            item: tuple = (e.name, e.stat().st_mtime_ns)
            if logs:
                try:
                    st = os.stat(os.path.join(e.path, LOG_NAME))
                    item += (st.st_size, st.st_mtime_ns)
                except OSError:
                    item += (None,)
        except OSError:
            continue
        out.append(item)
    return tuple(out)


def delete_run(run_dir: str | Path) -> None:
    """Remove a run folder; refuses a folder that is not a run (no events.jsonl and no checkpoint) and a
    run a live process trains (its run.lock)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StudioError("run folder not found", file=run_dir)
    if not ((run_dir / LOG_NAME).is_file() or (run_dir / "last.pt").is_file()):
        raise StudioError("not a run folder (no events.jsonl or last.pt): not deleting it", file=run_dir)
    held = live_lock(run_dir)
    if held is not None:
        raise RunHeldError(run_dir, held)
    shutil.rmtree(run_dir)
    with _scans_lock:
        _scans.pop(run_dir / LOG_NAME, None)
