"""Box -> polygon (GrabCut on a crop): synthetic shapes on textured backgrounds, strokes that fix a wrong
cut, the fallbacks, the pixel-exact outline, and real balloon photos when ../shared/data is there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.core.geometry import mask_outline, mask_to_polygons, polygons_area, segmentation_to_mask
from studio.core.smart import SmartResult, Stroke, box_to_polygon

W, H = 320, 240
RED = (200, 60, 50)


def textured(seed: int = 0) -> np.ndarray:
    """A green background with a wavy pattern and noise: GrabCut must learn it, not just threshold it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.int16)
    img[:] = (90, 140, 80)
    img += (20 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None].astype(np.int16)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def with_ellipse(img: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``img`` with a noisy red ellipse painted on it, and the ellipse's mask."""
    truth = np.zeros((H, W), np.uint8)
    cv2.ellipse(truth, (150, 120), (60, 40), 20, 0, 360, 1, thickness=-1)
    rng = np.random.default_rng(seed)
    paint = np.clip(np.array(RED) + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    out = img.copy()
    out[truth > 0] = paint[truth > 0]
    return out, truth


def tight_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]


def iou(polygons: list, truth: np.ndarray) -> float:
    m = segmentation_to_mask(polygons, *truth.shape)
    return float((m & truth).sum() / (m | truth).sum())


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    return with_ellipse(textured())


def test_a_shape_on_a_textured_background_is_recovered(scene):
    img, truth = scene
    r = box_to_polygon(img, tight_box(truth))
    assert isinstance(r, SmartResult) and r.ok and r.fallback is None
    assert iou(r.polygons, truth) > 0.9
    assert len(r.polygons) == 1 and r.area == pytest.approx(truth.sum(), rel=0.1)
    assert r.seconds < 2.0
    # the box is kept to: the outline lies in it, give or take the half pixel of the pixel edges
    x, y, w, h = tight_box(truth)
    bx, by, bw, bh = r.bbox
    assert bx >= x - 1 and by >= y - 1 and bx + bw <= x + w + 1 and by + bh <= y + h + 1


def test_same_input_same_polygon_and_channel_order_does_not_matter(scene):
    img, truth = scene
    box = tight_box(truth)
    first = box_to_polygon(img, box)
    assert box_to_polygon(img, box).polygons == first.polygons
    assert box_to_polygon(np.ascontiguousarray(img[:, :, ::-1]), box).polygons == first.polygons


def test_a_grey_image_works_and_a_float_image_is_refused(scene):
    img, truth = scene
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    assert box_to_polygon(grey, tight_box(truth)).polygons
    with pytest.raises(ValueError, match="uint8"):
        box_to_polygon(img.astype(np.float32), tight_box(truth))


def test_a_background_stroke_cuts_off_a_same_coloured_neighbour(scene):
    """A loose box around the ellipse and a touching disk of the same colour: GrabCut takes both; a stroke
    along the neck between them tells it the disk is background."""
    img, truth = scene
    disk = np.zeros_like(truth)
    cv2.circle(disk, (232, 120), 30, 1, thickness=-1)
    disk &= 1 - truth
    both = img.copy()
    both[disk > 0] = img[truth > 0][: int(disk.sum())]
    x, y, _, h = tight_box(truth)
    loose = [x, y, 262.0 - x, h]
    wrong = box_to_polygon(both, loose)
    assert iou(wrong.polygons, truth) < 0.8
    fixed = box_to_polygon(both, loose, bg_strokes=[Stroke.of([(212, 95), (212, 145)], radius=6)])
    assert iou(fixed.polygons, truth) > 0.9


def test_a_foreground_stroke_adds_what_the_box_left_out(scene):
    """A box drawn too narrow misses the ellipse's right end; a stroke there brings it in, beyond the box."""
    img, truth = scene
    x, y, w, h = tight_box(truth)
    narrow = [x, y, w - 30, h]
    short = box_to_polygon(img, narrow)
    assert short.bbox[0] + short.bbox[2] <= x + w - 29
    grown = box_to_polygon(img, narrow, fg_strokes=[Stroke.of([(185, 115), (205, 120)], radius=10)])
    assert grown.bbox[0] + grown.bbox[2] >= 214
    assert iou(grown.polygons, truth) > iou(short.polygons, truth) + 0.03


def test_a_stroke_can_be_a_single_click(scene):
    img, truth = scene
    dot = Stroke.of([(150.0, 120.0)], radius=4)
    assert box_to_polygon(img, tight_box(truth), fg_strokes=[dot]).ok


def test_fallbacks_say_why_and_give_the_box(scene):
    img, truth = scene
    whole = box_to_polygon(img, [0, 0, W, H])
    assert not whole.ok and "whole image" in whole.fallback
    assert whole.polygons == [[0.0, 0.0, float(W), 0.0, float(W), float(H), 0.0, float(H)]]
    tiny = box_to_polygon(img, [10, 10, 1, 5])
    assert "under 2 pixels" in tiny.fallback and tiny.polygons
    outside = box_to_polygon(img, [W + 10, 10, 20, 20])
    assert "outside the image" in outside.fallback and outside.polygons == []
    flat = box_to_polygon(np.full((H, W, 3), 128, np.uint8), [100, 100, 40, 40])
    assert flat.polygons  # a featureless image gives the box or a cut, never an error


def test_a_box_over_the_image_border_is_clipped(scene):
    img, truth = scene
    r = box_to_polygon(img, [-20, -20, 80, 80])
    for p in r.polygons:
        xy = np.asarray(p).reshape(-1, 2)
        assert xy.min() >= 0 and xy[:, 0].max() <= W and xy[:, 1].max() <= H


def test_a_big_photo_is_cut_on_a_shrunk_crop_in_time():
    """A 2000 x 1500 photo with a 900 px object: the crop is shrunk, the polygon is still in image coordinates."""
    big = cv2.resize(textured(3), (2000, 1500), interpolation=cv2.INTER_NEAREST)
    truth = np.zeros((1500, 2000), np.uint8)
    cv2.ellipse(truth, (1100, 700), (450, 300), 0, 0, 360, 1, thickness=-1)
    big[truth > 0] = RED
    r = box_to_polygon(big, tight_box(truth))
    assert iou(r.polygons, truth) > 0.95
    assert r.seconds < 1.5


# ------------------------------------------------------------------------------------ outline
def test_the_outline_rasterizes_back_to_the_same_pixels():
    """mask_to_polygons traces pixel centres (it loses half a pixel all round); mask_outline does not."""
    m = np.zeros((40, 50), np.uint8)
    m[5:12, 8:30] = 1
    m[12:30, 20:27] = 1
    exact = mask_outline(m, tolerance=0.0)
    assert np.array_equal(segmentation_to_mask(exact, 40, 50), m)
    assert polygons_area(exact) == pytest.approx(m.sum(), abs=1.0)  # a diagonal step at the inner corner
    assert polygons_area(mask_to_polygons(m)) < 0.85 * m.sum()  # 235 px² for 280 pixels
    moved = mask_outline(m, (100.0, 200.0), tolerance=0.0)
    assert np.asarray(moved[0]).reshape(-1, 2).min(axis=0).tolist() == [107.5, 204.5]


def test_outline_keeps_parts_drops_holes_and_specks():
    m = np.zeros((60, 60), np.uint8)
    cv2.circle(m, (20, 20), 12, 1, thickness=-1)
    cv2.circle(m, (20, 20), 4, 0, thickness=-1)  # a hole
    m[45:55, 40:55] = 1  # a second part
    m[2, 58] = 1  # a speck under min_area
    parts = mask_outline(m, tolerance=1.0, image_size=(60, 60))
    assert len(parts) == 2
    filled = segmentation_to_mask(parts, 60, 60)
    assert filled[20, 20] == 1 and filled[2, 58] == 0


# ------------------------------------------------------------------------------------ real photos
@pytest.fixture(scope="module")
def balloon_val(shared_data):
    from studio.api import dataset_import

    src = shared_data / "balloon" / "val"
    with tempfile.TemporaryDirectory() as tmp:
        ds = dataset_import(src / "via_region_data.json", Path(tmp) / "val.json", fmt="via").dataset
    return ds, src


def test_balloon_boxes_give_the_ground_truth_polygons(balloon_val):
    """The balloons of two photos (9 instances, small and large, one half hidden behind another), boxes from
    the ground truth."""
    from studio.core.imageio import imread_rgb

    ds, src = balloon_val
    ious = []
    for name in ("3825919971_93fb1ec581_b.jpg", "410488422_5f8991f26e_b.jpg"):
        im = next(i for i in ds.images if i["file_name"] == name)
        img = imread_rgb(src / name)
        for a in ds.anns_for_image(im["id"]):
            r = box_to_polygon(img, a["bbox"])
            ious.append(iou(r.polygons, segmentation_to_mask(a["segmentation"], *img.shape[:2])))
    assert len(ious) == 9
    assert np.median(ious) > 0.95 and np.mean(np.asarray(ious) >= 0.8) >= 8 / 9
