"""The review edits of model proposals (add, accept, reject, accept above a score), the edits that accept a proposal
they change, and the provenance of new shapes: undo gives back the file exactly, the journal replays them."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest

from studio.core.dataset.edits import AddShape, ChangeLabel, EditStack, SetPolygon, command_from_record
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import ACCEPTED, MODEL, PENDING, SMART, is_pending, proposal, provenance
from studio.core.dataset.recovery import RecoveryJournal, find_recovery, replay
from studio.core.dataset.review_edits import (
    AcceptAnnotations,
    AddProposals,
    RejectAnnotations,
    accept_above,
    accepting,
    edited_annotation,
    pending_ids,
)
from studio.core.dataset.shape_edits import Batch, BoxToMask, MoveShape, PasteShapes, geometry_of
from studio.core.errors import DatasetError

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


@dataclass(frozen=True)
class Prop:
    """What ``studio.core.labelling.auto.Proposal`` carries (review_edits reads it by duck typing)."""

    image_id: object
    category_name: str
    segmentation: list
    bbox: list
    score: float
    checkpoint: str = "model.pt"


@dataclass(frozen=True)
class PropBatch:
    proposals: list
    images_done: list
    warnings: list = field(default_factory=list)


def _dataset() -> Dataset:
    """Two images; image 1 has a manual square (id 1), a pending proposal 0.9 (id 2) and an accepted model shape
    (id 3); image 2 has a pending box proposal 0.4 (id 4)."""
    ds = Dataset()
    ds.add_image("a.jpg", 100, 80)
    ds.add_image("b.jpg", 100, 80)
    cat = ds.add_category("cat")
    ds.add_annotation(1, cat, segmentation=[SQUARE])
    ds.add_annotation(1, cat, segmentation=[[40.0, 10.0, 60.0, 10.0, 60.0, 30.0]], **proposal(0.9, "old.pt"))
    ds.add_annotation(1, cat, bbox=[50, 40, 20, 20], **provenance(MODEL, ACCEPTED, score=0.8))
    ds.add_annotation(2, cat, bbox=[5, 5, 20, 10], **proposal(0.4, "old.pt"))
    return ds


def _bytes(ds: Dataset) -> bytes:
    return orjson.dumps(ds.to_dict())


def _round_trip(cmd):
    return command_from_record(orjson.loads(orjson.dumps(cmd.to_record())))


def test_accept_changes_only_the_status_and_undo_gives_it_back():
    ds = _dataset()
    before = _bytes(ds)
    stack = EditStack(ds)
    stack.do(AcceptAnnotations([2, 4]))
    assert [ds.annotation(a)["status"] for a in (2, 4)] == [ACCEPTED, ACCEPTED]
    assert ds.annotation(2)["source"] == MODEL and ds.annotation(2)["score"] == 0.9, "provenance stays"
    assert pending_ids(ds) == []
    stack.undo()
    assert _bytes(ds) == before
    stack.redo()
    assert pending_ids(ds) == []


def test_accept_and_reject_refuse_what_is_not_pending_and_change_nothing():
    ds = _dataset()
    before = _bytes(ds)
    for cmd in (AcceptAnnotations([2, 1]), AcceptAnnotations([3]), RejectAnnotations([2, 3]), RejectAnnotations([99])):
        with pytest.raises(DatasetError, match="annotation"):
            EditStack(ds).do(cmd)
        assert _bytes(ds) == before
    with pytest.raises(DatasetError, match="no pending proposal"):
        AcceptAnnotations([]).apply(ds)


def test_reject_removes_proposals_and_undo_puts_them_back_in_place():
    ds = _dataset()
    before = _bytes(ds)
    stack = EditStack(ds)
    events = []
    stack.listeners.append(events.append)
    stack.do(RejectAnnotations([4, 2]))
    assert [a["id"] for a in ds.annotations] == [1, 3]
    assert sorted(events[-1].deltas) == [(1, 1, -1), (2, 1, -1)]
    assert events[-1].command.image is None, "two images"
    stack.undo()
    assert _bytes(ds) == before, "same records, same places"
    assert sorted(events[-1].deltas) == [(1, 1, 1), (2, 1, 1)]


def test_accept_above_takes_every_pending_proposal_at_or_over_the_score():
    ds = _dataset()
    assert accept_above(ds, 0.5).ann_ids == [2]
    assert accept_above(ds, 0.4).ann_ids == [2, 4]
    assert accept_above(ds, 0.95).ann_ids == []
    stack = EditStack(ds)
    stack.do(accept_above(ds, 0.3))
    assert pending_ids(ds) == [] and len(stack) == 1, "one undo step"
    stack.undo()
    assert pending_ids(ds) == [2, 4]


def test_add_proposals_replaces_the_old_model_proposals_of_the_images_done_and_adds_classes():
    ds = _dataset()
    before = _bytes(ds)
    batch = PropBatch(
        [
            Prop(1, "dog", [[0.0, 0.0, 20.0, 0.0, 20.0, 20.0]], [0, 0, 20, 20], 0.77),
            Prop(1, "CAT", [], [60, 50, 10, 10], 0.55),
        ],
        images_done=[1],
    )
    stack = EditStack(ds)
    events = []
    stack.listeners.append(events.append)
    cmd = stack.do(AddProposals(batch))
    assert events[-1].categories_changed and events[-1].command.image == 1
    assert [c["name"] for c in ds.categories] == ["cat", "dog"]
    here = {a["id"]: a for a in ds.anns_for_image(1)}
    assert 2 not in here, "the old pending proposal of image 1 went"
    assert 1 in here and 3 in here, "the manual shape and the accepted model shape stay"
    assert ds.annotation(4)["status"] == PENDING, "image 2 was not run: its proposal stays"
    new = [ds.annotation(a) for a in cmd.ann_ids]
    assert [(a["category_id"], a["score"], a["checkpoint"], a["status"]) for a in new] == [
        (2, 0.77, "model.pt", PENDING),
        (1, 0.55, "model.pt", PENDING),
    ]
    assert new[1]["segmentation"] == [] and new[1]["bbox"] == [60.0, 50.0, 10.0, 10.0]
    assert sorted(events[-1].deltas) == sorted([(1, 1, -1), (1, 2, 1), (1, 1, 1)])
    after = _bytes(ds)
    stack.undo()
    assert _bytes(ds) == before, "the old proposal back in place, the new class gone"
    assert events[-1].categories_changed, "the class list follows the undo too"
    stack.redo()
    assert _bytes(ds) == after, "redo reuses the ids"


def test_add_proposals_refuses_bad_input_naming_the_item_and_changes_nothing():
    ds = _dataset()
    before = _bytes(ds)
    bad = [
        (PropBatch([Prop(7, "cat", [], [0, 0, 5, 5], 0.5)], [7]), "image 7"),
        (PropBatch([Prop(1, "cat", [[0, 0, 1, 1]], [0, 0, 0, 1], 0.5)], [1]), "proposal 1"),
        (PropBatch([Prop(1, "", [], [0, 0, 5, 5], 0.5)], [1]), "proposal 1"),
        (
            PropBatch([Prop(1, "cat", [], [0, 0, 5, 5], 0.5), Prop(2, "cat", [], [0, 0, 0, 5], 0.5)], [1, 2]),
            "proposal 2",
        ),
        (PropBatch([Prop(1, "cat", [], [0, 0, 5, 5], float("nan"))], [1]), "score"),
    ]
    for batch, where in bad:
        with pytest.raises(DatasetError, match=where):
            EditStack(ds).do(AddProposals(batch))
        assert _bytes(ds) == before


def test_a_proposal_part_without_area_is_left_out_and_none_left_makes_it_a_box():
    ds = _dataset()
    sliver = [0.0, 0.0, 5.0, 5.0, 10.0, 10.0]  # three points on a line
    batch = PropBatch(
        [
            Prop(2, "cat", [sliver, [0.0, 0.0, 9.0, 0.0, 9.0, 9.0]], [0, 0, 9, 9], 0.6),
            Prop(2, "cat", [sliver], [1, 2, 3, 4], 0.5),
        ],
        [2],
    )
    cmd = EditStack(ds).do(AddProposals(batch))
    first, second = (ds.annotation(a) for a in cmd.ann_ids)
    assert first["segmentation"] == [[0.0, 0.0, 9.0, 0.0, 9.0, 9.0]]
    assert second["segmentation"] == [] and second["bbox"] == [1.0, 2.0, 3.0, 4.0]


def test_editing_a_pending_proposal_accepts_it_in_the_same_undo_step():
    ds = _dataset()
    before = _bytes(ds)
    stack = EditStack(ds)
    old = ds.annotation(2)["segmentation"][0]
    moved = [v + 1 for v in old]
    cmd = accepting(ds, SetPolygon(2, 0, old, moved))
    assert isinstance(cmd, Batch) and cmd.label == "edit polygon" and edited_annotation(cmd) == 2
    stack.do(cmd)
    assert ds.annotation(2)["status"] == ACCEPTED and ds.annotation(2)["source"] == MODEL
    stack.undo()
    assert _bytes(ds) == before and len(stack) == 0
    relabel = accepting(ds, ChangeLabel(4, 1, 1))
    assert isinstance(relabel, Batch)
    geom = geometry_of(ds.annotation(4))
    assert isinstance(accepting(ds, MoveShape(4, geom, {**geom, "bbox": [6, 6, 20, 10]})), Batch)
    # a manual or accepted shape, and any other kind of edit, stay as they are
    plain = SetPolygon(1, 0, SQUARE, [v + 1 for v in SQUARE])
    assert accepting(ds, plain) is plain and edited_annotation(plain) == 1
    add = AddShape(1, 1, polygon=SQUARE)
    assert accepting(ds, add) is add
    # a refused edit accepts nothing
    with pytest.raises(DatasetError):
        stack.do(accepting(ds, SetPolygon(2, 0, [0.0] * 6, moved)))
    assert _bytes(ds) == before


def test_new_shapes_carry_their_provenance():
    ds = _dataset()
    stack = EditStack(ds)
    drawn = stack.do(AddShape(1, 1, polygon=SQUARE, provenance=provenance()))
    assert ds.annotation(drawn.ann_id)["source"] == "manual" and ds.annotation(drawn.ann_id)["status"] == ACCEPTED
    smart = stack.do(AddShape(1, 1, bbox=[1, 1, 5, 5], provenance=provenance(SMART)))
    assert ds.annotation(smart.ann_id)["source"] == SMART
    plain = stack.do(AddShape(1, 1, polygon=SQUARE))
    assert "source" not in ds.annotation(plain.ann_id), "no provenance given: a plain (manual) record"
    shape = {"category_id": 1, "segmentation": [SQUARE], "bbox": None, "iscrowd": 0, **provenance(MODEL)}
    pasted = stack.do(PasteShapes(2, [shape]))
    assert ds.annotation(pasted.ann_ids[0])["source"] == MODEL and not is_pending(ds.annotation(pasted.ann_ids[0]))
    with pytest.raises(DatasetError, match="not a provenance key"):
        stack.do(AddShape(1, 1, polygon=SQUARE, provenance={"id": 5}))
    assert _round_trip(smart).to_record() == smart.to_record()


def test_box_to_mask_makes_a_hand_drawn_box_smart_and_undo_takes_it_back():
    ds = _dataset()
    box = ds.add_annotation(2, 1, bbox=[40, 40, 20, 20])
    before = _bytes(ds)
    stack = EditStack(ds)
    new = {"segmentation": [[42.0, 42.0, 58.0, 42.0, 58.0, 58.0]], "bbox": None, "area": None}
    stack.do(BoxToMask(box["id"], geometry_of(box), new))
    assert ds.annotation(box["id"])["source"] == SMART
    stack.undo()
    assert _bytes(ds) == before
    proposal_box = ds.annotation(4)
    stack.do(BoxToMask(4, geometry_of(proposal_box), dict(new)))
    assert ds.annotation(4)["source"] == MODEL and ds.annotation(4)["status"] == PENDING, "a model's keeps its keys"


def test_the_journal_replays_review_edits(tmp_path):
    ann = tmp_path / "train.json"
    _dataset().save(ann)
    ds = Dataset.load(ann)
    stack = EditStack(ds)
    journal = RecoveryJournal(ann)
    stack.listeners.append(lambda e: journal.append(e.step, e.command))
    batch = PropBatch([Prop(2, "bird", [], [1, 1, 9, 9], 0.66)], [2])
    stack.do(AddProposals(batch))
    stack.do(AcceptAnnotations([2]))
    stack.do(RejectAnnotations(pending_ids(ds, 2)))
    stack.do(accepting(ds, ChangeLabel(3, 1, 2)))
    stack.undo()
    expected = _bytes(ds)
    journal.close()

    fresh = Dataset.load(ann)
    replay(EditStack(fresh), find_recovery(ann).path)
    assert _bytes(fresh) == expected
    for cmd in (AddProposals(batch), AcceptAnnotations([2]), RejectAnnotations([4])):
        assert _round_trip(cmd).to_record() == cmd.to_record()


def test_the_header_counts_follow_each_edit_and_match_a_full_count():
    """The Data page's ProvenanceFollower moves the totals by one image's difference; after each edit, undo and
    bulk edit they equal counting the whole dataset again."""
    from studio.core.dataset.provenance import count_provenance
    from studio.gui.data.provenance_counts import ProvenanceFollower

    ds = _dataset()
    follower = ProvenanceFollower(ds)
    seen = []
    stack = EditStack(ds, listener=lambda event: seen.append(follower.follow(event)))
    assert follower.counts == count_provenance(ds.annotations)
    assert follower.counts.text() == "1 manual · 3 model; 2 pending"  # proposals count as model
    stack.do(AcceptAnnotations([2]))
    stack.do(AddShape(2, 1, polygon=SQUARE, provenance=provenance(SMART)))
    stack.do(accept_above(ds, 0.3))
    for counts in seen:
        assert counts.by_source and counts.by_status
    assert seen[-1] == count_provenance(ds.annotations) and seen[-1].pending == 0
    while stack.undo() is not None:
        assert follower.counts == count_provenance(ds.annotations)
    assert follower.counts.text() == "1 manual · 3 model; 2 pending"
