"""The run and checkpoint choice shared by the Inspect, Preview and Export pages.

Both pages list the workspace's runs that hold a checkpoint, newest first, and keep that list current
without a Refresh (:class:`~studio.gui.common.run_watch.RunWatch`: the app's own runs say when they
change, runs of other processes are seen by polling the runs folder). The page follows the newest run
until the user picks an older one: while it shows the newest run (or none), a run that appears above it
is shown (its best checkpoint), and a checkpoint of the run shown that was rewritten since it was read
(the run went on training) is read again once the run has ended. A run the user picked stays picked,
and any other checkpoint file can be chosen through ``select_checkpoint``. A page shows the runs in its
own widget (a list or a combo box) and reacts to a new checkpoint in ``_set_checkpoint``; this mixin
does the rest.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox

from studio.gui.common.checkpoint_runs import CheckpointRun, list_checkpoint_runs
from studio.gui.common.messages import error_html
from studio.gui.common.run_watch import RunWatch


class RunPicker:
    """Mixin for a page with ``jobs``, ``status`` (a label) and ``ckpt_combo`` (a QComboBox).

    The page implements ``_fill_runs(runs)`` and ``_set_run_row(row)`` (select without signals, -1 for
    none) for its run widget, ``_set_checkpoint(path)``, and may override ``_runs_shown()``,
    ``_run_shown(run, changed)`` and ``_busy()`` (True: do not switch the checkpoint by itself now). Its run
    widget's row signal goes to ``_on_run_row`` and the combo's index signal to ``_on_ckpt_choice``.
    """

    def _init_run_picker(self) -> None:
        self.runs_root: Path | None = None
        self.runs: list[CheckpointRun] = []
        self.run: CheckpointRun | None = None
        self.checkpoint: Path | None = None
        self.following = True  # show the newest run as runs come (False once the user picked an older one)
        self._read: tuple[Path, float] | None = None  # the checkpoint read and its mtime then
        self._ckpt_chosen = False  # the user picked this run's checkpoint: following keeps it
        self.run_watch = RunWatch(self.jobs, list_checkpoint_runs, logs=False, parent=self)
        self.run_watch.listed.connect(self._on_runs)
        self.run_watch.failed.connect(lambda msg: self.status.setText(error_html(f"cannot read the runs: {msg}")))

    def set_workspace(self, ws) -> None:
        self.runs_root = ws.folder("runs")
        self.run_watch.set_root(self.runs_root)

    def refresh_runs(self) -> None:
        self.run_watch.refresh()

    def _on_runs(self, runs: list[CheckpointRun]) -> None:
        self.runs = list(runs)
        self._fill_runs(self.runs)
        shown = self._find_run(self.checkpoint.parent) if self.checkpoint is not None else None
        if shown is not None:
            self._show_run(shown, self.checkpoint.name)
        elif self.run is not None:  # the run shown is gone (deleted): follow the newest again
            self.following = True
            self._show_run(None, None)
        self.follow()
        self._runs_shown()

    def follow(self) -> None:
        """While following: show the newest run, and read its checkpoint again once it ended rewritten."""
        if not self.following or not self.runs or self._busy():
            return
        newest = self.runs[0]
        if self.run is None or self.run.path != newest.path:
            self._pick(0)
            return
        preferred = newest.path / newest.checkpoints[0]  # best.pt once the run has one
        if not self._ckpt_chosen and self.checkpoint != preferred:
            self._pick(0)
            return
        if self.checkpoint is not None and not newest.training and self._stale(self.checkpoint):
            self._reread(self.checkpoint)

    def _stale(self, path: Path) -> bool:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return False
        return self._read is not None and self._read[0] == path and self._read[1] != mtime

    def _reread(self, path: Path) -> None:
        self.checkpoint = None
        self._set_checkpoint(path)
        self._note_read(path)

    def _note_read(self, path: Path | None) -> None:
        try:
            self._read = (path, path.stat().st_mtime) if path is not None else None
        except OSError:
            self._read = (path, 0.0)

    def _find_run(self, folder: Path) -> CheckpointRun | None:
        return next((r for r in self.runs if r.path == folder), None)

    def _on_run_row(self, row: int) -> None:
        """The user picked run ``row``: following again when it is the newest."""
        if 0 <= row < len(self.runs):
            self.following = row == 0
            self._pick(row)

    def _pick(self, row: int) -> None:
        run = self.runs[row]
        self._ckpt_chosen = False
        self._show_run(run, run.checkpoints[0])
        self._set_checkpoint(run.path / run.checkpoints[0])
        self._note_read(self.checkpoint)

    def _show_run(self, run: CheckpointRun | None, ckpt_name: str | None) -> None:
        """Show ``run`` and its checkpoints, without reacting to the choice."""
        changed = (run.path if run else None) != (self.run.path if self.run else None)
        self.run = run
        self._set_run_row(self.runs.index(run) if run in self.runs else -1)
        combo = self.ckpt_combo
        combo.blockSignals(True)
        combo.clear()
        if run is not None:
            for n in run.checkpoints:
                combo.addItem(n, str(run.path / n))
            combo.setCurrentIndex(max(0, combo.findText(ckpt_name or "")))
        elif self.checkpoint is not None:  # a checkpoint outside the workspace's runs
            combo.addItem(self.checkpoint.name, str(self.checkpoint))
        combo.blockSignals(False)
        self._run_shown(run, changed)

    def _on_ckpt_choice(self, i: int) -> None:
        data = self.ckpt_combo.itemData(i) if i >= 0 else None
        if data:
            self._ckpt_chosen = True
            self._set_checkpoint(Path(data))
            self._note_read(self.checkpoint)

    def select_checkpoint(self, path: str | Path) -> None:
        """Use ``path``: a checkpoint file in a run of this workspace or anywhere (the page stops following
        the newest run unless it is that run's)."""
        path = Path(path)
        self.checkpoint = None
        run = self._find_run(path.parent)
        self.following = run is not None and bool(self.runs) and run.path == self.runs[0].path
        self._ckpt_chosen = True
        self._show_run(run, path.name)
        self._set_checkpoint(path)
        self._note_read(self.checkpoint)

    # hooks
    def _runs_shown(self) -> None:
        """The run list was (re)filled."""

    def _run_shown(self, run: CheckpointRun | None, changed: bool) -> None:
        """``run`` is the one shown now (``changed``: another than before)."""

    def _busy(self) -> bool:
        """True while the page must keep its checkpoint (an export running): following waits."""
        return False


class RunCombo:
    """``_fill_runs`` and ``_set_run_row`` of :class:`RunPicker` for a page whose run widget is ``run_combo``
    (a QComboBox; the Inspect and Preview pages)."""

    def _make_run_combos(self, run_width: int, ckpt_width: int) -> None:
        """``run_combo`` and ``ckpt_combo``, wired to :class:`RunPicker`."""
        self.run_combo = QComboBox()
        self.run_combo.setMinimumWidth(run_width)
        self.run_combo.currentIndexChanged.connect(self._on_run_row)
        self.ckpt_combo = QComboBox()
        self.ckpt_combo.setMinimumWidth(ckpt_width)
        self.ckpt_combo.setToolTip("best.pt: the best val metric; last.pt: the last epoch; epoch_N.pt: kept snapshots")
        self.ckpt_combo.currentIndexChanged.connect(self._on_ckpt_choice)

    def _fill_runs(self, runs: list[CheckpointRun]) -> None:
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for r in runs:
            best = f" · best {r.best_metric:.3f}" if r.best_metric is not None else ""
            training = " · training" if r.training else ""
            self.run_combo.addItem(f"{r.name} ({r.arch or 'no log'}{best}{training})", str(r.path))
        self.run_combo.setCurrentIndex(-1)
        self.run_combo.blockSignals(False)

    def _set_run_row(self, row: int) -> None:
        self.run_combo.blockSignals(True)
        self.run_combo.setCurrentIndex(row)
        self.run_combo.blockSignals(False)
