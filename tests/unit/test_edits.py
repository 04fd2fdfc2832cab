"""Edit commands, the undo stack, the recovery journal, the editor's hit tests and its statistics (no Qt)."""

from __future__ import annotations

import copy
import os

import orjson
import pytest

from studio.core.dataset import hit
from studio.core.dataset.edits import (
    AddClass,
    AddShape,
    ChangeLabel,
    DeleteShape,
    EditStack,
    SetBox,
    SetPolygon,
    class_count_changes,
    command_from_record,
)
from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import (
    RecoveryJournal,
    find_recovery,
    net_steps,
    read_journal,
    recovery_path,
    replay,
    save,
    snapshot,
    write_snapshot,
)
from studio.core.dataset.summary import follow_class_stats, image_summary, summarize
from studio.core.errors import DatasetError
from studio.core.geometry import polygons_bbox, shoelace_area

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


def _coco() -> dict:
    return {
        "info": {"description": "hand-made"},
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 64},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            # the stored bbox is rounded, as some tools write it: undo must give back these exact values
            {
                "id": 5,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 20, 20],
                "area": 400,
                "iscrowd": 0,
                "segmentation": [SQUARE],
                "attributes": {"occluded": True},
            },
            {
                "id": 6,
                "image_id": 1,
                "category_id": 2,
                "bbox": [50, 40, 10, 5],
                "area": 50.0,
                "iscrowd": 0,
                "segmentation": [],
            },
            {
                "id": 7,
                "image_id": 2,
                "category_id": 1,
                "bbox": [1, 1, 5, 5],
                "area": 25.0,
                "iscrowd": 0,
                "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6], [20, 20, 30, 20, 25, 30]],
            },
        ],
    }


@pytest.fixture
def ds(tmp_path) -> Dataset:
    return Dataset.from_dict(copy.deepcopy(_coco()), source=tmp_path / "ann.json")


def _dump(ds: Dataset) -> bytes:
    return orjson.dumps(ds.to_dict())


def _round_trip(cmd):
    return command_from_record(orjson.loads(orjson.dumps(cmd.to_record())))


# ----------------------------------------------------------------------------------------------- commands
def test_add_polygon_computes_bbox_and_area_and_revert_removes_it(ds):
    before = _dump(ds)
    cmd = AddShape(1, 2, polygon=[0, 0, 40, 0, 40, 30])
    cmd.apply(ds)
    ann = ds.annotation(cmd.ann_id)
    assert cmd.ann_id == 8  # the next free id
    assert ann["segmentation"] == [[0.0, 0.0, 40.0, 0.0, 40.0, 30.0]]
    assert ann["bbox"] == [0.0, 0.0, 40.0, 30.0] and ann["area"] == 600.0
    assert ann["category_id"] == 2 and ann in ds.anns_for_image(1)
    cmd.revert(ds)
    assert _dump(ds) == before
    cmd.apply(ds)  # redo keeps the id
    assert ds.annotation(8)["area"] == 600.0


def test_add_box_is_box_only(ds):
    cmd = AddShape(2, 1, bbox=[3, 4, 10, 6])
    cmd.apply(ds)
    ann = ds.annotation(cmd.ann_id)
    assert ann["segmentation"] == [] and ann["bbox"] == [3.0, 4.0, 10.0, 6.0] and ann["area"] == 60.0


