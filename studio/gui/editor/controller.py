"""The editor behind the image view: tools in, overlays redrawn, file saved in a worker.

:class:`EditorController` is installed as the :class:`~studio.gui.common.image_view.ImageView`'s tool: a pan
(middle-drag, Space + drag) is taken first whatever the tool (:mod:`studio.gui.editor.pan`), the other mouse
and key events go to the active tool, whose gestures go to the Qt-free
:class:`~studio.gui.editor.state.EditorState` (the session, the selection, the active tool and vertex, the
class of the next shape, the clipboard, and the command each intent becomes; it journals every step). A shape
a tool finishes goes through :meth:`EditorController.add_shape`: the class prompt asks its class, unless
"use last label" is on. The controller redraws what an edit touched, asks the questions (recover unsaved
edits? save before closing?) and writes the file in a worker, also a few seconds after the last edit while
autosave is on (:mod:`studio.gui.editor.autosave`). Widgets (the toolbar, the shape list, the Data page's
actions) follow it through its signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QPoint, QPointF, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from studio.core.dataset import hit
from studio.core.dataset.edits import EditEvent
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import MANUAL
from studio.core.dataset.recovery import RecoveryInfo, write_snapshot
from studio.core.errors import StudioError
from studio.gui.common.overlays import ANN_ID_KEY
from studio.gui.common.workers import Jobs, Worker
from studio.gui.data.image_panel import ImagePanel
from studio.gui.editor import settings
from studio.gui.editor.autosave import Autosave
from studio.gui.editor.brush_tool import BrushTool, EraserTool
from studio.gui.editor.class_prompt import ClassPrompt, NewClass
from studio.gui.editor.handles import HIT_PX, Marks
from studio.gui.editor.pan import Panner
from studio.gui.editor.pixels import rgb_array
from studio.gui.editor.review import ReviewMode
from studio.gui.editor.scissors_tool import ScissorsTool
from studio.gui.editor.shapes import Conversion
from studio.gui.editor.smart_box_tool import SmartBoxTool
from studio.gui.editor.state import KEEP, EditorState, SaveJob
from studio.gui.editor.tool_options import ToolOptions
from studio.gui.editor.tools import TOOLS, Tool

log = logging.getLogger("studio.gui.editor")

AskRecovery = Callable[[RecoveryInfo], bool]
#: every tool, in the toolbar's order: by hand, the smart tools, painting
EDITOR_TOOLS = (*TOOLS, SmartBoxTool, ScissorsTool, BrushTool, EraserTool)


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
    note = Signal(str)  # what a tool is doing ("working…") or what it found, for the same line ("" clears it)
    show_request = Signal(object, object)  # (image id, annotation id): an undo/redo touched another image

    def __init__(self, panel: ImagePanel, jobs: Jobs, parent: QObject | None = None):
        super().__init__(parent)
        self.panel, self.view, self.jobs = panel, panel.view, jobs
        self.options = ToolOptions()  # the brush radius and simplify tolerance the tools share, as last left
        self.options.set_radius(settings.number(settings.BRUSH_RADIUS, self.options.radius))
        self.options.set_tolerance(settings.number(settings.SIMPLIFY_TOLERANCE, self.options.tolerance))
        self._pixels: tuple[str, np.ndarray] | None = None  # the image shown's pixels, for the smart tools
        self.tools: dict[str, Tool] = {cls.name: cls(self) for cls in EDITOR_TOOLS}
        self.state = EditorState(lambda: self.panel.image, tuple(self.tools))
        self.state.on_event = self._on_event
        self.state.on_message = self.message.emit
        self._saving: Worker | None = None
        self._auto_error: str | None = None  # the last autosave's failure, said once
        self.tool: Tool = self.tools[self.state.tool]
        self.view.set_tool(self)
        self.tool.activate()
        self.view.viewport().setMouseTracking(True)  # the polygon tool's rubber band follows the cursor
        self.view.scene_cleared.connect(self._on_scene_cleared)
        self._reselect: Any = None  # the selection when the scene was cleared: kept if the same image comes back
        panel.shown.connect(self._on_shown)
        panel.annotation_selected.connect(lambda ann_id: self.select(ann_id) if self.state.tool == "select" else None)
        self.panner = Panner(self.view, lambda: self.tool.cursor)
        self.use_last_label = settings.flag(settings.LAST_LABEL)  # off: the class prompt follows each drawn shape
        self.prompt = ClassPrompt(panel)
        self.prompt.chosen.connect(self._on_class_chosen)
        self.prompt.cancelled.connect(self._drop_pending)
        self._pending: tuple[str, list] | None = None  # a drawn shape waiting for its class
        self._pending_source = MANUAL  # the provenance of that shape (the tool that made it)
        self._pending_marks = Marks()
        self.autosave = Autosave(self, parent=self)
        self.review = ReviewMode(self)  # walks the model's pending proposals (off until the user turns it on)

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
        self.review.stop()
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

    def image_pixels(self) -> np.ndarray | None:
        """The image shown as an RGB array (the smart tools' input), once decoded; None before, or when it cannot be
        read. Converted once per image from the decoded copy the view shows."""
        path = self.panel.path
        if path is None or self.panel.error is not None or self.view.image_item is None:
            return None
        if self._pixels is None or self._pixels[0] != path:
            decoded = self.panel.loader.cached(path)
            image = decoded if decoded is not None else self.view.image_item.pixmap().toImage()
            self._pixels = (path, rgb_array(image))
        return self._pixels[1]

    def shape_at(self, pos: QPoint) -> Any:
        """The shape under viewport ``pos``: the selected one when ``pos`` is inside it or on its outline, else the
        smallest visible one there (the view's pick); None: no shape there."""
        sel = self.state.selected
        if sel is not None and self.panel.annotation_visible(sel):
            under = {it.data(ANN_ID_KEY) for it in self.view.items(pos) if it.isVisible()}
            at = self.view.mapToScene(pos)
            if sel in under or self.state.on_edge(at.x(), at.y(), self.tolerance()):
                return sel
        return self.view.annotation_at(pos)

    def shape_items(self, ann_id: Any) -> list:
        """The canvas items that draw one annotation (a whole-shape drag moves them until the drop)."""
        return self.panel.annotation_items(ann_id)

    def shape_visible(self, ann_id: Any) -> bool:
        """Not hidden in the shape list (a hidden shape shows no handles)."""
        return self.panel.annotation_visible(ann_id)

    def vertex_shown(self) -> bool:
        """The active vertex is drawn highlighted where the user can see it: with the Select tool, on the visible
        part of the canvas. Only then does Delete remove a vertex rather than the shape."""
        if self.state.tool != "select" or self.state.active_vertex is None:
            return False
        handle = next((h for h in self.tool.marks.handles if h.active and h.isVisible()), None)
        if handle is None:
            return False
        return self.view.viewport().rect().contains(self.view.mapFromScene(handle.pos()))

    # ------------------------------------------------------------------ intents (the toolbar, the window, tests)
    def set_tool(self, name: str) -> None:
        if self.state.set_tool(name):
            self.tool.deactivate()
            self.tool = self.tools[name]
            if name != "select" and not self.tool.keeps_selection:
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
        """The class picked in the toolbar: the new label of the selected shape, else the class of the next one."""
        self.state.set_category(category_id)
        self.changed.emit()

    def pick_class(self, number: int) -> None:
        """Number key 1-9: as if the number-th class were picked in the class box."""
        if self.state.editable():
            self.state.pick_class(number)
            self.changed.emit()

    def set_use_last_label(self, on: bool) -> None:
        """On: a drawn shape takes the class of the last one (no prompt); remembered for the next start."""
        self.use_last_label = bool(on)
        settings.set_flag(settings.LAST_LABEL, self.use_last_label)
        self.changed.emit()

    # ------------------------------------------------------------------ drawn shapes and their class
    def add_shape(self, kind: str, geom: list) -> None:
        """A tool finished a shape (``kind`` "polygon": a flat polygon; "parts": a list of them; "box": x, y, w, h).
        With "use last label" it is added at once with the class of the last one; else the class prompt asks first
        (Esc drops it)."""
        if not self.state.active():
            return
        source = self.tool.source  # the tool that made it, before the prompt (a key may switch tools meanwhile)
        if self.use_last_label:
            self._add(kind, geom, None, source)
            return
        self._drop_pending()
        self._pending_source = source
        if kind == "parts" and len(geom) == 1:
            kind, geom = "polygon", geom[0]
        self._pending = (kind, [[float(v) for v in p] for p in geom] if kind == "parts" else [float(v) for v in geom])
        if kind == "parts":
            outline = hit.vertices(max(geom, key=len))
        else:
            outline = hit.vertices(geom) if kind == "polygon" else hit.box_corners(geom)
        self._pending_marks.show(self.view.scene(), [], outline=outline)
        classes = [(c["id"], str(c["name"])) for c in self.state.categories()]
        x, y = outline[2] if kind == "box" else outline[-1]  # next to where the drawing ended
        at = self.view.viewport().mapToGlobal(self.view.mapFromScene(QPointF(x, y)) + QPoint(12, 12))
        self.prompt.ask(classes, self.state.category_id, at)

    def pending_shape(self) -> tuple[str, list] | None:
        """The drawn shape the class prompt is asking about."""
        return self._pending

    def _on_class_chosen(self, answer: Any) -> None:
        pending = self._pending
        self._drop_pending()
        if pending is None:
            return
        if isinstance(answer, NewClass):
            answer = self.state.add_class(answer.name)
            if answer is None:
                return
        self._add(*pending, answer, self._pending_source)

    def _add(self, kind: str, geom: list, category_id: Any, source: str) -> None:
        if kind == "polygon":
            added = self.state.add_polygon(geom, category_id, source)
        elif kind == "parts":
            added = self.state.add_parts(geom, category_id, source)
        else:
            added = self.state.add_box(geom, category_id, source)
        top = self.state.stack.peek_undo() if added and self.state.stack is not None else None
        if top is not None and top.annotation_ids():
            self.tool.shape_added(top.annotation_ids()[0])
        self.changed.emit()

    def _drop_pending(self) -> None:
        self._pending = None
        self._pending_marks.clear()
        if self.prompt.isVisible():
            self.prompt.cancel()

    # ------------------------------------------------------------------ whole shapes
    def duplicate(self) -> bool:
        """Ctrl+D: a copy of the selected shape, a few pixels off, selected."""
        if not self.state.active():
            return False
        new = self.state.duplicate()
        self._select_new([new] if new is not None else [])
        return new is not None

    def copy(self) -> int:
        """Ctrl+C: the selected shape, or every shape of the image when none is selected."""
        n = self.state.copy() if self.state.active() else 0
        self.changed.emit()
        return n

    def paste(self) -> list:
        """Ctrl+V: the copied shapes onto the image shown (one undo step)."""
        return self._select_new(self.state.paste()) if self.state.active() else []

    def paste_from(self, image_id: Any) -> list:
        """Every shape of image ``image_id`` onto the image shown (one undo step)."""
        return self._select_new(self.state.paste_from(image_id)) if self.state.active() else []

    def _select_new(self, ids: list) -> list:
        """A single new shape is selected (with the Select tool), to be moved or relabelled at once."""
        if len(ids) == 1 and self.state.tool == "select":
            self.select(ids[0])
        self.changed.emit()
        return ids

    def convert_mask(self) -> Conversion | None:
        """The selected RLE mask becomes polygons (the user is told the IoU, and whether it is lossy)."""
        conversion = self.state.convert_mask() if self.state.active() else None
        self.tool.refresh()
        self.changed.emit()
        return conversion

    def mark_background(self) -> bool:
        """Shift+N: the image shown has nothing to label (or the mark comes off)."""
        done = self.state.mark_background()
        self.changed.emit()
        return done

    def delete_part(self) -> bool:
        """Shift+Del: the part of the selected multi-part polygon whose vertex is highlighted goes."""
        done = self.state.active() and self.state.delete_part(self.vertex_shown())
        self.tool.refresh()
        return done

    def propose(self, image_id: Any, category_id: Any, shape: list[float], provenance: dict | None = None) -> bool:
        """Add a shape proposed by a model (Inspect page): a flat polygon, or 4 numbers = an xywh box, with its
        ``provenance`` keys (a person picked it: ``source: model``, accepted, its score and checkpoint).

        One undoable edit, journaled like any other; the image is shown with the new shape selected.
        """
        command = self.state.propose(image_id, category_id, shape, provenance)
        if command is not None:
            self.show_request.emit(image_id, command.ann_id)
        return command is not None

    def delete_selected(self) -> bool:
        return self.state.delete_selected()

    def delete(self) -> bool:
        """What the Delete key does in the image view (Edit > Delete too): the active vertex of the selected
        polygon when it is shown highlighted (:meth:`vertex_shown`), else the selected shape. False when nothing
        is selected."""
        if not self.state.editable() or not self.state.delete(self.vertex_shown()):
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
        if image is not None and r.redraw and self.panel.overlays is not None:
            for aid in r.redraw:
                ann = self.state.annotation(aid)
                mine = ann if ann is not None and ann["image_id"] == image["id"] else None
                self.panel.redraw_annotation(aid, mine, self.state.class_name)
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
    def save(self, block: bool = False, auto: bool = False) -> bool:
        """Write the dataset to its file atomically (in a worker unless ``block``), then drop the journal.

        The JSON is serialized here, on the thread that edits, so the worker writes a consistent snapshot;
        edits made while it writes are kept in the journal on top of the new file. ``auto``: an autosave, whose
        failure is said once (the same failure again stays quiet until a save succeeds).
        """
        job = self.state.begin_save()
        if job is None:
            return False
        if block:
            try:
                write_snapshot(job.path, job.payload)
            except StudioError as e:
                self._save_ended(job, str(e), auto)
                return False
            self._save_ended(job, None, auto)
            return True
        w = Worker(write_snapshot, job.path, job.payload, title=f"Saving {job.path.name}")
        w.finished.connect(lambda _path, j=job: self._save_ended(j, None, auto))
        w.failed.connect(lambda msg, _tb, j=job: self._save_ended(j, msg, auto))
        self._saving = w
        self.changed.emit()
        self.jobs.start(w, show=not auto, log_failure=False)  # an autosave does not flash in the status bar
        return True

    def _save_ended(self, job: SaveJob, error: str | None = None, auto: bool = False) -> None:
        self._saving = None
        quiet = auto and error is not None and error == self._auto_error
        self._auto_error = error if auto else None
        self.state.save_ended(job, error, quiet=quiet)
        if error is None:
            log.info("%s %s", "autosaved" if auto else "saved", job.path)
            self.saved.emit(job.path)
        elif not quiet:
            self.save_failed.emit(error)
        self._after_change()

    # ------------------------------------------------------------------ events from the view
    def _on_scene_cleared(self) -> None:
        self._reselect = self.state.selected
        self._pending_marks.forget()
        self._drop_pending()
        for tool in self.tools.values():
            tool.scene_cleared()
        if self.state.scene_cleared():
            self.selection_changed.emit(None)
        self.changed.emit()

    def _on_shown(self) -> None:
        """The image shown was drawn again (a class renamed or merged redraws it): its selected shape stays."""
        aid, self._reselect = self._reselect, None
        ann, image = self.state.annotation(aid), self.state.image
        if ann is not None and image is not None and ann.get("image_id") == image["id"] and self.state.tool == "select":
            self.select(aid)

    def _gesture(self, handle: Callable[[], bool]) -> bool:
        """Run a tool's event handler; when a gesture began or ended, say so (Undo's state follows it)."""
        was = self.tool.in_gesture()
        taken = handle()
        if self.tool.in_gesture() != was:
            self.changed.emit()
        return taken

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self.panner.press(event):
            return True
        return self.state.active() and self._gesture(lambda: self.tool.mouse_press(event, pos))

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self.panner.move(event):
            return True
        return self.state.active() and self.tool.mouse_move(event, pos)

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self.panner.release(event):
            return True
        return self.state.active() and self._gesture(lambda: self.tool.mouse_release(event, pos))

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return self.state.active() and self._gesture(lambda: self.tool.mouse_double_click(event, pos))

    def key_press(self, event: QKeyEvent) -> bool:
        if self.panner.key_press(event):
            return True
        if not self.state.active():
            return False
        if not self.tool.in_gesture() and self.review.key_press(event):  # review mode's Enter and Backspace
            return True
        return self._gesture(lambda: self.tool.key_press(event))
