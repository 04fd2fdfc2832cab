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
from studio.core.errors import DatasetError
from studio.core.geometry import is_rle, rle_problem, segmentation_area_bbox, shoelace_area
from studio.core.safe_names import name_problem, quoted

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

    def to_record(self) -> dict:
        rec = {"op": self.op}
        rec.update({k: copy.deepcopy(v) for k, v in self.__dict__.items()})
        return rec


@dataclass
class AddShape(Command):
    """A new polygon (``polygon``) or box-only (``bbox``, xywh) annotation; bbox and area follow from the shape."""

    op: ClassVar[str] = "add_shape"
    label: ClassVar[str] = "add shape"
    image_id: Any
    category_id: Any
    polygon: list[float] | None = None
    bbox: list[float] | None = None
    ann_id: Any = None  # assigned at the first apply, reused by redo and replay

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


# ----------------------------------------------------------------------------------------------- dataset-wide edits
# The label manager's class edits and "Add images": each one undoable and journaled like a shape edit. Their records
# hold what revert needs (the removed records and their places), so undo gives back the same ids in the same order.
def _category(ds: Dataset, category_id: Any, item: str) -> dict:
    if not ds.has_category(category_id):
        raise _fail(ds, "no such class (deleted or never saved)", item)
    return ds.category(category_id)


def _name_taken(ds: Dataset, name: str, but: Any = None) -> str | None:
    """The existing class name equal to ``name`` ignoring case and spaces around (``but``: a category id to skip)."""
    low = name.strip().lower()
    return next(
        (str(c["name"]) for c in ds.categories if c["id"] != but and str(c["name"]).strip().lower() == low), None
    )


def _put_category_back(ds: Dataset, record: dict, index: int | None) -> None:
    """A removed category record back under its own id, at its old place in ``ds.categories``."""
    ds.insert_category(copy.deepcopy(record))
    if index is not None and 0 <= index < len(ds.categories) - 1:
        ds.categories.insert(index, ds.categories.pop())


def _class_item(category_id: Any, record: dict | None = None) -> str:
    name = record.get("name") if record is not None else None
    return f"class {name!r} (id {category_id!r})" if name is not None else f"class id {category_id!r}"


@dataclass
class RenameClass(Command):
    """Give a class another name; the name must be non-empty and differ from every other class's (ignoring case)."""

    op: ClassVar[str] = "rename_class"
    label: ClassVar[str] = "rename class"
    category_id: Any
    old: str
    new: str

    def apply(self, ds: Dataset) -> None:
        item = _class_item(self.category_id, {"name": self.old})
        cat = _category(ds, self.category_id, item)
        if cat.get("name") != self.old:
            raise _fail(ds, f"its name is {cat.get('name')!r}, expected {self.old!r}", item)
        new = str(self.new).strip()
        if not new:
            raise _fail(ds, "a class needs a name", item)
        if new == self.old:
            raise _fail(ds, "the new name is the old one", item)
        taken = _name_taken(ds, new, but=self.category_id)
        if taken is not None:
            raise _fail(ds, f"a class named {taken!r} already exists (merge into it instead)", item)
        self.new = new
        cat["name"] = new

    def revert(self, ds: Dataset) -> None:
        item = _class_item(self.category_id, {"name": self.new})
        cat = _category(ds, self.category_id, item)
        if cat.get("name") != self.new:
            raise _fail(ds, f"its name is {cat.get('name')!r}, expected {self.new!r}", item)
        cat["name"] = self.old


