"""Workspace menu actions (new, open, recent, demo).

The window calls :meth:`WorkspaceUI.open` / :meth:`open_demo`; the demo workspace is generated in a
worker (first start only), opening an existing one reads one small JSON file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.workspace import Workspace, ensure_demo_workspace, recent_workspaces, remember_workspace
from studio.gui.common.workers import Jobs

log = logging.getLogger("studio.gui.workspace")


def prepare_demo_workspace(
    root: str | Path | None = None, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> Workspace:
    """Worker job: the demo workspace, generated on first use."""
    return ensure_demo_workspace(root)


class WorkspaceUI(QObject):
    """Owns the current workspace; emits ``opened`` once one is open."""

    opened = Signal(object)  # Workspace
    failed = Signal(str)

    def __init__(self, jobs: Jobs, parent_widget: QWidget):
        super().__init__(parent_widget)
        self.jobs = jobs
        self.parent_widget = parent_widget
        self.current: Workspace | None = None

    def build_menu(self, menu: QMenu) -> None:
        self.new_action = menu.addAction("&New workspace…", self.ask_new)
        self.open_action = menu.addAction("Open &workspace…", self.ask_open)
        self.recent_menu = menu.addMenu("&Recent workspaces")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.demo_action = menu.addAction("Open &demo workspace", self.open_demo)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = recent_workspaces()
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for p in recent:
            self.recent_menu.addAction(str(p), lambda _=False, p=p: self.open(p))

    # ------------------------------------------------------------------ actions
    def ask_new(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent_widget, "Folder for the new workspace (empty or new)")
        if folder:
            self._guard(lambda: Workspace.create(folder))

    def ask_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent_widget, "Open a workspace folder")
        if folder:
            self.open(Path(folder))

    def open(self, root: str | Path) -> None:
        self._guard(lambda: Workspace.open(root))

    def open_demo(self, root: str | Path | None = None) -> None:
        """Generate (first time, in a worker) and open the demo workspace."""
        self.jobs.run(
            prepare_demo_workspace,
            root,
            title="Preparing the demo workspace",
            on_finished=self._opened,
            on_failed=lambda msg, _tb: self._failed(msg),
        )

    def _guard(self, make: Callable[[], Workspace]) -> None:
        try:
            ws = make()
        except StudioError as e:
            self._failed(str(e))
            return
        self._opened(ws)

    def _opened(self, ws: Workspace) -> None:
        self.current = ws
        try:
            remember_workspace(ws.root)
        except OSError as e:  # a read-only config folder must not stop the app
            log.warning("cannot remember the workspace: %s", e)
        log.info("workspace %s: %s", ws.name, ws.root)
        self.opened.emit(ws)

    def _failed(self, message: str) -> None:
        log.error("workspace: %s", message)
        self.failed.emit(message)

    def dataset_opened(self, annotations: Path) -> None:
        """Remember the dataset last open in this workspace (when it lives inside it)."""
        ws = self.current
        if ws is None:
            return
        try:
            Path(annotations).resolve().relative_to(ws.root)
        except ValueError:
            return
        try:
            ws.set_last_dataset(annotations)
        except OSError as e:
            log.warning("cannot update %s: %s", ws.project_file, e)
