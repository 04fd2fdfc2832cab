"""Augmentations keep images, boxes and masks aligned: v2 transforms, mosaic, copy-paste."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from studio.core.config.schema import AugmentConfig
from studio.core.data.classes import ClassMap
from studio.core.data.dataset import DetectionDataset
from studio.core.data.mosaic import copy_paste, mosaic4
from studio.core.data.transforms import (
    FastColorJitter,
    Sample,
    build_train_transforms,
    color_matrix,
    masks_to_boxes,
    masks_to_boxes_np,
)
from studio.core.dataset.model import Dataset

STRONG = AugmentConfig(hflip=0.5, scale_jitter=(0.5, 1.6), photometric=1.0)


def _extents(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _rect_sample(h=60, w=90, rect=(20, 10, 50, 40), label=1, value=230) -> Sample:
    """A dark image with one bright rectangle, its box and its mask."""
    img = np.full((h, w, 3), 20, np.uint8)
    x0, y0, x1, y1 = rect
    img[y0:y1, x0:x1] = value
    mask = np.zeros((1, h, w), np.uint8)
    mask[0, y0:y1, x0:x1] = 1
    return Sample(img, [rect], [label], mask, 1)


def _shape_sample(seed: int, h=64, w=80, n=3) -> Sample:
    """Random filled triangles / ellipses (masks), each a uniform colour, boxes from the masks."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 10, np.uint8)
    masks = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        if i % 2:
            cv2.ellipse(
                m,
                (int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10))),
                (int(rng.integers(4, 14)), int(rng.integers(4, 12))),
                0,
                0,
                360,
                1,
                -1,
            )
        else:
            pts = rng.integers(0, [w, h], size=(3, 2)).astype(np.int32)
            cv2.fillPoly(m, [pts], 1)
        masks[:i] &= 1 - m  # later shapes occlude earlier ones
        masks[i] = m
        img[m > 0] = rng.integers(60, 255, 3)
    keep = masks.reshape(n, -1).sum(1) > 0
    return Sample(img, masks_to_boxes_np(masks[keep]), np.arange(1, n + 1)[keep], masks[keep], seed)


def _check_aligned(boxes: np.ndarray, masks: np.ndarray, tol: float = 0.0) -> None:
    assert len(boxes) == len(masks)
    for b, m in zip(boxes, masks):
        assert m.any(), "an instance with an empty mask survived"
        np.testing.assert_allclose(b, _extents(m), atol=tol)


# ---------------------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("letterbox", [False, True])
def test_boxes_masks_and_pixels_stay_aligned_through_the_train_transforms(letterbox):
    tf = build_train_transforms(AugmentConfig(hflip=0.5, scale_jitter=(0.5, 1.6), photometric=0.0), 64, letterbox)
    kept = 0
    for seed in range(40):
        torch.manual_seed(seed)
        image, target = tf(*_rect_sample().to_tv())
        assert image.shape == (3, 64, 64) and image.dtype == torch.float32
        boxes, masks = target["boxes"].numpy(), target["masks"].numpy()
        assert target["boxes"].canvas_size == (64, 64) and len(target["labels"]) == len(boxes)
        _check_aligned(boxes, masks)
        if len(boxes):
            kept += 1
            bright = _extents(image[0].numpy() > 0.5)  # the rectangle's pixels moved with its box
            np.testing.assert_allclose(bright, boxes[0], atol=2)
    assert kept > 20


def test_photometric_jitter_keeps_geometry_and_changes_colours():
    tf = build_train_transforms(STRONG, 64, False)
    changed = 0
    for seed in range(20):
        torch.manual_seed(seed)
        image, target = tf(*_rect_sample().to_tv())
        _check_aligned(target["boxes"].numpy(), target["masks"].numpy())
        if len(target["boxes"]):
            inside = image[:, target["masks"][0].bool()].mean(dim=1)
            changed += int(not torch.allclose(inside, torch.full((3,), 230 / 255), atol=0.02))
    assert changed > 5


def test_non_rectangular_objects_get_the_tight_box_of_what_stays_visible():
    tf = build_train_transforms(STRONG, 48, False)
    for seed in range(30):
        torch.manual_seed(seed)
        _, target = tf(*_shape_sample(seed).to_tv())
        _check_aligned(target["boxes"].numpy(), target["masks"].numpy(), tol=0)


