"""The run folder's ``events.jsonl``: every event, one JSON object per line, written as it happens.

The GUI charts replay it to reopen a finished run or overlay several. Iteration events are logged
at most every ``iter_interval_s`` seconds (plus the last of each epoch) so a long run's log stays small;
all other events are always written.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from studio.core.training.events import Event, EventKind, IterationEnd, from_record, to_record

LOG_NAME = "events.jsonl"


class RunLog:
    """Appends events to ``events.jsonl``; fsynced at checkpoints and at the end of the run.

    Opening repairs a torn last line (a run killed mid-write, a full disk) by ending it, so the next
    event starts a line of its own. The first write error (a full disk...) is raised once, naming the
    file, and disables the log: logging the failure that follows never raises a second error.
    """

    SYNC_KINDS = (EventKind.CHECKPOINT, EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED)

    def __init__(self, run_dir: str | Path, iter_interval_s: float = 0.5):
        self.path = Path(run_dir) / LOG_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "ab", buffering=0)  # unbuffered: a line is on its way to the disk once written
        self._interval = iter_interval_s
        self._last_iter_t = 0.0
        self.error: OSError | None = None  # the write error that disabled the log
        self._guard(self._repair_tail)

    def __call__(self, event: Event) -> None:
        if self.error is not None or self._f.closed:
            return
        now = time.time()
        if isinstance(event, IterationEnd) and event.iteration != event.iters_per_epoch:
            if now - self._last_iter_t < self._interval:
                return
        if isinstance(event, IterationEnd):
            self._last_iter_t = now
        line = orjson.dumps(to_record(event, now)) + b"\n"
        self._guard(lambda: self._write(line))
        if event.kind in self.SYNC_KINDS:
            self.sync()

    def sync(self) -> None:
        """Make what was logged durable (fsync)."""
        if self.error is None and not self._f.closed:
            self._guard(lambda: os.fsync(self._f.fileno()))

    def close(self) -> None:
        """fsync and close; never raises (it runs in the trainer's ``finally``, after any error was reported)."""
        if not self._f.closed:
            try:
                self.sync()
            except OSError:
                pass
            self._f.close()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self._f.write(view)
            if not n:  # a raw file returns None when it would block (never here) or 0 on a full device
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[n:]

    def _repair_tail(self) -> None:
        size = os.fstat(self._f.fileno()).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self._write(b"\n")

    def _guard(self, op) -> None:
        try:
            op()
        except OSError as e:
            self.error = e if e.filename else OSError(e.errno, e.strerror, str(self.path))
            try:
                self._f.close()
            except OSError:
                pass
            raise self.error from None


def read_events(run_dir_or_log: str | Path) -> Iterator[Event]:
    """Events of a run, in order. A torn last line (the run was killed mid-write) is skipped."""
    p = Path(run_dir_or_log)
    if p.is_dir():
        p = p / LOG_NAME
    with open(p, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            try:
                yield from_record(rec)
            except (KeyError, TypeError, ValueError):
                continue


def last_of(run_dir: str | Path, kind: EventKind) -> Event | None:
    found = None
    for ev in read_events(run_dir):
        if ev.kind is kind:
            found = ev
    return found
