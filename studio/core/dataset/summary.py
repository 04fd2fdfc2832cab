"""What the Data page shows of a dataset, counted: per-class rows and per-image rows, and keeping both in step
with edits.

Plain Python (no Qt): :func:`summarize` counts a whole dataset once (at load), :func:`follow_class_stats`
updates the per-class rows from one :class:`~studio.core.dataset.edits.EditEvent` and :func:`image_summary`
rebuilds the list row of one image. The last two cost what the edited image holds, never what the dataset
holds. :class:`LabelProgress` is the labelling progress (images with at least one accepted annotation, of all),
counted once by :func:`label_progress` and kept current by a :class:`LabelTracker` in the same way.
:func:`provenance_text` is the header line of the annotations counted by source and status.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from studio.core.dataset.edits import EditEvent, class_count_changes
from studio.core.dataset.ground_truth import BACKGROUND_KEY
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import annotations_line, count_provenance, is_pending


@dataclass(frozen=True)
class ClassStat:
    category_id: Any
    name: str
    instances: int
    images: int
    known: bool = True  # False for a category id used by annotations but absent from 'categories'


@dataclass(frozen=True)
class ImageSummary:
    image_id: Any
    file_name: str
    num_annotations: int
    category_ids: frozenset
    num_pending: int = 0  # of num_annotations: model proposals not reviewed yet
    background: bool = False  # reviewed, nothing to label (studio.core.dataset.ground_truth)

    @property
    def labelled(self) -> bool:
        """At least one accepted annotation (pending proposals do not make an image labelled), or marked as
        background."""
        return self.background or self.num_annotations > self.num_pending


def summarize(ds: Dataset) -> tuple[list[ClassStat], list[ImageSummary]]:
    """Per-class instance and image counts (categories in id order, then unknown ids) and per-image rows."""
    instances: dict[Any, int] = defaultdict(int)
    images_with: dict[Any, set] = defaultdict(set)
    for a in ds.annotations:
        instances[a["category_id"]] += 1
        images_with[a["category_id"]].add(a["image_id"])
    stats = [
        ClassStat(c["id"], c["name"], instances.get(c["id"], 0), len(images_with.get(c["id"], ())))
        for c in sorted(ds.categories, key=lambda c: _sort_key(c["id"]))
    ]
    stats += [
        ClassStat(cid, f"unknown category {cid!r}", n, len(images_with[cid]), known=False)
        for cid, n in sorted(instances.items(), key=lambda kv: _sort_key(kv[0]))
        if not ds.has_category(cid)
    ]
    rows = []
    for im in ds.images:
        rows.append(_row(im, ds.anns_for_image(im["id"])))
    return stats, rows


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))


def follow_class_stats(stats: list[ClassStat], ds: Dataset, event: EditEvent) -> list[ClassStat]:
    """The class rows after ``event``: counts shifted by its deltas, a new class appended, a removed one dropped.

    Known categories in id order (a new class last, a class given back by an undo at its place), unknown
    category ids after them (as :func:`summarize` orders them).
    """
    changes = class_count_changes(ds, event.deltas)

    def shifted(s: ClassStat, name: str, known: bool) -> ClassStat:
        ch = changes.get(s.category_id)
        if ch is None and s.name == name and s.known == known:
            return s
        return ClassStat(
            s.category_id, name, s.instances + (ch.instances if ch else 0), s.images + (ch.images if ch else 0), known
        )

    names = {c["id"]: str(c["name"]) for c in ds.categories}
    seen: set[Any] = set()
    known_rows, unknown_rows = [], []
    for s in stats:
        seen.add(s.category_id)
        if s.category_id in names:
            known_rows.append(shifted(s, names[s.category_id], True))
        elif s.known:
            continue  # its category was removed (an undone "add class")
        else:
            row = shifted(s, s.name, False)
            if row.instances > 0:
                unknown_rows.append(row)
    for c in ds.categories:
        if c["id"] not in seen:
            known_rows.append(shifted(ClassStat(c["id"], str(c["name"]), 0, 0), str(c["name"]), True))
    for cid, ch in changes.items():  # an undo gave an annotation back its unknown category
        if cid not in seen and cid not in names and ch.instances > 0:
            unknown_rows.append(ClassStat(cid, f"unknown category {cid!r}", ch.instances, ch.images, known=False))
    known_rows.sort(key=lambda s: _sort_key(s.category_id))  # an undone delete or merge: back at its place
    return known_rows + unknown_rows


def image_summary(ds: Dataset, image_id: Any) -> ImageSummary:
    """The image list row of one image, as the load job builds it."""
    return _row(ds.image(image_id), ds.anns_for_image(image_id))


def _row(im: dict, anns: list[dict]) -> ImageSummary:
    cats = frozenset(a["category_id"] for a in anns)
    pending = sum(1 for a in anns if is_pending(a))
    return ImageSummary(im["id"], str(im["file_name"]), len(anns), cats, pending, im.get(BACKGROUND_KEY) is True)


@dataclass(frozen=True)
class LabelProgress:
    """How far labelling has come: images with at least one accepted annotation ("labelled") of all images."""

    labelled: int
    total: int

    @property
    def unlabelled(self) -> int:
        return self.total - self.labelled

    @property
    def percent(self) -> float:
        return 100.0 * self.labelled / self.total if self.total else 0.0

    def text(self) -> str:
        """``"12 / 40 images labelled (30%)"``."""
        return f"{self.labelled} / {self.total} images labelled ({self.percent:.0f}%)"


def label_progress(rows: list[ImageSummary]) -> LabelProgress:
    """The progress of the image rows :func:`summarize` made (no second pass over the annotations)."""
    return LabelProgress(sum(1 for r in rows if r.labelled), len(rows))


class LabelTracker:
    """The labelling progress kept current by edits: the ids of the labelled images, updated for the images each
    edit touches (:meth:`~studio.core.dataset.edits.Command.images_touched`: added or deleted shapes, accepted or
    rejected proposals), so an edit costs what those images hold. Edits that add or take out images recount."""

    def __init__(self, rows: list[ImageSummary]):
        self._ids = {r.image_id for r in rows if r.labelled}
        self._total = len(rows)

    @property
    def progress(self) -> LabelProgress:
        return LabelProgress(len(self._ids), self._total)

    def follow(self, ds: Dataset, event: EditEvent) -> LabelProgress:
        if event.images_changed:
            self._ids = {im["id"] for im in ds.images if _labelled(ds, im)}
            self._total = len(ds.images)
            return self.progress
        touched = {d[0] for d in event.deltas} | set(event.command.images_touched())
        for image_id in touched:
            if ds.has_image(image_id) and _labelled(ds, ds.image(image_id)):
                self._ids.add(image_id)
            else:
                self._ids.discard(image_id)
        return self.progress


def _labelled(ds: Dataset, im: dict) -> bool:
    return im.get(BACKGROUND_KEY) is True or any(not is_pending(a) for a in ds.anns_for_image(im["id"]))


def provenance_text(ds: Dataset) -> str:
    """``"annotations: 40 manual · 12 model · 3 smart; 5 pending"``: the Data page header's provenance line.

    A full count (one pass, no geometry): accepting or rejecting a proposal changes a status and no class
    count, so the edit deltas that keep the class rows current cannot keep this line current.
    """
    return annotations_line(count_provenance(ds.annotations))
