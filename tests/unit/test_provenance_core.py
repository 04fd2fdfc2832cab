"""Provenance of annotations in the core: the helpers of ``provenance.py``, pending proposals kept out of training
(open_split, the pre-flight check) and evaluation, ``dataset check`` / ``stats`` / the summary line, and box2mask
marking its polygons ``source: smart``."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.core.config.loader import validate
from studio.core.config.schema import DatasetRef
from studio.core.data.splits import open_split
from studio.core.dataset import provenance as pv
from studio.core.dataset.check import check_dataset
from studio.core.dataset.model import Dataset
from studio.core.dataset.stats import compute_stats
from studio.core.dataset.summary import provenance_text
from studio.core.evaluation.coco_eval import evaluate
from studio.core.imageio import save_image
from studio.core.smart import boxes_to_masks
from studio.core.training.preflight import preflight


def tiny() -> Dataset:
    """Three images: one manual box, one smart polygon and two model proposals (one pending, one accepted)."""
    ds = Dataset()
    cid = ds.add_category("thing")
    a, b, c = (ds.add_image(f"{n}.png", 100, 80)["id"] for n in "abc")
    ds.add_annotation(a, cid, bbox=[10, 10, 20, 20])
    ds.add_annotation(a, cid, [[30, 30, 60, 30, 60, 60]], **pv.provenance(pv.SMART))
    ds.add_annotation(b, cid, bbox=[5, 5, 30, 30], **pv.proposal(0.91234567, "best.pt"))
    ds.add_annotation(c, cid, bbox=[1, 1, 9, 9], **pv.proposal(0.4, "best.pt"))
    ds.annotations[2]["status"] = pv.ACCEPTED  # an accepted proposal: source model stays
    return ds


# ----------------------------------------------------------------------------------------- helpers
def test_keys_default_to_manual_accepted_and_bad_values_are_refused():
    assert (pv.source_of({}), pv.status_of({})) == (pv.MANUAL, pv.ACCEPTED)
    assert (pv.source_of({"source": "robot"}), pv.status_of({"status": "maybe"})) == (pv.MANUAL, pv.ACCEPTED)
    assert pv.proposal(0.123456789, "run/best.pt") == {
        "source": "model",
        "status": "pending",
        "score": 0.12346,
        "checkpoint": "run/best.pt",
    }
    assert pv.provenance(pv.SMART) == {"source": "smart", "status": "accepted"}
    with pytest.raises(ValueError, match="source must be one of manual, model, smart"):
        pv.provenance("robot")
    with pytest.raises(ValueError, match="status must be one of accepted, pending"):
        pv.provenance(pv.MODEL, "maybe")


@pytest.mark.parametrize(
    ("ann", "problem"),
    [
        ({}, None),
        ({"source": "model", "status": "pending", "score": 0.5, "checkpoint": "a.pt"}, None),
        ({"source": "robot"}, "source must be one of"),
        ({"status": "reviewed"}, "status must be one of"),
        ({"score": "high"}, "score must be a finite number"),
        ({"score": math.nan}, "score must be a finite number"),
        ({"score": True}, "score must be a finite number"),
        ({"checkpoint": 3}, "checkpoint must be a file name"),
    ],
)
def test_provenance_problem_names_the_bad_key(ann, problem):
    got = pv.provenance_problem(ann)
    assert (got is None) if problem is None else (problem in got)


def test_accepted_only_leaves_pending_out_and_shares_records_when_nothing_is_pending():
    ds = tiny()
    kept, left_out = pv.accepted_only(ds)
    assert left_out == 1 and [a["id"] for a in kept.annotations] == [1, 2, 3]
    assert len(ds.annotations) == 4, "the input is not changed"
    same, none = pv.accepted_only(kept)
    assert same is kept and none == 0
    assert [im["file_name"] for im in pv.unlabelled_images(ds)] == ["c.png"], "a pending proposal labels nothing"
    copy = pv.without_pending(ds)
    assert len(copy.annotations) == 3 and copy.annotations[0] is not ds.annotations[0]
    assert pv.strip_provenance(ds.annotations[2]).keys().isdisjoint(pv.PROVENANCE_KEYS)
    assert pv.provenance_keys(ds.annotations[0]) == {}
    assert list(pv.provenance_keys(ds.annotations[3])) == ["source", "status", "score", "checkpoint"]


def test_counts_by_source_and_status_and_their_line():
    ds = tiny()
    counts = pv.count_provenance(ds.annotations)
    assert counts.by_source == {"manual": 1, "model": 2, "smart": 1}
    assert counts.by_status == {"accepted": 3, "pending": 1} and counts.pending == 1
    assert pv.annotations_line(counts) == "annotations: 1 manual · 2 model · 1 smart; 1 pending"
    assert provenance_text(ds) == "annotations: 1 manual · 2 model · 1 smart; 1 pending"
    assert provenance_text(Dataset()) == "annotations: none"


def test_accept_by_score_accepts_above_and_rejects_below():
    ds = tiny()
    ds.add_annotation(3, 1, bbox=[2, 2, 5, 5], **pv.proposal(0.1, "best.pt"))
    ds.add_annotation(3, 1, bbox=[3, 3, 5, 5], **pv.proposal(0.6, "best.pt"))
    summary = pv.accept_by_score(ds, 0.5, reject_below=0.2)
    assert (summary.accepted, summary.rejected, summary.left_pending) == (1, 1, 1)
    assert [a["score"] for a in ds.annotations if pv.is_pending(a)] == [0.4]
    assert ds.annotations[-1]["source"] == pv.MODEL and ds.annotations[-1]["status"] == pv.ACCEPTED


# ------------------------------------------------------------------------- training and evaluation
@pytest.fixture
def with_pending(demo, tmp_path) -> tuple[Path, Path, int]:
    """The demo val file with every third annotation turned into a pending proposal (and moved off its object,
    so a proposal counted as ground truth would change the scores): (file, images folder, accepted count)."""
    ds = Dataset.load(demo["val"].annotations)
    for k, a in enumerate(ds.annotations):
        if k % 3 == 0:
            a.update(pv.proposal(0.7, "best.pt"))
            x, y, w, h = a["bbox"]
            a["bbox"] = [x + w, y + h, w, h]
            a["segmentation"] = []
    out = tmp_path / "val_pending.json"
    ds.save(out)
    accepted = sum(1 for a in ds.annotations if not pv.is_pending(a))
    return out, demo["val"].images, accepted


def test_open_split_and_evaluation_see_only_accepted_ground_truth(with_pending):
    ann, images, accepted = with_pending
    split = open_split(DatasetRef(ann=str(ann), images=str(images)), "val")
    raw = Dataset.load(ann)
    assert len(split.dataset.annotations) == accepted and split.pending == len(raw.annotations) - accepted
    assert not any(pv.is_pending(a) for a in split.dataset.annotations)
    # perfect detections of the accepted objects: AP 1 against the split; the raw file would count misses
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in split.dataset.annotations
    ]
    good = evaluate(split.dataset, results, iou_types=["bbox"])
    assert sum(c["num_gt"] for c in good.per_class["bbox"].values()) == accepted
    assert good.metrics["bbox_mAP"] == pytest.approx(1.0)
    # evaluate() itself leaves pending proposals out, whatever the caller hands it
    assert evaluate(raw, results, iou_types=["bbox"]).metrics["bbox_mAP"] == pytest.approx(1.0)
    for a in raw.annotations:  # the same file with the proposals taken for ground truth counts misses
        a.pop("status", None)
    assert evaluate(raw, results, iou_types=["bbox"]).metrics["bbox_mAP"] < 0.99, "the test must see a difference"


def test_preflight_counts_pending_and_refuses_a_train_set_of_proposals_only(demo, with_pending, tmp_path):
    ann, images, _ = with_pending
    cfg = validate(
        {
            "model": {"arch": "seg_fast"},
            "data": {"train": {"ann": str(ann), "images": str(images)}, "image_size": 96},
            "train": {"device": "cpu", "epochs": 1},
        }
    )
    rep = preflight(cfg)
    info = [f.message for f in rep.findings if f.item == "data.train.ann" and f.level == "info"]
    pending = len(Dataset.load(ann).annotations) - len(rep.train.dataset.annotations)
    assert any(f"{pending} pending proposals left out (never trained on)" in m for m in info), info
    assert not [f for f in rep.findings if f.level == "error" and f.item == "data.train.ann"]

    only = Dataset.load(ann)
    for a in only.annotations:
        a.update(pv.proposal(0.9, "best.pt"))
    only_file = tmp_path / "only_pending.json"
    only.save(only_file)
    cfg = validate(
        {
            "model": {"arch": "seg_fast"},
            "data": {"train": {"ann": str(only_file), "images": str(images)}, "image_size": 96},
            "train": {"device": "cpu", "epochs": 1},
        }
    )
    errors = [f.message for f in preflight(cfg).findings if f.level == "error" and f.item == "data.train.ann"]
    assert errors and "no annotations (only" in errors[0] and "accept some first" in errors[0]


# ----------------------------------------------------------------------------------- check, stats
def test_check_warns_about_pending_and_errors_on_invalid_provenance():
    ds = tiny()
    rep = check_dataset(ds)
    pending = [p for p in rep.problems if p.kind == "pending_proposal"]
    assert [p.message for p in pending] == ["1 pending proposal (not ground truth until reviewed)"]
    assert pending[0].severity == "warning" and not rep.errors
    ds.annotations[0]["source"] = "robot"
    ds.annotations[1]["status"] = "reviewed"
    rep = check_dataset(ds)
    bad = [p for p in rep.errors if p.kind == "invalid_provenance"]
    assert [(p.ann_id, p.image_id) for p in bad] == [(1, 1), (2, 1)]
    assert "'robot'" in bad[0].message and "'reviewed'" in bad[1].message
    assert rep.exit_code == 1
    assert "(image 1, annotation 1, category 1): source must be one of" in rep.format_text()


def test_stats_count_by_source_and_status():
    stats = compute_stats(tiny())
    assert "annotations: 1 manual · 2 model · 1 smart; 1 pending" in stats.format_text().splitlines()[1]
    d = stats.to_dict()
    assert d["provenance"] == {
        "source": {"manual": 1, "model": 2, "smart": 1},
        "status": {"accepted": 3, "pending": 1},
    }
    assert compute_stats(Dataset()).to_dict()["provenance"]["status"] == {"accepted": 0, "pending": 0}


# ------------------------------------------------------------------------------------------ box2mask
def test_box2mask_marks_its_polygons_smart_and_keeps_the_status(tmp_path):
    img = np.full((120, 160, 3), (90, 140, 80), np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    cv2.ellipse(mask, (60, 60), (30, 20), 0, 0, 360, 1, thickness=-1)
    cv2.ellipse(mask, (125, 60), (15, 25), 0, 0, 360, 1, thickness=-1)
    img[mask > 0] = (200, 60, 50)
    save_image(tmp_path / "a.png", img)
    ds = Dataset()
    ds.add_category("blob")
    ds.add_image("a.png", 160, 120)
    ds.add_annotation(1, 1, bbox=[26, 36, 68, 48])  # manual box
    ds.add_annotation(1, 1, bbox=[106, 31, 38, 58], **pv.proposal(0.8, "best.pt"))  # a model's box, pending
    res = boxes_to_masks(ds, tmp_path)
    assert res.converted == [1, 2], res.warnings
    manual, proposal = res.dataset.annotations
    assert manual["source"] == pv.SMART and pv.status_of(manual) == pv.ACCEPTED
    assert (proposal["source"], proposal["status"], proposal["score"]) == (pv.SMART, pv.PENDING, 0.8)
    assert "source" not in ds.annotations[0], "the input is not changed"
