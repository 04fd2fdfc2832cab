"""Where an annotation came from and whether a person has accepted it: model-in-the-loop labelling.

Two extra keys on a COCO annotation (COCO allows extra keys; :class:`~studio.core.dataset.model.Dataset`
keeps them through load and save):

* ``source``: ``manual`` (drawn by a person), ``model`` (proposed by a trained model) or ``smart``
  (made by a smart tool: GrabCut, scissors, brush from a box...);
* ``status``: ``accepted`` (ground truth) or ``pending`` (a proposal waiting for review).

A model proposal also carries ``score`` and ``checkpoint`` (the file name it came from). An annotation
without the keys is a manual, accepted one, so every file written before these keys existed keeps its
meaning. Accepting a proposal changes only its status: ``source: model`` stays, so provenance is never
lost.

Pending proposals are never ground truth: :func:`accepted_only` is what training, evaluation, export
verification and the pre-flight check read (through :func:`studio.core.data.splits.open_split`).
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from studio.core.dataset.model import Dataset

MANUAL, MODEL, SMART = "manual", "model", "smart"
SOURCES = (MANUAL, MODEL, SMART)
ACCEPTED, PENDING = "accepted", "pending"
STATUSES = (ACCEPTED, PENDING)
PROVENANCE_KEYS = ("source", "status", "score", "checkpoint")


def source_of(ann: dict) -> str:
    """``manual``, ``model`` or ``smart`` (a missing or unknown value reads as ``manual``)."""
    s = ann.get("source")
    return s if s in SOURCES else MANUAL


def status_of(ann: dict) -> str:
    """``accepted`` or ``pending`` (anything but ``pending`` reads as ``accepted``)."""
    return PENDING if ann.get("status") == PENDING else ACCEPTED


def is_pending(ann: dict) -> bool:
    return ann.get("status") == PENDING


def provenance(source: str = MANUAL, status: str = ACCEPTED, **more: Any) -> dict:
    """The extra keys of a new annotation: ``ds.add_annotation(..., **provenance(SMART))``."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    return {"source": source, "status": status, **{k: v for k, v in more.items() if v is not None}}


def proposal(score: float, checkpoint: str | None) -> dict:
    """The extra keys of a model proposal waiting for review."""
    return provenance(MODEL, PENDING, score=round(float(score), 5), checkpoint=checkpoint)


def accepted_fields(ann: dict) -> dict:
    """The keys to set on ``ann`` to accept it (for an edit that records old and new values)."""
    return {"status": ACCEPTED}


def strip_provenance(ann: dict) -> dict:
    """A copy of ``ann`` without the provenance keys (for formats that have no place for them)."""
    return {k: v for k, v in ann.items() if k not in PROVENANCE_KEYS}


def provenance_problem(ann: dict) -> str | None:
    """What is wrong with the provenance keys of ``ann`` (None when nothing): a ``source`` or ``status`` outside
    the known values, a ``score`` that is not a finite number, a ``checkpoint`` that is not a string. A missing
    key is fine (it reads as manual / accepted)."""
    if "source" in ann and ann["source"] not in SOURCES:
        return f"source must be one of {', '.join(SOURCES)}, got {ann['source']!r}"
    if "status" in ann and ann["status"] not in STATUSES:
        return f"status must be one of {', '.join(STATUSES)}, got {ann['status']!r}"
    score = ann.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score)
    ):
        return f"score must be a finite number, got {score!r}"
    ckpt = ann.get("checkpoint")
    if ckpt is not None and not isinstance(ckpt, str):
        return f"checkpoint must be a file name (a string), got {ckpt!r}"
    return None


def provenance_keys(ann: dict) -> dict:
    """The provenance keys ``ann`` carries (none for a plain manual annotation), in the order of
    :data:`PROVENANCE_KEYS`: what a format that can hold them writes beside the shape."""
    return {k: ann[k] for k in PROVENANCE_KEYS if k in ann}


