"""The label manager's dataset-wide edits (rename, merge and delete a class) and "add images", as undoable commands:
exact undo, journal replay, and the statistics and labelling progress that follow them (no Qt)."""

from __future__ import annotations

import copy
import os
import time

import orjson
import pytest

from studio.core.dataset.dataset_edits import AddImages, DeleteClass, MergeClass, RenameClass
from studio.core.dataset.edits import AddClass, AddShape, EditStack, command_from_record
from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import RecoveryJournal, find_recovery, replay
from studio.core.dataset.summary import (
    LabelProgress,
    LabelTracker,
    follow_class_stats,
    label_progress,
    summarize,
)
from studio.core.errors import DatasetError

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


def _coco() -> dict:
    """Three classes interleaved over three images, one unlabelled image, extra keys to keep."""
    anns = []
    for aid, (image, cat) in enumerate([(1, 1), (1, 2), (2, 3), (2, 1), (1, 3), (2, 2), (4, 1)], start=10):
        anns.append(
            {
                "id": aid,
                "image_id": image,
                "category_id": cat,
                "bbox": [10, 10, 20, 20],
                "area": 400,
                "iscrowd": 0,
                "segmentation": [SQUARE],
                "attributes": {"n": aid},
            }
        )
    return {
        "info": {"description": "hand-made"},
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 64},
            {"id": 3, "file_name": "c.jpg", "width": 64, "height": 64},
            {"id": 4, "file_name": "d.jpg", "width": 64, "height": 64},
        ],
        "categories": [
            {"id": 1, "name": "cat", "supercategory": "animal"},
            {"id": 2, "name": "dog", "supercategory": "animal"},
            {"id": 3, "name": "bird", "supercategory": "animal"},
        ],
        "annotations": anns,
    }


@pytest.fixture
def ds(tmp_path) -> Dataset:
    return Dataset.from_dict(copy.deepcopy(_coco()), source=tmp_path / "ann.json")


def _dump(ds: Dataset) -> bytes:
    return orjson.dumps(ds.to_dict())


def _round_trip(cmd):
    return command_from_record(orjson.loads(orjson.dumps(cmd.to_record())))


