"""One run trained in a child process, for the desktop app: the calling thread only relays its events.

The window's process never runs the trainer, and this module imports neither torch nor the trainer, so
the relay thread holds the GIL for nothing but unpickling a few events (the child's own imports,
model building and training happen in the child). The child runs at a lower CPU priority than the
window from its first instruction on: it is started from a short-lived thread that first lowers its
own priority (Linux keeps nice and the scheduling policy per thread, and a child process inherits
them from the thread that started it), so even the child's interpreter start-up and ``import torch``
never compete with the window on equal terms. When the window itself already runs at the lowest nice
value (19, e.g. under ``nice -n 19``), only ``SCHED_IDLE`` can put the child below it, and that is what
it gets (on a busy machine it then trains on what the other processes leave). Pause and stop reach the
child through two shared flags, and its events come back, by the relay DDP uses too
(:mod:`studio.core.training.relay`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from studio.core.config.schema import Config
from studio.core.jobs import CancelToken
from studio.core.training.events import Event, RunResult
from studio.core.training.relay import Channel, run_result


def lower_priority(nice: int) -> str:
    """Lower the calling thread's CPU priority (on Linux: the thread's, elsewhere the process's) by
    ``nice``; ``SCHED_IDLE`` when nice is already at its floor. Returns what was done ("" when nothing)."""
    if nice <= 0 or not hasattr(os, "nice"):
        return ""
    try:
        before = os.nice(0)
        after = os.nice(nice)
    except OSError:
        return ""
    if after > before:
        return f"nice {after}"
    if sys.platform.startswith("linux") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
            return "SCHED_IDLE"
        except OSError:
            pass
    return ""


def _below(window_nice: int) -> bool:
    """Whether the calling thread already runs at a lower priority than the window's process."""
    if hasattr(os, "SCHED_IDLE") and hasattr(os, "sched_getscheduler"):
        try:
            if os.sched_getscheduler(0) == os.SCHED_IDLE:
                return True
        except OSError:
            pass
    return hasattr(os, "nice") and os.nice(0) > window_nice


def _child(
    cfg_json: dict, run_dir: str, resume, source, events, cancel_flag, pause_flag, nice: int, window_nice: int
) -> None:
    """The child process: lower its priority unless it inherited a lower one already, then train."""
    if nice and not _below(window_nice):
        lower_priority(nice)
    from studio.core.training.ddp import worker  # deferred: torch

    worker(0, 1, 0, cfg_json, run_dir, resume, source, events, cancel_flag, pause_flag, 0)


def _start(proc, nice: int) -> None:
    """Start ``proc`` from a thread that lowered its own priority first (on Linux the child inherits
    it); elsewhere, or when that fails, the child lowers its priority itself once started."""
    if not sys.platform.startswith("linux") or nice <= 0:
        proc.start()
        return
    error: list[BaseException] = []

    def run() -> None:
        try:
            lower_priority(nice)
            proc.start()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(e)

    t = threading.Thread(target=run, name="studio-train-start", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]


def launch_isolated(
    cfg: Config,
    run_dir: str | Path,
    *,
    callbacks: Iterable[Callable[[Event], None]] = (),
    cancel: CancelToken | None = None,
    resume: str | Path | None = None,
    source: str | Path | None = None,
    nice: int = 5,
) -> RunResult:
    """Train in one child process; blocks until it ends, calling ``callbacks`` with its events in this
    thread (:meth:`studio.core.training.relay.Channel.relay`). Raises StudioError on failure."""
    ctx = mp.get_context("spawn")
    ch = Channel(ctx)
    window_nice = os.nice(0) if hasattr(os, "nice") else 0
    args = (*ch.child_args(cfg, run_dir, resume, source), nice, window_nice)
    proc = ctx.Process(target=_child, args=args, name="studio-train")  # not daemonic: its DataLoader may start workers
    _start(proc, nice)
    try:
        last = ch.relay(callbacks, lambda: proc.exitcode is not None, cancel)
    finally:
        if proc.exitcode is None:  # this thread is being torn down: do not leave an orphan
            ch.cancel_flag.value = 1
            proc.join(30)
            if proc.exitcode is None:
                proc.kill()
        proc.join(5)
        ch.events.close()
    return run_result(
        last, run_dir, f"the training process ended (exit code {proc.exitcode}) without reporting a result"
    )
