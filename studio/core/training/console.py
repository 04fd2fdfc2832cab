"""Trainer events as terminal lines: what ``studio train`` prints and the Train page's log shows."""

from __future__ import annotations

import sys
import time

from studio.core.text import format_duration


class ConsoleReporter:
    """Turns trainer events into terminal lines: a progress line at most every ``interval`` s, one per epoch."""

    def __init__(self, interval: float = 2.0, out=None):
        self.interval = interval
        self.out = out
        self._last = 0.0

    def __call__(self, ev) -> None:
        from studio.core.training.events import EventKind as K  # deferred: numpy

        out = self.out or sys.stdout  # looked up per call: stdout may be replaced (tests, GUI)
        w = lambda s: (out.write(s + "\n"), out.flush())  # noqa: E731
        if ev.kind is K.STARTED:
            what = "resuming" if ev.resumed else "training"
            w(
                f"{what} {ev.arch} on {ev.device}{f' x{ev.world_size}' if ev.world_size > 1 else ''}: "
                f"{len(ev.classes)} classes, epochs {ev.start_epoch + 1}-{ev.epochs}, "
                f"{ev.iters_per_epoch} it/epoch -> {ev.run_dir}"
            )
        elif ev.kind is K.ITERATION:
            now = time.time()
            if now - self._last >= self.interval or ev.iteration == ev.iters_per_epoch:
                self._last = now
                terms = " ".join(f"{k.removeprefix('loss_')}={v:.3f}" for k, v in ev.losses.items())
                w(
                    f"  epoch {ev.epoch} it {ev.iteration}/{ev.iters_per_epoch} loss {ev.loss:.3f} ({terms}) "
                    f"lr {ev.lr:.2e} {ev.images_per_s:.1f} img/s ETA {format_duration(ev.eta_s)}"
                )
        elif ev.kind is K.EPOCH:
            m = ev.metrics
            shown = " ".join(f"{k}={v:.3f}" for k, v in m.items() if k.endswith(("mAP", "mAP_50")) and v is not None)
            best = " (best)" if ev.is_best else ""
            w(f"epoch {ev.epoch}/{ev.epochs} done in {ev.epoch_time_s:.1f}s {shown}{best}")
        elif ev.kind is K.MESSAGE:
            w(f"{ev.level}: {ev.text}" if ev.level != "info" else ev.text)
        elif ev.kind is K.FINISHED:
            best = f", best {ev.best_metric:.4f} at epoch {ev.best_epoch}" if ev.best_metric is not None else ""
            w(f"finished ({ev.reason}) after {ev.epochs_done} epochs in {format_duration(ev.elapsed_s)}{best}")
        elif ev.kind is K.CANCELLED:
            w(f"cancelled at epoch {ev.epoch}; resume from {ev.checkpoint}" if ev.checkpoint else "cancelled")
        elif ev.kind is K.FAILED and ev.resumable:  # the error itself is printed once, on exit
            w("last.pt is kept: continue with --resume once the cause is fixed")
