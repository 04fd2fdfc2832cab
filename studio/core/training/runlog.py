"""The run folder's ``events.jsonl``: every event, one JSON object per line, flushed as it happens.

The GUI charts replay it to reopen a finished run or overlay several. Iteration events are logged
at most every ``iter_interval_s`` seconds (plus the last of each epoch) so a long run's log stays small;
all other events are always written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import orjson

from studio.core.training.events import Event, EventKind, IterationEnd, from_record, to_record

LOG_NAME = "events.jsonl"


class RunLog:
    def __init__(self, run_dir: str | Path, iter_interval_s: float = 0.5):
        self.path = Path(run_dir) / LOG_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "ab")
        self._interval = iter_interval_s
        self._last_iter_t = 0.0

    def __call__(self, event: Event) -> None:
        now = time.time()
        if isinstance(event, IterationEnd) and event.iteration != event.iters_per_epoch:
            if now - self._last_iter_t < self._interval:
                return
        if isinstance(event, IterationEnd):
            self._last_iter_t = now
        self._f.write(orjson.dumps(to_record(event, now)) + b"\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


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
