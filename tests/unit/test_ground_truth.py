"""What training and evaluation take as ground truth from a file still being labelled."""

from __future__ import annotations

import numpy as np

from studio.core.config.schema import DatasetRef
from studio.core.data.splits import open_split
from studio.core.dataset import provenance as pv
from studio.core.dataset.ground_truth import ground_truth, is_labelling_project, mark_labelling_project
from studio.core.dataset.model import Dataset
from studio.core.dataset.new_project import new_dataset
from studio.core.imageio import save_image


def _four_images() -> Dataset:
    """im1: accepted; im2: accepted + pending; im3: pending only; im4: nothing."""
    ds = Dataset()
    cat = ds.add_category("cat")
    ids = [ds.add_image(f"im{i}.png", 32, 32)["id"] for i in range(1, 5)]
    ds.add_annotation(ids[0], cat, bbox=[1, 1, 5, 5])
    ds.add_annotation(ids[1], cat, bbox=[1, 1, 5, 5], **pv.provenance(pv.MANUAL))
    ds.add_annotation(ids[1], cat, bbox=[9, 9, 5, 5], **pv.proposal(0.9, "best.pt"))
    ds.add_annotation(ids[2], cat, bbox=[2, 2, 5, 5], **pv.proposal(0.4, "best.pt"))
    return ds


def test_pending_only_images_are_left_out_and_empty_ones_stay_background():
    gt = ground_truth(_four_images())
    assert [im["file_name"] for im in gt.dataset.images] == ["im1.png", "im2.png", "im4.png"]
    assert (gt.pending, gt.unlabelled) == (2, 1)
    assert not any(pv.is_pending(a) for a in gt.dataset.annotations) and len(gt.dataset.annotations) == 2


def test_in_a_labelling_project_unlabelled_images_are_left_out_unless_marked_background():
    ds = _four_images()
    mark_labelling_project(ds)
    assert is_labelling_project(ds)
    assert [im["file_name"] for im in ground_truth(ds).dataset.images] == ["im1.png", "im2.png"]
    ds.image(4)["background"] = True  # reviewed: nothing to label
    gt = ground_truth(ds)
    assert [im["file_name"] for im in gt.dataset.images] == ["im1.png", "im2.png", "im4.png"] and gt.unlabelled == 1


def test_a_plain_file_comes_back_as_it_is():
    ds = Dataset()
    cat = ds.add_category("cat")
    ds.add_annotation(ds.add_image("a.png", 8, 8)["id"], cat, bbox=[1, 1, 2, 2])
    ds.add_image("empty.png", 8, 8)
    gt = ground_truth(ds)
    assert gt.dataset is ds and (gt.pending, gt.unlabelled) == (0, 0)


def test_dataset_new_makes_a_labelling_project_whose_split_trains_only_labelled_images(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        save_image(images / f"f{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))
    ann = tmp_path / "project.json"
    res = new_dataset(images, ["ball"], ann)
    assert is_labelling_project(Dataset.load(ann))
    ds = res.dataset
    ds.add_annotation(ds.images[0]["id"], 1, bbox=[1, 1, 4, 4])
    ds.save(ann)
    split = open_split(DatasetRef(ann=str(ann), images=str(images)), "train")
    assert [im["file_name"] for im in split.dataset.images] == ["f0.png"] and split.unlabelled == 2


def test_labelling_progress_counts_accepted_annotations_and_follows_accepts_and_rejects():
    from studio.core.dataset.edits import EditStack
    from studio.core.dataset.review_edits import AcceptAnnotations, RejectAnnotations
    from studio.core.dataset.summary import LabelTracker, label_progress, summarize

    ds = _four_images()
    _, rows = summarize(ds)
    assert [r.labelled for r in rows] == [True, True, False, False] and rows[2].num_pending == 1
    tracker = LabelTracker(rows)
    assert tracker.progress == label_progress(rows) and tracker.progress.labelled == 2
    seen = []
    stack = EditStack(ds, listener=lambda e: seen.append(tracker.follow(ds, e)))
    pending_on_3 = [a["id"] for a in ds.anns_for_image(3)]
    stack.do(AcceptAnnotations(pending_on_3))
    assert seen[-1].labelled == 3, "accepting the only proposal of an image labels it"
    stack.undo()
    assert seen[-1].labelled == 2
    stack.do(RejectAnnotations(pending_on_3))
    assert seen[-1].labelled == 2 and tracker.progress == label_progress(summarize(ds)[1])


def test_exports_write_the_ground_truth_only_unless_asked(tmp_path):
    from studio.core.formats import ExportOptions, export_dataset_report

    ds = _four_images()
    mark_labelling_project(ds)
    images = tmp_path / "images"
    images.mkdir()
    for im in ds.images:
        save_image(images / im["file_name"], np.zeros((32, 32, 3), np.uint8))
    rep = export_dataset_report("yolo", ds, images, tmp_path / "yolo")
    assert (rep.images_left_out, rep.pending_left_out) == (2, 2)
    labels = sorted(p.name for p in (tmp_path / "yolo").rglob("*.txt") if p.name.startswith("im"))
    assert labels == ["im1.txt", "im2.txt"], "images not labelled yet never become background label files"
    everything = export_dataset_report("yolo", ds, images, tmp_path / "all", ExportOptions(include_pending=True))
    assert everything.images_left_out == 0 and everything.pending_written == 2


def test_mark_background_is_undoable_journaled_and_counts_as_labelled():
    import orjson

    from studio.core.dataset.edits import EditStack, command_from_record
    from studio.core.dataset.review_edits import MarkBackground
    from studio.core.dataset.summary import LabelTracker, summarize

    ds = _four_images()
    mark_labelling_project(ds)
    tracker = LabelTracker(summarize(ds)[1])
    stack = EditStack(ds, listener=lambda e: tracker.follow(ds, e))
    cmd = MarkBackground([4])
    stack.do(cmd)
    assert ds.image(4)["background"] is True and tracker.progress.labelled == 3
    assert [im["file_name"] for im in ground_truth(ds).dataset.images] == ["im1.png", "im2.png", "im4.png"]
    stack.undo()
    assert "background" not in ds.image(4) and tracker.progress.labelled == 2
    replayed = command_from_record(orjson.loads(orjson.dumps(cmd.to_record())))
    assert isinstance(replayed, MarkBackground) and replayed.image_ids == [4] and replayed.on
