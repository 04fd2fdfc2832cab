"""The box prompt from the model: which detection a drawn box matches, its mask clipped to the box and traced, the
score gate and the GrabCut fallback, the per-image detection cache, and the bench's crop variant (a detection made on
a crop lands where it belongs in the image)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from bench.model_box_prompt import crop_prompt, crop_to_image, crop_window

from studio.core.detections import Detections
from studio.core.geometry import segmentation_to_mask
from studio.core.labelling.box_prompt import (
    GRABCUT,
    MIN_SCORE,
    MODEL,
    BoxPromptResult,
    DetectionCache,
    box_prompt,
    clip_window,
    match_box,
    model_polygon,
)

W, H = 200, 150


def _disc(cx: int, cy: int, r: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, thickness=-1)
    return m.astype(bool)


def _dets(boxes, scores, masks=None, labels=None) -> Detections:
    n = len(boxes)
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(scores, np.float32),
        np.asarray(labels if labels is not None else [1] * n, np.int64),
        None if masks is None else np.stack(masks) if n else np.zeros((0, H, W), bool),
    )


def _iou(poly, mask: np.ndarray) -> float:
    m = segmentation_to_mask([poly], H, W) > 0
    return float((m & mask).sum() / (m | mask).sum())


class FakeModel:
    """A labelling model that always gives the same detections, and counts its runs."""

    def __init__(self, dets: Detections):
        self.dets, self.runs, self.with_masks = dets, 0, dets.masks is not None

    def predict(self, images):
        self.runs += 1
        return [self.dets for _ in images]


def _scene() -> tuple[np.ndarray, Detections]:
    """A dark disc (r 30 at 60, 60) and a bright one (r 20 at 150, 100) on grey; detections of both."""
    img = np.full((H, W, 3), 128, np.uint8)
    img[_disc(60, 60, 30)] = (30, 30, 160)
    img[_disc(150, 100, 20)] = (240, 220, 40)
    masks = [_disc(60, 60, 30), _disc(150, 100, 20)]
    return img, _dets([[30, 30, 91, 91], [130, 80, 171, 121]], [0.9, 0.6], masks, labels=[1, 2])


# ----------------------------------------------------------------------------------------------- match_box
def test_match_box_takes_the_detection_that_fits_the_drawn_box():
    _, dets = _scene()
    assert match_box(dets, [28, 28, 93, 93]) == 0
    assert match_box(dets, [128, 78, 173, 123]) == 1
    assert match_box(dets, [0, 0, 20, 20]) is None, "empty space matches nothing"
    assert match_box(_dets([], []), [0, 0, 10, 10]) is None
    assert match_box(dets, [50, 50, 50, 60]) is None, "a box with no area matches nothing"


def test_match_box_needs_the_iou_threshold():
    box = [0, 0, 100, 100]
    assert match_box(_dets([[0, 0, 100, 60]], [0.9]), box) == 0  # IoU 0.6, all of it inside
    assert match_box(_dets([[0, 0, 100, 40]], [0.9]), box) is None  # IoU 0.4
    assert match_box(_dets([[0, 0, 100, 40]], [0.9]), box, min_iou=0.3) == 0
    assert match_box(_dets([[0, 0, 100, 60]], [0.9]), box, min_iou=0.7) is None


def test_match_box_refuses_a_detection_mostly_outside_the_drawn_box():
    # the detection sticks out of the drawn box to the right: IoU 0.55 but only 55 % of it inside
    dets = _dets([[0, 0, 100, 100]], [0.9])
    box = [0, -1, 55, 101]
    assert match_box(dets, box, min_iou=0.5, min_inside=0.7) is None
    assert match_box(dets, box, min_iou=0.5, min_inside=0.5) == 0
    assert match_box(dets, [0, -1, 45, 101], min_iou=0.3, min_inside=0.3) is None, "its centre lies outside"
    assert match_box(dets, [0, 0, 110, 110], min_inside=0.7) == 0, "a loose box around it is fine"


def test_match_box_prefers_the_higher_iou_then_the_higher_score():
    dets = _dets([[0, 0, 80, 80], [0, 0, 100, 100], [0, 0, 100, 100]], [0.95, 0.3, 0.5])
    assert match_box(dets, [0, 0, 100, 100]) == 2


# ----------------------------------------------------------------------------------------------- model_polygon
def test_model_polygon_traces_the_mask_of_the_matched_detection():
    _, dets = _scene()
    poly = model_polygon(dets, 0, [28, 28, 93, 93], (W, H))
    assert poly is not None and _iou(poly, _disc(60, 60, 30)) > 0.95
    assert all(0 <= v <= W for v in poly[0::2]) and all(0 <= v <= H for v in poly[1::2])


def test_model_polygon_clips_the_mask_to_the_drawn_box_with_a_small_margin():
    dets = _dets([[30, 30, 91, 91]], [0.9], [_disc(60, 60, 30)])
    box = [30, 30, 60, 91]  # the left half of the disc (x 30..60)
    poly = model_polygon(dets, 0, box, (W, H))
    xs = poly[0::2]
    x0, _, x1, _ = clip_window(box, (W, H))
    assert min(xs) >= x0 and max(xs) <= x1 and max(xs) < 66, "nothing of the disc's right half beyond the margin"
    exact = model_polygon(dets, 0, box, (W, H), margin=0)
    assert max(exact[0::2]) <= 60.0


def test_model_polygon_keeps_the_largest_part_and_says_none_without_a_mask():
    two = _disc(40, 40, 20) | _disc(120, 40, 8)
    dets = _dets([[20, 20, 130, 60]], [0.8], [two])
    poly = model_polygon(dets, 0, [18, 18, 132, 62], (W, H))
    assert max(poly[0::2]) < 62, "the big disc, not the small one"
    assert model_polygon(_dets([[0, 0, 10, 10]], [0.9]), 0, [0, 0, 10, 10], (W, H)) is None, "a box-only model"
    empty = _dets([[0, 0, 10, 10]], [0.9], [np.zeros((H, W), bool)])
    assert model_polygon(empty, 0, [0, 0, 10, 10], (W, H)) is None
    assert model_polygon(dets, 5, [0, 0, 10, 10], (W, H)) is None


# ----------------------------------------------------------------------------------------------- box_prompt
def test_box_prompt_gives_the_models_mask_with_its_score_and_label():
    img, dets = _scene()
    model = FakeModel(dets)
    r = box_prompt(model, img, [128, 78, 45, 45], min_score=0.5)
    assert isinstance(r, BoxPromptResult) and r.source == MODEL and r.score == pytest.approx(0.6)
    assert r.label == 2 and r.describe() == "model 0.60" and r.note == ""
    assert _iou(r.polygon, _disc(150, 100, 20)) > 0.9
    assert model.runs == 1
    again = box_prompt(model, img, [28, 28, 65, 65], detections=dets)
    assert again.source == MODEL and again.score == pytest.approx(0.9) and model.runs == 1, "no second run"


def test_box_prompt_leaves_a_detection_the_model_is_unsure_of_to_grabcut():
    """Below MIN_SCORE the model's masks were worse than GrabCut's on balloon val (bench/model_box_prompt.py)."""
    img, dets = _scene()
    assert 0.6 < MIN_SCORE <= 0.9
    r = box_prompt(None, img, [128, 78, 45, 45], detections=dets)
    assert r.source == GRABCUT and r.score is None and r.note == "model unsure, 0.60"
    assert _iou(r.polygon, _disc(150, 100, 20)) > 0.8, "GrabCut outlines the bright disc"
    assert box_prompt(None, img, [128, 78, 45, 45], detections=dets, min_score=0.0).source == MODEL
    assert box_prompt(None, img, [28, 28, 65, 65], detections=dets).source == MODEL, "0.9: sure enough"


def test_box_prompt_falls_back_to_grabcut_over_empty_space_and_without_masks():
    img, dets = _scene()
    img[100:130, 20:70] = (20, 140, 30)  # a green block no detection covers
    truth = np.zeros((H, W), bool)
    truth[100:130, 20:70] = True
    r = box_prompt(FakeModel(dets), img, [18, 98, 54, 34])
    assert r.source == GRABCUT and r.score is None and r.describe() == "GrabCut"
    assert "no detection" in r.note and _iou(r.polygon, truth) > 0.8
    boxes_only = Detections(dets.boxes, dets.scores, dets.labels, None)
    r = box_prompt(FakeModel(boxes_only), img, [28, 28, 65, 65])
    assert r.source == GRABCUT and "boxes, not masks" in r.note
    assert _iou(r.polygon, _disc(60, 60, 30)) > 0.8, "GrabCut still finds the disc"
    r = box_prompt(None, img, [28, 28, 65, 65])
    assert r.source == GRABCUT and r.note == "no labelling model"


def test_box_prompt_gives_the_box_when_grabcut_finds_nothing_and_nothing_outside_the_image():
    img = np.full((H, W, 3), 128, np.uint8)
    r = box_prompt(None, img, [0, 0, W, H])
    assert r.source == GRABCUT and len(r.polygon) == 8 and "whole image" in r.note
    r = box_prompt(None, img, [W + 10, 0, 20, 20])
    assert r.polygon == [] and "outside" in r.note


# ----------------------------------------------------------------------------------------------- the cache
def test_detection_cache_runs_the_model_once_per_image_and_loads_each_model_once(tmp_path):
    _, dets = _scene()
    loads: list[Path] = []
    models: dict[Path, FakeModel] = {}

    def load(path: Path) -> FakeModel:
        loads.append(path)
        models[path] = FakeModel(dets)
        return models[path]

    cache = DetectionCache(load, size=2)
    img = np.zeros((H, W, 3), np.uint8)
    a, b = tmp_path / "a.pt", tmp_path / "run"
    a.write_bytes(b"a")
    (b / "best.pt").parent.mkdir()
    (b / "best.pt").write_bytes(b"b")
    assert cache.detections(a, "one.jpg", img) == (dets, False)
    assert cache.detections(a, "one.jpg", img) == (dets, True)
    assert cache.cached(a, "one.jpg") and not cache.cached(a, "two.jpg")
    cache.detections(a, "two.jpg", img)
    cache.detections(a, "three.jpg", img)
    assert not cache.cached(a, "one.jpg"), "only the last 2 images are kept"
    assert loads == [a] and models[a].runs == 3
    cache.detections(b, "two.jpg", img)
    assert loads == [a, b] and not cache.cached(a, "two.jpg"), "another model: the old one's detections go"
    assert cache.model(b) is models[b] and cache.cached(b, "two.jpg")
    os.utime(b / "best.pt", ns=(1, 1))  # trained further under the same name
    assert not cache.cached(b, "two.jpg")
    assert cache.detections(b, "two.jpg", img) == (dets, False) and loads == [a, b, b]
    cache.clear()
    assert not cache.cached(b, "two.jpg")
    cache.model(b)
    assert loads == [a, b, b, b]


def test_detection_cache_is_safe_from_two_threads():
    _, dets = _scene()
    model = FakeModel(dets)
    cache = DetectionCache(lambda p: model)
    img = np.zeros((H, W, 3), np.uint8)
    threads = [threading.Thread(target=cache.detections, args=(Path("m.pt"), "x", img)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.runs == 1


def test_detection_cache_never_makes_the_asking_thread_wait():
    """cached() and clear() come from the GUI thread: while a worker loads the model they answer at once."""
    _, dets = _scene()
    loading, release = threading.Event(), threading.Event()
    model = FakeModel(dets)

    def slow_load(path):
        loading.set()
        release.wait(5)
        return model

    cache = DetectionCache(slow_load)
    img = np.zeros((H, W, 3), np.uint8)
    worker = threading.Thread(target=cache.detections, args=(Path("m.pt"), "x", img))
    worker.start()
    assert loading.wait(5)
    assert cache.cached(Path("m.pt"), "x") is False
    cache.clear()  # asked while the worker holds the cache: done at the next use
    release.set()
    worker.join()
    assert cache.detections(Path("m.pt"), "x", img) == (dets, False), "the cleared detections are made again"


def test_box_prompt_with_a_real_checkpoint_through_the_labelling_loader(checkpoint_factory, demo):
    """A seg_fast checkpoint loaded as the editor loads it: the box of one of its detections gives that detection's
    mask (random weights: what it detects does not matter, only that the path holds end to end)."""
    from studio.core.imageio import imread_rgb
    from studio.core.labelling.auto import load_model

    ckpt = checkpoint_factory("seg_fast", size=96, calibrate_bn=True)
    cache = DetectionCache(lambda path: load_model(path, device="cpu", score_thr=0.0))
    split = demo["val"]
    image = imread_rgb(next(p for p in sorted(split.images.iterdir()) if p.suffix in (".png", ".jpg")))
    h, w = image.shape[:2]
    dets, cached = cache.detections(ckpt, "val-0", image)
    assert not cached and dets.masks is not None and np.asarray(dets.masks).shape[1:] == (h, w)
    assert len(dets), "a score threshold of 0 keeps every candidate"
    i = next((k for k in range(len(dets)) if np.asarray(dets.masks[k]).any()), None)
    if i is None:
        pytest.skip("the random model's masks are all empty")
    x0, y0, x1, y1 = (float(v) for v in dets.boxes[i])
    r = box_prompt(None, image, [x0, y0, x1 - x0, y1 - y0], detections=dets, min_score=0.0)
    assert r.source == MODEL and r.score == pytest.approx(float(dets.scores[match_box(dets, [x0, y0, x1, y1])]))
    assert cache.detections(ckpt, "val-0", image)[1], "the second box on the image reuses the detections"


# ----------------------------------------------------------------------------------------------- the bench's crop
def test_crop_window_grows_the_box_by_its_margin_inside_the_image():
    assert crop_window([40, 30, 80, 130], (W, H), 0.25) == (30, 5, 90, 150)  # 10 and 25 px a side; H clips it
    assert crop_window([0, 0, 20, 10], (W, H), 0.5) == (0, 0, 30, 15)
    assert crop_window([40.5, 30.2, 80.5, 60.8], (W, H), 0.0) == (40, 30, 81, 61), "whole pixels around the box"


def test_a_detection_made_on_a_crop_lands_where_it_belongs_in_the_image():
    window = (100, 50, 180, 110)  # an 80 x 60 crop whose corner is at (100, 50)
    mask = np.zeros((60, 80), bool)
    mask[10:20, 5:25] = True  # crop pixels x 5..24, y 10..19
    crop = _dets([[5, 10, 25, 20]], [0.8], labels=[3])
    crop = Detections(crop.boxes, crop.scores, crop.labels, mask[None])
    dets = crop_to_image(crop, window, (W, H))
    assert dets.boxes.tolist() == [[105.0, 60.0, 125.0, 70.0]]
    assert dets.scores.tolist() == pytest.approx([0.8]) and dets.labels.tolist() == [3]
    assert dets.masks.shape == (1, H, W) and dets.masks.sum() == mask.sum()
    assert dets.masks[0, 60:70, 105:125].all(), "the mask is pasted at the crop's corner"
    boxes_only = crop_to_image(Detections(crop.boxes, crop.scores, crop.labels), window, (W, H))
    assert boxes_only.masks is None and boxes_only.boxes.tolist() == dets.boxes.tolist()


class CropModel:
    """Detects the disc of the scene in whatever crop it is given, in the crop's own pixels (as a Predictor does)."""

    with_masks = True

    def __init__(self):
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, images):
        crop = images[0]
        self.shapes.append(crop.shape)
        mask = np.all(crop == (240, 220, 40), axis=2)
        ys, xs = np.nonzero(mask)
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return [Detections(np.asarray(box, np.float32), np.array([0.7], np.float32), np.array([1]), mask[None])]


