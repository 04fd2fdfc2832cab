"""Reviewing model proposals as undoable edits: proposals added (replacing an image's older ones), accepted,
rejected, and the normal edits of a proposal that accept it in the same step.

A proposal is an annotation with ``source: model, status: pending`` (:mod:`studio.core.dataset.provenance`).
:class:`AddProposals` puts a batch of them in (the pending model proposals of the images the model ran on go,
classes missing by name are added); :class:`AcceptAnnotations` turns pending ones into ground truth (only the
status changes: ``source: model`` and the score stay, so provenance is never lost); :class:`RejectAnnotations`
removes pending ones. Each is one undo step, journaled and replayed by :mod:`studio.core.dataset.recovery`
like the other edits; revert gives back the records, their keys and their places in the lists exactly.

This module is below :mod:`studio.core.labelling` (which makes the proposals), so it takes any batch with
``.proposals`` and ``.images_done`` whose proposals have the fields of ``labelling.auto.Proposal``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from studio.core.dataset.edits import (
    ChangeLabel,
    Command,
    Delta,
    SetBox,
    SetPolygon,
    _annotation,
    _fail,
    _has_annotation,
    check_box,
    check_polygon,
    register,
)
from studio.core.dataset.ground_truth import BACKGROUND_KEY
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import ACCEPTED, MODEL, PENDING, is_pending, proposal, source_of
from studio.core.dataset.shape_edits import Batch, SetShape
from studio.core.errors import DatasetError

PROPOSAL_FIELDS = ("image_id", "category_name", "segmentation", "bbox", "score", "checkpoint")


class ProposalLike(Protocol):
    """What :class:`AddProposals` reads of one proposal (``studio.core.labelling.auto.Proposal`` has it)."""

    image_id: Any
    category_name: str
    segmentation: list[list[float]]
    bbox: list[float]
    score: float
    checkpoint: str


class ProposalBatchLike(Protocol):
    """What :class:`AddProposals` reads of a batch (``studio.core.labelling.auto.ProposalBatch`` has it)."""

    proposals: Sequence[ProposalLike]
    images_done: Sequence[Any]


def _batch_record(batch: Any) -> dict:
    """A batch as plain JSON: ``{"images_done": [...], "proposals": [{field: value}, ...]}`` (a dict passes)."""
    if isinstance(batch, dict):
        return {"images_done": list(batch.get("images_done") or []), "proposals": list(batch.get("proposals") or [])}
    props = [
        {k: copy.deepcopy(p[k] if isinstance(p, dict) else getattr(p, k)) for k in PROPOSAL_FIELDS}
        for p in batch.proposals
    ]
    return {"images_done": list(batch.images_done), "proposals": props}


def _remove_all(ds: Dataset, ann_ids: Iterable[Any]) -> list[list]:
    """Take annotations out in one pass; returns ``[position, record]`` of each, positions ascending."""
    gone = set(ann_ids)
    removed, kept = [], []
    for i, ann in enumerate(ds.annotations):
        if ann["id"] in gone:
            removed.append([i, copy.deepcopy(ann)])
        else:
            kept.append(ann)
    if removed:
        ds.annotations[:] = kept
        ds.reindex()
    return removed


def _check_put_back(ds: Dataset, removed: list[list], leaving: set | frozenset = frozenset()) -> None:
    """Raise unless :func:`_put_back` can restore ``removed`` once the annotations ``leaving`` are gone."""
    for _pos, rec in removed:
        if _has_annotation(ds, rec["id"]) and rec["id"] not in leaving:
            raise _fail(ds, "this annotation id is already taken", f"annotation {rec['id']}")
        if not ds.has_image(rec["image_id"]):
            raise _fail(ds, f"its image {rec['image_id']} is gone", f"annotation {rec['id']}")


def _put_back(ds: Dataset, removed: list[list]) -> None:
    """The records :func:`_remove_all` took, back at their positions (checked first: a failure changes nothing)."""
    _check_put_back(ds, removed)
    if not removed:
        return
    merged: list[dict] = []
    rest = iter(ds.annotations)
    for pos, rec in removed:  # positions ascend: fill up to each one from the annotations kept
        while len(merged) < pos and (nxt := next(rest, None)) is not None:
            merged.append(nxt)
        merged.append(copy.deepcopy(rec))
    merged.extend(rest)
    ds.annotations[:] = merged
    ds.reindex()


def _pending(ds: Dataset, ann_ids: Sequence[Any]) -> list[dict]:
    """The annotations ``ann_ids``, each checked to exist and to be a pending proposal."""
    if not ann_ids:
        raise _fail(ds, "no pending proposal to review", None)
    anns = []
    for aid in ann_ids:
        ann = _annotation(ds, aid)
        if not is_pending(ann):
            raise _fail(ds, "is not a pending proposal (accepted already, or drawn by hand)", f"annotation {aid}")
        anns.append(ann)
    return anns


def _usable_parts(ds: Dataset, parts: Sequence[Any], item: str) -> list[list[float]]:
    """The polygon parts of a proposal that make a shape (a model may trace a sliver of a few pixels in a line: it is
    left out; with no part left the proposal is its box)."""
    out = []
    for part in parts:
        try:
            out.append(check_polygon(ds, part, item))
        except DatasetError:
            continue
    return out


def _one_image(image_ids: Iterable[Any]) -> Any:
    images = set(image_ids)
    return images.pop() if len(images) == 1 else None


def _class_ids_by_name(ds: Dataset) -> dict[str, Any]:
    """Class name (trimmed, lower case) -> category id: how a proposal's class name finds its class."""
    return {str(c["name"]).strip().lower(): c["id"] for c in ds.categories}


