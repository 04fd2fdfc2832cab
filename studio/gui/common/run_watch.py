"""Run lists that are always current: the one mechanism the Train, Inspect and Export pages share.

A :class:`RunWatch` keeps one page's list of a runs folder up to date, reading it (a core job in a
worker) when

* the app itself says a run changed: the Train page calls :func:`notify_runs_changed` when a run starts,
  ends an epoch, saves a checkpoint and ends, and every watch of that folder reads it at once (a few
  notifications in a row are read once);
* the folder changed on disk (a run trained by ``studio train`` in a terminal, another window): a timer
  compares a cheap fingerprint of the folder (:func:`studio.core.training.run_index.runs_stamp`, a few
  stat calls per run) every :data:`POLL_MS` and reads the runs only when it moved;
* the page asks (its Refresh button, a new workspace).

Reads never overlap: one asked for while another runs is done once that one has ended. The result comes
as ``listed(runs)``; a failure as ``failed(message)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from studio.core.training.run_index import runs_stamp
from studio.gui.common.workers import Jobs

POLL_MS = 1000  # how often the runs folder's fingerprint is compared (runs from other processes)
NOTIFY_MS = 100  # notifications within this are read once


class RunsNotifier(QObject):
    """The app's own news about runs (one per process, GUI thread): ``changed(runs_root)``."""

    changed = Signal(str)


_notifier: RunsNotifier | None = None


def runs_notifier() -> RunsNotifier:
    global _notifier
    if _notifier is None:
        _notifier = RunsNotifier()
    return _notifier


def notify_runs_changed(run_or_root: str | Path) -> None:
    """A run of this app changed (started, saved a checkpoint, ended): the watches of its folder read it now.
    ``run_or_root``: the run folder or the runs folder."""
    runs_notifier().changed.emit(str(Path(run_or_root)))


class RunWatch(QObject):
    """Reads a runs folder with ``lister(root, *args(), progress=, cancel=)`` whenever it may have changed.

    ``logs``: a growing run log counts as a change (the Train page's table shows live epochs and times);
    without it only folders and the files in them count (the checkpoint pickers).
    """

    listed = Signal(object)  # what the lister returned
    failed = Signal(str)

    def __init__(
        self,
        jobs: Jobs,
        lister: Callable,
        *,
        logs: bool,
        args: Callable[[], tuple] = tuple,
        title: str = "Reading runs",
        poll_ms: int = POLL_MS,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.jobs, self.lister, self.logs, self.args, self.title = jobs, lister, logs, args, title
        self.root: Path | None = None
        self.reads = 0  # lists read (for tests)
        self._stamp: tuple | None = None
        self._busy = False
        self._again = False
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(NOTIFY_MS)
        self._soon.timeout.connect(self.refresh)
        runs_notifier().changed.connect(self._on_notified)

    def set_root(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self._stamp = None
        if self.root is None:
            self.timer.stop()
            return
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        """Read the runs now (or as soon as the read in flight has ended)."""
        if self.root is None:
            return
        if self._busy:
            self._again = True
            return
        root = self.root
        self._busy, self._again = True, False
        self._stamp = runs_stamp(root, self.logs)  # taken before the read: a change during it is seen next poll
        self.jobs.run(
            self.lister,
            root,
            *self.args(),
            title=self.title,
            show=False,
            on_finished=lambda runs, r=root: self._done(r, runs, None),
            on_failed=lambda msg, _tb, r=root: self._done(r, None, msg),
        )

    def poll(self) -> None:
        """Read the runs when the folder's fingerprint moved since the last read."""
        if self.root is None or self._busy:
            return
        if runs_stamp(self.root, self.logs) != self._stamp:
            self.refresh()

    def _on_notified(self, path: str) -> None:
        if self.root is None:
            return
        p = Path(path)
        if p == self.root or p.parent == self.root:
            self._soon.start()

    def _done(self, root: Path, runs, error: str | None) -> None:
        self._busy = False
        if root == self.root:
            self.reads += 1
            if error is None:
                self.listed.emit(runs)
            else:
                self.failed.emit(error)
        if self._again or root != self.root:
            self.refresh()
