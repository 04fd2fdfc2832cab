"""What the annotation editor knows and decides, without Qt: the editing session, the selection, the active
tool and vertex, the class of new shapes, the clipboard, and which command each intent becomes.

:class:`EditorState` owns the :class:`~studio.core.dataset.edits.EditStack` of the open dataset and its
recovery journal (every step is appended as it happens; unsaved edits found on opening are replayed when
the user says so). It decides what an intent does: which shape a Delete removes (the active vertex of the
selected polygon when the view shows it highlighted, else the shape), what a drag of a handle does (moves a
polygon vertex, or a box corner), what a drag inside a shape or an arrow key does (moves the whole shape,
kept on the image; nudges in a row merge into one undo step), where a double-click inserts a vertex,
whether a new shape can be added (a class is needed), what a copy, paste or duplicate adds, which shape an
undo or redo selects and whether it has to show another image, and what the toolbar allows and says.

Two classes matter: ``category_id`` is the class of the next shape drawn (the last label); the class box
shows :meth:`EditorState.shown_category`, the selected shape's class while one is selected. Picking a class
(the box, or the keys 1-9) relabels the selected shape, else sets the class of the next shape; relabelling
never changes the class of the next shape.

The :class:`~studio.gui.editor.controller.EditorController` is the view side: it gives the state the
image shown, hands it the tools' gestures, redraws what an edit touched (``on_event``), shows the refusals
(``on_message``) and writes the file in a worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from studio.core.dataset.ground_truth import BACKGROUND_KEY
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import MANUAL, is_pending, provenance
from studio.core.dataset.recovery import (
    RecoveryInfo,
    RecoveryJournal,
    find_recovery,
    recovery_path,
    replay,
    snapshot,
)
from studio.core.dataset.review_edits import MarkBackground, accepting, edited_annotation
from studio.core.dataset.shape_edits import (
    AddParts,
    DeletePart,
    DuplicateShape,
    MaskToPolygons,
    MoveShape,
    PasteShapes,
    SetShape,
    geometry_of,
)
from studio.core.errors import StudioError
from studio.core.geometry import is_rle, polygons_bbox
from studio.gui.editor import shapes
from studio.gui.shortcuts import with_keys

log = logging.getLogger("studio.gui.editor")

TOOLS = ("select", "polygon", "box")
KEEP = object()  # Reaction.select: leave the selection as it is
MIN_POLYGON_VALUES = 6  # a polygon keeps at least 3 points
NUDGE_MERGE_S = 1.5  # arrow-key nudges of one shape closer together than this are one undo step
COPY_OFFSET = 10.0  # px: where a duplicate, or a paste onto the image it was copied from, lands


def _id_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))


@dataclass
class Reaction:
    """What the view does after an edit: redraw these annotations of the image shown, select one, or show
    another image (an undo or redo of an edit made there)."""

    redraw: list[Any] = field(default_factory=list)
    select: Any = KEEP  # an annotation id, None, or KEEP
    show: tuple[Any, Any] | None = None  # (image id, annotation id)


@dataclass(frozen=True)
class EditActions:
    """What the editor toolbar allows and says."""

    on: bool  # editing is possible at all (a dataset is open, no worker reads it)
    undo: bool
    undo_tip: str
    redo: bool
    redo_tip: str
    undo_text: str  # the Edit menu's entry: "Undo add shape"
    redo_text: str
    delete: bool
    save: bool
    save_tip: str
    mark: str  # "unsaved", "saving", "saved", or "" when no dataset is open
    duplicate: bool = False  # a shape is selected
    copy: bool = False  # the image shown has shapes
    paste: bool = False  # shapes were copied and an image is shown
    convert: bool = False  # the selected shape is an RLE mask
    delete_part: bool = False  # the selected shape is a polygon of several parts


@dataclass(frozen=True)
class Clipboard:
    """Shapes copied from one image (see :func:`studio.gui.editor.shapes.copied`)."""

    image_id: Any
    shapes: list[dict]


@dataclass(frozen=True)
class SaveJob:
    """One save: the snapshot to write and the session it belongs to (it may be closed before the write ends)."""

    stack: EditStack
    journal: RecoveryJournal
    path: Path
    payload: bytes
    mark: int  # the stack's state the snapshot holds


class EditorState:
    """See the module docstring. ``shown_image()`` gives the image the view shows (a dataset image dict)."""

    def __init__(self, shown_image: Callable[[], dict | None] = lambda: None, tools: tuple[str, ...] = TOOLS):
        self.shown_image = shown_image
        self.tools = tools
        self.ds: Dataset | None = None
        self.ann_path: Path | None = None
        self.stack: EditStack | None = None
        self.journal: RecoveryJournal | None = None
        self.category_id: Any = None  # class of new shapes
        self.selected: Any = None  # id of the selected annotation of the image shown
        self.enabled = True  # off while a worker reads the dataset
        self.tool = tools[0]
        self.active_vertex: tuple[int, int] | None = None  # (part, vertex) Delete removes; part -1: a box corner
        self.saving = False
        self.replaying = False
        #: called after every do / undo / redo (replayed steps included), once the journal has it
        self.on_event: Callable[[EditEvent], None] = lambda _e: None
        #: a refused edit or a failure, for a status line
        self.on_message: Callable[[str], None] = lambda _m: None
        self._names: dict[Any, str] = {}
        self._journaling = False
        self._active_for: Any = None  # the selection the active vertex belongs to
        self._was_dirty = False
        self.clipboard: Clipboard | None = None
        self.clock: Callable[[], float] = time.monotonic  # when a nudge happens (tests set it)
        #: the last nudge, when, and the whole move it holds: the next one may merge with it
        self._nudge: tuple[Command | None, float, tuple[float, float]] | None = None

    # ------------------------------------------------------------------ session
    def open(self, ds: Dataset, ann_path: str | Path, ask: Callable[[RecoveryInfo], bool]) -> int:
        """Edit ``ds`` (loaded from ``ann_path``). When unsaved edits of that file are found, ``ask(info)``
        decides whether they are replayed; returns how many steps were."""
        self.close()
        self.ds, self.ann_path = ds, Path(ann_path)
        self.stack = EditStack(ds, listener=self._on_stack_event)
        self._refresh_names()
        replayed, journal = 0, None
        try:
            info = find_recovery(self.ann_path)
        except StudioError as e:
            self._set_aside(f"the unsaved edits cannot be read: {e}")
            info = None
        if info is not None:
            if ask(info):
                self.replaying = True
                try:
                    content = replay(self.stack, info.path)
                    replayed = len(content.steps)
                    log.info("replayed %d unsaved edit(s) from %s", replayed, info.path.name)
                    if self.stack.dirty:
                        journal = RecoveryJournal.resume(self.ann_path, content)
                    else:  # the edits net to the file as it is: nothing is unsaved, the journal goes
                        info.path.unlink(missing_ok=True)
                except StudioError as e:  # replay took its steps back; the journal is kept aside
                    self._set_aside(f"the unsaved edits could not be recovered: {e}")
                finally:
                    self.replaying = False
            else:
                info.path.unlink(missing_ok=True)
        self.journal = journal or RecoveryJournal(self.ann_path)
        self._journaling = True
        self.category_id = self._first_category()
        return replayed

    def _set_aside(self, why: str) -> None:
        """Keep a journal that cannot be used under another name, so the next edit does not overwrite it."""
        path = recovery_path(self.ann_path)  # type: ignore[arg-type]
        aside = path.with_suffix(".jsonl.broken")
        path.replace(aside)
        self.say(f"{why} (kept as {aside.name})")

    def close(self) -> None:
        """Stop editing; unsaved edits stay in the recovery journal (see :meth:`discard`). With nothing unsaved
        (no edit, saved, or every edit undone back to the file) the journal goes: there is nothing to recover."""
        self.selected = None
        if self.journal is not None:
            if self.stack is not None and not self.stack.dirty and not self.saving:
                self.journal.discard()
            else:
                self.journal.close()
        self.ds = self.ann_path = self.stack = self.journal = None
        self._journaling = False
        self._names = {}

    def discard(self) -> None:
        """Forget the unsaved edits (the user said so): the journal goes and nothing counts as unsaved."""
        if self.journal is not None:
            self.journal.discard()
        if self.stack is not None:
            self.stack.mark_clean()

    def say(self, text: str) -> None:
        log.warning("%s", text)
        self.on_message(text)

    # ------------------------------------------------------------------ queries
    @property
    def image(self) -> dict | None:
        """The image shown, when it belongs to the open dataset."""
        im = self.shown_image()
        if im is None or self.ds is None or not self.ds.has_image(im.get("id")):
            return None
        return im

    def editable(self) -> bool:
        return self.enabled and self.stack is not None

    def active(self) -> bool:
        """Gestures on the image are edits now."""
        return self.editable() and self.image is not None

    def dirty(self) -> bool:
        return self.stack is not None and self.stack.dirty

    def dirty_changed(self) -> bool:
        """True once each time the dirty flag flipped since the last call."""
        dirty = self.dirty()
        changed, self._was_dirty = dirty != self._was_dirty, dirty
        return changed

    def categories(self) -> list[dict]:
        """The dataset's categories in id order (the order of the class box and of the statistics)."""
        return sorted(self.ds.categories, key=lambda c: _id_key(c["id"])) if self.ds is not None else []

    def class_name(self, category_id: Any) -> str:
        return self._names.get(category_id, f"unknown {category_id}")

    def annotation(self, ann_id: Any) -> dict | None:
        if self.ds is None or ann_id is None:
            return None
        try:
            return self.ds.annotation(ann_id)
        except KeyError:
            return None

    def selected_annotation(self) -> dict | None:
        return self.annotation(self.selected)

    def shape(self) -> tuple[str, Any] | None:
        """("polygon", parts) or ("box", xywh) of the selected annotation, or None."""
        return hit.editable_shape(self.selected_annotation())

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        im = self.image or {}
        return hit.clamp_point(x, y, im.get("width") or 0, im.get("height") or 0)

    def actions(self, gesture: bool = False) -> EditActions:
        """What the toolbar and the Edit menu allow; ``gesture``: a shape is being drawn or dragged (Undo steps
        that back first)."""
        on = self.editable()
        undo, redo = (self.stack.peek_undo(), self.stack.peek_redo()) if self.stack is not None else (None, None)
        if self.saving:
            mark = "saving"
        elif self.dirty():
            mark = "unsaved"
        else:
            mark = "saved" if self.stack is not None else ""
        if on and gesture:
            undo_text = "Undo the last step of the shape drawn"
        else:
            undo_text = f"Undo {undo.label}" if undo else ""
        redo_text = f"Redo {redo.label}" if redo else ""
        return EditActions(
            on=on,
            undo=on and (gesture or undo is not None),
            undo_tip=with_keys(undo_text or "Nothing to undo", "edit.undo"),
            redo=on and redo is not None,
            redo_tip=with_keys(redo_text or "Nothing to redo", "edit.redo"),
            undo_text=undo_text or "Undo",
            redo_text=redo_text or "Redo",
            delete=on and self.selected is not None,
            save=on and not self.saving,
            save_tip=with_keys(f"Save {self.ann_path.name}" if self.ann_path else "Save", "file.save"),
            mark=mark,
            **self._shape_actions(on),
        )

    def _shape_actions(self, on: bool) -> dict[str, bool]:
        image, ann = self.image, self.selected_annotation()
        on = on and image is not None
        kind = shapes.kind_of(ann) if ann is not None else None
        return {
            "duplicate": on and ann is not None,
            "copy": on and self.ds is not None and bool(self.ds.anns_for_image(image["id"])),  # type: ignore[index]
            "paste": on and self.clipboard is not None,
            "convert": on and kind == "mask",
            "delete_part": on and kind == "parts",
        }

    # ------------------------------------------------------------------ tool, selection, class
    def set_tool(self, name: str) -> bool:
        """Make ``name`` the active tool; True when it changed (a drawing tool clears the selection)."""
        if name not in self.tools:
            raise ValueError(f"unknown tool {name!r}")
        changed, self.tool = name != self.tool, name
        return changed

    def select(self, ann_id: Any, shown: Container) -> Any:
        """Select ``ann_id`` when it is one of the annotations ``shown`` (else nothing). The class box shows its
        class (:meth:`shown_category`); the class of the next shape stays. Returns what is selected."""
        if ann_id is not None and ann_id not in shown:
            ann_id = None
        self.selected = ann_id
        return ann_id

    def shown_category(self) -> Any:
        """What the class box shows: the selected shape's class, else the class of the next shape."""
        ann = self.selected_annotation()
        return ann.get("category_id") if ann is not None else self.category_id

    def scene_cleared(self) -> bool:
        """Another image is shown: no selection, no active vertex. True when something was selected."""
        self.active_vertex = self._active_for = None
        was, self.selected = self.selected, None
        return was is not None

    def refresh_active(self) -> None:
        """After the selection or the selected shape changed: the active vertex goes when it belongs to another
        shape or is no longer there (an undo took the inserted vertex back, say)."""
        if self.selected != self._active_for or not self._valid_active(self.shape()):
            self.active_vertex = None
        self._active_for = self.selected

    def _valid_active(self, shape: tuple[str, Any] | None) -> bool:
        if self.active_vertex is None or shape is None:
            return True
        part, index = self.active_vertex
        if shape[0] == "box":
            return part == -1
        return 0 <= part < len(shape[1]) and 0 <= index < len(shape[1][part]) // 2

    def set_category(self, category_id: Any) -> bool:
        """The class picked in the toolbar (or with a number key): the new label of the selected shape (True when
        that relabelled it), else the class of the next shape. A relabel leaves the next shape's class as it is."""
        ann = self.selected_annotation()
        if ann is None:
            self.category_id = category_id
            return False
        if ann.get("category_id") != category_id:
            return self.do(ChangeLabel(ann["id"], ann.get("category_id"), category_id))
        return False

    def pick_class(self, number: int) -> bool:
        """Number key ``number`` (1-9): the number-th class of the class box, as if picked there. False when
        there is no such class (the user is told)."""
        cats = self.categories()
        if not 1 <= number <= len(cats):
            self.say(f"there is no class {number}: the dataset has {len(cats)} class(es)")
            return False
        self.set_category(cats[number - 1]["id"])
        return True

    # ------------------------------------------------------------------ gestures on the selected shape
    def handle_at(self, x: float, y: float, tolerance: float) -> tuple[int, int] | None:
        """The handle of the selected shape at (x, y): (part, vertex) of a polygon, (-1, corner) of a box."""
        shape = self.shape()
        if shape is None:
            return None
        kind, geom = shape
        parts = geom if kind == "polygon" else [[v for c in hit.box_corners(geom) for v in c]]
        vertex = hit.nearest_vertex(parts, x, y, tolerance)
        if vertex is None:
            return None
        return vertex if kind == "polygon" else (-1, vertex[1])

    def on_edge(self, x: float, y: float, tolerance: float) -> bool:
        """(x, y) lies on an edge of the selected polygon (a press there keeps the selection)."""
        shape = self.shape()
        return shape is not None and shape[0] == "polygon" and hit.nearest_edge(shape[1], x, y, tolerance) is not None

    def dragged(self, part: int, index: int, x: float, y: float) -> list[float]:
        """The selected shape with handle (``part``, ``index``) at (x, y), kept on the image: the polygon part
        with that vertex moved, or (``part`` -1) the box with that corner moved."""
        kind, geom = self.shape() or (None, None)
        x, y = self.clamp(x, y)
        if kind == "polygon":
            return hit.moved_vertex(geom[part], index, x, y)
        return hit.dragged_corner(geom, index, x, y)

    def drag(self, part: int, index: int, x: float, y: float) -> bool:
        """What dropping a dragged handle at (x, y) does: one SetPolygon or SetBox edit."""
        if self.shape() is None:
            return False
        new = self.dragged(part, index, x, y)
        return self.set_polygon(self.selected, part, new) if part >= 0 else self.set_box(self.selected, new)

    def insert_vertex(self, x: float, y: float, tolerance: float) -> bool | None:
        """A double-click on the selected polygon: on an edge a vertex is inserted there and becomes the active
        one (True); on a handle nothing happens (False); None when the double-click is not on the shape."""
        shape = self.shape()
        if shape is None or shape[0] != "polygon":
            return None
        parts = shape[1]
        if hit.nearest_vertex(parts, x, y, tolerance) is not None:
            return False  # a double-click on a handle is just two clicks on it
        edge = hit.nearest_edge(parts, x, y, tolerance)
        if edge is None:
            return None
        part, at, px, py = edge
        x, y = self.clamp(px, py)
        if self.set_polygon(self.selected, part, hit.inserted_vertex(parts[part], at, x, y)):
            self.active_vertex = (part, at)
            return True
        return False

    def delete(self, vertex_shown: bool) -> bool:
        """The Delete key: removes the active vertex of the selected polygon when the view shows it highlighted
        (``vertex_shown``), else the selected shape: a vertex the user cannot see never takes the Delete meant
        for the shape. False when nothing is selected (the key is not taken)."""
        if self.selected is None:
            return False
        if vertex_shown and self.active_vertex is not None and self.active_vertex[0] >= 0:
            part, index = self.active_vertex
            if self.delete_vertex(self.selected, part, index):
                self.active_vertex = None
        else:
            self.active_vertex = None
            self.delete_selected()
        return True

    def mark_background(self) -> bool:
        """The image shown has nothing to label (``background: true``: in a labelling project it then trains as
        background and counts as labelled), or, when it is marked, the mark comes off. One undo step."""
        im = self.image
        if im is None or self.ds is None:
            self.say("no image of the open dataset is shown")
            return False
        marked = im.get(BACKGROUND_KEY) is True
        if not marked and any(not is_pending(a) for a in self.ds.anns_for_image(im["id"])):
            self.say(f"{im['file_name']} has shapes: it is labelled already, not background")
            return False
        return self.do(MarkBackground([im["id"]], on=not marked))

    def delete_part(self, vertex_shown: bool) -> bool:
        """Remove the part of the selected multi-part polygon that holds the highlighted vertex (one undo step).
        False (and the user is told why) without a shown vertex, or when it is the only part."""
        shape = self.shape()
        if shape is None or shape[0] != "polygon" or not vertex_shown or self.active_vertex is None:
            self.say("select a vertex of the part to delete (Select tool: click a vertex of it)")
            return False
        part = self.active_vertex[0]
        parts = shape[1]
        if len(parts) < 2 or not 0 <= part < len(parts):
            self.say(f"annotation {self.selected}: its only part cannot go (delete the shape instead)")
            return False
        ann = self.selected_annotation()
        old = geometry_of(ann)  # type: ignore[arg-type]
        new = {"segmentation": [p for i, p in enumerate(parts) if i != part], "bbox": None, "area": None}
        if self.do(DeletePart(self.selected, old, new)):
            self.active_vertex = None
            return True
        return False

    # ------------------------------------------------------------------ edits: one undoable command each
    def do(self, command: Command) -> bool:
        """Apply ``command`` as one undo step (False, and the user told why, when it is refused). An edit of a pending
        proposal's shape or class accepts it in the same step (:func:`~studio.core.dataset.review_edits.accepting`)."""
        if not self.editable():
            return False
        try:
            self.stack.do(accepting(self.ds, command))  # type: ignore[union-attr,arg-type]
        except StudioError as e:
            self.say(str(e))
            return False
        return True

    def add_polygon(self, flat: list[float], category_id: Any = None, source: str = MANUAL) -> bool:
        return self._add(category_id, source, polygon=[float(v) for v in flat])

    def add_box(self, bbox: list[float], category_id: Any = None, source: str = MANUAL) -> bool:
        return self._add(category_id, source, bbox=[float(v) for v in bbox])

    def add_parts(self, parts: list[list[float]], category_id: Any = None, source: str = MANUAL) -> bool:
        """A drawn shape of one or more polygon parts (a smart tool's, a brush's)."""
        if len(parts) == 1:
            return self.add_polygon(parts[0], category_id, source)
        return self._add(category_id, source, parts=[[float(v) for v in p] for p in parts])

    def _add(self, category_id: Any, source: str = MANUAL, **shape: Any) -> bool:
        """A drawn shape of class ``category_id`` (None: the class of the next shape), which becomes the class
        of the next shape (the last label). ``source``: who made it, ``manual`` (drawn by hand) or ``smart`` (a
        smart tool); a person made it in the editor, so it is accepted."""
        image = self.image
        if image is None:
            return False
        cid = self.category_id if category_id is None else category_id
        if cid is None or not self.ds.has_category(cid):  # type: ignore[union-attr]
            self.say("add a class first (the class box in the editor toolbar)")
            return False
        keys = provenance(source)
        if "parts" in shape:
            new = {"category_id": cid, "segmentation": shape["parts"], "bbox": None, "iscrowd": 0, **keys}
            command: Command = AddParts(image["id"], [new])
        else:
            command = AddShape(image["id"], cid, **shape, provenance=keys)
        if self.do(command):
            self.category_id = cid
            return True
        return False

    def propose(
        self, image_id: Any, category_id: Any, shape: list[float], provenance: dict | None = None
    ) -> AddShape | None:
        """A shape proposed by a model: a flat polygon, or 4 numbers = an xywh box; ``provenance`` its source,
        status, score and checkpoint keys. The command when added."""
        if self.ds is None or not self.ds.has_image(image_id):
            self.say(f"image {image_id} is not in the open dataset")
            return None
        vals = [float(v) for v in shape]
        geometry = {"bbox": vals} if len(vals) == 4 else {"polygon": vals}
        command = AddShape(image_id, category_id, provenance=provenance, **geometry)
        return command if self.do(command) else None

    def paint(self, ann_id: Any, parts: list[list[float]]) -> bool:
        """A brush or eraser stroke on shape ``ann_id``: its geometry becomes the polygons ``parts`` (a box or a mask
        becomes polygons too); with no part left (the eraser took it all) the shape is deleted. One undo step."""
        ann = self.annotation(ann_id)
        if ann is None:
            return False
        if not parts:
            return self.do(DeleteShape(ann_id))
        new = {"segmentation": [[float(v) for v in p] for p in parts], "bbox": None, "area": None}
        return self.do(SetShape(ann_id, geometry_of(ann), new))

    def set_polygon(self, ann_id: Any, part: int, new: list[float]) -> bool:
        ann = self.annotation(ann_id)
        if ann is None:
            return False
        old = list(ann["segmentation"][part])
        if [float(v) for v in old] == [float(v) for v in new]:
            return False  # no change, no undo step
        return self.do(SetPolygon(ann_id, part, old, new))

    def delete_vertex(self, ann_id: Any, part: int, index: int) -> bool:
        ann = self.annotation(ann_id)
        if ann is None:
            return False
        old = list(ann["segmentation"][part])
        if len(old) <= MIN_POLYGON_VALUES:
            self.say(f"annotation {ann_id}: a polygon keeps at least 3 points (delete the shape instead)")
            return False
        return self.do(SetPolygon(ann_id, part, old, hit.deleted_vertex(old, index)))

    def set_box(self, ann_id: Any, new: list[float]) -> bool:
        ann = self.annotation(ann_id)
        if ann is None:
            return False
        return self.do(SetBox(ann_id, list(ann["bbox"]), new))

    def delete_selected(self) -> bool:
        if self.selected is None:
            return False
        return self.do(DeleteShape(self.selected))

    # ------------------------------------------------------------------ whole shapes: move, nudge, copy, paste
    def move_offset(self, ann_id: Any, dx: float, dy: float) -> tuple[float, float]:
        """The part of a move by (``dx``, ``dy``) that keeps the shape on the image shown (whole pixels for a
        mask); (0, 0) when the shape is not on it."""
        ann, im = self.annotation(ann_id), self.image
        if ann is None or im is None or ann.get("image_id") != im["id"]:
            return 0.0, 0.0
        geom = geometry_of(ann)
        dx, dy = shapes.mask_offset(geom, dx, dy)
        seg = geom["segmentation"]
        box = polygons_bbox(seg) if isinstance(seg, list) and seg else geom["bbox"] or [0.0, 0.0, 0.0, 0.0]
        return shapes.clamped_offset(box, dx, dy, im.get("width") or 0, im.get("height") or 0)

    def move(self, ann_id: Any, dx: float, dy: float) -> bool:
        """A whole shape dragged by (``dx``, ``dy``): every part moves, kept on the image; one undo step. False
        when it did not move (already against the edge, or not on the image shown)."""
        return self._move(ann_id, dx, dy) is not None

    def _move(self, ann_id: Any, dx: float, dy: float) -> tuple[float, float] | None:
        """The move made (the offset, clamped), or None."""
        dx, dy = self.move_offset(ann_id, dx, dy)
        if dx == 0 and dy == 0:
            return None
        old = geometry_of(self.annotation(ann_id))  # type: ignore[arg-type]
        if not self.do(MoveShape(ann_id, old, shapes.moved(old, dx, dy))):
            return None
        if ann_id == self.selected:
            self.active_vertex = None  # a whole-shape edit: no vertex stays picked
        return dx, dy

    def nudge(self, dx: float, dy: float) -> bool:
        """An arrow key: the selected shape moves by (``dx``, ``dy``). Nudges of one shape in a row (no other edit
        between, each within :data:`NUDGE_MERGE_S` of the last) are one undo step: the last one is taken back
        and the whole move made again from where the shape was before the first. False when nothing is selected."""
        aid = self.selected
        if aid is None or not self.editable() or self.annotation(aid) is None:
            return False
        now, last = self.clock(), self._nudge
        top = self.stack.peek_undo()  # type: ignore[union-attr]
        self._nudge = None
        if last is not None and top is last[0] and edited_annotation(top) == aid and now - last[1] <= NUDGE_MERGE_S:
            done = last[2]
            self.stack.undo()  # type: ignore[union-attr]
            total = self._move(aid, done[0] + dx, done[1] + dy)
        else:
            total = self._move(aid, dx, dy)
        if total is not None:
            self._nudge = (self.stack.peek_undo(), now, total)  # type: ignore[union-attr,assignment]
        return True  # against the edge too: the key is still the editor's

    def duplicate(self) -> Any:
        """Ctrl+D: a copy of the selected shape a few pixels off (one undo step); returns its id (None: nothing)."""
        ann, im = self.selected_annotation(), self.image
        if ann is None or im is None:
            self.say("select a shape to duplicate")
            return None
        command = DuplicateShape(im["id"], [self._offset_copy(shapes.copied(ann), im)])
        return command.ann_ids[0] if self.do(command) else None  # type: ignore[index]

    def _offset_copy(self, shape: dict, im: dict) -> dict:
        """``shape`` moved by :data:`COPY_OFFSET` down and right, or up and left when it cannot go there."""
        w, h = im.get("width") or 0, im.get("height") or 0
        out = shapes.offset_shape(shape, COPY_OFFSET, COPY_OFFSET, w, h)
        if out["segmentation"] == shape["segmentation"] and out["bbox"] == shape["bbox"]:
            out = shapes.offset_shape(shape, -COPY_OFFSET, -COPY_OFFSET, w, h)
        return out

    def copy(self) -> int:
        """Ctrl+C: the selected shape, or every shape of the image shown when none is selected (how labelme's
        "copy" of a whole image works). Returns how many were copied."""
        im = self.image
        if im is None or self.ds is None:
            return 0
        anns = [self.selected_annotation()] if self.selected is not None else list(self.ds.anns_for_image(im["id"]))
        anns = [a for a in anns if a is not None and shapes.kind_of(a) != "?"]
        if not anns:
            self.say("nothing to copy: this image has no shapes")
            return 0
        self.clipboard = Clipboard(im["id"], [shapes.copied(a) for a in anns])
        return len(anns)

    def paste(self) -> list:
        """Ctrl+V: the copied shapes onto the image shown, in one undo step: where they were when it is another
        image (clipped to it), a few pixels off on the image they came from. Returns the new ids."""
        im = self.image
        if self.clipboard is None:
            self.say("nothing to paste: copy a shape first (Ctrl+C)")
            return []
        if im is None:
            return []
        same = self.clipboard.image_id == im["id"]
        items = [self._offset_copy(s, im) for s in self.clipboard.shapes] if same else self.clipboard.shapes
        return self._paste(im, items)

    def paste_from(self, image_id: Any) -> list:
        """Every shape of image ``image_id`` (the previous one in the list) onto the image shown, in one undo step,
        where they are there and clipped to this image. Returns the new ids."""
        im = self.image
        if im is None or self.ds is None or image_id is None or not self.ds.has_image(image_id):
            self.say("there is no previous image to copy from")
            return []
        anns = [a for a in self.ds.anns_for_image(image_id) if shapes.kind_of(a) != "?"]
        if not anns:
            self.say(f"the previous image ({self.ds.image(image_id).get('file_name')}) has no shapes to copy")
            return []
        return self._paste(im, [shapes.copied(a) for a in anns])

    def _paste(self, im: dict, items: list[dict]) -> list:
        kept, cut, left_out = [], 0, 0
        for item in items:
            shape, was_cut = shapes.fitted(item, im.get("width") or 0, im.get("height") or 0)
            if shape is None:
                left_out += 1
                continue
            kept.append(shape)
            cut += int(was_cut)
        if not kept:
            self.say("nothing pasted: every copied shape lies outside this image")
            return []
        command = PasteShapes(im["id"], kept)
        if not self.do(command):
            return []
        if cut or left_out:
            self.say(f"{len(kept)} shape(s) pasted: {cut} cut to the image's edges, {left_out} outside it left out")
        return list(command.ann_ids or [])

    def convert_mask(self) -> shapes.Conversion | None:
        """The selected RLE mask becomes polygons (one undo step) so its vertices can be edited; the user is told
        how faithful they are (IoU with the mask, holes dropped) and whether that is lossy."""
        ann = self.selected_annotation()
        if ann is None or not is_rle(ann.get("segmentation")):
            self.say("select a mask (RLE) shape to convert it to polygons")
            return None
        conversion = shapes.mask_to_parts(ann["segmentation"])
        if not conversion.parts:
            self.say(f"annotation {ann['id']}: the mask has no region of 1 px² or more to outline")
            return None
        new = {"segmentation": conversion.parts, "bbox": None, "area": None}
        if not self.do(MaskToPolygons(ann["id"], geometry_of(ann), new)):
            return None
        self.say(conversion.describe(ann["id"]))
        return conversion

    def add_class(self, name: str) -> Any:
        """Add a category; returns its id (None when refused: empty or taken name)."""
        cmd = AddClass(name)
        return cmd.category_id if self.do(cmd) else None

    def undo(self) -> None:
        self._step(lambda s: s.undo())

    def redo(self) -> None:
        self._step(lambda s: s.redo())

    def _step(self, fn: Callable[[EditStack], Any]) -> None:
        if not self.editable():
            return
        try:
            fn(self.stack)
        except StudioError as e:
            self.say(str(e))

    # ------------------------------------------------------------------ after each edit
    def _on_stack_event(self, event: EditEvent) -> None:
        if self._journaling and self.journal is not None:
            try:
                self.journal.append(event.step, event.command)
            except OSError as e:
                self.say(f"{self.journal.path}: cannot write the recovery file ({e.strerror or e}); save soon")
        if event.categories_changed:
            self._refresh_names()
            if self.category_id is not None and not self.ds.has_category(self.category_id):  # type: ignore[union-attr]
                self.category_id = self._first_category()
        self.on_event(event)

    def reaction(self, event: EditEvent) -> Reaction:
        """What the view does after ``event``: an edit of the image shown is redrawn; an undo or redo selects
        the shape it changed (with the Select tool), and one made on another image shows that image."""
        cmd = event.command
        follow = event.kind != "do" and not self.replaying
        target = next((a for a in cmd.annotation_ids() if self.annotation(a) is not None), None)
        image = self.image
        if image is not None and cmd.image is not None and cmd.image == image["id"]:
            if follow and target is not None and self.tool == "select":
                select = target
            elif self.selected is not None and self.annotation(self.selected) is None:
                select = None
            else:
                select = self.selected
            return Reaction(cmd.annotation_ids(), select)
        if cmd.image is not None and follow:
            return Reaction(show=(cmd.image, target))
        if cmd.image is None and image is not None:  # an edit across images: redraw what it changed here
            here = [
                a for a in cmd.annotation_ids() if (ann := self.annotation(a)) is None or ann["image_id"] == image["id"]
            ]
            return Reaction(here)
        return Reaction()

    def _refresh_names(self) -> None:
        self._names = {c["id"]: str(c["name"]) for c in self.ds.categories} if self.ds is not None else {}

    def _first_category(self) -> Any:
        cats = self.categories()
        return cats[0]["id"] if cats else None

    # ------------------------------------------------------------------ saving
    def begin_save(self) -> SaveJob | None:
        """The snapshot to write now (None when nothing is open or a save is running). Serialized here, on the
        thread that edits, so the write is consistent; edits made meanwhile stay in the journal."""
        if self.ds is None or self.ann_path is None or self.saving:
            return None
        job = SaveJob(self.stack, self.journal, self.ann_path, snapshot(self.ds), self.stack.state)  # type: ignore[arg-type,union-attr]
        job.journal.begin_save()
        self.saving = True
        return job

    def save_ended(self, job: SaveJob, error: str | None = None, quiet: bool = False) -> None:
        """The write of ``job`` ended (``error``: why it failed, said unless ``quiet``; the journal keeps every
        edit). Saved: its session is clean up to the snapshot."""
        self.saving = False
        job.journal.end_save(error is None)
        if error is not None:
            if not quiet:
                self.say(f"not saved: {error}")
        elif job.stack is self.stack:
            job.stack.mark_clean(job.mark)
