"""The run and checkpoint choice shared by the Inspect and Export pages.

Both pages list the workspace's runs that hold a checkpoint (read in a worker), start on the newest
run's best checkpoint, keep the choice when the list is refreshed, and accept any other checkpoint
file through ``select_checkpoint``. A page shows the runs in its own widget (a list or a combo box)
and reacts to a new checkpoint in ``_set_checkpoint``; this mixin does the rest.
"""

from __future__ import annotations

from pathlib import Path

from studio.gui.common.checkpoint_runs import CheckpointRun, list_checkpoint_runs
from studio.gui.common.messages import error_html


class RunPicker:
    """Mixin for a page with ``jobs``, ``status`` (a label) and ``ckpt_combo`` (a QComboBox).

    The page implements ``_fill_runs(runs)`` and ``_set_run_row(row)`` (select without signals, -1 for
    none) for its run widget, ``_set_checkpoint(path)``, and may override ``_runs_shown()`` and
    ``_run_shown(run, changed)``. Its run widget's row signal goes to ``_on_run_row`` and the combo's
    index signal to ``_on_ckpt_choice``.
    """

    def _init_run_picker(self) -> None:
        self.runs_root: Path | None = None
        self.runs: list[CheckpointRun] = []
        self.run: CheckpointRun | None = None
        self.checkpoint: Path | None = None

    def set_workspace(self, ws) -> None:
        self.runs_root = ws.folder("runs")
        self.refresh_runs()

    def refresh_runs(self) -> None:
        if self.runs_root is None:
            return
        self.jobs.run(
            list_checkpoint_runs,
            self.runs_root,
            title="Reading runs",
            show=False,
            on_finished=self._on_runs,
            on_failed=lambda msg, _tb: self.status.setText(error_html(f"cannot read the runs: {msg}")),
        )

    def _on_runs(self, runs: list[CheckpointRun]) -> None:
        self.runs = list(runs)
        self._fill_runs(self.runs)
        shown = self._find_run(self.checkpoint.parent) if self.checkpoint is not None else None
        if shown is not None:
            self._show_run(shown, self.checkpoint.name)
        elif self.checkpoint is None and self.runs:
            self._on_run_row(0)  # the newest run, its best checkpoint
        self._runs_shown()

    def _find_run(self, folder: Path) -> CheckpointRun | None:
        return next((r for r in self.runs if r.path == folder), None)

    def _on_run_row(self, row: int) -> None:
        if 0 <= row < len(self.runs):
            run = self.runs[row]
            self._show_run(run, run.checkpoints[0])
            self._set_checkpoint(run.path / run.checkpoints[0])

    def _show_run(self, run: CheckpointRun | None, ckpt_name: str | None) -> None:
        """Show ``run`` and its checkpoints, without reacting to the choice."""
        changed = run != self.run
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
            self._set_checkpoint(Path(data))

    def select_checkpoint(self, path: str | Path) -> None:
        """Use ``path``: a checkpoint file in a run of this workspace or anywhere."""
        path = Path(path)
        self.checkpoint = None
        self._show_run(self._find_run(path.parent), path.name)
        self._set_checkpoint(path)

    # hooks
    def _runs_shown(self) -> None:
        """The run list was (re)filled."""

    def _run_shown(self, run: CheckpointRun | None, changed: bool) -> None:
        """``run`` is the one shown now (``changed``: another than before)."""