@dataclass
class MergeClass(Command):
    """Every annotation of class ``source`` becomes ``target``, and ``source`` goes; revert puts ``source`` back at
    its place in the class list and gives it its annotations back."""

    op: ClassVar[str] = "merge_class"
    label: ClassVar[str] = "merge classes"
    source: Any
    target: Any
    moved: list | None = None  # [annotation id, image id] of each annotation moved, in dataset order
    category: dict | None = None  # the source category as it was
    index: int | None = None  # its position in ds.categories

    def apply(self, ds: Dataset) -> None:
        item = _class_item(self.source)
        src = _category(ds, self.source, item)
        item = _class_item(self.source, src)
        _category(ds, self.target, _class_item(self.target))
        if self.source == self.target:
            raise _fail(ds, "a class cannot be merged into itself", item)
        anns = [a for a in ds.annotations if a.get("category_id") == self.source]
        self.category, self.index = copy.deepcopy(src), _list_index(ds.categories, src)
        self.moved = [[a["id"], a["image_id"]] for a in anns]
        for a in anns:
            a["category_id"] = self.target
        ds.remove_category(self.source)

    def revert(self, ds: Dataset) -> None:
        item = _class_item(self.source, self.category)
        if self.category is None or self.moved is None:
            raise _fail(ds, "cannot undo a merge that was never made", item)
        if ds.has_category(self.source):
            raise _fail(ds, f"category id {self.source!r} is already used", item)
        anns = []
        for aid, _image in self.moved:
            ann = _annotation(ds, aid)
            if ann.get("category_id") != self.target:
                raise _fail(
                    ds, f"its category is {ann.get('category_id')!r}, expected {self.target!r}", f"annotation {aid}"
                )
            anns.append(ann)
        _put_category_back(ds, self.category, self.index)
        for ann in anns:
            ann["category_id"] = self.source

    def deltas(self) -> list[Delta]:
        return [d for _aid, image in self.moved or [] for d in ((image, self.source, -1), (image, self.target, 1))]


@dataclass
class DeleteClass(Command):
    """Remove a class and every annotation of it; revert puts the class and each annotation back, records and
    places in their lists as they were."""

    op: ClassVar[str] = "delete_class"
    label: ClassVar[str] = "delete class"
    category_id: Any
    category: dict | None = None  # the category as it was
    index: int | None = None  # its position in ds.categories
    removed: list | None = None  # [position in ds.annotations, record] of each annotation deleted, in list order

    def apply(self, ds: Dataset) -> None:
        cat = _category(ds, self.category_id, _class_item(self.category_id))
        self.category, self.index = copy.deepcopy(cat), _list_index(ds.categories, cat)
        removed, kept = [], []
        for i, ann in enumerate(ds.annotations):
            if ann.get("category_id") == self.category_id:
                removed.append([i, copy.deepcopy(ann)])
            else:
                kept.append(ann)
        self.removed = removed
        ds.remove_category(self.category_id)
        if removed:  # one pass over the list, not one list.remove per annotation
            ds.annotations[:] = kept
            ds.reindex()

    def revert(self, ds: Dataset) -> None:
        item = _class_item(self.category_id, self.category)
        if self.category is None or self.removed is None:
            raise _fail(ds, "cannot undo a deletion that was never made", item)
        if ds.has_category(self.category_id):
            raise _fail(ds, f"category id {self.category_id!r} is already used", item)
        for _pos, rec in self.removed:
            if _has_annotation(ds, rec["id"]):
                raise _fail(ds, "this annotation id is already taken", f"annotation {rec['id']}")
            if not ds.has_image(rec["image_id"]):
                raise _fail(ds, f"its image {rec['image_id']} is gone", f"annotation {rec['id']}")
        _put_category_back(ds, self.category, self.index)
        if self.removed:
            merged: list[dict] = []
            rest = iter(ds.annotations)
            for pos, rec in self.removed:  # positions ascend: fill up to each one from the annotations kept
                while len(merged) < pos and (nxt := next(rest, None)) is not None:
                    merged.append(nxt)
                merged.append(copy.deepcopy(rec))
            merged.extend(rest)
            ds.annotations[:] = merged
            ds.reindex()

    def deltas(self) -> list[Delta]:
        return [(rec["image_id"], self.category_id, -1) for _pos, rec in self.removed or []]


