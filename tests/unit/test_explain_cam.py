"""CAM on every architecture of the zoo (random weights, tiny inputs), the maths, targets and statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_explain_featmap import ARCHS, make_predictor, sample_image
from torch import nn
from torchvision.ops import roi_align

from studio.core.data.classes import ClassMap
from studio.core.data.preprocess import preprocess
from studio.core.errors import CancelledError, StudioError
from studio.core.explain.cam import (
    BoxTarget,
    ClassTarget,
    box_mask,
    eigencam,
    explain,
    finest,
    gradcam,
    gradcam_pp,
    mass_in_boxes,
    per_box_normalise,
)
from studio.core.explain.jobs import _shown_score, cam_job, cam_pictures
from studio.core.inference.predictor import Predictor
from studio.core.jobs import CancelToken


def _check_result(res, h: int, w: int) -> None:
    assert res.targets
    for e in res.targets:
        assert e.map.shape == (h, w) and e.map.dtype == np.float32
        assert np.isfinite(e.map).all() and (e.map >= 0).all()
        assert 0.0 <= e.area_share <= 1.0
        assert e.mass_in_box is None or 0.0 <= e.mass_in_box <= 1.0 + 1e-6
    assert res.combined.shape == (h, w) and np.isfinite(res.combined).all()
    assert res.combined.min() >= 0.0 and res.combined.max() <= 1.0 + 1e-6


@pytest.mark.parametrize("arch", ARCHS)
def test_cam_of_every_arch_is_finite_and_image_sized(arch):
    pred = make_predictor(arch)
    img = sample_image()
    grad = cam_job(pred, img, "gradcam", max_boxes=2)
    _check_result(grad.cam, 72, 112)
    assert [e.detection for e in grad.cam.targets] == [0, 1]
    # the score picked out of the post-processed output is still in the graph: gradients reach the neck
    assert any(float(e.map.sum()) > 0 for e in grad.cam.targets)
    assert len(grad.cam.layers) >= 3  # every neck level
    eig = cam_job(pred, img, "eigencam", box_index=0)
    _check_result(eig.cam, 72, 112)
    assert len(eig.cam.layers) == 1 and eig.cam.layers[0] in grad.cam.layers  # by default, the finest neck level
    assert cam_job(pred, img, "eigencam", "neck", box_index=0).cam.layers == grad.cam.layers  # asked for: all


@pytest.mark.parametrize("arch", ["det_lite", "retinanet_resnet50_fpn", "ssdlite320_mobilenet_v3_large"])
def test_gradcam_pp_and_single_layers(arch):
    pred = make_predictor(arch)
    res = cam_job(pred, sample_image(), "gradcam++", "stage2", box_index=[1, 0])
    _check_result(res.cam, 72, 112)
    assert [e.detection for e in res.cam.targets] == [1, 0] and len(res.cam.layers) == 1


# --------------------------------------------------------------------------- a toy detector
class Encoder(nn.Module):
    """Two levels whose channels all measure brightness (at four gains): a tiny pyramid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        with torch.no_grad():
            gains = torch.tensor([1.0, 2.0, 3.0, 4.0])
            self.conv1.weight.zero_()
            self.conv1.weight[:, :, 1, 1] = gains[:, None] / 3
            self.conv1.bias.zero_()
            self.conv2.weight.zero_()
            for c in range(4):
                self.conv2.weight[c, c] = 1 / 9
            self.conv2.bias.zero_()

    def forward(self, x):
        a = torch.relu(self.conv1(x))
        return [a, torch.relu(self.conv2(a))]


class ToyDetector(nn.Module):
    """The torchvision detection API with none of its module names; box ``i`` scores what it covers."""

    def __init__(self, boxes: list[list[float]]) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.boxes = torch.tensor(boxes, dtype=torch.float32)

    def forward(self, images):
        feats = self.encoder(torch.stack(images))
        pooled = [
            roi_align(f, [self.boxes], output_size=4, spatial_scale=s, aligned=True).mean(dim=(1, 2, 3))
            for f, s in zip(feats, (1.0, 0.5))
        ]
        scores = torch.sigmoid(sum(pooled) - 1.0)
        return [{"boxes": self.boxes.clone(), "scores": scores, "labels": torch.ones(len(scores), dtype=torch.int64)}]


BRIGHT = [55.0, 10.0, 90.0, 40.0]  # x0, y0, x1, y1 of the bright square
DARK = [5.0, 20.0, 35.0, 50.0]