def test_the_crop_variant_runs_the_model_on_the_box_and_outlines_the_object_in_the_image():
    img, dets = _scene()
    model = CropModel()
    poly, source = crop_prompt(model, img, [128, 78, 45, 45], 0.2, dets)
    assert source == MODEL and model.shapes == [(63, 63, 3)], "the box and 9 px a side (clipped to the image)"
    assert _iou(poly, _disc(150, 100, 20)) > 0.9, "the crop's mask, back at the disc's place"


# ----------------------------------------------------------------------------------------------- the mask head
def test_a_mask_rcnn_outlines_the_drawn_box_with_its_mask_head(checkpoint_factory):
    """seg_lite (torchvision's Mask R-CNN) runs its mask head on the drawn box itself: the shape is its mask there,
    with the box classifier's score; unsure, the whole-image detections and then GrabCut take over."""
    from studio.core import checkpoint as ckpt_io
    from studio.core.inference.predictor import Predictor
    from studio.core.labelling.box_prompt import runs_on_boxes

    ck = ckpt_io.load(checkpoint_factory("seg_lite", 96, calibrate_bn=True))
    model = Predictor.from_checkpoint(ck, device="cpu", score_thr=0.05)
    assert runs_on_boxes(model) and not runs_on_boxes(FakeModel(_scene()[1])) and not runs_on_boxes(None)
    img, dets = _scene()
    box = [28, 28, 65, 65]
    r = box_prompt(model, img, box, detections=dets, min_score=0.0)
    assert r.source == MODEL and r.note == "mask head on the box" and 0 < r.score <= 1 and r.label >= 1
    xy = np.asarray(r.polygon).reshape(-1, 2)
    assert xy.min() >= 28 - 3 and xy[:, 0].max() <= 93 + 3 and xy[:, 1].max() <= 93 + 3  # inside the box + margin
    unsure = box_prompt(model, img, box, detections=dets, min_score=1.01)  # the head is never that sure
    assert unsure.note != "mask head on the box"
    assert box_prompt(model, img, box, detections=dets, min_score=0.0, use_head=False).note == ""  # detections
