"""What to label next: the uncertainty figures, the greedy diverse pick, k, order, cancel, and a real model's
features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.core.data.classes import ClassMap
from studio.core.detections import Detections
from studio.core.errors import CancelledError, StudioError
from studio.core.imageio import save_image
from studio.core.jobs import CancelToken
from studio.core.labelling import rank

W, H = 64, 48
BOX = np.array([[5, 5, 25, 30]], np.float32)


class TableModel:
    """Detections looked up by a tag painted in the image: (score, agrees with its mirror image). The tag is
    pixel (0, 0) and (0, W-1); row 1 tells the original (255 at the left) from the mirror image."""

    size = W

    def __init__(self, table: dict[int, tuple[float, bool]]):
        self.class_map = ClassMap.from_names(["thing"])
        self.with_masks = False
        self.table = table

    def predict(self, images):
        out = []
        for im in images:
            score, agrees = self.table[int(im[0, 0, 0])]
            mirrored = im[1, 0, 0] < 128
            box = BOX.copy()
            if mirrored:
                box[:, [0, 2]] = W - BOX[:, [2, 0]]
                if not agrees:
                    box += np.float32(30)  # somewhere else entirely
            out.append(Detections(box, np.array([score], np.float32), np.array([1])))
        return out


def picture(path: Path, tag: int, texture: int) -> Path:
    rng = np.random.default_rng(texture)
    im = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    im[0, 0] = im[0, W - 1] = tag
    im[1, 0], im[1, W - 1] = 255, 0
    return save_image(path, im)


@pytest.fixture
def scene(tmp_path):
    """Five copies of one hard, inconsistent picture; one other uncertain picture; two confident ones."""
    table = {10: (0.5, False), 20: (0.45, True), 30: (0.99, True), 40: (0.98, True)}
    items = [(i, picture(tmp_path / f"dup{i}.png", 10, texture=1)) for i in range(1, 6)]
    items.append((6, picture(tmp_path / "other.png", 20, texture=2)))
    items.append((7, picture(tmp_path / "sure1.png", 30, texture=3)))
    items.append((8, picture(tmp_path / "sure2.png", 40, texture=4)))
    return TableModel(table), items


def test_a_picture_duplicated_five_times_is_picked_once(scene):
    model, items = scene
    top = rank.rank_images(model, items, k=3)
    ids = [r.image_id for r in top]
    assert len([i for i in ids if i <= 5]) == 1
    assert ids[0] <= 5 and ids[1] == 6  # the hardest first, then the other uncertain one, not a copy
    assert top[0].uncertainty == pytest.approx(1.0) and top[0].flip_disagreement == pytest.approx(1.0)
    assert top[1].flip_disagreement == pytest.approx(0.0, abs=1e-6) and top[1].novelty > 0.5


def test_uncertain_images_rank_above_confident_ones(scene):
    model, items = scene
    ranked = rank.rank_images(model, items[5:])
    assert ranked[0].image_id == 6
    assert ranked[0].uncertainty > 0.9 > 0.3 > max(r.uncertainty for r in ranked[1:])
    assert ranked[0].score > ranked[1].score


def test_k_and_the_order(scene):
    model, items = scene
    every = rank.rank_images(model, items)
    assert sorted(r.image_id for r in every) == list(range(1, 9))
    scores = [r.score for r in every]
    assert scores == sorted(scores, reverse=True)
    assert [r.image_id for r in rank.rank_images(model, items, k=2)] == [r.image_id for r in every[:2]]
    assert len(rank.rank_images(model, items, k=50)) == 8
    assert every[0].reason().startswith("uncertainty 1.00 · flip 1.00 · novelty")
    with pytest.raises(StudioError, match="-k"):
        rank.rank_images(model, items, k=0)


def test_a_labelled_twin_makes_an_image_worth_less(scene, tmp_path):
    model, items = scene
    twin = (99, picture(tmp_path / "twin.png", 20, texture=2))
    without = [r.image_id for r in rank.rank_images(model, items[5:])]
    with_twin = rank.rank_images(model, items[5:], labelled=[twin])
    assert without[0] == 6 and with_twin[-1].image_id == 6 and with_twin[-1].novelty == pytest.approx(0.0, abs=1e-6)


def test_cancel_progress_and_unreadable_images(scene, tmp_path):
    model, items = scene
    seen = []
    warnings: list[str] = []
    ranked = rank.rank_images(
        model,
        [*items, (50, tmp_path / "gone.png")],
        progress=lambda d, t, m="": seen.append((d, t)),
        warnings=warnings,
    )
    assert len(ranked) == 8 and seen[-1] == (9, 9)
    assert len(warnings) == 1 and "gone.png" in warnings[0] and "image 50" in warnings[0]
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        rank.rank_images(model, items, cancel=token)


def test_uncertainty_peaks_at_the_decision_threshold():
    def dets(*scores):
        n = len(scores)
        return Detections(np.tile(BOX, (n, 1)), np.array(scores, np.float32), np.ones(n, np.int64))

    assert rank.score_uncertainty(dets(0.5), 0.5) == pytest.approx(1.0)
    assert rank.score_uncertainty(dets(0.3), 0.3) == pytest.approx(1.0)
    assert rank.score_uncertainty(dets(0.99), 0.5) < 0.2
    assert rank.score_uncertainty(dets(0.99, 0.55), 0.5) > 0.9  # the most uncertain detection counts
    assert rank.score_uncertainty(dets(), 0.5) == 0.0


def test_flip_disagreement_matches_mirrored_boxes_by_class():
    a = Detections(BOX, np.array([0.9], np.float32), np.array([1]))
    mirrored = BOX.copy()
    mirrored[:, [0, 2]] = W - BOX[:, [2, 0]]
    same = Detections(mirrored, np.array([0.9], np.float32), np.array([1]))
    other_class = Detections(mirrored, np.array([0.9], np.float32), np.array([2]))
    assert rank.flip_disagreement(a, same, W) == pytest.approx(0.0, abs=1e-6)
    assert rank.flip_disagreement(a, other_class, W) == pytest.approx(1.0)
    assert rank.flip_disagreement(a, Detections.empty(), W) == pytest.approx(1.0)
    assert rank.flip_disagreement(Detections.empty(), Detections.empty(), W) == 0.0


def test_a_real_models_features_come_from_its_neck(checkpoint_factory, demo):
    from studio.core.inference.predictor import Predictor

    model = Predictor.from_checkpoint(checkpoint_factory("seg_lite", calibrate_bn=True), device="cpu", score_thr=0.05)
    assert rank.feature_module(model) is not None
    images = sorted(demo["val"].images.glob("*.jpg"))[:3]
    ranked = rank.rank_images(model, [(i, p) for i, p in enumerate(images)], k=2)
    assert len(ranked) == 2 and ranked[0].score >= ranked[1].score
    with rank.FeatureTap(model) as tap:
        model.predict([np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)])
        feats = tap.take(2)
    assert feats is not None and feats[0].shape == feats[1].shape and not np.allclose(feats[0], feats[1])


def test_a_weak_models_threshold_is_its_own_working_point(scene):
    """A model whose best guesses score 0.1 hesitates around 0.1, not around 0.5."""
    assert rank.working_point([0.9, 0.95, 0.8]) == 0.5
    assert rank.working_point([0.08, 0.1, 0.12, 0.01]) == pytest.approx(0.1)
    assert rank.working_point([]) == 0.5
    model, items = scene
    model.table = {10: (0.1, True), 20: (0.4, True), 30: (0.11, True), 40: (0.09, True)}
    used: dict = {}
    ranked = rank.rank_images(model, items[5:], threshold=None, used=used)
    assert used["threshold"] == pytest.approx(0.11, abs=1e-6)
    assert ranked[0].image_id == 7 and ranked[0].uncertainty == pytest.approx(1.0)
    assert rank.configured_threshold(0.05) is None and rank.configured_threshold(0.4) == 0.4
    assert rank.decision_threshold(0.05) == 0.5 and rank.decision_threshold(0.4) == 0.4


def test_an_image_with_more_uncertain_objects_outweighs_one_with_a_single_one():
    assert rank.uncertainty_mass(np.array([0.5, 0.45, 0.55]), 0.5) > rank.uncertainty_mass(np.array([0.5]), 0.5)
    assert rank.uncertainty_mass(np.array([0.5]), 0.5) == pytest.approx(1.0)
    faint = np.full(100, 0.06)  # a weak model's many faint guesses add nothing
    assert rank.uncertainty_mass(faint, 0.5) == 0.0
    assert rank.uncertainty_mass(np.zeros(0), 0.5) == 0.0
