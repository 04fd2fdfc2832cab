"""The Config page: pick or create a training config, edit it as a form or as YAML, check it, start it.

A thin view over :class:`~studio.gui.config.state.ConfigState`, which holds the file's own dict and derives
the rest from it (the merged values the form shows, the validation messages under the fields, the keys
highlighted as different from the base, whether Start is allowed). The page renders that, forwards the
form's and the YAML editor's edits to it, and runs the pre-flight check (after a pause), the model zoo read
and "New from dataset…" in workers. Form edits rewrite the YAML text; YAML edits are parsed after a pause
and replace the own dict. The editor's text is what Save writes, so comments survive as long as the YAML is
edited as text.

While the YAML has a syntax error the form stays usable on the last valid values; its edits wait (the line
under the YAML lists them) and the YAML takes them once it parses, or the user replaces the YAML with the
form's values in one step (Ctrl+Z in the YAML brings the broken text back). Typing in the form never
touches the text being fixed. A preset button shows what the preset would change (key: now -> after)
before applying it; "Undo preset" puts the file back exactly as it was.

"Start training" is enabled only when the config validates and the pre-flight check of that very
config found no error; it saves the file and emits ``start_requested(path)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.config.form import FormSpec
from studio.core.config.presets import PRESETS
from studio.core.config.schema import Config
from studio.gui.common import palette
from studio.gui.common.commands import Command
from studio.gui.common.job_slot import JobSlot
from studio.gui.common.messages import colored, error_html
from studio.gui.common.sections import section_label, titled
from studio.gui.common.workers import Jobs
from studio.gui.config.form import ConfigForm
from studio.gui.config.jobs import PreflightResult, load_form_spec, new_config, run_preflight
from studio.gui.config.new_config_dialog import NewConfigDialog, unique_config_path
from studio.gui.config.preflight_view import PreflightView
from studio.gui.config.preset_dialog import PresetDialog
from studio.gui.config.state import INVALID, RUN, ConfigState
from studio.gui.config.yaml_editor import YamlEditor
from studio.gui.shortcuts import with_keys

log = logging.getLogger("studio.gui.config")

PREFLIGHT_DELAY_MS = 500
PRESET_HINT = "Architecture, size, batch, schedule and device for the situation; data paths are kept."


def ask_unsaved(parent: QWidget, name: str) -> str:
    """ "save", "discard" or "cancel" for unsaved changes to the config ``name``."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent,
        "Unsaved changes",
        f"{name} has unsaved changes. Save them?",
        buttons.Save | buttons.Discard | buttons.Cancel,
        buttons.Save,
    )
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")


