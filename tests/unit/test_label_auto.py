"""Auto-label core: proposals from a model's detections, applying them with provenance, loading models, and the
relative ``train.epochs=+N`` override that retraining uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.core.config.loader import ConfigError, apply_overrides, relative_amount
from studio.core.data.classes import ClassMap
from studio.core.dataset import provenance
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.errors import CancelledError, StudioError
from studio.core.imageio import save_image
from studio.core.jobs import CancelToken
from studio.core.labelling import auto
from studio.core.training.runs import extension_overrides


class FakeModel:
    """A model whose detections are given: two objects per image, one of each class, masks when asked."""

    size = 64

    def __init__(self, with_masks: bool = True, scores=(0.9, 0.3)):
        self.class_map = ClassMap.from_names(["cat", "dog"])
        self.with_masks = with_masks
        self.scores = scores
        self.seen: list[tuple[int, int]] = []

    def predict(self, images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            self.seen.append((h, w))
            boxes = np.array([[4, 4, 20, 20], [30, 10, 50, 40]], np.float32)
            masks = None
            if self.with_masks:
                masks = np.zeros((2, h, w), bool)
                masks[0, 4:20, 4:20] = True
                masks[1, 10:40, 30:50] = True
            out.append(Detections(boxes, np.array(self.scores, np.float32), np.array([1, 2]), masks))
        return out


@pytest.fixture
def images(tmp_path) -> list[tuple[int, Path]]:
    items = []
    for i in range(3):
        p = save_image(tmp_path / f"im{i}.png", np.full((48, 64, 3), 40 * i, np.uint8))
        items.append((i + 1, p))
    return items


def test_propose_gives_polygons_from_masks_above_the_threshold(images):
    batch = auto.propose(FakeModel(), images, score_thr=0.5, checkpoint="run/best.pt")
    assert batch.images_done == [1, 2, 3] and batch.warnings == []
    assert [p.image_id for p in batch.proposals] == [1, 2, 3]  # the 0.3 dog is under the threshold
    p = batch.proposals[0]
    assert p.category_name == "cat" and p.score == pytest.approx(0.9) and p.checkpoint == "run/best.pt"
    assert len(p.segmentation) == 1 and len(p.segmentation[0]) >= 8
    x, y, w, h = p.bbox
    assert (x, y) == pytest.approx((4, 4), abs=1) and (w, h) == pytest.approx((15, 15), abs=1.5)
    assert batch.below == 3, "one dog per image scored under the threshold"


def test_a_weak_model_gets_a_hint_to_lower_the_threshold(images):
    weak = auto.propose(FakeModel(scores=(0.3, 0.2)), images, score_thr=0.5)
    assert weak.proposals == [] and weak.below == 6
    summary = auto.AutoLabelSummary(Path("o.json"), 3, 0, 0, 1.0, "x.pt", below=weak.below, score_thr=0.5)
    assert "6 more detections scored under 0.5" in summary.hint()
    strong = auto.AutoLabelSummary(Path("o.json"), 3, 3, 0, 1.0, "x.pt", below=3, score_thr=0.5)
    assert strong.hint() is None, "one proposal per image: no hint"


def test_propose_gives_boxes_for_a_detector_and_keeps_low_scores_when_asked(images):
    batch = auto.propose(FakeModel(with_masks=False), images[:1], score_thr=0.2)
    assert [(p.category_name, p.segmentation) for p in batch.proposals] == [("cat", []), ("dog", [])]
    assert batch.proposals[1].bbox == pytest.approx([30, 10, 20, 30])


def test_missing_and_broken_images_are_skipped_with_a_warning_naming_file_and_image(images, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    items = [images[0], (7, tmp_path / "gone.png"), (8, broken)]
    batch = auto.propose(FakeModel(), items)
    assert batch.images_done == [1]
    assert len(batch.warnings) == 2
    assert "gone.png" in batch.warnings[0] and "image 7" in batch.warnings[0]
    assert "broken.jpg" in batch.warnings[1] and "image 8" in batch.warnings[1]


def test_propose_reports_progress_and_stops_on_cancel(images):
    seen = []
    auto.propose(FakeModel(), images * 3, progress=lambda d, t, m="": seen.append((d, t)))
    assert seen[-1] == (9, 9) and len(seen) == 3
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        auto.propose(FakeModel(), images, cancel=token)


def test_propose_refuses_a_threshold_outside_0_1(images):
    with pytest.raises(StudioError, match="between 0 and 1"):
        auto.propose(FakeModel(), images, score_thr=1.5)


def dataset_with_history() -> Dataset:
    ds = Dataset()
    cat = ds.add_category("cat")
    for i in (1, 2, 3):
        ds.add_image(f"im{i - 1}.png", 64, 48, id=i)
    ds.add_annotation(1, cat, bbox=[0, 0, 5, 5])  # manual, accepted
    ds.add_annotation(2, cat, bbox=[1, 1, 5, 5], **provenance.proposal(0.7, "old.pt"))  # earlier proposal
    ds.add_annotation(2, cat, bbox=[2, 2, 5, 5], **provenance.provenance(provenance.SMART, provenance.PENDING))
    ds.add_annotation(3, cat, bbox=[3, 3, 5, 5], **provenance.proposal(0.6, "old.pt"))  # image not processed
    return ds


def test_apply_replaces_earlier_model_proposals_of_the_processed_images_only(images):
    ds = dataset_with_history()
    batch = auto.propose(FakeModel(), images[:2], score_thr=0.2, checkpoint="new.pt")
    added = auto.apply_proposals(ds, batch)
    assert added == 4
    assert ds.class_names == ["cat", "dog"]  # the missing class is added by name
    by_image = {i: ds.anns_for_image(i) for i in (1, 2, 3)}
    assert by_image[1][0]["bbox"] == [0, 0, 5, 5] and "status" not in by_image[1][0]  # the manual one stays
    assert [a.get("checkpoint") for a in by_image[2]] == [None, "new.pt", "new.pt"]  # old.pt is gone, smart kept
    assert by_image[3][0]["checkpoint"] == "old.pt"  # not processed: untouched
    new = [a for a in ds.annotations if a.get("checkpoint") == "new.pt"]
    assert all(provenance.is_pending(a) and provenance.source_of(a) == "model" for a in new)
    assert sorted(a["score"] for a in new) == pytest.approx([0.3, 0.3, 0.9, 0.9])
    assert all(a["segmentation"] and a["area"] > 0 for a in new)
    # running it again replaces instead of piling up
    auto.apply_proposals(ds, batch)
    assert len([a for a in ds.annotations if a.get("checkpoint") == "new.pt"]) == 4


def test_apply_refuses_a_proposal_for_an_image_the_dataset_lacks():
    ds = dataset_with_history()
    batch = auto.ProposalBatch([auto.Proposal(99, "cat", [], [0, 0, 2, 2], 0.9, "x.pt")], [99], [])
    with pytest.raises(StudioError, match="image 99"):
        auto.apply_proposals(ds, batch)


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(StudioError, match="nope.pt"):
        auto.load_model(tmp_path / "nope.pt")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(StudioError, match="bad.onnx"):
        auto.load_model(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(StudioError, match="junk.pt"):
        auto.load_model(junk)


def test_load_model_opens_a_checkpoint_as_a_predictor(checkpoint_factory):
    model = auto.load_model(checkpoint_factory("seg_lite"), device="cpu", score_thr=0.2)
    assert type(model).__name__ == "Predictor" and model.with_masks and model.score_thr == 0.2
    assert auto.model_input_size(model) == 96


def test_checkpoint_label_names_the_run_of_best_and_last(tmp_path):
    run = tmp_path / "run-3"
    run.mkdir()
    assert auto.checkpoint_label(run) == "run-3/last.pt"
    (run / "best.pt").write_bytes(b"")
    assert auto.checkpoint_label(run) == "run-3/best.pt"
    assert auto.checkpoint_label(run / "last.pt") == "run-3/last.pt"
    assert auto.checkpoint_label(tmp_path / "model.onnx") == "model.onnx"


def test_relative_override_adds_to_the_config_value():
    assert relative_amount("train.epochs=+5") == 5 and relative_amount("train.epochs=5") is None
    assert relative_amount("train.lr=+0.5") == 0.5 and relative_amount("train.epochs=-5") is None
    raw = {"train": {"epochs": 12, "lr": 0.01}}
    assert apply_overrides(raw, ["train.epochs=+5"])["train"]["epochs"] == 17
    assert apply_overrides(raw, ["train.epochs=5"])["train"]["epochs"] == 5
    with pytest.raises(ConfigError, match="train.time_limit"):
        apply_overrides(raw, ["train.time_limit=+5"])


def test_extension_counts_from_the_epochs_the_run_did(tmp_path):
    """Without events the config's value counts; the extension has no time limit unless one is given."""
    ck = tmp_path / "run" / "last.pt"
    ck.parent.mkdir()
    assert extension_overrides(["train.epochs=+3"], ck) == ["train.epochs=+3", "train.time_limit=null"]
    assert extension_overrides(["train.epochs=+3", "train.time_limit=60"], ck)[-1] == "train.time_limit=60"
    assert extension_overrides(["train.lr=+0.1"], ck) == ["train.lr=+0.1"]  # only an extension drops the limit