def count_pending(anns: Iterable[dict]) -> int:
    return sum(1 for a in anns if is_pending(a))


def accepted_only(ds: Dataset) -> tuple[Dataset, int]:
    """``ds`` without its pending proposals, and how many were left out.

    The same object comes back when nothing is pending (no copy: the common case costs one pass).
    Otherwise a new Dataset shares the image and category records and holds the accepted annotations.
    """
    pending = count_pending(ds.annotations)
    if not pending:
        return ds, 0
    kept = [a for a in ds.annotations if not is_pending(a)]
    out = Dataset(ds.images, ds.categories, kept, extra=ds.extra, source=ds.source)
    return out, pending


def labelled_image_ids(ds: Dataset) -> set:
    """Images with at least one accepted annotation."""
    return {a["image_id"] for a in ds.annotations if not is_pending(a)}


def unlabelled_images(ds: Dataset) -> list[dict]:
    """Images with no accepted annotation (pending proposals do not make an image labelled), in file order."""
    done = labelled_image_ids(ds)
    return [im for im in ds.images if im["id"] not in done]


@dataclass(frozen=True)
class ProvenanceCounts:
    """Annotations counted by source and by status."""

    by_source: dict[str, int]
    by_status: dict[str, int]

    @property
    def pending(self) -> int:
        return self.by_status.get(PENDING, 0)

    def text(self) -> str:
        """``"12 manual · 30 model · 4 smart; 8 pending"``: the parts that are not zero."""
        src = " · ".join(f"{self.by_source[s]} {s}" for s in SOURCES if self.by_source.get(s))
        return f"{src or '0 annotations'}; {self.pending} pending"


Tally = Counter  # ("source", name) and ("status", name) -> annotations


def tally(anns: Iterable[dict]) -> Tally:
    """The annotations counted by source and by status, in one counter (totals add and subtract)."""
    out: Tally = Counter()
    for a in anns:
        out["source", source_of(a)] += 1
        out["status", status_of(a)] += 1
    return out


def counts_of(t: Tally) -> ProvenanceCounts:
    """The :class:`ProvenanceCounts` of a :func:`tally`."""
    return ProvenanceCounts(
        {s: t.get(("source", s), 0) for s in SOURCES}, {s: t.get(("status", s), 0) for s in STATUSES}
    )


def count_provenance(anns: Iterable[dict]) -> ProvenanceCounts:
    return counts_of(tally(anns))


def annotations_line(counts: ProvenanceCounts) -> str:
    """``"annotations: 40 manual · 12 model · 3 smart; 5 pending"`` (``"annotations: none"`` when empty): the
    line ``studio dataset stats`` prints and the Data page header shows."""
    if not sum(counts.by_source.values()):
        return "annotations: none"
    return f"annotations: {counts.text()}"


@dataclass(frozen=True)
class AcceptSummary:
    accepted: int
    rejected: int
    left_pending: int


def accept_by_score(ds: Dataset, min_score: float, *, reject_below: float | None = None) -> AcceptSummary:
    """Accept (in place) every pending proposal scoring at least ``min_score``; with ``reject_below``, remove
    the pending ones scoring under it. A pending annotation without a score counts as score 0."""
    accepted = rejected = 0
    for a in list(ds.annotations):
        if not is_pending(a):
            continue
        score = float(a.get("score", 0.0) or 0.0)
        if score >= min_score:
            a["status"] = ACCEPTED
            accepted += 1
        elif reject_below is not None and score < reject_below:
            ds.remove_annotation(a["id"])
            rejected += 1
    return AcceptSummary(accepted, rejected, count_pending(ds.annotations))


def without_pending(ds: Dataset) -> Dataset:
    """A deep copy without the pending proposals (what an export writes unless asked to keep them)."""
    kept = [copy.deepcopy(a) for a in ds.annotations if not is_pending(a)]
    return Dataset(copy.deepcopy(ds.images), copy.deepcopy(ds.categories), kept, copy.deepcopy(ds.extra), ds.source)
