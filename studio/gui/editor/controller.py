"""The editor behind the image view: tools in, overlays redrawn, file saved in a worker.

:class:`EditorController` is installed as the :class:`~studio.gui.common.image_view.ImageView`'s tool: it hands
mouse and key events to the active tool, whose gestures go to the Qt-free
:class:`~studio.gui.editor.state.EditorState` (the session, the selection, the active tool and vertex, and
the command each intent becomes; it journals every step). The controller redraws what an edit touched,
asks the questions (recover unsaved edits? save before closing?) and writes the file in a worker. Widgets
(the toolbar, the Data page) follow it through its signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from studio.core.dataset.edits import EditEvent
from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import RecoveryInfo, write_snapshot
from studio.core.errors import StudioError
from studio.gui.common.commands import qt_keys
from studio.gui.common.workers import Jobs, Worker
from studio.gui.data.image_panel import ImagePanel
from studio.gui.editor.handles import HIT_PX
from studio.gui.editor.state import KEEP, EditorState, SaveJob
from studio.gui.editor.tools import TOOLS, Tool

log = logging.getLogger("studio.gui.editor")

# from the app's shortcut table (studio/gui/shortcuts.py): the key of each tool
TOOL_KEYS = {key: name for name in ("select", "polygon", "box") for key in qt_keys(f"editor.{name}")}

AskRecovery = Callable[[RecoveryInfo], bool]


def ask_recovery(parent: QWidget | None, info: RecoveryInfo) -> bool:
    """Offer to replay unsaved edits; No deletes them."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
    answer = QMessageBox.question(
        parent,
        "Recover unsaved edits?",
        f"{info.describe()}\nThey were made until {stamp} and never saved (Studio did not close normally).\n\n"
        "Yes replays them (then save to keep them); No deletes them.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_save_changes(parent: QWidget | None, name: str) -> str:
    """ "save", "discard" or "cancel" for unsaved edits of ``name``."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent,
        "Unsaved edits",
        f"{name} has unsaved edits. Save them?",
        buttons.Save | buttons.Discard | buttons.Cancel,
        buttons.Save,
    )
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")


class EditorController(QObject):
    """Annotation editing on one :class:`ImagePanel` for the dataset given to :meth:`open_dataset`."""

    changed = Signal()  # anything the toolbar shows: tool, undo/redo, selection, dirty, saving
    edited = Signal(object)  # EditEvent, after every do / undo / redo (statistics follow these)
    dirty_changed = Signal(bool)
    classes_changed = Signal()  # a category was added or removed
    selection_changed = Signal(object)  # annotation id or None
    tool_changed = Signal(str)
    saved = Signal(object)  # Path of the annotation file
    save_failed = Signal(str)
    message = Signal(str)  # a refused edit or a failure, for a status line
    show_request = Signal(object, object)  # (image id, annotation id): an undo/redo touched another image

    def __init__(self, panel: ImagePanel, jobs: Jobs, parent: QObject | None = None):
        super().__init__(parent)
        self.panel, self.view, self.jobs = panel, panel.view, jobs
        self.tools: dict[str, Tool] = {cls.name: cls(self) for cls in TOOLS}
        self.state = EditorState(lambda: self.panel.image, tuple(self.tools))
        self.state.on_event = self._on_event
        self.state.on_message = self.message.emit
        self._saving: Worker | None = None
        self.tool: Tool = self.tools[self.state.tool]
        self.view.set_tool(self)
        self.tool.activate()
        self.view.viewport().setMouseTracking(True)  # the polygon tool's rubber band follows the cursor
        self.view.scene_cleared.connect(self._on_scene_cleared)
        panel.annotation_selected.connect(lambda ann_id: self.select(ann_id) if self.state.tool == "select" else None)

    # the state, read-only (the toolbar, the Data page, tests)
    ds = property(lambda self: self.state.ds)
    ann_path = property(lambda self: self.state.ann_path)
    stack = property(lambda self: self.state.stack)
    journal = property(lambda self: self.state.journal)
    category_id = property(lambda self: self.state.category_id)
    selected = property(lambda self: self.state.selected)
    enabled = property(lambda self: self.state.enabled)
    image = property(lambda self: self.state.image)

    # ------------------------------------------------------------------ dataset
    def open_dataset(self, ds: Dataset, ann_path: str | Path, ask: AskRecovery | None = None) -> int:
        """Edit ``ds`` (loaded from ``ann_path``). When unsaved edits of that file are found, ``ask(info)``
        (default: a question box) decides whether they are replayed; returns how many steps were."""
        self.close_dataset()
        replayed = self.state.open(ds, ann_path, ask or (lambda info: ask_recovery(self.panel.window(), info)))
        self.classes_changed.emit()
        self._after_change()
        return replayed

    def close_dataset(self) -> None:
        """Stop editing; unsaved edits stay in the recovery journal (see :meth:`discard_changes`)."""
        self.tool.cancel()
        self.state.close()
        self._after_change()

    def discard_changes(self) -> None:
        """Forget the unsaved edits before closing or reopening without saving (the user said so): the journal
        goes and nothing counts as unsaved; the dataset in memory is left as it is."""
        self.state.discard()
        self._after_change()

    def confirm_close(
        self, parent: QWidget | None = None, ask: Callable[[QWidget | None, str], str] | None = None
    ) -> bool:
        """Before the window closes or another dataset opens: True when it may go ahead (nothing unsaved,
        saved now, or discarded), False when the user cancelled or the save failed."""
        if not self.dirty() or self.ann_path is None:
            return True
        answer = (ask or ask_save_changes)(parent, self.ann_path.name)
        if answer == "save":
            if self._saving is not None:
                self._saving.wait()
                QCoreApplication.sendPostedEvents()  # deliver its result now
            return self.save(block=True) if self.dirty() else True
        if answer == "discard":
            self.discard_changes()
            return True
        return False

    def set_enabled(self, on: bool) -> None:
        """Editing off while a worker reads the dataset (loading, checking)."""
        self.state.enabled = bool(on)
        if not on:
            self.tool.cancel()
        self.changed.emit()

    # ------------------------------------------------------------------ queries
    def dirty(self) -> bool:
        return self.state.dirty()

    def saving(self) -> bool:
        return self.state.saving

    def categories(self) -> list[dict]:
        """The dataset's categories in id order (the order of the class box and of the statistics)."""
        return self.state.categories()

    def selected_annotation(self) -> dict | None:
        return self.state.selected_annotation()

    def tolerance(self) -> float:
        """How far (image pixels) a click may be from a handle or an edge, for a constant on-screen distance."""
        return HIT_PX / max(self.view.zoom(), 1e-6)

    # ------------------------------------------------------------------ intents (the toolbar, the window, tests)
    def set_tool(self, name: str) -> None:
        if self.state.set_tool(name):
            self.tool.deactivate()
            self.tool = self.tools[name]
            if name != "select":
                self.select(None)
        self.tool.activate()
        self.tool_changed.emit(name)
        self.changed.emit()

    def select(self, ann_id: Any) -> None:
        """Select an annotation of the image shown (None clears); its handles appear with the Select tool."""
        ov = self.panel.overlays
        ann_id = self.state.select(ann_id, ov.by_ann if ov is not None else ())
        self.panel.select_annotation(ann_id)
        self.tool.refresh()
        self.selection_changed.emit(ann_id)
        self.changed.emit()

    def set_category(self, category_id: Any) -> None:
        """The class picked in the toolbar: the class of new shapes, and the new label of the selected shape."""
        self.state.set_category(category_id)

    def propose(self, image_id: Any, category_id: Any, shape: list[float]) -> bool:
        """Add a shape proposed by a model (Inspect page): a flat polygon, or 4 numbers = an xywh box.

        One undoable edit, journaled like any other; the image is shown with the new shape selected.
        """
        command = self.state.propose(image_id, category_id, shape)
        if command is not None:
            self.show_request.emit(image_id, command.ann_id)
        return command is not None

    def delete_selected(self) -> bool:
        return self.state.delete_selected()

    def delete(self) -> bool:
        """What the Delete key does in the image view (Edit > Delete too): the active vertex of the selected
        polygon, else the selected shape. False when nothing is selected."""
        if not self.state.editable() or not self.state.delete():
            return False
        self.tool.refresh()
        return True

    def actions(self):
        """:meth:`EditorState.actions` with the gesture in progress (Undo steps back a shape being drawn)."""
        return self.state.actions(gesture=self.tool.in_gesture())

    def add_class(self, name: str) -> Any:
        """Add a category; returns its id (None when refused: empty or taken name)."""
        return self.state.add_class(name)

    def undo(self) -> None:
        """Undo the last edit; while a shape is being drawn or dragged, step that gesture back instead."""
        if self.tool.step_back():
            self.changed.emit()  # the gesture may have ended: Undo's state follows
        elif self.state.editable():
            self.tool.cancel()
            self.state.undo()

    def redo(self) -> None:
        if self.state.editable():
            self.tool.cancel()
            self.state.redo()

    # ------------------------------------------------------------------ after each edit
    def _on_event(self, event: EditEvent) -> None:
        if event.categories_changed:
            self.classes_changed.emit()
        r = self.state.reaction(event)
        image = self.state.image
        if image is not None and r.redraw and (ov := self.panel.overlays) is not None:
            for aid in r.redraw:
                ann = self.state.annotation(aid)
                mine = ann if ann is not None and ann["image_id"] == image["id"] else None
                ov.replace(self.view.scene(), image, aid, mine, self.state.class_name)
        if r.select is not KEEP:
            self.select(r.select)
        if r.show is not None:
            self.show_request.emit(*r.show)
            if self.state.tool == "select" and (shown := self.state.image) is not None and shown["id"] == r.show[0]:
                self.select(r.show[1])  # the page switched images: show what changed there too
        self.edited.emit(event)
        self._after_change()

    def _after_change(self) -> None:
        if self.state.dirty_changed():
            self.dirty_changed.emit(self.state.dirty())
        self.changed.emit()

    # ------------------------------------------------------------------ saving
    def save(self, block: bool = False) -> bool:
        """Write the dataset to its file atomically (in a worker unless ``block``), then drop the journal.

        The JSON is serialized here, on the thread that edits, so the worker writes a consistent snapshot;
        edits made while it writes are kept in the journal on top of the new file.
        """
        job = self.state.begin_save()
        if job is None:
            return False
        if block:
            try:
                write_snapshot(job.path, job.payload)
            except StudioError as e:
                self._save_ended(job, str(e))
                return False
            self._save_ended(job)
            return True
        w = Worker(write_snapshot, job.path, job.payload, title=f"Saving {job.path.name}")
        w.finished.connect(lambda _path, j=job: self._save_ended(j))
        w.failed.connect(lambda msg, _tb, j=job: self._save_ended(j, msg))
        self._saving = w
        self.changed.emit()
        self.jobs.start(w, log_failure=False)
        return True

    def _save_ended(self, job: SaveJob, error: str | None = None) -> None:
        self._saving = None
        self.state.save_ended(job, error)
        if error is None:
            log.info("saved %s", job.path)
            self.saved.emit(job.path)
        else:
            self.save_failed.emit(error)
        self._after_change()

    # ------------------------------------------------------------------ events from the view
    def _on_scene_cleared(self) -> None:
        for tool in self.tools.values():
            tool.scene_cleared()
        if self.state.scene_cleared():
            self.selection_changed.emit(None)
        self.changed.emit()

    def _gesture(self, handle: Callable[[], bool]) -> bool:
        """Run a tool's event handler; when a gesture began or ended, say so (Undo's state follows it)."""
        was = self.tool.in_gesture()
        taken = handle()
        if self.tool.in_gesture() != was:
            self.changed.emit()
        return taken

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.state.active() and self._gesture(lambda: self.tool.mouse_press(event, pos))

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.state.active() and self.tool.mouse_move(event, pos)

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.state.active() and self._gesture(lambda: self.tool.mouse_release(event, pos))

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.state.active() and self._gesture(lambda: self.tool.mouse_double_click(event, pos))

    def key_press(self, event: QKeyEvent) -> bool:
        if not self.state.active():
            return False
        if self._gesture(lambda: self.tool.key_press(event)):
            return True
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods == Qt.KeyboardModifier.NoModifier and event.key() in TOOL_KEYS:
            self.set_tool(TOOL_KEYS[Qt.Key(event.key())])
            return True
        return False
