"""Undoable annotation edits on a :class:`~studio.core.dataset.model.Dataset`, and the stack that holds them.

Every change the editor makes is a command with ``apply(ds)`` and ``revert(ds)``: applying then reverting
leaves the dataset as it was (records, their keys and their order in ``ds.annotations``), so undo back to
the saved state gives back the saved file byte for byte. A command validates before it mutates: one that
raises has changed nothing.

Commands also have a JSON form (``to_record`` / :func:`command_from_record`) holding everything they need,
ids assigned at the first apply included, so the recovery journal (:mod:`studio.core.dataset.recovery`) can
replay them onto the file after a crash.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import PROVENANCE_KEYS
from studio.core.errors import DatasetError
from studio.core.geometry import shoelace_area

DEFAULT_MAX_DEPTH = 1000
MIN_AREA = 1e-6  # px²: a shape below this is a click, not an object

Delta = tuple[Any, Any, int]  # (image_id, category_id, +1 / -1): how an edit changes the per-class counts


# ----------------------------------------------------------------------------------------------- checks
def _where(ds: Dataset) -> str:
    return str(ds.source) if ds.source is not None else "<dataset>"


def _fail(ds: Dataset, message: str, item: str | None) -> DatasetError:
    return DatasetError(message, file=_where(ds), item=item)


def _annotation(ds: Dataset, ann_id: Any) -> dict:
    try:
        return ds.annotation(ann_id)
    except KeyError:
        raise _fail(ds, "no such annotation (deleted or never saved)", f"annotation {ann_id}") from None


def _has_annotation(ds: Dataset, ann_id: Any) -> bool:
    try:
        ds.annotation(ann_id)
    except KeyError:
        return False
    return True


def _check_category(ds: Dataset, category_id: Any, item: str) -> None:
    if not ds.has_category(category_id):
        raise _fail(ds, f"unknown category id {category_id!r}", item)


def check_polygon(ds: Dataset, flat: Sequence[float], item: str) -> list[float]:
    """The polygon as a list of floats, or a DatasetError naming the item: >= 3 finite points, some area."""
    pts = [float(v) for v in flat]
    if len(pts) % 2:
        raise _fail(ds, f"a polygon needs x,y pairs, got {len(pts)} numbers", item)
    if len(pts) < 6:
        raise _fail(ds, f"a polygon needs at least 3 points, got {len(pts) // 2}", item)
    if not all(math.isfinite(v) for v in pts):
        raise _fail(ds, "a polygon coordinate is not a finite number", item)
    if shoelace_area(pts) <= MIN_AREA:
        raise _fail(ds, "the polygon has no area (its points are on one line)", item)
    return pts


def check_box(ds: Dataset, bbox: Sequence[float], item: str) -> list[float]:
    """An ``[x, y, w, h]`` box with positive width and height, or a DatasetError naming the item."""
    box = [float(v) for v in bbox]
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise _fail(ds, f"a box is [x, y, width, height], got {list(bbox)!r}", item)
    if box[2] <= 0 or box[3] <= 0:
        raise _fail(ds, f"a box needs a positive width and height, got {box[2]:g} x {box[3]:g}", item)
    return box


def provenance_fields(ds: Dataset, fields: dict | None, item: str) -> dict:
    """The provenance keys of a new annotation (``source``, ``status``, ``score``, ``checkpoint``), or a DatasetError
    naming the item for any other key."""
    other = sorted(set(fields or {}) - set(PROVENANCE_KEYS))
    if other:
        raise _fail(ds, f"not a provenance key: {', '.join(other)}", item)
    return {k: fields[k] for k in PROVENANCE_KEYS if k in (fields or {})}  # type: ignore[index]


def _restore_annotation(ds: Dataset, record: dict, index: int | None) -> dict:
    """Put a removed annotation back exactly as it was: same dict content, same place in the list."""
    ann = ds.add_annotation(record["image_id"], record["category_id"], bbox=[0, 0, 0, 0], id=record["id"])
    ann.clear()  # add_annotation indexed this dict; refill it with the original keys, in their order
    ann.update(copy.deepcopy(record))
    if index is not None and 0 <= index < len(ds.annotations) - 1:
        ds.annotations.pop()
        ds.annotations.insert(index, ann)
    return ann


def _list_index(records: list[dict], record: dict) -> int:
    return next(i for i, r in enumerate(records) if r is record)


# ----------------------------------------------------------------------------------------------- commands
class Command:
    """One undoable edit. Subclasses are dataclasses whose fields are their JSON record."""

    op: ClassVar[str]
    label: ClassVar[str]  # for "Undo <label>" tooltips
    changes_categories: ClassVar[bool] = False  # adds, renames or removes classes (the class lists follow)
    changes_images: ClassVar[bool] = False  # adds or removes image records (the image list follows)

    def apply(self, ds: Dataset) -> None:
        raise NotImplementedError

    def revert(self, ds: Dataset) -> None:
        raise NotImplementedError

    @property
    def image(self) -> Any:
        """The image the edit touches (None for class edits)."""
        return getattr(self, "image_id", None)

    def annotation_ids(self) -> list[Any]:
        """Annotations whose drawing changes when this edit is applied or reverted."""
        aid = getattr(self, "ann_id", None)
        return [aid] if aid is not None else []

    def deltas(self) -> list[Delta]:
        """How applying this edit changes per-class instance counts (reverting negates them)."""
        return []

    def images_touched(self) -> list[Any]:
        """Every image whose annotations this edit changes (their number, class, shape or status), in order."""
        ids = [d[0] for d in self.deltas()]
        if self.image is not None:
            ids.append(self.image)
        return list(dict.fromkeys(ids))

    def to_record(self) -> dict:
        rec = {"op": self.op}
        rec.update({k: copy.deepcopy(v) for k, v in self.__dict__.items()})
        return rec


@dataclass
class AddShape(Command):
    """A new polygon (``polygon``) or box-only (``bbox``, xywh) annotation; bbox and area follow from the shape.
    ``provenance``: its ``source`` / ``status`` keys (:func:`studio.core.dataset.provenance.provenance`), written
    into the record; None adds none (a plain manual annotation)."""

    op: ClassVar[str] = "add_shape"
    label: ClassVar[str] = "add shape"
    image_id: Any
    category_id: Any
    polygon: list[float] | None = None
    bbox: list[float] | None = None
    ann_id: Any = None  # assigned at the first apply, reused by redo and replay
    provenance: dict | None = None

    def apply(self, ds: Dataset) -> None:
        item = f"image {self.image_id}"
        if not ds.has_image(self.image_id):
            raise _fail(ds, "no such image", item)
        _check_category(ds, self.category_id, item)
        if (self.polygon is None) == (self.bbox is None):
            raise _fail(ds, "a new shape is either a polygon or a box", item)
        if self.ann_id is not None and _has_annotation(ds, self.ann_id):
            raise _fail(ds, "this annotation id is already taken", f"annotation {self.ann_id}")
        extra = {"id": self.ann_id} if self.ann_id is not None else {}
        extra.update(provenance_fields(ds, self.provenance, item))
        if self.polygon is not None:
            poly = check_polygon(ds, self.polygon, item)
            ann = ds.add_annotation(self.image_id, self.category_id, segmentation=[poly], **extra)
        else:
            box = check_box(ds, self.bbox, item)  # type: ignore[arg-type]
            ann = ds.add_annotation(self.image_id, self.category_id, segmentation=[], bbox=box, **extra)
        self.ann_id = ann["id"]

    def revert(self, ds: Dataset) -> None:
        _annotation(ds, self.ann_id)
        ds.remove_annotation(self.ann_id)

    def deltas(self) -> list[Delta]:
        return [(self.image_id, self.category_id, 1)]


@dataclass
class DeleteShape(Command):
    """Remove one annotation; revert puts the very same record back at its place in the list."""

    op: ClassVar[str] = "delete_shape"
    label: ClassVar[str] = "delete shape"
    ann_id: Any
    image_id: Any = None
    category_id: Any = None
    record: dict | None = None  # the annotation as it was, captured at apply
    index: int | None = None  # its position in ds.annotations

    def apply(self, ds: Dataset) -> None:
        ann = _annotation(ds, self.ann_id)
        self.record = copy.deepcopy(ann)
        self.index = _list_index(ds.annotations, ann)
        self.image_id, self.category_id = ann["image_id"], ann["category_id"]
        ds.remove_annotation(self.ann_id)

    def revert(self, ds: Dataset) -> None:
        if self.record is None:
            raise _fail(ds, "cannot restore an annotation that was never deleted", f"annotation {self.ann_id}")
        if _has_annotation(ds, self.ann_id):
            raise _fail(ds, "this annotation id is already taken", f"annotation {self.ann_id}")
        if not ds.has_image(self.record["image_id"]):
            raise _fail(ds, f"its image {self.record['image_id']} is gone", f"annotation {self.ann_id}")
        _restore_annotation(ds, self.record, self.index)

    def deltas(self) -> list[Delta]:
        return [(self.image_id, self.category_id, -1)]


@dataclass
class SetPolygon(Command):
    """Replace one polygon part of an annotation (a moved, inserted or deleted vertex); bbox and area follow."""

    op: ClassVar[str] = "set_polygon"
    label: ClassVar[str] = "edit polygon"
    ann_id: Any
    part: int
    old: list[float]
    new: list[float]
    image_id: Any = None
    old_bbox: list[float] | None = None  # restored exactly by revert (files may carry rounded boxes)
    old_area: float | None = None

    def _polygons(self, ds: Dataset) -> tuple[dict, list]:
        ann = _annotation(ds, self.ann_id)
        seg = ann.get("segmentation")
        item = f"annotation {self.ann_id}"
        if not isinstance(seg, list) or not 0 <= self.part < len(seg):
            raise _fail(ds, f"has no polygon part {self.part}", item)
        return ann, seg

    def apply(self, ds: Dataset) -> None:
        ann, seg = self._polygons(ds)
        item = f"annotation {self.ann_id}"
        if [float(v) for v in seg[self.part]] != [float(v) for v in self.old]:
            raise _fail(ds, f"polygon part {self.part} changed since this edit was made", item)
        new = check_polygon(ds, self.new, item)
        self.image_id = ann["image_id"]
        self.old_bbox = copy.deepcopy(ann.get("bbox"))
        self.old_area = ann.get("area")
        parts = list(seg)
        parts[self.part] = new
        ds.set_segmentation(self.ann_id, parts)

    def revert(self, ds: Dataset) -> None:
        ann, seg = self._polygons(ds)
        parts = list(seg)
        parts[self.part] = list(self.old)
        ds.set_segmentation(self.ann_id, parts)
        for key, old in (("bbox", self.old_bbox), ("area", self.old_area)):
            if old is None:
                ann.pop(key, None)
            else:
                ann[key] = copy.deepcopy(old)


@dataclass
class SetBox(Command):
    """Move a corner of a box-only annotation (one with no polygon or mask)."""

    op: ClassVar[str] = "set_box"
    label: ClassVar[str] = "edit box"
    ann_id: Any
    old: list[float]
    new: list[float]
    image_id: Any = None
    old_area: float | None = None

    def apply(self, ds: Dataset) -> None:
        ann = _annotation(ds, self.ann_id)
        item = f"annotation {self.ann_id}"
        if ann.get("segmentation"):
            raise _fail(ds, "has a polygon or mask: edit its vertices, not its box", item)
        if [float(v) for v in ann.get("bbox") or []] != [float(v) for v in self.old]:
            raise _fail(ds, "its box changed since this edit was made", item)
        box = check_box(ds, self.new, item)
        self.image_id, self.old_area = ann["image_id"], ann.get("area")
        ann["bbox"] = box
        ann["area"] = box[2] * box[3]

    def revert(self, ds: Dataset) -> None:
        ann = _annotation(ds, self.ann_id)
        ann["bbox"] = list(self.old)
        if self.old_area is None:
            ann.pop("area", None)
        else:
            ann["area"] = self.old_area


@dataclass
class ChangeLabel(Command):
    """Give one annotation another category."""

    op: ClassVar[str] = "change_label"
    label: ClassVar[str] = "change class"
    ann_id: Any
    old: Any
    new: Any
    image_id: Any = None

    def _set(self, ds: Dataset, frm: Any, to: Any, check: bool) -> None:
        ann = _annotation(ds, self.ann_id)
        item = f"annotation {self.ann_id}"
        if ann.get("category_id") != frm:
            raise _fail(ds, f"its category is {ann.get('category_id')!r}, expected {frm!r}", item)
        if check:
            _check_category(ds, to, item)
        self.image_id = ann["image_id"]
        ann["category_id"] = to

    def apply(self, ds: Dataset) -> None:
        self._set(ds, self.old, self.new, check=True)

    def revert(self, ds: Dataset) -> None:
        self._set(ds, self.new, self.old, check=False)  # back to what it was, even an unknown category id

    def deltas(self) -> list[Delta]:
        return [(self.image_id, self.old, -1), (self.image_id, self.new, 1)]


@dataclass
class AddClass(Command):
    """A new category; the name must be non-empty and differ from every existing one (ignoring case)."""

    op: ClassVar[str] = "add_class"
    label: ClassVar[str] = "add class"
    changes_categories: ClassVar[bool] = True
    name: str
    supercategory: str = ""
    category_id: Any = None  # assigned at the first apply, reused by redo and replay

    def apply(self, ds: Dataset) -> None:
        name = str(self.name).strip()
        item = f"class {self.name!r}"
        if not name:
            raise _fail(ds, "a class needs a name", "new class")
        taken = next((c["name"] for c in ds.categories if str(c["name"]).strip().lower() == name.lower()), None)
        if taken is not None:
            raise _fail(ds, f"a class named {taken!r} already exists", item)
        self.name = name
        if self.category_id is None:
            self.category_id = ds.add_category(name, self.supercategory)
            return
        if ds.has_category(self.category_id):
            raise _fail(ds, f"category id {self.category_id!r} is already taken", item)
        ds.insert_category({"id": self.category_id, "name": name, "supercategory": self.supercategory})

    def revert(self, ds: Dataset) -> None:
        if not ds.has_category(self.category_id):
            raise _fail(ds, "no such category", f"class {self.name!r}")
        ds.remove_category(self.category_id)


#: every command by its ``op``; the modules with more kinds (dataset_edits, shape_edits) add theirs with
#: :func:`register`, and :mod:`studio.core.dataset.recovery` imports them so that a journal replays every kind
COMMANDS: dict[str, type[Command]] = {
    c.op: c for c in (AddShape, DeleteShape, SetPolygon, SetBox, ChangeLabel, AddClass)
}


def register(*kinds: type[Command]) -> None:
    """Make ``kinds`` known to :func:`command_from_record` (under their ``op``)."""
    COMMANDS.update({c.op: c for c in kinds})


def command_from_record(record: dict) -> Command:
    """The command a ``to_record()`` dict describes (raises ValueError on an unknown or malformed record)."""
    if not isinstance(record, dict) or record.get("op") not in COMMANDS:
        raise ValueError(f"not an edit record: {record!r:.80}")
    fields = {k: v for k, v in record.items() if k != "op"}
    try:
        return COMMANDS[record["op"]](**fields)
    except TypeError as e:
        raise ValueError(f"malformed {record['op']} record: {e}") from None


# ----------------------------------------------------------------------------------------------- the stack
@dataclass(frozen=True)
class EditEvent:
    """What listeners of an :class:`EditStack` receive after each change of the dataset."""

    kind: str  # "do", "undo" or "redo"
    command: Command

    @property
    def step(self) -> str:
        """ "apply" or "revert": what happened to the dataset."""
        return "revert" if self.kind == "undo" else "apply"

    @property
    def deltas(self) -> list[Delta]:
        """Per-class count changes of this event (those of the command, negated for an undo)."""
        sign = -1 if self.kind == "undo" else 1
        return [(img, cid, sign * d) for img, cid, d in self.command.deltas()]

    @property
    def categories_changed(self) -> bool:
        return self.command.changes_categories

    @property
    def images_changed(self) -> bool:
        """Image records were added or taken out (the image list follows)."""
        return self.command.changes_images


Listener = Callable[[EditEvent], None]


class EditStack:
    """Undo and redo over one dataset, with clean-state tracking.

    Every state of the dataset reached through the stack has a serial number; ``mark_clean`` records the
    saved one, so undoing back to it makes ``dirty`` False again and a new edit after undoing past it
    makes the saved state unreachable (dirty until the next save). ``max_depth`` bounds the undo history.
    """

    def __init__(self, ds: Dataset, max_depth: int = DEFAULT_MAX_DEPTH, listener: Listener | None = None):
        self.ds = ds
        self.max_depth = max(1, int(max_depth))
        self.listeners: list[Listener] = [listener] if listener is not None else []
        self._undo: list[tuple[Command, int]] = []  # (command, serial of the state it leads to)
        self._redo: list[tuple[Command, int]] = []
        self._serial = 0
        self._base = 0  # serial of the state under the oldest undoable command
        self._clean: int | None = 0

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> int:
        return self._undo[-1][1] if self._undo else self._base

    @property
    def dirty(self) -> bool:
        return self.state != self._clean

    def mark_clean(self, state: int | None = None) -> None:
        """The dataset as of ``state`` (default: now) is what the file holds."""
        self._clean = self.state if state is None else state

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def peek_undo(self) -> Command | None:
        return self._undo[-1][0] if self._undo else None

    def peek_redo(self) -> Command | None:
        return self._redo[-1][0] if self._redo else None

    def __len__(self) -> int:
        return len(self._undo)

    # ------------------------------------------------------------------ editing
    def do(self, command: Command) -> Command:
        """Apply ``command`` and make it the newest undoable edit (a failing command changes nothing)."""
        command.apply(self.ds)
        self._serial += 1
        self._undo.append((command, self._serial))
        self._redo.clear()
        while len(self._undo) > self.max_depth:
            _, self._base = self._undo.pop(0)
        self._notify(EditEvent("do", command))
        return command

    def undo(self) -> Command | None:
        if not self._undo:
            return None
        command, serial = self._undo[-1]
        command.revert(self.ds)
        self._undo.pop()
        self._redo.append((command, serial))
        self._notify(EditEvent("undo", command))
        return command

    def redo(self) -> Command | None:
        if not self._redo:
            return None
        command, serial = self._redo[-1]
        command.apply(self.ds)
        self._redo.pop()
        self._undo.append((command, serial))
        self._notify(EditEvent("redo", command))
        return command

    def replay(self, step: str, command: Command) -> None:
        """Redo one journaled step: through undo/redo when it matches the history (which then survives),
        else applied or reverted directly, which resets the history (the saved state becomes unreachable)."""
        record = command.to_record()
        if step == "apply":
            top = self.peek_redo()
            if top is not None and top.to_record() == record:
                self.redo()
            else:
                self.do(command)
        elif step == "revert":
            top = self.peek_undo()
            if top is not None and top.to_record() == record:
                self.undo()
            else:
                command.revert(self.ds)
                self._undo.clear()
                self._redo.clear()
                self._serial += 1
                self._base = self._serial
                self._clean = None
                self._notify(EditEvent("undo", command))
        else:
            raise ValueError(f"unknown step {step!r}")

    def _notify(self, event: EditEvent) -> None:
        for listener in list(self.listeners):
            listener(event)


# ----------------------------------------------------------------------------------------------- statistics
@dataclass
class ClassChange:
    """Net change of one class's counts after some edits."""

    instances: int = 0
    images: int = 0


def class_count_changes(ds: Dataset, deltas: Sequence[Delta]) -> dict[Any, ClassChange]:
    """Per-class instance and image-count changes, from the edits' deltas and the dataset *after* them.

    Only the annotations of the touched images are looked at, so statistics can follow each edit in
    constant time whatever the size of the dataset.
    """
    net: dict[tuple[Any, Any], int] = defaultdict(int)
    for image_id, cid, d in deltas:
        net[(image_id, cid)] += d
    out: dict[Any, ClassChange] = {}
    for (image_id, cid), d in net.items():
        if d == 0:
            continue
        after = sum(1 for a in ds.anns_for_image(image_id) if a.get("category_id") == cid)
        change = out.setdefault(cid, ClassChange())
        change.instances += d
        change.images += int(after > 0) - int(after - d > 0)
    return out


__all__ = [
    "AddClass",
    "AddShape",
    "ChangeLabel",
    "ClassChange",
    "Command",
    "DeleteShape",
    "EditEvent",
    "EditStack",
    "SetBox",
    "SetPolygon",
    "check_box",
    "check_polygon",
    "class_count_changes",
    "command_from_record",
    "register",
]