def test_hflip_maps_a_known_box():
    aug = AugmentConfig(hflip=1.0, scale_jitter=(1.0, 1.0), photometric=0.0)
    tf = build_train_transforms(aug, 100, letterbox=True)  # image already 100 wide: no resize, no crop
    sample = _rect_sample(h=60, w=100, rect=(10, 20, 30, 45))
    image, target = tf(*sample.to_tv())
    assert target["boxes"].tolist() == [[70.0, 20.0, 90.0, 45.0]]
    assert _extents(target["masks"][0].numpy()) == [70, 20, 90, 45]
    assert image.shape == (3, 100, 100) and float(image[:, 60:, :].abs().max()) == 0  # letterbox: padded at the bottom


def test_tiny_objects_are_dropped_with_their_labels_and_masks():
    sample = _rect_sample(h=64, w=64, rect=(10, 10, 40, 40))
    sample = Sample(
        sample.image,
        np.array([[10, 10, 40, 40], [50, 50, 51, 51]]),
        [1, 2],
        np.stack([sample.masks[0], np.pad(np.ones((1, 1), np.uint8), ((50, 13), (50, 13)))]),
        1,
    )
    tf = build_train_transforms(AugmentConfig(hflip=0, scale_jitter=(1, 1), photometric=0), 64, True)
    _, target = tf(*sample.to_tv())
    assert target["labels"].tolist() == [1] and target["masks"].shape == (1, 64, 64) and target["boxes"].shape == (1, 4)