def _toy_image() -> np.ndarray:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 25, (60, 100, 3), dtype=np.uint8)
    img[10:40, 55:90] = 240
    return img


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "eigencam"])
def test_cam_follows_the_object_on_a_model_with_unknown_names(method):
    """A detector that is no torchvision model: CAM of the box over the bright square puts most of its
    mass there (the check the real trained model gets in tests/e2e, here exact and fast)."""
    model = ToyDetector([BRIGHT, DARK]).eval()
    img = _toy_image()
    x, meta = preprocess(img, 100, letterbox=False)  # 60x100 padded to 64x128: the padding must be cropped
    res = explain(model, torch.from_numpy(x), meta, method=method, layers=["neck"], max_boxes=2, class_names=["thing"])
    assert res.layers == ["encoder:0", "encoder:1"]  # found by structure: a module returning two maps
    first, second = res.targets
    assert first.detection == 0 and np.allclose(first.boxes[0], BRIGHT)  # the bright box scores higher
    assert first.mass_in_box > 0.7 and first.ratio > 4  # the noisy background keeps ~20% of the mass
    assert second.mass_in_box < second.area_share  # the dark box: the model looks elsewhere
    assert res.combined[25, 70] == pytest.approx(1.0, abs=0.05)


def test_box_and_class_targets():
    model = ToyDetector([BRIGHT, DARK, [50.0, 5.0, 95.0, 45.0]]).eval()
    x, meta = preprocess(_toy_image(), 100, letterbox=False)
    t = torch.from_numpy(x)
    res = explain(model, t, meta, layers=["encoder:0"], targets=[BoxTarget((56.0, 11.0, 91.0, 40.0), 1)])
    (e,) = res.targets
    assert e.kind == "box" and e.detection in (0, 1) and e.iou > 0.9
    assert np.allclose(e.boxes[0], [56, 11, 91, 40])  # the statistic is about the box asked for
    with_iou = explain(
        model, t, meta, layers=["encoder:0"], targets=[BoxTarget((56.0, 11.0, 91.0, 40.0), 1, use_iou=True)]
    )
    assert with_iou.targets[0].score == pytest.approx(e.score * e.iou, rel=1e-4)
    cls = explain(model, t, meta, layers=["encoder:0"], targets=[ClassTarget(1)])
    (c,) = cls.targets
    assert c.kind == "class" and len(c.boxes) == 3 and c.detection is None
    assert c.score == pytest.approx(float(res.detections.scores.sum()), rel=1e-5)
    with pytest.raises(StudioError, match="best IoU 0.00"):
        explain(model, t, meta, layers=["neck"], targets=[BoxTarget((0.0, 0.0, 4.0, 4.0), 1)])
    with pytest.raises(StudioError, match="predicts no label 2"):
        explain(model, t, meta, layers=["neck"], targets=[BoxTarget(tuple(BRIGHT), 2)])
    with pytest.raises(StudioError, match="predicts no label 2 on this image, at any score"):
        explain(model, t, meta, layers=["neck"], targets=[ClassTarget(2)])
    # a class with no detection at the threshold: its strongest candidate below it, flagged as such
    below = explain(model, t, meta, layers=["encoder:0"], targets=[ClassTarget(1)], score_thr=0.9999)
    (b,) = below.targets
    assert b.below_threshold and len(b.boxes) == 1 and len(below.detections) == 0
    assert b.score == pytest.approx(float(res.detections.scores.max()), rel=1e-5)
    assert not c.below_threshold
    with pytest.raises(StudioError, match=r"box index 3.*3 detections"):
        explain(model, t, meta, layers=["neck"], targets=[3])
    with pytest.raises(StudioError, match="unknown CAM method"):
        explain(model, t, meta, method="scorecam", layers=["neck"])
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        explain(model, t, meta, layers=["neck"], cancel=token)


def _toy_predictor(score_thr: float) -> Predictor:
    """The toy detector of the bright and the dark square behind a Predictor, one class "thing"."""
    return Predictor(
        ToyDetector([BRIGHT, DARK]),
        ClassMap.from_names(["thing"]),
        size=100,
        letterbox=False,
        device=torch.device("cpu"),
        task="detect",
        score_thr=score_thr,
    )


def test_cam_job_targets_by_class_name_and_thresholds():
    pred = _toy_predictor(score_thr=0.0)
    img = _toy_image()
    res = cam_job(pred, img, "gradcam", class_name="thing")
    (row,) = res.stats()
    assert row["kind"] == "class" and row["class"] == "thing" and len(row["boxes"]) == 2
    assert row["ratio"] == pytest.approx(row["mass_in_box"] / row["area_share"], rel=1e-2)
    with pytest.raises(StudioError, match="unknown class 'cat'.*thing"):
        cam_job(pred, img, class_name="cat")
    with pytest.raises(StudioError, match="no detection above score 0.99"):
        cam_job(pred, img, score_thr=0.99)
    assert res.score_thr == 0.0 and res.notes() == [] and row["below_threshold"] is False


