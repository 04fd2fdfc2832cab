"""Training in child processes: the parent's pause and stop reach them through two shared flags, their
events come back through a queue, and the last event becomes the run's result.

Both ways of training outside the caller's process use it: :func:`studio.core.training.ddp.launch` (one
process per device) and :func:`studio.core.training.isolated.launch_isolated` (the desktop app's one
child). It imports neither torch nor the trainer, so the window's process can relay a run without them.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken
from studio.core.training.events import Event, RunCancelled, RunFailed, RunFinished, RunResult

POLL_S = 0.05


class SharedToken(CancelToken):
    """The child's view of the parent's cancel token / RunControl: two shared flags."""

    def __init__(self, cancel_flag, pause_flag):
        super().__init__()
        self.cancel_flag, self.pause_flag = cancel_flag, pause_flag

    @property
    def cancelled(self) -> bool:
        return bool(self.cancel_flag.value)

    def wait_while_paused(self, on_pause=None, on_resume=None) -> float:
        if not self.pause_flag.value or self.cancelled:
            return 0.0
        t0 = time.monotonic()
        if on_pause is not None:
            on_pause()
        while self.pause_flag.value and not self.cancelled:
            time.sleep(POLL_S)
        if on_resume is not None and not self.cancelled:
            on_resume()
        return time.monotonic() - t0


class Channel:
    """What joins the parent and its training children: the events queue and the stop and pause flags,
    made by the multiprocessing context ``ctx`` that starts the children."""

    def __init__(self, ctx):
        self.events = ctx.Queue()
        self.cancel_flag = ctx.Value("b", 0)
        self.pause_flag = ctx.Value("b", 0)

    def child_args(self, cfg, run_dir: str | Path, resume: str | Path | None, source: str | Path | None) -> tuple:
        """The arguments a child's training function starts with (picklable): the config as JSON, the
        folders as strings, then the queue and the two flags."""
        return (
            cfg.model_dump(mode="json"),
            str(run_dir),
            str(resume) if resume else None,
            str(source) if source else None,
            self.events,
            self.cancel_flag,
            self.pause_flag,
        )

    def relay(
        self,
        callbacks: Iterable[Callable[[Event], None]],
        ended: Callable[[], bool],
        cancel: CancelToken | None = None,
        poll: float = POLL_S,
    ) -> Event | None:
        """Until ``ended()`` says the children are done: forward ``cancel``'s stop and pause into the flags,
        and each event from the queue to ``callbacks`` (in this thread); then the events sent just before
        the end. Returns the last event (None when none came).

        ``ended`` may wait a little itself (DDP joins its processes with a timeout) or raise.
        """
        callbacks = list(callbacks)
        last: Event | None = None

        def deliver(timeout: float) -> bool:
            nonlocal last
            try:
                ev = self.events.get(timeout=timeout)
            except queue.Empty:
                return False
            last = ev
            for cb in callbacks:
                cb(ev)
            return True

        while True:
            if cancel is not None:
                if cancel.cancelled:
                    self.cancel_flag.value = 1
                self.pause_flag.value = 1 if getattr(cancel, "paused", False) else 0
            if deliver(poll):
                continue
            if ended():
                break
        while deliver(poll):  # what the children sent just before they ended
            pass
        return last


def run_result(last: Event | None, run_dir: str | Path, no_result: str) -> RunResult:
    """The run's result from its last event; StudioError for a failed run, or ``no_result`` when the
    children ended without reporting one."""
    if isinstance(last, RunFailed):
        raise StudioError(last.error)
    if isinstance(last, RunCancelled):
        return RunResult(Path(run_dir), "cancelled", "cancelled", max(0, last.epoch - 1), None, None, {})
    if isinstance(last, RunFinished):
        return RunResult(
            Path(run_dir),
            "finished",
            last.reason,
            last.epochs_done,
            last.best_metric,
            last.best_epoch,
            dict(last.final_metrics),
        )
    raise StudioError(no_result)