@dataclass
class AddProposals(Command):
    """A model's proposals for some images, as one undo step: the pending model proposals of every image in
    ``batch.images_done`` go, each proposal of ``batch.proposals`` comes in as a pending model annotation
    (``provenance.proposal(score, checkpoint)``), and a class a proposal names that the dataset lacks (by name,
    ignoring case) is added. A polygon part without area is left out (no part left: the proposal is its box).
    Accepted annotations, proposals a person has accepted among them, are never touched.

    ``batch`` is any object with ``.proposals`` / ``.images_done`` (or its JSON form); the ids of what was added
    are assigned at the first apply and reused by redo and replay."""

    op: ClassVar[str] = "add_proposals"
    label: ClassVar[str] = "add model proposals"
    batch: Any
    category_ids: list | None = None  # [name, id] of each class added, assigned at the first apply
    ann_ids: list | None = None  # the id of each proposal added, in order
    class_ids: list | None = None  # the category id each proposal got, captured at apply
    removed: list | None = None  # [position, record] of each older proposal replaced, captured at apply

    def __post_init__(self) -> None:
        self.batch = _batch_record(self.batch)

    @property
    def changes_categories(self) -> bool:  # type: ignore[override]
        """Classes follow only when the edit adds one."""
        return bool(self.category_ids)

    def _checked(self, ds: Dataset) -> list[dict]:
        """Each proposal's annotation fields (image, class name, polygons or box), checked before any change."""
        out = []
        for k, p in enumerate(self.batch["proposals"]):
            image_id = p.get("image_id")
            item = f"image {image_id}, proposal {k + 1}"
            if not ds.has_image(image_id):
                raise _fail(ds, "no such image", item)
            name = str(p.get("category_name") or "").strip()
            if not name:
                raise _fail(ds, "a proposal needs a class name", item)
            score = p.get("score")
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise _fail(ds, f"a proposal's score must be a finite number, got {score!r}", item)
            parts = _usable_parts(ds, p.get("segmentation") or [], item)
            box = None if parts else check_box(ds, p.get("bbox") or [], item)
            out.append({"image_id": image_id, "name": name, "parts": parts, "bbox": box, "extra": p})
        if self.ann_ids is not None:
            if len(self.ann_ids) != len(out):
                raise _fail(ds, f"{len(self.ann_ids)} ids for {len(out)} proposals", None)
        return out

    def apply(self, ds: Dataset) -> None:
        for image_id in self.batch["images_done"]:
            if not ds.has_image(image_id):
                raise _fail(
                    ds, "no such image (the model ran on an image no longer in the dataset)", f"image {image_id}"
                )
        checked = self._checked(ds)
        done = set(self.batch["images_done"])
        old = [a["id"] for a in ds.annotations if a["image_id"] in done and is_pending(a) and source_of(a) == MODEL]
        keep_old = set(old)
        for aid in self.ann_ids or []:
            if _has_annotation(ds, aid) and aid not in keep_old:
                raise _fail(ds, "this annotation id is already taken", f"annotation {aid}")
        names = _class_ids_by_name(ds)
        recorded = dict(self.category_ids or [])
        added_classes: list[list] = []
        for name in dict.fromkeys(c["name"] for c in checked):
            if name.lower() in names:
                continue
            cid = recorded.get(name)
            if cid is None:
                cid = ds.add_category(name)
            elif ds.has_category(cid):
                raise _fail(ds, f"category id {cid!r} is already taken", f"class {name!r}")
            else:
                ds.insert_category({"id": cid, "name": name, "supercategory": ""})
            names[name.lower()] = cid
            added_classes.append([name, cid])
        self.category_ids = added_classes
        self.removed = _remove_all(ds, old)
        ids = []
        for k, c in enumerate(checked):
            extra = {"id": self.ann_ids[k]} if self.ann_ids is not None else {}
            p = c["extra"]
            ann = ds.add_annotation(
                c["image_id"],
                names[c["name"].lower()],
                segmentation=c["parts"],
                bbox=c["bbox"],
                **proposal(p["score"], p.get("checkpoint") or None),
                **extra,
            )
            ids.append(ann["id"])
        self.ann_ids = ids
        self.class_ids = [names[c["name"].lower()] for c in checked]

    def revert(self, ds: Dataset) -> None:
        for aid in self.ann_ids or []:
            _annotation(ds, aid)
        added = set(self.ann_ids or [])
        for name, cid in self.category_ids or []:
            if any(a.get("category_id") == cid and a["id"] not in added for a in ds.annotations):
                raise _fail(ds, "other annotations use this class now: undo them first", f"class {name!r}")
        _check_put_back(ds, self.removed or [], added)
        _remove_all(ds, added)
        _put_back(ds, self.removed or [])
        for _name, cid in reversed(self.category_ids or []):
            if ds.has_category(cid):
                ds.remove_category(cid)

    @property
    def image(self) -> Any:
        """The image the model ran on, when it is one."""
        return _one_image(self.batch["images_done"])

    def annotation_ids(self) -> list[Any]:
        return [*(self.ann_ids or []), *(rec["id"] for _pos, rec in self.removed or [])]

    def deltas(self) -> list[Delta]:
        out: list[Delta] = [(rec["image_id"], rec["category_id"], -1) for _pos, rec in self.removed or []]
        props = self.batch["proposals"]
        return out + [(p.get("image_id"), cid, 1) for p, cid in zip(props, self.class_ids or [])]