@pytest.mark.parametrize(
    "cmd, message, item",
    [
        (AddShape(1, 1, polygon=[0, 0, 10, 0]), "at least 3 points", "image 1"),
        (AddShape(1, 1, polygon=[0, 0, 5, 5, 10, 10]), "no area", "image 1"),
        (AddShape(1, 1, polygon=[0, 0, 5, 5, 10]), "x,y pairs", "image 1"),
        (AddShape(1, 9, polygon=[0, 0, 10, 0, 10, 10]), "unknown category id 9", "image 1"),
        (AddShape(3, 1, polygon=[0, 0, 10, 0, 10, 10]), "no such image", "image 3"),
        (AddShape(1, 1, bbox=[0, 0, 0, 5]), "positive width and height", "image 1"),
        (AddShape(1, 1, polygon=[0, 0, 10, 0, 10, 10], ann_id=5), "already taken", "annotation 5"),
        (SetPolygon(5, 0, SQUARE, [10, 10, 30, 10]), "at least 3 points", "annotation 5"),
        (SetPolygon(5, 0, [0, 0, 1, 0, 1, 1], SQUARE), "changed since", "annotation 5"),
        (SetPolygon(5, 3, SQUARE, SQUARE), "no polygon part 3", "annotation 5"),
        (SetPolygon(99, 0, SQUARE, SQUARE), "no such annotation", "annotation 99"),
        (SetBox(5, [10, 10, 20, 20], [0, 0, 5, 5]), "edit its vertices", "annotation 5"),
        (ChangeLabel(5, 1, 7), "unknown category id 7", "annotation 5"),
        (ChangeLabel(5, 2, 1), "expected 2", "annotation 5"),
        (DeleteShape(42), "no such annotation", "annotation 42"),
        (AddClass("  "), "needs a name", "new class"),
        (AddClass("Cat"), "already exists", "class 'Cat'"),
    ],
)
def test_refused_edits_name_the_file_and_item_and_change_nothing(ds, cmd, message, item):
    before = _dump(ds)
    with pytest.raises(DatasetError) as exc:
        cmd.apply(ds)
    assert message in exc.value.message
    assert exc.value.item == item and exc.value.file == str(ds.source)
    assert _dump(ds) == before


def test_set_polygon_moves_inserts_deletes_and_revert_restores_the_stored_box(ds):
    before = _dump(ds)
    moved = hit.moved_vertex(SQUARE, 2, 50, 40)
    cmd = SetPolygon(5, 0, SQUARE, moved)
    cmd.apply(ds)
    ann = ds.annotation(5)
    assert ann["segmentation"] == [moved]
    assert ann["bbox"] == polygons_bbox([moved]) == [10.0, 10.0, 40.0, 30.0]
    assert ann["area"] == pytest.approx(shoelace_area(moved))
    cmd.revert(ds)
    assert _dump(ds) == before  # bbox [10, 10, 20, 20] and area 400 as stored, not recomputed floats

    inserted = hit.inserted_vertex(SQUARE, 1, 20, 5)
    SetPolygon(5, 0, SQUARE, inserted).apply(ds)
    assert len(ds.annotation(5)["segmentation"][0]) == 10
    SetPolygon(5, 0, inserted, hit.deleted_vertex(inserted, 1)).apply(ds)
    assert ds.annotation(5)["segmentation"][0] == SQUARE
    # one part of a two-part annotation: the other part stays, the bbox covers both
    part = [20.0, 20.0, 40.0, 20.0, 25.0, 30.0]
    SetPolygon(7, 1, [20, 20, 30, 20, 25, 30], part).apply(ds)
    ann7 = ds.annotation(7)
    assert ann7["segmentation"][0] == [1, 1, 6, 1, 6, 6, 1, 6] and ann7["bbox"] == [1.0, 1.0, 39.0, 29.0]


def test_set_box(ds):
    before = _dump(ds)
    cmd = SetBox(6, [50, 40, 10, 5], hit.dragged_corner([50, 40, 10, 5], 2, 70, 60))
    cmd.apply(ds)
    assert ds.annotation(6)["bbox"] == [50.0, 40.0, 20.0, 20.0] and ds.annotation(6)["area"] == 400.0
    cmd.revert(ds)
    assert _dump(ds) == before


def test_delete_shape_revert_puts_the_same_record_back_in_place(ds):
    before = _dump(ds)
    cmd = DeleteShape(5)
    cmd.apply(ds)
    assert [a["id"] for a in ds.annotations] == [6, 7]
    assert [a["id"] for a in ds.anns_for_image(1)] == [6]
    with pytest.raises(KeyError):
        ds.annotation(5)
    cmd.revert(ds)
    assert _dump(ds) == before  # same keys (attributes too), same order in the file
    assert ds.annotation(5)["attributes"] == {"occluded": True}
    assert {a["id"] for a in ds.anns_for_image(1)} == {5, 6}


def test_change_label_and_back_to_an_unknown_category(ds):
    ds.annotation(6)["category_id"] = 77  # an id missing from 'categories' (the check reports those)
    cmd = ChangeLabel(6, 77, 1)
    cmd.apply(ds)
    assert ds.annotation(6)["category_id"] == 1
    cmd.revert(ds)
    assert ds.annotation(6)["category_id"] == 77
    ChangeLabel(5, 1, 2).apply(ds)
    assert ds.annotation(5)["category_id"] == 2


