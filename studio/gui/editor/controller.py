"""The editor behind the image view: tools in, commands out, overlays redrawn, journal written, file saved.

:class:`EditorController` is installed as the :class:`~studio.gui.common.image_view.ImageView`'s tool: it hands
mouse and key events to the active tool, turns the tools' intents into commands on an
:class:`~studio.core.dataset.edits.EditStack`, redraws the annotations a command touched, appends every
step to the recovery journal, and saves in a worker. Widgets (the toolbar, the Data page) follow it through
its signals.
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

from studio.core.dataset import hit
from studio.core.dataset.edits import (
    AddClass,
    AddShape,
    ChangeLabel,
    Command,
    DeleteShape,
    EditEvent,
    EditStack,
    SetBox,
    SetPolygon,
)
from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import (
    RecoveryInfo,
    RecoveryJournal,
    find_recovery,
    recovery_path,
    replay,
    snapshot,
    write_snapshot,
)
from studio.core.errors import StudioError
from studio.gui.common.workers import Jobs, Worker
from studio.gui.data.image_panel import ImagePanel
from studio.gui.editor.handles import HIT_PX
from studio.gui.editor.tools import TOOLS, Tool

log = logging.getLogger("studio.gui.editor")

TOOL_KEYS = {Qt.Key.Key_V: "select", Qt.Key.Key_P: "polygon", Qt.Key.Key_B: "box"}

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


def _id_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))


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
        self.ds: Dataset | None = None
        self.ann_path: Path | None = None
        self.stack: EditStack | None = None
        self.journal: RecoveryJournal | None = None
        self.category_id: Any = None  # class of new shapes
        self.selected: Any = None
        self.enabled = True
        self._names: dict[Any, str] = {}
        self._journaling = False
        self._replaying = False
        self._saving: Worker | None = None
        self._was_dirty = False
        self.tools: dict[str, Tool] = {cls.name: cls(self) for cls in TOOLS}
        self.tool: Tool = self.tools["select"]
        self.view.set_tool(self)
        self.tool.activate()
        self.view.viewport().setMouseTracking(True)  # the polygon tool's rubber band follows the cursor
        self.view.scene_cleared.connect(self._on_scene_cleared)
        panel.annotation_selected.connect(self._on_picked)

    # ------------------------------------------------------------------ dataset
    def open_dataset(self, ds: Dataset, ann_path: str | Path, ask: AskRecovery | None = None) -> int:
        """Edit ``ds`` (loaded from ``ann_path``). When unsaved edits of that file are found, ``ask(info)``
        (default: a question box) decides whether they are replayed; returns how many steps were."""
        self.close_dataset()
        self.ds, self.ann_path = ds, Path(ann_path)
        self.stack = EditStack(ds, listener=self._on_event)
        self._refresh_names()
        replayed, journal = 0, None
        try:
            info = find_recovery(self.ann_path)
        except StudioError as e:
            self._set_aside(f"the unsaved edits cannot be read: {e}")
            info = None
        if info is not None:
            accept = ask(info) if ask is not None else ask_recovery(self.panel.window(), info)
            if accept:
                self._replaying = True
                try:
                    content = replay(self.stack, info.path)
                    journal = RecoveryJournal.resume(self.ann_path, content)
                    replayed = len(content.steps)
                    log.info("replayed %d unsaved edit(s) from %s", replayed, info.path.name)
                except StudioError as e:  # replay took its steps back; the journal is kept aside
                    self._set_aside(f"the unsaved edits could not be recovered: {e}")
                finally:
                    self._replaying = False
            else:
                info.path.unlink(missing_ok=True)
        self.journal = journal or RecoveryJournal(self.ann_path)
        self._journaling = True
        self.category_id = self._first_category()
        self.classes_changed.emit()
        self._after_change()
        return replayed

    def _set_aside(self, why: str) -> None:
        """Keep a journal that cannot be used under another name, so the next edit does not overwrite it."""
        path = recovery_path(self.ann_path)  # type: ignore[arg-type]
        aside = path.with_suffix(".jsonl.broken")
        path.replace(aside)
        self._say(f"{why} (kept as {aside.name})")

    def close_dataset(self) -> None:
        """Stop editing; unsaved edits stay in the recovery journal (see :meth:`discard_changes`)."""
        self.tool.cancel()
        self.selected = None
        if self.journal is not None:
            self.journal.close()
        self.ds = self.ann_path = self.stack = self.journal = None
        self._journaling = False
        self._names = {}
        self._after_change()

    def discard_changes(self) -> None:
        """Forget the unsaved edits before closing or reopening without saving (the user said so): the journal
        goes and nothing counts as unsaved; the dataset in memory is left as it is."""
        if self.journal is not None:
            self.journal.discard()
        if self.stack is not None:
            self.stack.mark_clean()
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
        self.enabled = bool(on)
        if not on:
            self.tool.cancel()
        self.changed.emit()

    # ------------------------------------------------------------------ state
    @property
    def image(self) -> dict | None:
        im = self.panel.image
        if im is None or self.ds is None or not self.ds.has_image(im.get("id")):
            return None
        return im

    def active(self) -> bool:
        return self.enabled and self.stack is not None and self.image is not None

    def dirty(self) -> bool:
        return self.stack is not None and self.stack.dirty

    def saving(self) -> bool:
        return self._saving is not None

    def categories(self) -> list[dict]:
        """The dataset's categories in id order (the order of the class box and of the statistics)."""
        return sorted(self.ds.categories, key=lambda c: _id_key(c["id"])) if self.ds is not None else []

    def class_name(self, category_id: Any) -> str:
        return self._names.get(category_id, f"unknown {category_id}")

    def selected_annotation(self) -> dict | None:
        if self.selected is None or self.ds is None:
            return None
        try:
            return self.ds.annotation(self.selected)
        except KeyError:
            return None

    def tolerance(self) -> float:
        """How far (image pixels) a click may be from a handle or an edge, for a constant on-screen distance."""
        return HIT_PX / max(self.view.zoom(), 1e-6)

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        im = self.image or {}
        return hit.clamp_point(x, y, im.get("width") or 0, im.get("height") or 0)

    # ------------------------------------------------------------------ tools and selection
    def set_tool(self, name: str) -> None:
        if name not in self.tools:
            raise ValueError(f"unknown tool {name!r}")
        if self.tool.name != name:
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
        if ann_id is not None and (ov is None or ann_id not in ov.by_ann):
            ann_id = None
        self.panel.select_annotation(ann_id)
        self.selected = ann_id
        ann = self.selected_annotation()
        if ann is not None and self.ds is not None and self.ds.has_category(ann.get("category_id")):
            self.category_id = ann["category_id"]
        self.tool.refresh()
        self.selection_changed.emit(ann_id)
        self.changed.emit()

    def set_category(self, category_id: Any) -> None:
        """The class picked in the toolbar: the class of new shapes, and the new label of the selected shape."""
        self.category_id = category_id
        ann = self.selected_annotation()
        if ann is not None and ann.get("category_id") != category_id:
            self._do(ChangeLabel(ann["id"], ann.get("category_id"), category_id))

    # ------------------------------------------------------------------ edits (the tools' intents)
    def add_polygon(self, flat: list[float]) -> bool:
        return self._add(polygon=[float(v) for v in flat])

    def add_box(self, bbox: list[float]) -> bool:
        return self._add(bbox=[float(v) for v in bbox])

    def _add(self, **shape: Any) -> bool:
        image = self.image
        if image is None:
            return False
        if self.category_id is None or not self.ds.has_category(self.category_id):  # type: ignore[union-attr]
            self._say("add a class first (the class box in the editor toolbar)")
            return False
        return self._do(AddShape(image["id"], self.category_id, **shape))

    def propose(self, image_id: Any, category_id: Any, shape: list[float]) -> bool:
        """Add a shape proposed by a model (Inspect page): a flat polygon, or 4 numbers = an xywh box.

        One undoable edit, journaled like any other; the image is shown with the new shape selected.
        """
        if self.ds is None or not self.ds.has_image(image_id):
            self._say(f"image {image_id} is not in the open dataset")
            return False
        vals = [float(v) for v in shape]
        kind = {"bbox": vals} if len(vals) == 4 else {"polygon": vals}
        command = AddShape(image_id, category_id, **kind)
        if not self._do(command):
            return False
        self.show_request.emit(image_id, command.ann_id)
        return True

    def set_polygon(self, ann_id: Any, part: int, new: list[float]) -> bool:
        ann = self._ann(ann_id)
        if ann is None:
            return False
        old = list(ann["segmentation"][part])
        if [float(v) for v in old] == [float(v) for v in new]:
            return False  # no change, no undo step
        return self._do(SetPolygon(ann_id, part, old, new))

    def delete_vertex(self, ann_id: Any, part: int, index: int) -> bool:
        ann = self._ann(ann_id)
        if ann is None:
            return False
        old = list(ann["segmentation"][part])
        if len(old) <= 6:
            self._say(f"annotation {ann_id}: a polygon keeps at least 3 points (delete the shape instead)")
            return False
        return self._do(SetPolygon(ann_id, part, old, hit.deleted_vertex(old, index)))

    def set_box(self, ann_id: Any, new: list[float]) -> bool:
        ann = self._ann(ann_id)
        if ann is None:
            return False
        return self._do(SetBox(ann_id, list(ann["bbox"]), new))

    def delete_selected(self) -> bool:
        if self.selected is None:
            return False
        return self._do(DeleteShape(self.selected))

    def add_class(self, name: str) -> Any:
        """Add a category; returns its id (None when refused: empty or taken name)."""
        cmd = AddClass(name)
        return cmd.category_id if self._do(cmd) else None

    def undo(self) -> None:
        """Undo the last edit; while a shape is being drawn or dragged, step that gesture back instead."""
        if self.tool.step_back():
            return
        self._step(lambda s: s.undo())

    def redo(self) -> None:
        self._step(lambda s: s.redo())

    def _ann(self, ann_id: Any) -> dict | None:
        if self.ds is None or ann_id is None:
            return None
        try:
            return self.ds.annotation(ann_id)
        except KeyError:
            return None

    def _do(self, command: Command) -> bool:
        if not self.enabled or self.stack is None:
            return False
        try:
            self.stack.do(command)
        except StudioError as e:
            self._say(str(e))
            return False
        return True

    def _step(self, fn: Callable[[EditStack], Any]) -> None:
        if not self.enabled or self.stack is None:
            return
        self.tool.cancel()
        try:
            fn(self.stack)
        except StudioError as e:
            self._say(str(e))

    # ------------------------------------------------------------------ after each edit
    def _on_event(self, event: EditEvent) -> None:
        cmd = event.command
        if self._journaling and self.journal is not None:
            try:
                self.journal.append(event.step, cmd)
            except OSError as e:
                self._say(f"{self.journal.path}: cannot write the recovery file ({e.strerror or e}); save soon")
        if event.categories_changed:
            self._refresh_names()
            if self.category_id is not None and not self.ds.has_category(self.category_id):  # type: ignore[union-attr]
                self.category_id = self._first_category()
            self.classes_changed.emit()
        image = self.image
        if image is not None and cmd.image is not None and cmd.image == image["id"]:
            self._redraw(image, cmd.annotation_ids())
            target = next((a for a in cmd.annotation_ids() if self._ann(a) is not None), None)
            if event.kind != "do" and target is not None and self.tool.name == "select" and not self._replaying:
                self.select(target)  # show what an undo or redo changed
            elif self.selected is not None and self._ann(self.selected) is None:
                self.select(None)
            else:
                self.select(self.selected)
        elif cmd.image is not None and event.kind != "do" and not self._replaying:
            target = next((a for a in cmd.annotation_ids() if self._ann(a) is not None), None)
            self.show_request.emit(cmd.image, target)
            shown = self.image
            if shown is not None and shown["id"] == cmd.image and self.tool.name == "select":
                self.select(target)  # the page switched images: show what changed there too
        self.edited.emit(event)
        self._after_change()

    def _redraw(self, image: dict, ann_ids: list[Any]) -> None:
        ov = self.panel.overlays
        if ov is None:
            return
        for aid in ann_ids:
            ann = self._ann(aid)
            ov.replace(
                self.view.scene(),
                image,
                aid,
                ann if ann is not None and ann["image_id"] == image["id"] else None,
                self.class_name,
            )

    def _after_change(self) -> None:
        dirty = self.dirty()
        if dirty != self._was_dirty:
            self._was_dirty = dirty
            self.dirty_changed.emit(dirty)
        self.changed.emit()

    def _refresh_names(self) -> None:
        self._names = {c["id"]: str(c["name"]) for c in self.ds.categories} if self.ds is not None else {}

    def _first_category(self) -> Any:
        cats = self.categories()
        return cats[0]["id"] if cats else None

    def _say(self, text: str) -> None:
        log.warning("%s", text)
        self.message.emit(text)

    # ------------------------------------------------------------------ saving
    def save(self, block: bool = False) -> bool:
        """Write the dataset to its file atomically (in a worker unless ``block``), then drop the journal.

        The JSON is serialized here, on the thread that edits, so the worker writes a consistent snapshot;
        edits made while it writes are kept in the journal on top of the new file.
        """
        if self.ds is None or self.ann_path is None or self._saving is not None:
            return False
        payload, state = snapshot(self.ds), self.stack.state  # type: ignore[union-attr]
        self.journal.begin_save()  # type: ignore[union-attr]
        if block:
            try:
                write_snapshot(self.ann_path, payload)
            except StudioError as e:
                self._on_save_failed(self.journal, str(e))
                return False
            self._on_saved(self.stack, self.journal, self.ann_path, state)
            return True
        w = Worker(write_snapshot, self.ann_path, payload, title=f"Saving {self.ann_path.name}")
        session = (self.stack, self.journal, self.ann_path)  # the dataset may be closed before the write ends
        w.finished.connect(lambda _path, s=session, st=state: self._on_saved(*s, st))
        w.failed.connect(lambda msg, _tb, s=session: self._on_save_failed(s[1], msg))
        self._saving = w
        self.changed.emit()
        self.jobs.start(w, log_failure=False)
        return True

    def _on_saved(self, stack: EditStack | None, journal: RecoveryJournal | None, path: Path, state: int) -> None:
        self._saving = None
        if journal is not None:
            journal.end_save(True)
        if stack is not None and stack is self.stack:
            stack.mark_clean(state)
        log.info("saved %s", path)
        self.saved.emit(path)
        self._after_change()

    def _on_save_failed(self, journal: RecoveryJournal | None, message: str) -> None:
        self._saving = None
        if journal is not None:
            journal.end_save(False)
        self._say(f"not saved: {message}")
        self.save_failed.emit(message)
        self._after_change()

    # ------------------------------------------------------------------ events from the view
    def _on_scene_cleared(self) -> None:
        for tool in self.tools.values():
            tool.scene_cleared()
        if self.selected is not None:
            self.selected = None
            self.selection_changed.emit(None)
        self.changed.emit()

    def _on_picked(self, ann_id: Any) -> None:
        if self.tool.name == "select":
            self.select(ann_id)

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.active() and self.tool.mouse_press(event, pos)

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.active() and self.tool.mouse_move(event, pos)

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.active() and self.tool.mouse_release(event, pos)

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.active() and self.tool.mouse_double_click(event, pos)

    def key_press(self, event: QKeyEvent) -> bool:
        if not self.active():
            return False
        if self.tool.key_press(event):
            return True
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods == Qt.KeyboardModifier.NoModifier and event.key() in TOOL_KEYS:
            self.set_tool(TOOL_KEYS[Qt.Key(event.key())])
            return True
        return False