@dataclass
class AcceptAnnotations(Command):
    """Pending proposals become ground truth: ``status`` goes to ``accepted``; the source (model), score and
    checkpoint stay. Every annotation must be pending (revert makes them pending again)."""

    op: ClassVar[str] = "accept_annotations"
    label: ClassVar[str] = "accept proposals"
    ann_ids: list
    image_ids: list | None = None  # the image of each, captured at apply

    def __post_init__(self) -> None:
        self.ann_ids = list(dict.fromkeys(self.ann_ids))

    def apply(self, ds: Dataset) -> None:
        anns = _pending(ds, self.ann_ids)
        self.image_ids = [a["image_id"] for a in anns]
        for ann in anns:
            ann["status"] = ACCEPTED

    def revert(self, ds: Dataset) -> None:
        anns = [_annotation(ds, aid) for aid in self.ann_ids]
        for ann in anns:
            if ann.get("status") != ACCEPTED:
                raise _fail(ds, f"its status is {ann.get('status')!r}, expected accepted", f"annotation {ann['id']}")
        for ann in anns:
            ann["status"] = PENDING

    @property
    def image(self) -> Any:
        return _one_image(self.image_ids or [])

    def annotation_ids(self) -> list[Any]:
        return list(self.ann_ids)

    def images_touched(self) -> list[Any]:
        return list(dict.fromkeys(self.image_ids or []))