def test_add_class_and_its_revert(ds):
    before = _dump(ds)
    cmd = AddClass("  bird ")
    cmd.apply(ds)
    assert cmd.category_id == 3 and cmd.name == "bird"
    assert ds.has_category(3) and ds.category(3)["name"] == "bird" and ds.class_names[-1] == "bird"
    cmd.revert(ds)
    assert _dump(ds) == before and not ds.has_category(3)
    cmd.apply(ds)  # redo: same id
    assert ds.category_id("bird") == 3
    with pytest.raises(DatasetError, match="already exists"):
        AddClass("BIRD").apply(ds)


def test_records_round_trip_and_replay_onto_the_file_gives_the_same_dataset(ds, tmp_path):
    base = copy.deepcopy(_coco())
    cmds = [
        AddClass("bird"),
        AddShape(1, 3, polygon=[0, 0, 40, 0, 40, 30]),
        AddShape(2, 1, bbox=[3, 4, 10, 6]),
        SetPolygon(5, 0, SQUARE, hit.moved_vertex(SQUARE, 0, 0, 0)),
        SetBox(6, [50, 40, 10, 5], [50, 40, 12, 5]),
        ChangeLabel(7, 1, 3),
        DeleteShape(5),
    ]
    for c in cmds:
        c.apply(ds)
    records = [c.to_record() for c in cmds]
    assert all(_round_trip(c).to_record() == r for c, r in zip(cmds, records))
    other = Dataset.from_dict(base)
    for r in records:
        command_from_record(orjson.loads(orjson.dumps(r))).apply(other)
    assert _dump(other) == _dump(ds)
    for c in reversed(cmds):
        c.revert(ds)
    assert _dump(ds) == _dump(Dataset.from_dict(copy.deepcopy(_coco())))
    with pytest.raises(ValueError, match="not an edit record"):
        command_from_record({"op": "explode"})
    with pytest.raises(ValueError, match="malformed set_box"):
        command_from_record({"op": "set_box", "ann_id": 1})


# ----------------------------------------------------------------------------------------------- the stack
def test_stack_undo_redo_and_dirty_tracking(ds):
    events = []
    stack = EditStack(ds, listener=events.append)
    assert not stack.dirty and not stack.can_undo() and not stack.can_redo()
    a = stack.do(AddShape(1, 1, polygon=[0, 0, 10, 0, 10, 10]))
    assert stack.dirty and stack.can_undo() and stack.peek_undo() is a
    stack.undo()
    assert not stack.dirty and stack.can_redo()
    stack.redo()
    assert stack.dirty
    stack.mark_clean()  # saved here
    assert not stack.dirty
    stack.do(ChangeLabel(a.ann_id, 1, 2))
    assert stack.dirty
    stack.undo()
    assert not stack.dirty  # back to the saved state
    stack.undo()
    assert stack.dirty  # before the saved state
    stack.redo()
    assert not stack.dirty
    stack.undo()
    stack.do(DeleteShape(5))  # a new edit after undoing past the save: the saved state is gone for good
    assert not stack.can_redo() and stack.dirty
    stack.undo()
    assert stack.dirty
    assert [e.kind for e in events] == ["do", "undo", "redo", "do", "undo", "undo", "redo", "undo", "do", "undo"]
    assert events[1].step == "revert" and events[2].step == "apply"
    assert events[3].deltas == [(1, 1, -1), (1, 2, 1)] and events[4].deltas == [(1, 1, 1), (1, 2, -1)]


def test_a_refused_edit_is_not_pushed(ds):
    stack = EditStack(ds)
    with pytest.raises(DatasetError):
        stack.do(AddShape(1, 1, polygon=[0, 0, 1, 1]))
    assert not stack.can_undo() and not stack.dirty


def test_stack_max_depth_keeps_the_newest_edits(ds):
    stack = EditStack(ds, max_depth=3)
    ids = [stack.do(AddShape(2, 1, bbox=[i, i, 5, 5])).ann_id for i in range(5)]
    assert len(stack) == 3
    while stack.undo():
        pass
    assert sorted(a["id"] for a in ds.anns_for_image(2)) == [7, *ids[:2]]  # the two oldest stay
    assert stack.dirty  # the file's state is out of reach