@dataclass
class AddImages(Command):
    """New image records with no annotations (``file_name`` relative to the images folder, ``width``, ``height``);
    ids are assigned at the first apply and reused by redo and replay. Revert takes them out again, which needs
    them unannotated (the stack undoes the shapes drawn on them first)."""

    op: ClassVar[str] = "add_images"
    label: ClassVar[str] = "add images"
    images: list[dict]

    def __post_init__(self) -> None:
        self.images = [dict(rec) for rec in self.images]  # ids are written into these: never into the caller's

    def apply(self, ds: Dataset) -> None:
        listed = {im.get("file_name") for im in ds.images}
        names: set[Any] = set()
        ids: set[Any] = set()
        for rec in self.images:
            name = rec.get("file_name")
            item = f"image {quoted(name)}"
            problem = name_problem(name)
            if problem is not None:
                raise _fail(ds, f"the file name {problem}", item)
            if name in listed or name in names:
                raise _fail(ds, "this file is listed already", item)
            size = (rec.get("width"), rec.get("height"))
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
                raise _fail(
                    ds, f"an image needs a positive integer width and height, got {size[0]!r} x {size[1]!r}", item
                )
            rid = rec.get("id")
            if rid is not None and (ds.has_image(rid) or rid in ids):
                raise _fail(ds, f"image id {rid!r} is already taken", item)
            names.add(name)
            ids.add(rid)
        for rec in self.images:
            extra = {k: copy.deepcopy(v) for k, v in rec.items() if k not in ("file_name", "width", "height")}
            if extra.get("id") is None:
                extra.pop("id", None)
            rec["id"] = ds.add_image(rec["file_name"], rec["width"], rec["height"], **extra)["id"]

    def revert(self, ds: Dataset) -> None:
        ids = [rec.get("id") for rec in self.images]
        for rec in self.images:
            item = f"image {quoted(rec.get('file_name'))}"
            if rec.get("id") is None or not ds.has_image(rec["id"]):
                raise _fail(ds, "no such image (removed or never added)", item)
            if ds.anns_for_image(rec["id"]):
                raise _fail(ds, "it has annotations now: undo them first", item)
        gone = set(ids)
        ds.images[:] = [im for im in ds.images if im["id"] not in gone]
        ds.reindex()


COMMANDS: dict[str, type[Command]] = {
    c.op: c
    for c in (AddShape, DeleteShape, SetPolygon, SetBox, ChangeLabel, AddClass)
    + (RenameClass, MergeClass, DeleteClass, AddImages)
}


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
        return isinstance(self.command, (AddClass, RenameClass, MergeClass, DeleteClass))

    @property
    def images_changed(self) -> bool:
        """Image records were added or taken out (the image list follows)."""
        return isinstance(self.command, AddImages)


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
    "AddImages",
    "AddShape",
    "ChangeLabel",
    "ClassChange",
    "Command",
    "DeleteClass",
    "DeleteShape",
    "EditEvent",
    "EditStack",
    "MergeClass",
    "RenameClass",
    "SetBox",
    "SetPolygon",
    "check_box",
    "check_polygon",
    "class_count_changes",
    "command_from_record",
]


# ----------------------------------------------------------------------------------------------- whole-shape edits
# The editor's moves, nudges, deleted polygon parts and masks turned into polygons replace an annotation's whole
# geometry (SetShape and its kinds); duplicates and pastes add finished shapes of any kind (PasteShapes).
GEOMETRY_KEYS = ("segmentation", "bbox", "area")


def geometry_of(ann: dict) -> dict:
    """``{"segmentation", "bbox", "area"}`` of an annotation, copied (None for a key it lacks)."""
    return {k: copy.deepcopy(ann.get(k)) for k in GEOMETRY_KEYS}


def _same_shape(a: dict, b: dict) -> bool:
    return a.get("segmentation") == b.get("segmentation") and a.get("bbox") == b.get("bbox")


def _checked_geometry(ds: Dataset, geom: dict, image: dict, item: str) -> dict:
    """``geom`` made whole: polygons (every part checked) or an RLE mask of the image's size with the bbox and
    area they span, or a box-only shape (``segmentation`` empty or absent) with the area of its box."""
    seg = geom.get("segmentation")
    if is_rle(seg):
        problem = rle_problem(seg, image.get("height"), image.get("width"))
        if problem is not None:
            raise _fail(ds, problem, item)
        area, box = segmentation_area_bbox(seg)
        if area <= 0:
            raise _fail(ds, "the mask is empty", item)
        return {"segmentation": copy.deepcopy(seg), "bbox": box, "area": area}
    if isinstance(seg, list) and seg:
        parts = [check_polygon(ds, p, item) for p in seg]
        area, box = segmentation_area_bbox(parts)
        return {"segmentation": parts, "bbox": box, "area": area}
    if seg not in (None, []):
        raise _fail(ds, f"a segmentation is a list of polygons or an RLE mask, got {type(seg).__name__}", item)
    box = check_box(ds, geom.get("bbox") or [], item)
    return {"segmentation": copy.deepcopy(seg), "bbox": box, "area": box[2] * box[3]}


