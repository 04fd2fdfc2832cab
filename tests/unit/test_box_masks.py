"""The mask head of a Mask R-CNN run on given boxes: which models have it, where the masks land, and that on the
model's own boxes it gives the model's own masks (the box mapping into the network's input is right)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core import checkpoint as ckpt_io
from studio.core.inference.box_masks import has_box_mask_head, masks_for_boxes
from studio.core.inference.predictor import Predictor


def _predictor(path, score_thr: float = 0.0) -> Predictor:
    return Predictor.from_checkpoint(ckpt_io.load(path), device="cpu", score_thr=score_thr)


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    im = rng.integers(0, 60, (90, 130, 3), dtype=np.uint8)
    im[20:60, 30:80] = (220, 40, 40)  # something object-like
    return im


def test_only_mask_rcnn_models_have_a_box_mask_head(checkpoint_factory):
    assert has_box_mask_head(_predictor(checkpoint_factory("seg_lite", 96)))
    assert not has_box_mask_head(_predictor(checkpoint_factory("det_lite", 96)))  # no masks
    assert not has_box_mask_head(_predictor(checkpoint_factory("seg_fast", 96)))  # one-stage: no ROI heads
    with pytest.raises(ValueError, match="no mask head"):
        masks_for_boxes(_predictor(checkpoint_factory("seg_fast", 96)), np.zeros((10, 10, 3), np.uint8), [[0, 0, 5, 5]])


def test_masks_land_inside_their_boxes_in_image_pixels(checkpoint_factory, image):
    p = _predictor(checkpoint_factory("seg_lite", 96, calibrate_bn=True))
    boxes = np.array([[30, 20, 80, 60], [0, 0, 40, 30], [100, 50, 129, 89]], np.float32)
    out = masks_for_boxes(p, image, boxes)
    assert out.masks.shape == (3, 90, 130) and out.masks.dtype == bool
    assert np.all(out.labels >= 1)  # an object class, never the background
    assert np.all((out.scores > 0) & (out.scores <= 1))
    for m, (x0, y0, x1, y1) in zip(out.masks, boxes):
        border = int(np.ceil(max(x1 - x0, y1 - y0) / 28)) + 1  # the pasted mask's one-cell border, and rounding
        outside = m.copy()
        outside[max(0, int(y0) - border) : int(y1) + border, max(0, int(x0) - border) : int(x1) + border] = False
        assert not outside.any()  # pasted at the box, nowhere else
    forced = masks_for_boxes(p, image, boxes, labels=[2, 2, 2])
    assert forced.labels.tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="one per box"):
        masks_for_boxes(p, image, boxes, labels=[0, 1, 1])
    empty = masks_for_boxes(p, image, np.zeros((0, 4), np.float32))
    assert empty.masks.shape == (0, 90, 130) and len(empty.labels) == 0


def test_on_the_models_own_boxes_it_gives_the_models_own_masks(checkpoint_factory, image):
    p = _predictor(checkpoint_factory("seg_lite", 96, calibrate_bn=True))
    dets = p.predict([image])[0]
    assert len(dets) > 0
    # boxes the predictor clipped to the image differ from the network's (which reach into the letterbox padding)
    b = dets.boxes
    inside = (b[:, 0] > 0.5) & (b[:, 1] > 0.5) & (b[:, 2] < 129.5) & (b[:, 3] < 89.5)
    assert inside.sum() >= 3
    out = masks_for_boxes(p, image, b[inside], labels=dets.labels[inside])
    ious = []
    for mine, theirs in zip(out.masks, dets.masks[inside]):
        union = (mine | theirs).sum()
        ious.append((mine & theirs).sum() / union if union else 1.0)
    assert min(ious) > 0.97, ious