def test_class_count_changes_follow_images_and_instances(ds):
    changes = []  # computed as each edit lands: they read the dataset as it is right after it
    stack = EditStack(ds, listener=lambda e: changes.append(class_count_changes(ds, e.deltas)))
    stack.do(AddShape(2, 2, bbox=[0, 0, 5, 5]))  # image 2 gets its first dog
    stack.do(AddShape(2, 2, bbox=[9, 9, 5, 5]))  # a second dog: no new image
    stack.do(ChangeLabel(5, 1, 2))  # image 1: cat -> dog (image 1 already has a dog, no cat left)
    assert (changes[0][2].instances, changes[0][2].images) == (1, 1)
    assert (changes[1][2].instances, changes[1][2].images) == (1, 0)
    assert (changes[2][1].instances, changes[2][1].images) == (-1, -1)
    assert (changes[2][2].instances, changes[2][2].images) == (1, 0)


def test_statistics_follow_edits_like_a_full_recount(ds):
    stats, _ = summarize(ds)
    stack = EditStack(ds)

    def follow(event):
        nonlocal stats
        stats = follow_class_stats(stats, ds, event)

    stack.listeners.append(follow)
    ds.annotation(6)["category_id"] = 77
    stats, _ = summarize(ds)
    stack.do(AddClass("bird"))
    stack.do(AddShape(2, 3, polygon=[0, 0, 10, 0, 10, 10]))
    stack.do(ChangeLabel(6, 77, 3))
    stack.do(DeleteShape(7))
    assert stats == summarize(ds)[0]
    assert [s.name for s in stats] == ["cat", "dog", "bird"]  # the unknown id 77 left with its last annotation
    while stack.undo():
        assert stats == summarize(ds)[0]
    assert stats[-1].name == "unknown category 77" and not stats[-1].known
    assert image_summary(ds, 1) == next(r for r in summarize(ds)[1] if r.image_id == 1)


# ----------------------------------------------------------------------------------------------- hit tests
def test_nearest_vertex_and_edge():
    parts = [SQUARE, [100, 100, 120, 100, 110, 120]]
    assert hit.nearest_vertex(parts, 31, 29, tol=3) == (0, 2)
    assert hit.nearest_vertex(parts, 119, 101, tol=3) == (1, 1)
    assert hit.nearest_vertex(parts, 20, 20, tol=3) is None
    assert hit.nearest_edge(parts, 20, 11, tol=2) == (0, 1, 20.0, 10.0)  # top edge: insert at index 1
    part, at, px, py = hit.nearest_edge(parts, 9, 20, tol=2)  # the closing edge, last vertex -> first
    assert (part, at, px, py) == (0, 4, 10.0, 20.0)
    assert hit.nearest_edge(parts, 20, 20, tol=2) is None
    assert hit.project_on_segment(0, 0, 10, 0, 15, 5) == (10, 0)  # clamped to the segment's end
    assert hit.project_on_segment(3, 3, 3, 3, 9, 9) == (3, 3)  # a zero-length edge


def test_point_in_polygon_and_vertex_edits():
    assert hit.point_in_polygon(SQUARE, 20, 20) and not hit.point_in_polygon(SQUARE, 40, 20)
    concave = [0, 0, 30, 0, 30, 30, 20, 30, 20, 10, 10, 10, 10, 30, 0, 30]
    assert not hit.point_in_polygon(concave, 15, 20) and hit.point_in_polygon(concave, 5, 20)
    assert hit.moved_vertex([0, 0, 1, 0, 1, 1], 1, 5, 6) == [0.0, 0.0, 5.0, 6.0, 1.0, 1.0]
    assert hit.inserted_vertex([0, 0, 1, 0, 1, 1], 3, 0, 1) == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert hit.deleted_vertex([0, 0, 1, 0, 1, 1, 0, 1], 0) == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert hit.clamp_point(-3, 120.456, 100, 80) == (0.0, 80.0)
    assert hit.clamp_point(12.3456, 7.891, 100, 80) == (12.35, 7.89)
    assert hit.closes_polygon([(0, 0), (10, 0), (10, 10)], 1, 1, tol=2)
    assert not hit.closes_polygon([(0, 0), (10, 0)], 0, 0, tol=2)  # 2 points cannot close


