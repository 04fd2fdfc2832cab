"""The main window: a page list on the left, the pages, a log dock and a status bar with jobs and device.

A page is any QWidget with a ``title`` attribute; ``add_page`` gives it a list entry, a stack slot and
its Ctrl+<n> shortcut from the table, so adding one is one line in ``__init__`` (and one row in
:mod:`studio.gui.shortcuts`). A page that has ``commands()`` (and ``commands_changed``) gets File > Save
and Edit > Undo / Redo / Delete / Select all (:class:`~studio.gui.common.commands.PageCommands`).

Every shortcut is bound through :func:`~studio.gui.common.commands.bind` from the one table, which
Help > Keyboard shortcuts lists. The bar over the pages proposes the next step from what the workspace
has (:mod:`studio.gui.common.next_steps`), and after an import offers a config for the new dataset.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.plugins import registry
from studio.core.plugins.discovery import logged_problems
from studio.core.plugins.report import counts_line
from studio.gui.common import next_steps as steps
from studio.gui.common.action_bar import ActionBar
from studio.gui.common.commands import PageCommands, bind
from studio.gui.common.device import detect_device_in_subprocess
from studio.gui.common.job_status import JobStatus
from studio.gui.common.log_panel import LogPanel
from studio.gui.common.open_dialog import ask_dataset_paths
from studio.gui.common.plugin_panels import PanelContext, install_panels
from studio.gui.common.plugins_dialog import PluginsDialog
from studio.gui.common.shortcuts_dialog import ShortcutsDialog
from studio.gui.common.workers import Jobs
from studio.gui.common.workspace_ui import WorkspaceUI
from studio.gui.config.new_config_dialog import NewConfigDialog, train_val_pair
from studio.gui.config.page import ConfigPage
from studio.gui.data.export_dialog import ExportDialog
from studio.gui.data.frames_dialog import FramesDialog
from studio.gui.data.import_wizard import ImportWizard
from studio.gui.data.new_dataset_dialog import NewDatasetDialog
from studio.gui.data.page import FAILED, READY, DataPage
from studio.gui.data.split_dialog import SplitDialog
from studio.gui.export.page import ExportPage
from studio.gui.inspect.page import InspectPage
from studio.gui.preview.page import PreviewPage
from studio.gui.shortcuts import page_shortcut_id, shortcut, with_keys
from studio.gui.train.page import TrainPage

log = logging.getLogger("studio.gui")

DEFAULT_SIZE = QSize(1400, 900)

STYLE = """
QListWidget#pages { background: #24262b; border: none; color: #d7d9de; font-size: 14px; outline: 0; }
QListWidget#pages::item { padding: 10px 18px; border-left: 3px solid transparent; }
QListWidget#pages::item:hover { background: #2f3238; }
QListWidget#pages::item:selected { background: #363a42; color: white; border-left: 3px solid #4c8dff; }
QLabel#title { font-size: 15px; font-weight: 600; }
QLabel#section { font-weight: 600; padding: 2px 0; }
QLabel#muted { color: palette(placeholder-text); }
"""


class MainWindow(QMainWindow):
    def __init__(self, persist: bool = True):
        """``persist``: restore the saved geometry now and save it at close (off for screenshots)."""
        super().__init__()
        # Worker threads run Python too. Every call from Qt into Python (a slot, a model's data(), a
        # delegate's paint) must win the GIL back from them, which takes up to one switch interval: a
        # repaint of the image list is ~100 such calls. A 0.2 ms slice (Python's default: 5 ms) keeps that
        # short (bench/gui_latency.py, max stall opening 10k images: 285 ms at 5 ms, ~110 at 1 ms, ~85 at 0.2).
        sys.setswitchinterval(float(os.environ.get("STUDIO_GIL_SLICE_MS", "0.2")) / 1000)
        self.persist = persist
        self.setWindowTitle("Studio")
        self.setObjectName("main_window")
        self.setStyleSheet(STYLE)
        self.resize(DEFAULT_SIZE)
        self.jobs = Jobs(self)

        self.page_list = QListWidget()
        self.page_list.setObjectName("pages")
        self.page_list.setFixedWidth(150)
        self.stack = QStackedWidget()
        self.welcome = ActionBar()  # the next steps (first start: the welcome), the offer after an import
        self.welcome.closed.connect(self._steps_dismissed)
        self._steps_hidden_for = None  # the workspace whose next steps the user hid
        self._after_import: Path | None = None  # the dataset just imported, while its offer is shown
        self._welcome = self._welcome_pending = False  # the first start's demo workspace: the welcome
        self.steps: steps.NextSteps | None = None  # what the bar proposes now
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.welcome)
        lay = QHBoxLayout()
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.page_list)
        lay.addWidget(self.stack, 1)
        outer.addLayout(lay, 1)
        self.setCentralWidget(central)
        self.workspace_ui = WorkspaceUI(self.jobs, self)
        self.workspace_ui.opened.connect(self._on_workspace)
        self.page_list.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.commands = PageCommands(self, self.current_page)
        self.stack.currentChanged.connect(lambda _i: self.commands.refresh())

        self.log_panel = LogPanel(self)
        self._plugin_problems_before_log = len(logged_problems())  # logged where the panel could not see them
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_panel)
        self.resizeDocks([self.log_panel], [130], Qt.Orientation.Vertical)
        self._build_menus()
        self.pages: list[QWidget] = []
        self.data_page = self.add_page(DataPage(self.jobs))
        page = self.data_page
        self.label_menu.addActions([page.labelling_model_action.action, page.auto_label.action, page.retrain.action])
        self.page_list.setCurrentRow(0)
        self.data_page.dataset_opened.connect(self._on_dataset)
        self.data_page.dirty_changed.connect(lambda _d: self._update_title())
        self._on_data_state(self.data_page.state)
        self.data_page.state_changed.connect(self._on_data_state)
        self.config_page = self.add_page(ConfigPage(self.jobs))
        self.train_page = self.add_page(TrainPage(self.jobs))
        self.data_page.retrain.link_train(self.train_page, lambda: self.show_page(self.pages.index(self.train_page)))
        self.inspect_page = self.add_page(InspectPage(self.jobs))
        self.inspect_page.predictions.send_to_editor.connect(self._accept_prediction)
        self.preview_page = self.add_page(PreviewPage(self.jobs))
        self.export_page = self.add_page(ExportPage(self.jobs))
        self.config_page.start_requested.connect(self._train_config)
        self.config_page.configs_changed.connect(self._refresh_steps)

        self.job_status = JobStatus(self.jobs)
        self.device_label = QLabel("Device: detecting…")
        self.device_label.setToolTip("The device training would run on")
        self.statusBar().addWidget(self.job_status, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        self.device = None
        self.jobs.run(
            detect_device_in_subprocess,
            title="Detecting the compute device",
            show=False,
            on_finished=self._on_device,
            on_failed=lambda msg, _tb: self._on_device(f"CPU (device detection failed: {msg})"),
        )
        self._install_plugins()

        if persist:
            self.restore_settings()

    # ------------------------------------------------------------------ pages
    def add_page(self, page: QWidget) -> QWidget:
        """Append a page; it gets its shortcut from the table (Ctrl+<its position>) and the window's commands."""
        n = len(self.pages) + 1
        self.pages.append(page)
        item = QListWidgetItem(page.title)
        item.setSizeHint(QSize(140, 40))
        act = QAction(f"&{n} {page.title}", self)
        act.triggered.connect(lambda _=False, i=n - 1: self.show_page(i))
        sid = page_shortcut_id(page.title)
        try:
            bind(act, sid)
            item.setToolTip(with_keys(page.title, sid))
        except KeyError:  # a page the table does not know (a plugin's): no key
            item.setToolTip(page.title)
        self.pages_menu.addAction(act)
        self.page_list.addItem(item)
        self.stack.addWidget(page)
        self.commands.watch(page)
        return page

    def show_page(self, index: int) -> None:
        self.page_list.setCurrentRow(index)

    def current_page(self) -> QWidget:
        return self.stack.currentWidget()

    # ------------------------------------------------------------------ menus and actions
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.file_menu = file_menu
        self.workspace_ui.build_menu(file_menu)
        file_menu.addSeparator()
        self.open_action = bind(file_menu.addAction("&Open annotations…", self.open_dialog), "file.open")
        self.import_action = bind(file_menu.addAction("&Import dataset…", self.import_dialog), "file.import")
        self.new_dataset_action = bind(
            file_menu.addAction("New dataset from image &folder…", lambda: self.new_dataset_dialog()),
            "file.new_dataset",
        )
        self.frames_action = file_menu.addAction("Frames from &video…", lambda: self.frames_dialog())
        self.export_action = file_menu.addAction("&Export dataset…", self.export_dialog)
        self.split_action = file_menu.addAction("S&plit dataset…", self.split_dialog)
        self.save_action = self.commands.actions["save"]
        file_menu.addAction(self.save_action)
        self.reload_action = bind(file_menu.addAction("&Reload", lambda: self.data_page.reload()), "file.reload")
        file_menu.addSeparator()
        self.quit_action = bind(file_menu.addAction("&Quit", self.close), "file.quit")

        edit_menu = self.menuBar().addMenu("&Edit")
        self.edit_menu = edit_menu
        for cid in ("undo", "redo"):
            edit_menu.addAction(self.commands.actions[cid])
        edit_menu.addSeparator()
        for cid in ("delete", "select_all"):
            edit_menu.addAction(self.commands.actions[cid])
        edit_menu.addSeparator()
        self.label_manager_action = edit_menu.addAction(
            "&Label manager…", lambda: self.data_page.labelling.open_manager()
        )
        self.label_menu = self.menuBar().addMenu("&Label")  # the Data page's model-in-the-loop actions
        edit_menu.aboutToShow.connect(self.commands.refresh)
        file_menu.aboutToShow.connect(self.commands.refresh)

        view_menu = self.menuBar().addMenu("&View")
        self.view_menu = view_menu
        self.pages_menu = view_menu.addMenu("&Pages")
        self.log_action = self.log_panel.toggleViewAction()
        self.log_action.setText("&Log panel")
        bind(self.log_action, "view.log")
        view_menu.addAction(self.log_action)
        self.fullscreen_action = bind(view_menu.addAction("&Full screen", self.toggle_full_screen), "view.fullscreen")
        help_menu = self.menuBar().addMenu("&Help")
        self.help_menu = help_menu
        self.shortcuts_action = bind(
            help_menu.addAction("&Keyboard shortcuts…", self.shortcuts_dialog), "help.shortcuts"
        )
        self.plugins_action = help_menu.addAction("&Plugins…", self.plugins_dialog)

    def shortcuts_dialog(self) -> ShortcutsDialog:
        """Help > Keyboard shortcuts: the table every shortcut is bound from."""
        d = getattr(self, "_shortcuts_dialog", None)
        if d is None:
            d = self._shortcuts_dialog = ShortcutsDialog(self)
        d.show()
        d.raise_()
        return d

    # ------------------------------------------------------------------ plugins
    def _install_plugins(self) -> None:
        """Plugin panels as docks (View > Plugin panels); broken plugins to the log and the status bar."""
        self.panel_context = PanelContext(self)
        self.plugin_docks = install_panels(self, self.panel_context)
        self.data_page.dataset_opened.connect(
            lambda _ann: self.panel_context.dataset_changed.emit(self.panel_context.dataset())
        )
        if self.plugin_docks:
            menu = self.view_menu.addMenu("Plugin &panels")
            for dock in self.plugin_docks:
                menu.addAction(dock.toggleViewAction())
        reg = registry()
        plog = logging.getLogger("studio.plugins")
        for problem in logged_problems()[: self._plugin_problems_before_log]:
            plog.warning(problem)
        broken = [p.name for p in reg.plugins if p.status in ("broken", "errors")]
        if broken:
            self.statusBar().showMessage(f"Plugin problem ({', '.join(broken)}): see Help > Plugins…", 30_000)
        elif reg.plugins:
            plog.info(counts_line(reg))

    def plugins_dialog(self):
        d = getattr(self, "_plugins_dialog", None)
        if d is None:
            d = self._plugins_dialog = PluginsDialog(self.jobs, parent=self)
        else:
            d.refresh()
        d.show()
        d.raise_()
        return d

    def open_dialog(self) -> None:
        start = (
            str(self.data_page.loaded.annotations.parent) if self.data_page.loaded else self._setting("last_dir", "")
        )
        paths = ask_dataset_paths(self, start)
        if paths is not None:
            QSettings().setValue("last_dir", str(paths[0].parent))
            self.open_dataset(*paths)

    def open_dataset(self, annotations: Path, images_dir: Path | None = None) -> None:
        self.show_page(self.pages.index(self.data_page))
        self.data_page.open(annotations, images_dir)

    def open_workspace(self, root: Path | None = None, welcome: bool = False) -> None:
        """Open a workspace folder, or (None) the demo workspace; ``welcome`` shows the first-start bar."""
        self._welcome_pending = welcome
        if root is None:
            self.workspace_ui.open_demo()
        else:
            self.workspace_ui.open(root)

    def _on_workspace(self, ws) -> None:
        self._welcome = self._welcome_pending and ws.extra.get("demo_version") is not None
        self._welcome_pending = False
        self._steps_hidden_for, self._after_import = None, None
        self.welcome.hide()
        self._update_title()
        self.config_page.set_workspace(ws)
        self.train_page.set_workspace(ws)
        self.inspect_page.set_workspace(ws)
        self.preview_page.set_workspace(ws)
        self.export_page.set_workspace(ws)
        self.panel_context.workspace_changed.emit(ws)
        ann = ws.last_dataset_path()
        if ann is not None:
            self.open_dataset(ann)
        else:
            self.data_page.clear(f"Workspace {ws.name} has no dataset yet: import one (File > Import dataset…, Ctrl+I)")
        self._refresh_steps()

    # ------------------------------------------------------------------ next steps (the bar over the pages)
    def _refresh_steps(self) -> None:
        """Propose the next step for what the workspace has: on the first start (the demo), while the workspace
        lacks a dataset or a config, and after an import; once shown it follows the workspace (import, then
        create a config, then train) until the user hides it."""
        ws = self.workspace_ui.current
        if ws is None:
            self.welcome.hide()
            return
        loaded = self.data_page.loaded
        dataset = loaded.annotations.name if loaded is not None else next((p.name for p in ws.datasets()), None)
        config_path = self.config_page.current_path or next(iter(ws.configs()), None)
        config = config_path.name if config_path is not None else None
        if self._after_import is not None:
            plan = steps.after_import(self._after_import.name, config)
        else:
            plan = steps.next_steps(ws.name, self._welcome, dataset, config)
            wanted = self._welcome or dataset is None or config is None or not self.welcome.isHidden()
            if self._steps_hidden_for == ws.root or not wanted:
                self.welcome.hide()
                return
        self.steps = plan
        self.welcome.show_message(
            plan.message, [(s.label, lambda i=s.id: self.run_step(i), s.primary) for s in plan.steps]
        )

    def _steps_dismissed(self) -> None:
        ws = self.workspace_ui.current
        self._steps_hidden_for = ws.root if ws is not None else None
        self._after_import = None

    def run_step(self, step: str) -> None:
        """What a next-step button does."""
        if step == steps.IMPORT:
            self.import_dialog()
        elif step == steps.CREATE_CONFIG:
            self.create_config_dialog(self._after_import or self._dataset_path())
        elif step == steps.TRAIN:
            self.train_next()
        elif step == steps.LABEL:
            self.label_next()
        elif step == steps.NEW_WORKSPACE:
            self.workspace_ui.ask_new()
        elif step == steps.DEMO:
            self.workspace_ui.open_demo()

    def _dataset_path(self) -> Path | None:
        if self.data_page.loaded is not None:
            return Path(self.data_page.loaded.annotations)
        ws = self.workspace_ui.current
        return next(iter(ws.datasets()), None) if ws is not None else None

    def create_config_dialog(self, dataset: Path | None = None) -> NewConfigDialog:
        """The Config page's "New from dataset…" dialog, proposing ``dataset`` (and its val set); Create runs
        the same job (``studio config init``) and opens the config on the Config page."""
        ws = self.workspace_ui.current
        train, val = train_val_pair(dataset) if dataset is not None else (None, None)
        d = NewConfigDialog(
            ws.datasets() if ws is not None else [],
            ws.folder("configs") if ws is not None else None,
            self,
            train=train,
            val=val,
        )
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.accepted.connect(lambda d=d: self._create_config(*d.answers()))
        d.open()
        self.new_config_dialog = d
        return d

    def _create_config(self, train: Path, val: Path | None, out: Path) -> None:
        self._after_import = None
        self.show_page(self.pages.index(self.config_page))
        if self.config_page.confirm_close():
            self.config_page.new_from_dataset(train, val, out)

    def train_next(self) -> None:
        """The "Train" step: the Config page starts the open config as soon as its pre-flight check passes."""
        self.show_page(self.pages.index(self.config_page))
        outcome = self.config_page.start_when_ready()
        if outcome == "waiting":
            self.statusBar().showMessage("Training starts once the pre-flight check of the config passes…", 10_000)
        elif outcome == "blocked":
            self.statusBar().showMessage("Training cannot start yet: " + self.config_page.start_hint.text(), 10_000)

    def label_next(self) -> None:
        """The "Label images" step: the Data page with the polygon tool."""
        self.show_page(self.pages.index(self.data_page))
        if self.data_page.loaded is None:
            self.statusBar().showMessage("Open or import a dataset to label it", 10_000)
            return
        if self.data_page.viewer.image is None:
            self.data_page.select_first_image()
        self.data_page.editor.set_tool("polygon")
        self.data_page.viewer.view.setFocus()
        self.statusBar().showMessage(
            f"Polygon tool: click around an object, close on the first point; "
            f"{shortcut('editor.select').keys[0]}: select and edit, {shortcut('editor.box').keys[0]}: boxes; "
            "the class box picks the class",
            20_000,
        )

    def _train_config(self, path: Path) -> None:
        """The Config page's Start: train the saved config on the Train page."""
        self.show_page(self.pages.index(self.train_page))
        if self.train_page.is_training():
            QMessageBox.information(
                self, "Training in progress", "A run is already training: stop it first, or wait for it to end."
            )
            return
        self.train_page.start(path)

    def _accept_prediction(self, sent) -> None:
        """Model-assisted labelling: the Inspect page's "Send to editor" adds predicted shapes on the Data page.

        ``sent`` (an EditorProposals) names the annotation file they belong to: the val set they were predicted
        on. When the Data page shows another file (or none), that one is opened first and the shapes are added
        once it can be edited (loaded and checked); nothing is added when the user keeps the unsaved edits of
        the open file, or when the file fails to load.
        """
        page = self.data_page

        def here() -> bool:
            return page.loaded is not None and Path(page.loaded.annotations).resolve() == Path(sent.ann).resolve()

        def add() -> None:
            self.show_page(self.pages.index(page))
            for p in sent.proposals:
                page.editor.propose(p.image_id, p.category_id, p.shape, p.provenance)

        if here() and page.state == READY:
            add()
            return

        def on_state(state: str) -> None:
            if state in (READY, FAILED):
                page.state_changed.disconnect(on_state)
                if state == READY and here():
                    add()

        page.state_changed.connect(on_state)
        if not here():
            shown = page.loaded
            page.open(sent.ann, sent.images_dir)
            if shown is not None and page.loaded is shown:  # not opened: the user kept the unsaved edits
                page.state_changed.disconnect(on_state)

    def confirm_stop_training(self) -> bool:
        """Closing while a run trains: ask, then stop it cleanly (it saves last.pt to resume from)."""
        if not self.train_page.is_training():
            return True
        ans = QMessageBox.question(
            self,
            "Training in progress",
            "A training run is in progress. Stop it and quit?\n\nIt stops after the current batch and keeps last.pt, "
            "so you can resume it later from the Train page.",
        )
        if ans != QMessageBox.StandardButton.Yes:
            return False
        self.statusBar().showMessage("Stopping the training run…")
        if not self.train_page.stop_and_wait():
            log.warning("the training run did not stop in time")
        return True

    def _on_dataset(self, ann: Path) -> None:
        self.workspace_ui.dataset_opened(Path(ann))
        self._update_title()
        self._refresh_steps()

    def _update_title(self) -> None:
        parts = []
        if self.data_page.loaded is not None:
            dirty = "*" if self.data_page.editor.dirty() else ""
            parts.append(self.data_page.loaded.annotations.name + dirty)
        if self.workspace_ui.current is not None:
            parts.append(self.workspace_ui.current.name)
        self.setWindowTitle(" — ".join([*parts, "Studio"]))

    def _on_data_state(self, state: str) -> None:
        for a in (self.export_action, self.split_action, self.label_manager_action):
            a.setEnabled(state == READY)

    def import_dialog(self, source: Path | None = None) -> ImportWizard:
        ws = self.workspace_ui.current
        w = ImportWizard(self.jobs, datasets_dir=ws.folder("datasets") if ws else None, source=source, parent=self)
        w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        w.imported.connect(self._on_imported)
        w.new_dataset_requested.connect(self.new_dataset_dialog)  # a folder of images with no labels
        w.open()
        return w

    def new_dataset_dialog(self, images_dir: Path | None = None) -> NewDatasetDialog | None:
        """File > New dataset from image folder: pick the folder (unless given), then name the classes and the file;
        the new dataset opens on the Data page, ready to label."""
        if images_dir is None:
            folder = QFileDialog.getExistingDirectory(
                self, "Folder of images for the new dataset", self._setting("last_dir", "")
            )
            if not folder:
                return None
            images_dir = Path(folder)
        ws = self.workspace_ui.current
        d = NewDatasetDialog(self.jobs, images_dir, ws.folder("datasets") if ws else None, parent=self)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.created.connect(lambda path: self.open_dataset(Path(path)))
        d.open()
        return d

    def frames_dialog(self, video: Path | None = None) -> FramesDialog:
        """File > Frames from video: a video's frames into a folder, then offered as a new dataset to label."""
        d = FramesDialog(self.jobs, video, parent=self)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.dataset_requested.connect(lambda folder: self.new_dataset_dialog(Path(folder)))
        d.open()
        return d

    def _on_imported(self, path: Path) -> None:
        """A dataset was imported: open it, and offer a config for it (the open one trains on other data)."""
        self._after_import = Path(path)
        self.open_dataset(Path(path))
        self._refresh_steps()

    def export_dialog(self) -> ExportDialog | None:
        return self._dataset_dialog(ExportDialog)

    def split_dialog(self) -> SplitDialog | None:
        return self._dataset_dialog(SplitDialog)

    def _dataset_dialog(self, dialog: type[ExportDialog] | type[SplitDialog]) -> ExportDialog | SplitDialog | None:
        """Open ``dialog`` on the Data page's dataset (None when none is open)."""
        if (loaded := self.data_page.loaded) is None:
            return None
        d = dialog(self.jobs, loaded.annotations, loaded.images_dir, parent=self)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.open()
        return d

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _on_device(self, name: str) -> None:
        self.device = name
        self.device_label.setText(f"Device: {name}")
        log.info("compute device: %s", name)

    # ------------------------------------------------------------------ settings and closing
    def _setting(self, key: str, default: str) -> str:
        v = QSettings().value(key, default)
        return str(v) if v is not None else default

    def restore_settings(self) -> None:
        s = QSettings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        page = s.value("window/page", 0)
        try:
            self.show_page(min(max(int(page), 0), len(self.pages) - 1))
        except (TypeError, ValueError):
            pass

    def save_settings(self) -> None:
        s = QSettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/page", self.page_list.currentRow())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.data_page.editor.confirm_close(self):
            event.ignore()
            return
        if not self.config_page.confirm_close():
            event.ignore()
            return
        if not self.confirm_stop_training():
            event.ignore()
            return
        # nothing unsaved is left: closing the editor removes its recovery journal (no prompt at the next start)
        self.data_page.editor.close_dataset()
        self.commands.detach()
        if self.persist:
            self.save_settings()
        self.inspect_page.stop()
        self.preview_page.stop()
        self.jobs.shutdown()
        self.log_panel.detach()
        super().closeEvent(event)