@dataclass
class RejectAnnotations(Command):
    """Pending proposals removed (a person said no); revert puts each record back at its place in the list."""

    op: ClassVar[str] = "reject_annotations"
    label: ClassVar[str] = "reject proposals"
    ann_ids: list
    removed: list | None = None  # [position, record] of each, captured at apply

    def __post_init__(self) -> None:
        self.ann_ids = list(dict.fromkeys(self.ann_ids))

    def apply(self, ds: Dataset) -> None:
        _pending(ds, self.ann_ids)
        self.removed = _remove_all(ds, self.ann_ids)

    def revert(self, ds: Dataset) -> None:
        if self.removed is None:
            raise _fail(ds, "cannot restore proposals that were never rejected", None)
        _put_back(ds, self.removed)

    @property
    def image(self) -> Any:
        return _one_image(rec["image_id"] for _pos, rec in self.removed or [])

    def annotation_ids(self) -> list[Any]:
        return list(self.ann_ids)

    def deltas(self) -> list[Delta]:
        return [(rec["image_id"], rec["category_id"], -1) for _pos, rec in self.removed or []]


@dataclass
class MarkBackground(Command):
    """Images reviewed with nothing to label (``background: true``, :mod:`studio.core.dataset.ground_truth`): in a
    labelling project they then train as background and count as labelled; ``on=False`` takes the mark off."""

    op: ClassVar[str] = "mark_background"
    label: ClassVar[str] = "mark as background"
    image_ids: list
    on: bool = True
    before: list | None = None  # each image's previous value of the key (None: absent), captured at apply

    def apply(self, ds: Dataset) -> None:
        for iid in self.image_ids:
            if not ds.has_image(iid):
                raise _fail(ds, "no such image", f"image {iid}")
        self.before = [ds.image(iid).get(BACKGROUND_KEY) for iid in self.image_ids]
        for iid in self.image_ids:
            if self.on:
                ds.image(iid)[BACKGROUND_KEY] = True
            else:
                ds.image(iid).pop(BACKGROUND_KEY, None)

    def revert(self, ds: Dataset) -> None:
        for iid, old in zip(self.image_ids, self.before or [None] * len(self.image_ids)):
            if old is None:
                ds.image(iid).pop(BACKGROUND_KEY, None)
            else:
                ds.image(iid)[BACKGROUND_KEY] = old

    @property
    def image(self) -> Any:
        return _one_image(self.image_ids)

    def images_touched(self) -> list[Any]:
        return list(dict.fromkeys(self.image_ids))


register(AddProposals, AcceptAnnotations, RejectAnnotations, MarkBackground)


def pending_ids(ds: Dataset, image_id: Any = None) -> list[Any]:
    """The pending proposals of one image (None: of the whole dataset), in the file's order."""
    anns = ds.annotations if image_id is None else ds.anns_for_image(image_id)
    return [a["id"] for a in anns if is_pending(a)]


def accept_above(ds: Dataset, min_score: float) -> AcceptAnnotations:
    """The edit accepting every pending proposal of ``ds`` scoring at least ``min_score`` (one undo step; a
    proposal without a score counts as 0). Its ``ann_ids`` is empty when none does (applying it then fails)."""
    ids = [a["id"] for a in ds.annotations if is_pending(a) and float(a.get("score") or 0.0) >= float(min_score)]
    return AcceptAnnotations(ids)


#: the edits of one annotation's shape or class: made on a pending proposal, they accept it too
ACCEPTING_EDITS: tuple[type[Command], ...] = (SetPolygon, SetBox, SetShape, ChangeLabel)


def accepting(ds: Dataset, command: Command) -> Command:
    """``command`` as it should be done: an edit of a pending proposal's shape or class (moved vertices, a drag, a
    relabel, a brush stroke) also accepts it, in the same undo step (a :class:`Batch` titled as the edit); any
    other command comes back as it is."""
    if not isinstance(command, ACCEPTING_EDITS):
        return command
    aid = getattr(command, "ann_id", None)
    if aid is None or not _has_annotation(ds, aid) or not is_pending(ds.annotation(aid)):
        return command
    return Batch([command, AcceptAnnotations([aid])], title=command.label)


def edited_annotation(command: Command | None) -> Any:
    """The annotation a single-shape edit changes, seen through :func:`accepting`'s batch (None: not one)."""
    if isinstance(command, Batch):
        ids = command.annotation_ids()
        return ids[0] if len(ids) == 1 else None
    return getattr(command, "ann_id", None)


__all__ = [
    "ACCEPTING_EDITS",
    "AcceptAnnotations",
    "AddProposals",
    "MarkBackground",
    "ProposalBatchLike",
    "ProposalLike",
    "RejectAnnotations",
    "accept_above",
    "accepting",
    "edited_annotation",
    "pending_ids",
]