def test_box_corners_and_drags():
    assert hit.box_from_points(30, 40, 10, 5) == [10, 5, 20, 35]
    assert hit.box_corners([10, 5, 20, 35]) == [(10, 5), (30, 5), (30, 40), (10, 40)]
    assert hit.dragged_corner([10, 5, 20, 35], 0, 0, 0) == [0, 0, 30, 40]  # bottom-right stays
    assert hit.dragged_corner([10, 5, 20, 35], 1, 5, 45) == [5, 40, 5, 5]  # past the opposite corner: flips


def test_editable_shape():
    assert hit.editable_shape({"segmentation": [SQUARE], "bbox": [10, 10, 20, 20]}) == ("polygon", [SQUARE])
    assert hit.editable_shape({"segmentation": [], "bbox": [1, 2, 3, 4]}) == ("box", [1, 2, 3, 4])
    assert hit.editable_shape({"segmentation": {"size": [4, 4], "counts": "04"}, "bbox": [0, 0, 4, 4]}) is None
    assert hit.editable_shape({"segmentation": [SQUARE, "bad"], "bbox": [0, 0, 1, 1]}) is None
    assert hit.editable_shape({"bbox": [0, 0, 1]}) is None and hit.editable_shape(None) is None


# ----------------------------------------------------------------------------------------------- recovery
@pytest.fixture
def saved(tmp_path, ds):
    ann = tmp_path / "ann.json"
    ds.save(ann)
    os.utime(ann, ns=(1_000_000_000, 1_000_000_000))  # an old file: the journal is newer
    return ann


def _session(ds, ann):
    """A stack whose steps go to a journal, as the editor wires them."""
    journal = RecoveryJournal(ann)
    stack = EditStack(ds, listener=lambda e: journal.append(e.step, e.command))
    return stack, journal


def test_journal_replay_restores_the_edits_and_their_history(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, polygon=[0, 0, 40, 0, 40, 30]))
    stack.do(SetPolygon(5, 0, SQUARE, hit.moved_vertex(SQUARE, 0, 0, 0)))
    stack.do(DeleteShape(6))
    stack.undo()  # the delete is undone: the journal says so too
    stack.do(AddClass("bird"))
    stack.do(ChangeLabel(7, 1, 3))
    journal.close()  # the crash: nothing else happens

    info = find_recovery(saved)
    assert info is not None and info.steps == 6 and not info.base_changed
    assert "6 unsaved edit(s) of ann.json" in info.describe()
    fresh = Dataset.load(saved)
    stack2 = EditStack(fresh)
    replay(stack2, info.path)
    assert _dump(fresh) == _dump(ds)
    assert stack2.dirty and len(stack2) == 4 == len(stack)  # the undo history came back too
    while stack2.undo():
        pass
    assert _dump(fresh) == _dump(Dataset.load(saved))
    assert not stack2.dirty  # undone back to the file