def test_a_named_class_below_the_threshold_explains_its_strongest_candidate_and_says_so():
    """The GUI's CAM tab names a class at its own threshold: above every score, the class's best candidate is
    explained, the result says so in words, and its pictures draw that candidate's score (it is no detection)."""
    pred = _toy_predictor(score_thr=0.5)
    img = _toy_image()
    at_zero = cam_job(pred, img, "gradcam", score_thr=0.0)
    best = float(at_zero.cam.detections.scores[0])
    assert at_zero.score_thr == 0.0 and len(at_zero.cam.detections) == 2
    res = cam_job(pred, img, "gradcam", class_name="thing", score_thr=0.9999)
    (e,) = res.cam.targets
    assert res.score_thr == pytest.approx(0.9999) and len(res.cam.detections) == 0
    assert e.below_threshold and e.score == pytest.approx(best, rel=1e-5) and np.allclose(e.boxes[0], BRIGHT)
    assert res.notes() == [f"no thing at score ≥ 0.9999; showing its strongest candidate, score {best:.3f}"]
    assert res.stats()[0]["below_threshold"] is True
    assert _shown_score(e, res.cam.detections, 0) == pytest.approx(best, rel=1e-5)
    assert len(cam_pictures(res.cam, img, res.class_names)) == 2
    default = cam_job(pred, img, "gradcam", max_boxes=5)
    assert default.score_thr == 0.5, "no threshold given: the loaded model's"
    assert (default.cam.detections.scores >= 0.5).all()


# --------------------------------------------------------------------------- the maths
def test_gradcam_weights_channels_by_mean_gradient():
    act = torch.zeros(2, 2, 2)
    act[0, 0, 0] = 1.0
    act[1, 1, 1] = 1.0
    grad = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), -1.0)])
    cam = gradcam(act, grad)
    assert cam.tolist() == [[0.5, 0.0], [0.0, 0.0]]  # channel 1 counts against, ReLU cuts it


def test_gradcam_pp_matches_its_closed_form():
    act = torch.rand(3, 4, 4) + 0.1
    g = torch.full((3, 4, 4), 0.2)
    cam = gradcam_pp(act, g)
    s = act.sum(dim=(1, 2))
    alpha = 0.04 / (2 * 0.04 + s * 0.008)
    w = (0.2 * alpha) * 16
    np.testing.assert_allclose(cam.numpy(), torch.relu((w[:, None, None] * act).sum(0)).numpy(), rtol=1e-4)
    assert gradcam_pp(act, torch.zeros_like(act)).abs().max() == 0  # no gradient, no map


def test_eigencam_is_the_principal_component_with_the_activation_sign():
    blob = torch.zeros(6, 6)
    blob[1:3, 3:5] = 1.0
    act = torch.stack([blob * g for g in (1.0, 2.0, -0.5)]) + 0.01 * torch.rand(3, 6, 6)
    act[2] = torch.relu(act[2])
    cam = eigencam(act)
    assert cam.shape == (6, 6) and float(cam[1:3, 3:5].min()) > 0
    assert float(cam.sum() - cam[1:3, 3:5].sum()) < 0.05 * float(cam.sum())
    assert eigencam(torch.ones(4, 1, 1)).tolist() == [[0.0]]  # a 1x1 level has no component


def test_finest_keeps_the_level_with_most_positions():
    acts = [("p3", torch.zeros(1, 8, 10, 10)), ("p2", torch.zeros(1, 8, 20, 24)), ("p4", torch.zeros(1, 8, 5, 5))]
    assert [n for n, _ in finest(acts)] == ["p2"]
    assert finest(acts[:1]) == acts[:1] and finest([]) == []


def test_mass_statistics_and_per_box_normalisation():
    cam = np.zeros((10, 20), np.float32)
    cam[2:4, 5:10] = 1.0
    mass, area = mass_in_boxes(cam, np.array([[5, 2, 10, 4]]))
    assert mass == pytest.approx(1.0) and area == pytest.approx(10 / 200)
    mass, _ = mass_in_boxes(cam, np.array([[5, 2, 7.5, 4]]))  # a half-pixel edge counts the pixel it touches
    assert mass == pytest.approx(0.6)
    assert mass_in_boxes(np.zeros((4, 4)), np.array([[0, 0, 2, 2]])) == (None, 0.25)
    assert box_mask(np.array([[-5, -5, 2, 100]]), 4, 4).sum() == 8  # clipped to the image
    big = np.zeros((10, 20), np.float32)
    big[:, :10] = 50.0
    small = np.zeros((10, 20), np.float32)
    small[5, 15] = 0.1
    out = per_box_normalise([big, small], [np.array([[0, 0, 10, 10]]), np.array([[14, 4, 17, 7]])], shared=False)
    assert out[0, 0] == 1.0 and out[5, 15] == 1.0  # the faint box is not washed out by the strong one
    shared = np.tile(np.linspace(0, 1, 20, dtype=np.float32), (10, 1))
    out = per_box_normalise([shared], [np.array([[0, 0, 5, 10], [15, 0, 20, 10]])], shared=True)
    assert out[0, 4] == 1.0 and out[0, 0] == 0.0 and out[0, 19] == 1.0 and out[0, 10] == 0.0