def _set_geometry(ann: dict, geom: dict) -> None:
    """Write ``geom`` into the record: existing keys keep their place, a None takes the key out."""
    for key in GEOMETRY_KEYS:
        if geom.get(key) is None:
            ann.pop(key, None)
        else:
            ann[key] = copy.deepcopy(geom[key])


@dataclass
class SetShape(Command):
    """Replace an annotation's whole geometry: ``old`` and ``new`` are ``{"segmentation", "bbox", "area"}``
    (:func:`geometry_of`); the bbox and area of ``new`` follow from its segmentation, and revert puts ``old``
    back exactly. The subclasses only name the edit for "Undo …"."""

    op: ClassVar[str] = "set_shape"
    label: ClassVar[str] = "edit shape"
    ann_id: Any
    old: dict
    new: dict
    image_id: Any = None

    def apply(self, ds: Dataset) -> None:
        ann = _annotation(ds, self.ann_id)
        item = f"annotation {self.ann_id}"
        if not _same_shape(ann, self.old):
            raise _fail(ds, "its shape changed since this edit was made", item)
        if not ds.has_image(ann["image_id"]):
            raise _fail(ds, f"its image {ann['image_id']} is gone", item)
        self.new = _checked_geometry(ds, self.new, ds.image(ann["image_id"]), item)
        self.image_id = ann["image_id"]
        _set_geometry(ann, self.new)

    def revert(self, ds: Dataset) -> None:
        ann = _annotation(ds, self.ann_id)
        if not _same_shape(ann, self.new):
            raise _fail(ds, "its shape changed since this edit was made", f"annotation {self.ann_id}")
        _set_geometry(ann, self.old)


@dataclass
class MoveShape(SetShape):
    """A whole shape dragged or nudged: every part of it by the same offset."""

    op: ClassVar[str] = "move_shape"
    label: ClassVar[str] = "move shape"


@dataclass
class DeletePart(SetShape):
    """One part of a multi-part polygon taken out."""

    op: ClassVar[str] = "delete_part"
    label: ClassVar[str] = "delete polygon part"


@dataclass
class MaskToPolygons(SetShape):
    """An RLE mask replaced by the polygons of its outline (so its vertices can be edited)."""

    op: ClassVar[str] = "mask_to_polygons"
    label: ClassVar[str] = "convert mask to polygons"


@dataclass
class PasteShapes(Command):
    """Finished shapes added to one image in one step (paste, duplicate, copy from another image): each of
    ``shapes`` is ``{"category_id", "segmentation", "bbox", "iscrowd"}``, a polygon list, an RLE mask of the
    image's size or a box; ids are assigned at the first apply and reused by redo and replay."""

    op: ClassVar[str] = "paste_shapes"
    label: ClassVar[str] = "paste shapes"
    image_id: Any
    shapes: list[dict]
    ann_ids: list | None = None

    def apply(self, ds: Dataset) -> None:
        item = f"image {self.image_id}"
        if not ds.has_image(self.image_id):
            raise _fail(ds, "no such image", item)
        if not self.shapes:
            raise _fail(ds, "nothing to paste", item)
        if self.ann_ids is not None and len(self.ann_ids) != len(self.shapes):
            raise _fail(ds, f"{len(self.ann_ids)} ids for {len(self.shapes)} shapes", item)
        image = ds.image(self.image_id)
        checked = []
        for k, shape in enumerate(self.shapes):
            _check_category(ds, shape.get("category_id"), item)
            aid = self.ann_ids[k] if self.ann_ids is not None else None
            if aid is not None and _has_annotation(ds, aid):
                raise _fail(ds, "this annotation id is already taken", f"annotation {aid}")
            checked.append(_checked_geometry(ds, shape, image, f"{item}, shape {k + 1}"))
        ids = []
        for k, (shape, geom) in enumerate(zip(self.shapes, checked)):
            extra = {"id": self.ann_ids[k]} if self.ann_ids is not None else {}
            ann = ds.add_annotation(
                self.image_id,
                shape["category_id"],
                segmentation=geom["segmentation"] if geom["segmentation"] is not None else [],
                bbox=geom["bbox"],
                iscrowd=int(shape.get("iscrowd") or 0),
                **extra,
            )
            ann["area"] = geom["area"]
            ids.append(ann["id"])
        self.ann_ids = ids

    def revert(self, ds: Dataset) -> None:
        for aid in self.ann_ids or []:
            _annotation(ds, aid)
        for aid in reversed(self.ann_ids or []):
            ds.remove_annotation(aid)

    def annotation_ids(self) -> list[Any]:
        return list(self.ann_ids or [])

    def deltas(self) -> list[Delta]:
        return [(self.image_id, s.get("category_id"), 1) for s in self.shapes]