def test_torn_last_line_is_ignored_and_resume_cuts_it(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    stack.do(ChangeLabel(5, 1, 2))
    journal.close()
    path = recovery_path(saved)
    assert path.name == "ann.recovery.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"step": "apply", "edit": {"op": "delete_sh')  # cut mid-write
    content = read_journal(path)
    assert len(content.steps) == 2 and content.valid_bytes == len(whole)
    fresh = Dataset.load(saved)
    stack2 = EditStack(fresh)
    replay(stack2, path)
    assert _dump(fresh) == _dump(ds)
    resumed = RecoveryJournal.resume(saved, content)
    assert path.read_bytes() == whole
    stack2.listeners.append(lambda e: resumed.append(e.step, e.command))
    stack2.do(DeleteShape(7))
    resumed.close()
    assert len(read_journal(path).steps) == 3


def test_a_broken_line_before_the_end_is_an_error_naming_it(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    stack.do(AddShape(1, 2, bbox=[9, 9, 5, 5]))
    journal.close()
    path = recovery_path(saved)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DatasetError) as exc:
        read_journal(path)
    assert exc.value.item == "line 2" and exc.value.file == str(path)
    path.write_bytes(b"not json\n")
    with pytest.raises(DatasetError, match="bad header"):
        read_journal(path)


def test_replay_that_does_not_apply_rolls_back_and_names_the_line(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    stack.do(ChangeLabel(5, 1, 2))
    journal.close()
    other = Dataset.load(saved)
    other.annotation(5)["category_id"] = 2  # the file changed under the journal
    before = _dump(other)
    events = []
    stack2 = EditStack(other, listener=events.append)
    with pytest.raises(DatasetError) as exc:
        replay(stack2, recovery_path(saved))
    assert exc.value.item == "line 3" and "expected 1" in exc.value.message
    assert _dump(other) == before
    assert [e.kind for e in events] == ["do", "undo"]  # the roll-back went through the stack: listeners followed
    assert not stack2.can_undo() and not stack2.dirty


def test_find_recovery_needs_a_newer_journal_with_steps(ds, saved):
    assert find_recovery(saved) is None
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    journal.close()
    assert find_recovery(saved) is not None
    os.utime(saved)  # the file was written after the journal (saved by something else)
    st = recovery_path(saved).stat()
    os.utime(recovery_path(saved), ns=(st.st_atime_ns, saved.stat().st_mtime_ns - 1))
    assert find_recovery(saved) is None
    recovery_path(saved).write_bytes(b"")
    os.utime(saved, ns=(1, 1))
    assert find_recovery(saved) is None  # a journal with no step holds nothing to recover


def test_steps_that_cancel_out_are_nothing_to_recover(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddClass("bird"))
    stack.undo()  # an edit and its undo
    journal.close()
    assert len(read_journal(recovery_path(saved)).steps) == 2
    assert find_recovery(saved) is None and not recovery_path(saved).exists()  # removed: no false prompt

    stack, journal = _session(Dataset.load(saved), saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    stack.do(AddClass("bird"))
    stack.undo()
    stack.redo()  # an undo and its redo cancel too
    stack.do(ChangeLabel(5, 1, 2))
    stack.undo()
    journal.close()
    steps = read_journal(recovery_path(saved)).steps
    assert len(steps) == 6 and [s for s, _ in net_steps(steps)] == ["apply", "apply"]
    info = find_recovery(saved)
    assert info is not None and info.steps == 6 and info.net == 2


def test_a_new_journal_replaces_a_stale_one(ds, saved):
    path = recovery_path(saved)
    path.write_bytes(b"stale bytes\n")
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    journal.close()
    content = read_journal(path)
    assert content.header["annotations"] == "ann.json" and len(content.steps) == 1


def test_save_writes_the_file_and_drops_the_journal(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, polygon=[0, 0, 40, 0, 40, 30]))
    save(ds, saved, journal)
    stack.mark_clean()
    assert not recovery_path(saved).exists() and not stack.dirty
    assert _dump(Dataset.load(saved)) == _dump(ds)
    stack.undo()  # after the save the journal starts again, on top of the new file
    journal.close()
    info = find_recovery(saved)
    assert info is not None and info.steps == 1
    fresh = Dataset.load(saved)
    replay(EditStack(fresh), info.path)  # a revert the fresh stack never saw: applied directly
    assert _dump(fresh) == _dump(ds)


def test_edits_made_while_a_save_runs_stay_in_the_journal(ds, saved):
    stack, journal = _session(ds, saved)
    stack.do(AddShape(1, 2, bbox=[0, 0, 5, 5]))
    payload, state = snapshot(ds), stack.state
    journal.begin_save()
    stack.do(ChangeLabel(5, 1, 2))  # while the worker writes
    write_snapshot(saved, payload)
    journal.end_save(True)
    stack.mark_clean(state)
    assert stack.dirty
    on_disk = Dataset.load(saved)
    assert on_disk.annotation(5)["category_id"] == 1 and len(on_disk.annotations) == 4
    content = read_journal(recovery_path(saved))
    assert [r["op"] for _, r in content.steps] == ["change_label"]
    stack.do(DeleteShape(6))  # appends after the rewritten journal
    journal.close()
    replay(EditStack(on_disk), recovery_path(saved))
    assert _dump(on_disk) == _dump(ds)

    journal.begin_save()  # a failed save leaves the journal as it was
    stack.do(DeleteShape(7))
    journal.end_save(False)
    journal.close()
    assert len(read_journal(recovery_path(saved)).steps) == 3


def test_write_snapshot_failure_names_the_file(tmp_path, ds):
    target = tmp_path / "folder-not-file"
    target.mkdir()
    with pytest.raises(DatasetError) as exc:
        write_snapshot(target, snapshot(ds))
    assert exc.value.file == str(target) and "cannot save" in exc.value.message
