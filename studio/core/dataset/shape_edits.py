"""Whole-shape edits: moves, nudges, deleted polygon parts and masks turned into polygons replace an annotation's
geometry (SetShape and its kinds); duplicates and pastes add finished shapes (PasteShapes); the smart tools' edits
and batches of edits made as one undo step. Undoable and journaled like :mod:`studio.core.dataset.edits`."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from studio.core.dataset.edits import (
    Command,
    Delta,
    _annotation,
    _check_category,
    _fail,
    _has_annotation,
    check_box,
    check_polygon,
    command_from_record,
    provenance_fields,
    register,
)
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import MANUAL, PROVENANCE_KEYS, SMART, source_of
from studio.core.geometry import is_rle, rle_problem, segmentation_area_bbox

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
    image's size or a box, with the provenance keys it has (``source``, ``status``...: see
    :func:`studio.gui.editor.shapes.copied`); ids are assigned at the first apply and reused by redo and replay."""

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
            where = f"{item}, shape {k + 1}"
            provenance_fields(ds, {key: shape[key] for key in PROVENANCE_KEYS if key in shape}, where)
            checked.append(_checked_geometry(ds, shape, image, where))
        ids = []
        for k, (shape, geom) in enumerate(zip(self.shapes, checked)):
            extra = {"id": self.ann_ids[k]} if self.ann_ids is not None else {}
            extra.update({key: copy.deepcopy(shape[key]) for key in PROVENANCE_KEYS if key in shape})
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


register(SetShape, MoveShape, DeletePart, MaskToPolygons, PasteShapes, DuplicateShape)

__all__ = [
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
    polygons'. A box drawn by hand becomes ``source: smart`` (its outline is the smart tool's); a model's keeps
    its provenance."""

    op: ClassVar[str] = "box_to_mask"
    label: ClassVar[str] = "box to mask"
    source_was: Any = None  # the ``source`` key before (None: it had none), when the edit set it
    source_set: bool = False

    def apply(self, ds: Dataset) -> None:
        keep = self.new.get("bbox")
        if keep is not None:
            keep = check_box(ds, keep, f"annotation {self.ann_id}")
        super().apply(ds)
        ann = _annotation(ds, self.ann_id)
        if keep is not None:
            self.new["bbox"] = keep
            ann["bbox"] = list(keep)
        self.source_set = source_of(ann) == MANUAL
        if self.source_set:
            self.source_was = ann.get("source")
            ann["source"] = SMART

    def revert(self, ds: Dataset) -> None:
        super().revert(ds)
        if self.source_set:
            ann = _annotation(ds, self.ann_id)
            if self.source_was is None:
                ann.pop("source", None)
            else:
                ann["source"] = self.source_was


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
        return list(dict.fromkeys(i for e in self.edits for i in e.images_touched()))

    def to_record(self) -> dict:
        return {"op": self.op, "edits": [e.to_record() for e in self.edits], "title": self.title}


register(BoxToMask, AddParts, Batch)

__all__ += ["AddParts", "Batch", "BoxToMask"]