class Followed:
    """A stack whose listener keeps class statistics and progress the way the Data page does."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.stats, rows = summarize(ds)
        self.tracker = LabelTracker(rows)
        self.progress = self.tracker.progress
        self.stack = EditStack(ds, listener=self._follow)

    def _follow(self, event) -> None:
        self.stats = follow_class_stats(self.stats, self.ds, event)
        self.progress = self.tracker.follow(self.ds, event)

    def agrees(self) -> bool:
        stats, rows = summarize(self.ds)
        return self.stats == stats and self.progress == label_progress(rows)


# ----------------------------------------------------------------------------------------------- rename
def test_rename_and_undo(ds):
    before = _dump(ds)
    cmd = RenameClass(2, "dog", "  puppy ")
    cmd.apply(ds)
    assert ds.class_names == ["cat", "puppy", "bird"] and cmd.new == "puppy"
    assert ds.category(2)["supercategory"] == "animal"
    cmd.revert(ds)
    assert _dump(ds) == before
    cmd.apply(ds)
    RenameClass(2, "puppy", "Puppy").apply(ds)  # a change of case of its own name is a rename
    assert ds.class_names[1] == "Puppy"


@pytest.mark.parametrize(
    "cmd, message, item",
    [
        (RenameClass(2, "dog", "Cat"), "a class named 'cat' already exists", "class 'dog' (id 2)"),
        (RenameClass(2, "dog", "   "), "needs a name", "class 'dog' (id 2)"),
        (RenameClass(2, "dog", "dog"), "the new name is the old one", "class 'dog' (id 2)"),
        (RenameClass(2, "wolf", "x"), "expected 'wolf'", "class 'wolf' (id 2)"),
        (RenameClass(9, "dog", "x"), "no such class", "class 'dog' (id 9)"),
        (MergeClass(1, 1), "into itself", "class 'cat' (id 1)"),
        (MergeClass(1, 9), "no such class", "class id 9"),
        (MergeClass(9, 1), "no such class", "class id 9"),
        (DeleteClass(9), "no such class", "class id 9"),
        (AddImages([{"file_name": "a.jpg", "width": 5, "height": 5}]), "listed already", "image 'a.jpg'"),
        (AddImages([{"file_name": "../x.jpg", "width": 5, "height": 5}]), "contains '..'", "image '../x.jpg'"),
        (AddImages([{"file_name": "z.jpg", "width": 0, "height": 5}]), "positive integer width", "image 'z.jpg'"),
        (
            AddImages(
                [{"file_name": "z.jpg", "width": 5, "height": 5}, {"file_name": "z.jpg", "width": 5, "height": 5}]
            ),
            "listed already",
            "image 'z.jpg'",
        ),
        (
            AddImages([{"id": 2, "file_name": "z.jpg", "width": 5, "height": 5}]),
            "id 2 is already taken",
            "image 'z.jpg'",
        ),
    ],
)
def test_refused_edits_name_the_class_or_image_and_change_nothing(ds, cmd, message, item):
    before = _dump(ds)
    with pytest.raises(DatasetError) as exc:
        cmd.apply(ds)
    assert message in exc.value.message
    assert exc.value.item == item and exc.value.file == str(ds.source)
    assert _dump(ds) == before


# ----------------------------------------------------------------------------------------------- merge and delete
def test_merge_moves_every_annotation_and_undo_gives_back_ids_and_order(ds):
    before = _dump(ds)
    f = Followed(ds)
    cmd = f.stack.do(MergeClass(1, 3))  # cat into bird
    assert ds.class_names == ["dog", "bird"]
    assert [a["category_id"] for a in ds.annotations] == [3, 2, 3, 3, 3, 2, 3]
    assert cmd.moved == [[10, 1], [13, 2], [16, 4]]
    assert f.agrees() and [(s.name, s.instances, s.images) for s in f.stats] == [("dog", 2, 2), ("bird", 5, 3)]
    f.stack.undo()
    assert _dump(ds) == before  # the category back at index 0, the annotations' classes back
    assert f.agrees() and [s.name for s in f.stats] == ["cat", "dog", "bird"]
    f.stack.redo()
    assert f.agrees() and ds.class_names == ["dog", "bird"]


def test_delete_removes_the_class_and_its_annotations_and_undo_restores_them_in_place(ds):
    before = _dump(ds)
    f = Followed(ds)
    assert f.progress == LabelProgress(3, 4)
    cmd = f.stack.do(DeleteClass(1))
    assert ds.class_names == ["dog", "bird"] and [a["id"] for a in ds.annotations] == [11, 12, 14, 15]
    assert [a["id"] for a in ds.anns_for_image(2)] == [12, 15] and ds.anns_for_image(4) == []
    assert len(cmd.removed) == 3 and [r[0] for r in cmd.removed] == [0, 3, 6]
    with pytest.raises(KeyError):
        ds.annotation(10)
    assert f.agrees() and f.progress == LabelProgress(2, 4)  # image 4 had only a cat
    f.stack.undo()
    assert _dump(ds) == before  # same records (attributes too), same places in both lists
    assert ds.annotation(16)["attributes"] == {"n": 16} and [a["id"] for a in ds.anns_for_image(4)] == [16]
    assert f.agrees() and [s.name for s in f.stats] == ["cat", "dog", "bird"]  # back at its place, not last
    f.stack.redo()
    assert f.agrees()


def test_a_class_with_no_annotations_merges_and_deletes_too(ds):
    before = _dump(ds)
    f = Followed(ds)
    add = f.stack.do(AddClass("fish"))
    f.stack.do(DeleteClass(add.category_id))
    f.stack.do(AddClass("eel"))
    f.stack.do(MergeClass(5, 2))
    assert ds.class_names == ["cat", "dog", "bird"] and f.agrees()
    while f.stack.undo():
        assert f.agrees()
    assert _dump(ds) == before


def test_new_shapes_after_a_delete_then_undo_everything(ds):
    before = _dump(ds)
    f = Followed(ds)
    f.stack.do(DeleteClass(2))
    f.stack.do(AddShape(3, 1, polygon=[0, 0, 10, 0, 10, 10]))  # image 3 gets its first annotation
    f.stack.do(RenameClass(1, "cat", "kitten"))
    f.stack.do(MergeClass(3, 1))
    assert f.agrees() and f.progress == LabelProgress(4, 4)
    while f.stack.undo():
        assert f.agrees()
    assert _dump(ds) == before


# ----------------------------------------------------------------------------------------------- add images
def test_add_images_assigns_ids_once_and_revert_takes_them_out(ds):
    before = _dump(ds)
    f = Followed(ds)
    records = [{"file_name": "sub/é x.jpg", "width": 30, "height": 20}, {"file_name": "e.png", "width": 8, "height": 9}]
    cmd = f.stack.do(AddImages(records))
    assert "id" not in records[0]  # the caller's records are not written into
    assert [im["id"] for im in ds.images[-2:]] == [5, 6] and ds.image(5)["file_name"] == "sub/é x.jpg"
    assert f.agrees() and f.progress == LabelProgress(3, 6)
    f.stack.do(AddShape(6, 2, bbox=[1, 1, 4, 4]))
    assert f.progress == LabelProgress(4, 6)
    with pytest.raises(DatasetError, match="has annotations now"):
        cmd.revert(ds)  # out of order: the shape on it is still there
    f.stack.undo()
    f.stack.undo()
    assert _dump(ds) == before and f.agrees()
    f.stack.redo()
    assert [im["id"] for im in ds.images[-2:]] == [5, 6]  # redo keeps the ids


# ----------------------------------------------------------------------------------------------- journal
def test_records_round_trip_and_replay_onto_the_file(ds):
    base = copy.deepcopy(_coco())
    cmds = [
        RenameClass(2, "dog", "wolf"),
        AddImages([{"file_name": "new.jpg", "width": 10, "height": 10}]),
        AddShape(5, 2, bbox=[1, 1, 3, 3]),
        MergeClass(3, 2),
        DeleteClass(1),
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
        _round_trip(c).revert(ds)  # what a journal's "revert" step does
    assert _dump(ds) == _dump(Dataset.from_dict(copy.deepcopy(_coco())))


def test_journal_replay_after_a_crash_gives_back_the_class_edits_and_their_history(ds, tmp_path):
    ann = tmp_path / "ann.json"
    ds.save(ann)
    os.utime(ann, ns=(1_000_000_000, 1_000_000_000))  # an old file: the journal is newer
    journal = RecoveryJournal(ann)
    stack = EditStack(ds, listener=lambda e: journal.append(e.step, e.command))
    stack.do(RenameClass(1, "cat", "kitten"))
    stack.do(MergeClass(3, 2))
    stack.do(DeleteClass(1))
    stack.undo()
    stack.do(AddImages([{"file_name": "x.jpg", "width": 4, "height": 4}]))
    journal.close()  # the crash

    info = find_recovery(ann)
    assert info is not None and info.steps == 5
    fresh = Dataset.load(ann)
    stack2 = EditStack(fresh)
    replay(stack2, info.path)
    assert _dump(fresh) == _dump(ds) and len(stack2) == 3
    while stack2.undo():
        pass
    assert _dump(fresh) == _dump(Dataset.load(ann))


def test_dataset_wide_edits_stay_fast_on_a_big_dataset(tmp_path):
    n_images, per_image = 5000, 20  # 100k annotations
    coco = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64} for i in range(1, n_images + 1)],
        "categories": [{"id": c, "name": f"c{c}"} for c in range(1, 6)],
        "annotations": [
            {"id": i * per_image + k, "image_id": i, "category_id": 1 + k % 5, "bbox": [1, 1, 2, 2], "area": 4}
            for i in range(1, n_images + 1)
            for k in range(per_image)
        ],
    }
    ds = Dataset.from_dict(coco, source=tmp_path / "big.json")
    f = Followed(ds)
    t0 = time.perf_counter()
    f.stack.do(DeleteClass(1))
    f.stack.do(MergeClass(2, 3))
    f.stack.undo()
    f.stack.undo()
    elapsed = time.perf_counter() - t0
    assert f.agrees() and len(ds.annotations) == n_images * per_image
    assert elapsed < 5.0, f"{elapsed:.2f} s for two edits and their undo on 100k annotations"