@dataclass
class DuplicateShape(PasteShapes):
    """A copy of a shape next to it, on the same image."""

    op: ClassVar[str] = "duplicate_shape"
    label: ClassVar[str] = "duplicate shape"


COMMANDS.update({c.op: c for c in (SetShape, MoveShape, DeletePart, MaskToPolygons, PasteShapes, DuplicateShape)})

__all__ += [
    "DeletePart",
    "DuplicateShape",
    "MaskToPolygons",
    "MoveShape",
    "PasteShapes",
    "SetShape",
    "geometry_of",
]


# ----------------------------------------------------------------------------------------------- smart tools, batches
# The smart tools' edits: a box given the polygon of the object in it (the box as drawn stays), a new shape of several
# parts, and a batch of edits made as one undo step (Data page > Box → mask…).
@dataclass
class BoxToMask(SetShape):
    """A box-only annotation given the polygon(s) of the object in its box. Unlike the other whole-shape edits the box
    stays as drawn: ``new["bbox"]`` is kept when given (None: the polygons' own box, a refit). The area is the
    polygons'."""

    op: ClassVar[str] = "box_to_mask"
    label: ClassVar[str] = "box to mask"

    def apply(self, ds: Dataset) -> None:
        keep = self.new.get("bbox")
        if keep is not None:
            keep = check_box(ds, keep, f"annotation {self.ann_id}")
        super().apply(ds)
        if keep is not None:
            self.new["bbox"] = keep
            _annotation(ds, self.ann_id)["bbox"] = list(keep)


@dataclass
class AddParts(PasteShapes):
    """A new shape of several polygon parts, drawn at once (a smart box whose strokes keep separate parts)."""

    op: ClassVar[str] = "add_parts"
    label: ClassVar[str] = "add shape"


@dataclass
class Batch(Command):
    """Several edits as one undo step: applied in order, reverted in reverse order. When one of them fails, those done
    before it are taken back, so a failing batch changes nothing, like any command. Its record holds theirs."""

    op: ClassVar[str] = "batch"
    edits: list
    title: str = "edits"  # what "Undo …" says

    def __post_init__(self) -> None:
        self.edits = [e if isinstance(e, Command) else command_from_record(e) for e in self.edits]

    @property
    def label(self) -> str:  # type: ignore[override]
        return self.title

    def apply(self, ds: Dataset) -> None:
        self._run(ds, self.edits, "apply", "revert")

    def revert(self, ds: Dataset) -> None:
        self._run(ds, list(reversed(self.edits)), "revert", "apply")

    @staticmethod
    def _run(ds: Dataset, edits: list[Command], step: str, back: str) -> None:
        done: list[Command] = []
        try:
            for e in edits:
                getattr(e, step)(ds)
                done.append(e)
        except Exception:
            for e in reversed(done):
                getattr(e, back)(ds)
            raise

    @property
    def image(self) -> Any:
        """The image every edit touches; None when they touch several (or none)."""
        images = {e.image for e in self.edits}
        return images.pop() if len(images) == 1 else None

    def annotation_ids(self) -> list[Any]:
        return list(dict.fromkeys(a for e in self.edits for a in e.annotation_ids()))

    def deltas(self) -> list[Delta]:
        return [d for e in self.edits for d in e.deltas()]

    def images_touched(self) -> list[Any]:
        """Every image an edit of the batch touches, in order."""
        return list(dict.fromkeys(e.image for e in self.edits if e.image is not None))

    def to_record(self) -> dict:
        return {"op": self.op, "edits": [e.to_record() for e in self.edits], "title": self.title}


COMMANDS.update({c.op: c for c in (BoxToMask, AddParts, Batch)})

__all__ += ["AddParts", "Batch", "BoxToMask"]