class ConfigPage(QWidget):
    title = "Config"

    start_requested = Signal(object)  # Path of the saved config
    dirty_changed = Signal(bool)
    configs_changed = Signal()  # a config was written ("New from dataset…"): the window's next steps follow
    commands_changed = Signal()  # what File > Save and Edit > Undo / Redo may do changed

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.workspace = None
        self.state = ConfigState()
        self._pending_open: Path | None = None  # set_workspace while hidden: opened on first show
        #: asked before unsaved changes are dropped: (parent, file name) -> "save", "discard" or "cancel"
        self.ask_unsaved: Callable[[QWidget, str], str] = ask_unsaved
        self.preset_dialog: PresetDialog | None = None  # the preview of the preset clicked, while open
        self._start_when_ready = False  # the window's "Train" step: start once the pre-flight check passes

        self.spec_slot = JobSlot(jobs, self)
        self.preflight_slot = JobSlot(jobs, self)
        self.new_slot = JobSlot(jobs, self)
        self._build()
        self.preflight_timer = QTimer(self)
        self.preflight_timer.setSingleShot(True)
        self.preflight_timer.setInterval(PREFLIGHT_DELAY_MS)
        self.preflight_timer.timeout.connect(self._run_preflight)
        self._render()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.picker = QComboBox()
        self.picker.setMinimumContentsLength(24)
        self.picker.setPlaceholderText("no config yet")
        self.picker.activated.connect(self._on_picked)
        self.open_button = QPushButton("Open…")
        self.open_button.clicked.connect(self.ask_open)
        self.new_button = QPushButton("New from dataset…")
        self.new_button.setToolTip("Write a complete config for a training set (studio config init)")
        self.new_button.clicked.connect(self.ask_new)
        self.state_label = QLabel()
        self.state_label.setObjectName("muted")
        self.save_button = QPushButton("Save")
        # Ctrl+S is the window's File > Save, which runs this page's "save" command (commands()) while it is shown
        self.save_button.setToolTip(with_keys("Write the YAML to the file", "file.save"))
        self.save_button.clicked.connect(self.save)
        top = QHBoxLayout()
        top.addWidget(QLabel("Config:"))
        top.addWidget(self.picker)
        top.addWidget(self.open_button)
        top.addWidget(self.new_button)
        top.addStretch(1)
        top.addWidget(self.state_label)
        top.addWidget(self.save_button)

        presets = QHBoxLayout()
        presets.addWidget(QLabel("Presets:"))
        self.preset_buttons: dict[str, QPushButton] = {}
        for name, p in PRESETS.items():
            b = QPushButton(name)
            b.setToolTip(
                p.description + "\n\nShows the keys it would change first; merged into this file's keys, the "
                "other keys stay as they are."
            )
            b.clicked.connect(lambda _=False, n=name: self.preview_preset(n))
            presets.addWidget(b)
            self.preset_buttons[name] = b
        self.undo_preset_button = QPushButton("Undo preset")
        self.undo_preset_button.setToolTip("Put this file back exactly as it was before the preset")
        self.undo_preset_button.clicked.connect(self.undo_preset)
        self.undo_preset_button.setVisible(False)
        presets.addWidget(self.undo_preset_button)
        self.preset_note = QLabel(PRESET_HINT)
        self.preset_note.setObjectName("muted")
        self.preset_note.setWordWrap(True)
        presets.addWidget(self.preset_note, 1)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setVisible(False)
        self.form = ConfigForm()
        self.form.edited.connect(self._on_form_edited)
        self.form.reset_requested.connect(self._on_reset)
        self.form_title = section_label("Settings")
        form_box = titled(self.form_title, self.banner, self.form)

        self.yaml = YamlEditor()
        self.yaml.parsed.connect(self._on_yaml_parsed)
        self.yaml.invalid.connect(self._on_yaml_invalid)
        self.yaml.edited.connect(self._render)
        self.yaml.edit.undoAvailable.connect(lambda _on: self.commands_changed.emit())
        self.yaml.edit.redoAvailable.connect(lambda _on: self.commands_changed.emit())
        self.yaml_title = section_label("YAML")
        # while the YAML does not parse: what happens to the form's edits, and the two ways out
        self.pending_label = QLabel()
        self.pending_label.setObjectName("muted")
        self.pending_label.setWordWrap(True)
        self.replace_button = QPushButton("Replace the YAML with the form")
        self.replace_button.setToolTip(
            "Write the form's values (the last valid ones and your edits since) over the broken YAML; "
            "Ctrl+Z in the YAML brings the broken text back"
        )
        self.replace_button.clicked.connect(self.replace_yaml_with_form)
        self.drop_button = QPushButton("Drop the form's changes")
        self.drop_button.setToolTip("Forget the form edits made since the YAML broke")
        self.drop_button.clicked.connect(self.drop_pending)
        self.pending_bar = QWidget()
        pl = QVBoxLayout(self.pending_bar)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.pending_label)
        pb = QHBoxLayout()
        pb.addWidget(self.replace_button)
        pb.addWidget(self.drop_button)
        pb.addStretch(1)
        pl.addLayout(pb)
        self.pending_bar.setVisible(False)
        yaml_area = QWidget()
        ya = QVBoxLayout(yaml_area)
        ya.setContentsMargins(0, 0, 0, 0)
        ya.setSpacing(3)
        ya.addWidget(self.yaml, 1)
        ya.addWidget(self.pending_bar)
        yaml_box = titled(self.yaml_title, yaml_area)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(form_box)
        self.split.addWidget(yaml_box)
        self.split.setStretchFactor(0, 5)
        self.split.setStretchFactor(1, 4)
        self.split.setChildrenCollapsible(False)
        self.split.setSizes([680, 540])

        self.preflight_view = PreflightView()
        self.preflight_view.key_activated.connect(self.form.show_field)
        self.start_button = QPushButton("Start training")
        self.start_button.setMinimumHeight(40)
        self.start_button.setMinimumWidth(170)
        self.start_button.setStyleSheet(
            "QPushButton { font-weight: 600; padding: 6px 18px; } "
            "QPushButton:enabled { background: #2f6fde; color: white; border: 1px solid #245bbb; border-radius: 4px; } "
            "QPushButton:enabled:hover { background: #3b7cf0; }"
        )
        self.start_button.clicked.connect(self.start)
        self.start_hint = QLabel()
        self.start_hint.setObjectName("muted")
        self.start_hint.setWordWrap(True)
        self.start_hint.setMaximumWidth(200)
        start_col = QVBoxLayout()
        start_col.addStretch(1)
        start_col.addWidget(self.start_button)
        start_col.addWidget(self.start_hint)
        bottom = QWidget()
        bl = QHBoxLayout(bottom)
        bl.setContentsMargins(0, 4, 0, 0)
        bl.addWidget(self.preflight_view, 1)
        bl.addLayout(start_col)

        self.vsplit = QSplitter(Qt.Orientation.Vertical)
        self.vsplit.addWidget(self.split)
        self.vsplit.addWidget(bottom)
        self.vsplit.setStretchFactor(0, 3)
        self.vsplit.setStretchFactor(1, 1)
        self.vsplit.setChildrenCollapsible(False)
        self.vsplit.setSizes([670, 170])

        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        lay.addLayout(top)
        lay.addLayout(presets)
        lay.addWidget(self.vsplit, 1)

    # ------------------------------------------------------------------ the state, read-only (tests, the window)
    current_path = property(lambda self: self.state.current_path)
    spec = property(lambda self: self.state.spec)
    own = property(lambda self: self.state.own)
    display = property(lambda self: self.state.display)
    config = property(lambda self: self.state.config)
    errors = property(lambda self: self.state.errors)
    preflight = property(lambda self: self.state.preflight)

    def is_dirty(self) -> bool:
        return self.state.dirty

    def can_start(self) -> bool:
        return self.state.can_start()

    def form_ready(self) -> bool:
        return self.form.ready

    def preflight_busy(self) -> bool:
        return self.preflight_timer.isActive() or self.preflight_slot.running

    def busy(self) -> bool:
        return self.spec_slot.running or self.preflight_busy() or self.new_slot.running

    # ------------------------------------------------------------------ workspace and files
    def set_workspace(self, ws) -> None:
        """List ``ws``'s configs; the first is opened now if the page is shown, else when it is first shown."""
        if ws is not None and self.state.is_outside(ws.root) and self._may_discard():
            self.clear()
        self.workspace = ws
        paths = self.refresh_configs()
        if self.current_path is None and paths:
            if self.isVisible():
                self.open_config(paths[0])
            else:
                self._pending_open = paths[0]

    def clear(self) -> None:
        """No config open (another workspace was opened)."""
        self._stop_preflight()
        self.state.close()
        self.yaml.load_text("")
        self.form.set_values({})
        self.form.set_errors({})
        self.form.set_diff(None)
        self._show_banner(None)
        self.preflight_view.set_message("Open a config to check it")
        self._render()

    def refresh_configs(self) -> list[Path]:
        """Re-list the workspace's ``configs/`` folder in the picker (the open file stays selected)."""
        paths = self.state.config_list(self.workspace.configs() if self.workspace is not None else [])
        self.picker.blockSignals(True)
        self.picker.clear()
        for p in paths:
            self.picker.addItem(p.name, str(p))
            self.picker.setItemData(self.picker.count() - 1, str(p), Qt.ItemDataRole.ToolTipRole)
        self.picker.setCurrentIndex(self.picker.findData(str(self.current_path)) if self.current_path else -1)
        self.picker.blockSignals(False)
        return paths

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._ensure_spec()
        if self.workspace is not None:
            self.refresh_configs()
        if self._pending_open is not None and self.current_path is None:
            path, self._pending_open = self._pending_open, None
            self.open_config(path)

    def open_config(self, path: str | Path) -> bool:
        """Open ``path`` (a small YAML file, read here); False when it cannot be read."""
        if (why := self.state.open(path)) is not None:
            self._show_banner(why)
            return False
        self._ensure_spec()
        self._stop_preflight()
        self.form.set_base_folder(self.current_path.parent)
        self.refresh_configs()
        self.yaml.load_text(self.state.text)  # parsed at once: _on_yaml_parsed or _on_yaml_invalid fills the rest
        self._render()
        return True

    def ask_open(self) -> None:
        if not self._may_discard():
            return
        start = str(self.workspace.folder("configs")) if self.workspace is not None else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a config", start, "YAML (*.yaml *.yml)")
        if chosen:
            self.open_config(chosen)

    def _on_picked(self, index: int) -> None:
        path = Path(self.picker.itemData(index))
        if path == self.current_path:
            return
        if self._may_discard():
            self.open_config(path)
        else:
            self.refresh_configs()

    def _may_discard(self) -> bool:
        """Before the open file is replaced or the window closes: True when that may go ahead (nothing unsaved,
        saved now, or the user discards the changes), False when the user cancelled or the save failed."""
        if not self.state.dirty:
            return True
        answer = self.ask_unsaved(self.window(), self.current_path.name)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def confirm_close(self) -> bool:
        """The window is closing: ask about unsaved changes (Save, Discard, Cancel)."""
        return self._may_discard()

    # ------------------------------------------------------------------ new config
    def ask_new(self) -> None:
        if not self._may_discard():
            return
        datasets = self.workspace.datasets() if self.workspace is not None else []
        configs = self.workspace.folder("configs") if self.workspace is not None else None
        dialog = NewConfigDialog(datasets, configs, self)
        if dialog.exec():
            self.new_from_dataset(*dialog.answers())

    def new_from_dataset(self, train_ann: Path, val_ann: Path | None = None, out: Path | None = None) -> None:
        """Write a config for ``train_ann`` with ``init_config`` in a worker, then open it."""
        if out is None:
            folder = self.workspace.folder("configs") if self.workspace is not None else Path(train_ann).parent
            out = unique_config_path(folder, Path(train_ann).stem)
        self.new_button.setEnabled(False)
        self.state_label.setText(f"writing {Path(out).name}…")
        self.new_slot.start(
            new_config,
            Path(train_ann),
            Path(out),
            Path(val_ann) if val_ann else None,
            title=f"New config for {Path(train_ann).name}",
            done=self._on_new_done,
            failed=self._on_new_failed,
        )

    def _on_new_done(self, path: Path) -> None:
        self.new_button.setEnabled(True)
        log.info("new config %s", path)
        self.open_config(path)
        self.configs_changed.emit()

    def _on_new_failed(self, message: str) -> None:
        self.new_button.setEnabled(True)
        self._render()
        if message != "cancelled":
            self._show_banner(f"New config failed: {message}")

    # ------------------------------------------------------------------ the model zoo (form spec)
    def _ensure_spec(self) -> None:
        if self.spec is None and not self.spec_slot.running:
            self.spec_slot.start(
                load_form_spec, title="Reading the model zoo", done=self._on_spec, failed=self._on_spec_failed
            )

    def _on_spec(self, spec: FormSpec) -> None:
        self.form.build(spec)
        if self.state.set_spec(spec):
            self._refreshed(rewrite=False)

    def _on_spec_failed(self, message: str) -> None:
        if message != "cancelled":
            self.form.placeholder.setText(f"The model zoo could not be read: {message}")

    # ------------------------------------------------------------------ edits (forwarded to the state)
    def _on_form_edited(self, path: str, value: Any) -> None:
        if self.state.form_edited(path, value):
            self._after_form_edit()

    def _on_reset(self, path: str) -> None:
        if self.state.reset_key(path):
            self._after_form_edit()

    def _after_form_edit(self) -> None:
        if self.state.yaml_error is None:
            self._refreshed()
        else:  # the text is being fixed: it is not touched, the edit waits (the line under the YAML says so)
            self.form.set_values(self.state.display)
            self.form.set_errors(self.state.errors)
            self.form.set_diff(self.state.diff, self.state.reference_defaults())
            self._render()

    def _on_yaml_parsed(self, data: dict) -> None:
        merging = bool(self.state.pending)
        if self.state.yaml_parsed(data):
            self._refreshed(rewrite=merging)  # form edits made while it was broken: into the text now
            if merging:
                log.info("the form's edits made while the YAML was broken are in the YAML now")

    def _on_yaml_invalid(self, message: str) -> None:
        """Broken YAML: the form keeps the last valid state and stays usable (its edits wait), nothing starts."""
        self.state.yaml_invalid(message)
        self._stop_preflight()
        self.preflight_view.set_message("Fix the YAML to check the config", error=True)
        self._render()

    def replace_yaml_with_form(self) -> None:
        """Write the form's values over the broken YAML (one undo step in the YAML editor)."""
        if self.state.replace_yaml_with_form():
            self._refreshed()

    def drop_pending(self) -> None:
        """Forget the form's edits made while the YAML is broken."""
        if self.state.drop_pending():
            self._after_form_edit()

    # ------------------------------------------------------------------ presets: preview, apply, undo
    def preview_preset(self, name: str) -> PresetDialog | None:
        """Show what preset ``name`` would change (key: now -> after) with Apply and Cancel; None when it
        changes nothing (the note says so) or nothing can take it."""
        if self.state.own is None or self.state.yaml_error is not None:
            return None
        changes = self.state.preset_preview(name)
        if not changes:
            self.preset_note.setText(f"“{name}” changes nothing: this file already has its values.")
            return None
        if self.preset_dialog is not None:
            self.preset_dialog.close()
        d = self.preset_dialog = PresetDialog(name, PRESETS[name].description, changes, self.state.own, self)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        d.accepted.connect(lambda n=name: self.apply_preset(n))
        d.finished.connect(lambda _r, d=d: self._preset_dialog_closed(d))
        d.open()
        return d

    def _preset_dialog_closed(self, d: QDialog) -> None:
        if self.preset_dialog is d:
            self.preset_dialog = None

    def apply_preset(self, name: str) -> None:
        """Merge preset ``name`` into the file's keys for the dataset's task (polygons -> a segmenter)."""
        if self.state.apply_preset(name):
            self._refreshed()
            self.preset_note.setText(self.state.preset_note())

    def undo_preset(self) -> None:
        """Put the own dict and the YAML back exactly as before the last preset (one undo step in the YAML)."""
        if self.state.undo_preset():
            self._refreshed()
            self.preset_note.setText(PRESET_HINT)

    # ------------------------------------------------------------------ rendering the state
    def _refreshed(self, rewrite: bool = True) -> None:
        """The own dict changed: show the values, errors and diff it gives (and the text it gives, unless the
        change came from the text), then check it."""
        if rewrite:
            self.yaml.set_text(self.state.text)
        self.form.set_values(self.state.display)
        if self.form.ready:
            self.form.set_errors(self.state.errors)
        self._show_banner(self.state.banner())
        self.form.set_diff(self.state.diff, self.state.reference_defaults())
        self._schedule_preflight()

    def _show_banner(self, message: str | None) -> None:
        self.banner.setVisible(bool(message))
        if message:
            self.banner.setText("<br>".join(error_html(m) for m in message.split("<br>")))

    def _render(self) -> None:
        """The titles, the save state and the buttons."""
        st = self.state
        if st.set_text(self.yaml.text()):
            self.dirty_changed.emit(st.dirty)
        if not self.new_slot.running:  # "writing <name>…" stays until the new config is open
            self.state_label.setText(st.save_status())
        self.save_button.setEnabled(st.dirty)
        self.yaml_title.setText(st.yaml_title())
        err = colored(f" — {st.invalid_values()}", palette.ERROR, bold=True) if st.errors else ""
        self.form_title.setText(f"Settings{err}")
        self.form_title.setTextFormat(Qt.TextFormat.RichText)
        hint = st.start_hint(checking=self.preflight_busy())
        self.start_button.setEnabled(st.can_start())
        self.start_hint.setText(hint)
        self.start_button.setToolTip(hint)
        for b in self.preset_buttons.values():
            b.setEnabled(st.own is not None and st.yaml_error is None)
        self.undo_preset_button.setVisible(st.can_undo_preset())
        if st.preset is not None and not st.can_undo_preset():
            self.preset_note.setText(st.preset_note())  # edited since: no undo any more
        self.pending_bar.setVisible(st.yaml_error is not None and st.own is not None)
        if st.yaml_error is not None:
            self.pending_label.setText(st.pending_note())
            self.drop_button.setVisible(bool(st.pending))
        self.yaml.edit.setReadOnly(st.current_path is None)
        self.commands_changed.emit()

    # ------------------------------------------------------------------ pre-flight (a worker, after a pause)
    def _stop_preflight(self) -> None:
        self.preflight_slot.cancel()
        self.preflight_timer.stop()

    def _schedule_preflight(self) -> None:
        self.preflight_slot.cancel()
        plan = self.state.preflight_plan()
        if plan == INVALID:
            self.preflight_timer.stop()
            self.preflight_view.set_message(self.state.invalid_message(), error=True)
        elif plan == RUN:
            self.preflight_view.set_running()
            self.preflight_timer.start()
        self._render()

    def _run_preflight(self) -> None:
        if (cfg := self.config) is None:
            return
        self.preflight_slot.start(
            run_preflight,
            cfg,
            self.preflight,
            title=f"Pre-flight check of {self.current_path.name}",
            done=lambda r, c=cfg: self._on_preflight(r, c),
            failed=self._on_preflight_failed,
        )

    def _on_preflight(self, result: PreflightResult, cfg: Config) -> None:
        self.state.preflight_done(result, cfg)
        self.preflight_view.set_result(result)
        self._render()
        if self._start_when_ready:
            self._start_when_ready = False
            if self.can_start():
                self.start()

    def _on_preflight_failed(self, message: str) -> None:
        if self.state.preflight_failed(message):
            self.preflight_view.set_message(f"The pre-flight check failed: {message}", error=True)
            self._render()

    # ------------------------------------------------------------------ save and start
    def save(self) -> bool:
        """Write the YAML text to the open file (atomically)."""
        if self.current_path is None:
            return False
        self.yaml.flush()
        if (why := self.state.save(self.yaml.text())) is not None:
            self._show_banner(why)
            return False
        self._render()
        log.info("saved %s", self.current_path)
        return True

    def start_when_ready(self) -> str:
        """The window's "Train" step: "started" (the config may start: it did), "waiting" (it starts once the
        pending pre-flight check passes) or "blocked" (no config, or errors to fix: :attr:`start_hint` says)."""
        self.yaml.flush()
        if self.current_path is None and self._pending_open is not None:
            path, self._pending_open = self._pending_open, None
            self.open_config(path)
        if self.can_start():
            self.start()
            return "started"
        waiting = self.state.config is not None and self.state.yaml_error is None and self.preflight_busy()
        self._start_when_ready = waiting
        return "waiting" if waiting else "blocked"

    # ------------------------------------------------------------------ the window's File and Edit commands
    def commands(self) -> dict[str, Command]:
        """Save; Undo, Redo and Select all of the YAML, where form edits are undo steps too."""
        edit, doc = self.yaml.edit, self.yaml.edit.document()
        writable = not edit.isReadOnly()

        def select_all() -> None:
            edit.setFocus()
            edit.selectAll()

        return {
            "save": Command(self.save, self.state.dirty, "&Save config"),
            "undo": Command(edit.undo, writable and doc.isUndoAvailable(), "&Undo (YAML)"),
            "redo": Command(edit.redo, writable and doc.isRedoAvailable(), "&Redo (YAML)"),
            "select_all": Command(select_all, not doc.isEmpty(), "Select &all (YAML)"),
        }

    def start(self) -> None:
        """Save and emit ``start_requested(path)``, when the config validates and passed its pre-flight check."""
        self.yaml.flush()
        if not self.can_start():
            self._render()
            return
        if self.save():
            self.start_requested.emit(self.current_path)