def test_masks_to_boxes_pixel_corner_convention():
    m = np.zeros((3, 10, 12), np.uint8)
    m[0, 2:5, 3:7] = 1
    m[1, 9, 11] = 1
    want = np.array([[3, 2, 7, 5], [11, 9, 12, 10], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(masks_to_boxes_np(m), want)
    np.testing.assert_array_equal(masks_to_boxes(torch.from_numpy(m)).numpy(), want)
    assert masks_to_boxes(torch.zeros((0, 4, 4), dtype=torch.uint8)).shape == (0, 4)


def test_fast_color_jitter_matches_torchvision_step_by_step():
    rng = np.random.default_rng(0)
    img = rng.integers(30, 220, (24, 32, 3)).astype(np.uint8)
    t = torch.from_numpy(img).permute(2, 0, 1)
    mean = np.asarray(cv2.mean(img)[:3]) / 255

    def ours(factors, order):
        m = color_matrix(*factors, mean, order)
        m[:, 3] *= 255
        return torch.from_numpy(cv2.transform(img, m.astype(np.float32))).permute(2, 0, 1).int()

    for factors, order, ref in [
        ((1.25, 1, 1, 0), [0], F.adjust_brightness(t, 1.25)),
        ((1, 0.7, 1, 0), [1], F.adjust_contrast(t, 0.7)),
        ((1, 1, 1.3, 0), [2], F.adjust_saturation(t, 1.3)),
        ((0.8, 1.2, 1, 0), [0, 1], F.adjust_contrast(F.adjust_brightness(t, 0.8), 1.2)),
    ]:
        assert (ours(factors, order) - ref.int()).abs().max() <= 2
    assert torch.equal(ours((1, 1, 1, 0), [3, 2, 1, 0]), t.int())  # identity factors: unchanged pixels
    # hue turns in the HSV direction: closer to torchvision than the opposite turn
    hue_ref = F.adjust_hue(t, 0.05).int()
    assert (ours((1, 1, 1, 0.05), [3]) - hue_ref).abs().float().mean() < (
        ours((1, 1, 1, -0.05), [3]) - hue_ref
    ).abs().float().mean()
    out = FastColorJitter()(torch.zeros(3, 8, 8, dtype=torch.uint8))  # plain tensors pass untouched
    assert out.dtype == torch.uint8


# ---------------------------------------------------------------------------------------- mosaic / copy-paste
def test_mosaic_keeps_boxes_masks_and_pixels_consistent():
    for seed in range(8):
        rng = np.random.default_rng(seed)
        parts = [_shape_sample(seed * 4 + k, h=40 + 8 * k, w=70 - 6 * k) for k in range(4)]
        out = mosaic4(parts, 140, rng)  # tiles of longest side 70: scale about 1, so colours stay clean
        assert out.image.shape == (140, 140, 3) and out.masks.shape[1:] == (140, 140)
        _check_aligned(out.boxes, out.masks)
        assert len(out.labels) <= sum(len(p.labels) for p in parts)
        for m in out.masks:  # each instance keeps its uniform colour: the pixels moved with the masks
            # away from resize blending at the borders (the canvas edge counts as a border)
            inner = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
            if inner.sum() >= 10:
                px = out.image[inner].astype(int)
                assert (px.max(0) - px.min(0)).max() <= 12


def test_mosaic_without_masks_clips_boxes_to_the_canvas():
    rng = np.random.default_rng(0)
    parts = [
        Sample(np.full((50, 60, 3), 80, np.uint8), [[0, 0, 60, 50], [5, 5, 20, 20]], [1, 2], None, k) for k in range(4)
    ]
    out = mosaic4(parts, 64, rng)
    assert out.masks is None and len(out.boxes) >= 4
    assert out.boxes.min() >= 0 and out.boxes.max() <= 64
    assert ((out.boxes[:, 2] - out.boxes[:, 0]) >= 1).all()
    with pytest.raises(ValueError):
        mosaic4(parts[:3], 64, rng)


def test_copy_paste_occludes_the_target_and_recomputes_boxes():
    target = _rect_sample(h=64, w=64, rect=(8, 8, 56, 56), value=200)
    source = Sample(np.zeros((64, 64, 3), np.uint8), [[0, 0, 64, 64]], [2], np.ones((1, 64, 64), np.uint8), 9)
    source.image[:] = (0, 255, 0)
    out = copy_paste(target, source, np.random.default_rng(0))
    assert out.labels.tolist()[-1] == 2 and out.image_id == target.image_id
    pasted = out.masks[-1] > 0
    assert (out.image[pasted] == (0, 255, 0)).all()  # the pasted object's pixels
    _check_aligned(out.boxes, out.masks)
    if len(out.labels) == 2:  # the target rectangle survived, minus what the paste covers
        assert not (out.masks[0] & out.masks[1]).any()
        assert out.masks[0].sum() == ((target.masks[0] > 0) & ~pasted).sum()
    assert target.image.max() == 200  # the input sample is not modified


def test_copy_paste_drops_fully_covered_objects_and_needs_masks():
    for seed in range(10):
        t = _shape_sample(seed)
        out = copy_paste(t, _shape_sample(100 + seed), np.random.default_rng(seed))
        _check_aligned(out.boxes, out.masks)
        assert (out.masks.reshape(len(out.masks), -1).sum(1) >= 1).all()
    no_masks = Sample(np.zeros((8, 8, 3), np.uint8), [[0, 0, 4, 4]], [1], None, 1)
    assert copy_paste(no_masks, _shape_sample(0), np.random.default_rng(0)) is no_masks


def test_dataset_items_with_mosaic_and_copy_paste_stay_aligned(tmp_path: Path):
    ds = Dataset()
    cat = ds.add_category("blob")
    for i in range(3):
        s = _shape_sample(i, h=60 + 10 * i, w=90 - 10 * i)
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        im = ds.add_image(f"{i}.png", s.image.shape[1], s.image.shape[0])
        for m in s.masks:
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            polys = [(c.reshape(-1, 2) + 0.5).reshape(-1).tolist() for c in contours if len(c) >= 3]
            if polys:
                ds.add_annotation(im["id"], cat, segmentation=polys)
    data = DetectionDataset(
        ds,
        tmp_path,
        ClassMap.from_dataset(ds),
        size=64,
        letterbox=False,
        train=True,
        augment=AugmentConfig(mosaic=0.5, copy_paste=0.5, photometric=0.5),
        with_masks=True,
    )
    for seed in range(12):
        image, target = data[(seed % 3, seed)]
        assert image.shape == (3, 64, 64)
        _check_aligned(target["boxes"].numpy(), target["masks"].numpy())
        assert set(target["labels"].tolist()) <= {1}
    a, b = data[(1, 5)], data[(1, 5)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["masks"], b[1]["masks"])  # the seed decides everything
