"""The bulk box -> mask job on drawn images: what it converts, skips and leaves, and what it says."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.core.dataset.model import Dataset
from studio.core.errors import CancelledError, StudioError
from studio.core.geometry import bbox_polygon, polygons_area, segmentation_to_mask
from studio.core.imageio import save_image
from studio.core.jobs import CancelToken
from studio.core.smart import boxes_to_masks, is_box_only

W, H = 200, 150
ELLIPSES = (((60, 70), (30, 20)), ((145, 80), (25, 35)))  # centre, half axes


def drawn(seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.int16)
    img[:] = (90, 140, 80)
    img += (15 * np.sin(xx / 4.0 + seed))[..., None].astype(np.int16)
    img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    masks = []
    for centre, axes in ELLIPSES:
        m = np.zeros((H, W), np.uint8)
        cv2.ellipse(m, centre, axes, 0, 0, 360, 1, thickness=-1)
        img[m > 0] = (200, 60, 50)
        masks.append(m)
    return img, masks


def box_of(m: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(m)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]


def make_set(root: Path) -> tuple[Dataset, Path, dict]:
    """Two drawn images and one missing, with every kind of annotation; returns the dataset, its images
    folder and the truth masks by annotation id."""
    images = root / "images"
    images.mkdir(parents=True)
    ds = Dataset(categories=[{"id": 1, "name": "blob"}])
    truth = {}
    for k in range(2):
        img, masks = drawn(k)
        save_image(images / f"img{k}.png", img)
        im = ds.add_image(f"img{k}.png", W, H)
        a = ds.add_annotation(im["id"], 1, bbox=box_of(masks[0]))  # box-only: empty segmentation
        truth[a["id"]] = masks[0]
        corners = [bbox_polygon(box_of(masks[1]))]  # box-only the way the cat set writes it
        b = ds.add_annotation(im["id"], 1, segmentation=corners, bbox=box_of(masks[1]))
        truth[b["id"]] = masks[1]
    ds.add_annotation(1, 1, segmentation=[[10.0, 10.0, 30.0, 10.0, 20.0, 30.0]])  # a real polygon
    ds.add_annotation(1, 1, bbox=[5.0, 5.0, 20.0, 20.0], iscrowd=1)  # a crowd region
    gone = ds.add_image("gone.png", W, H)
    ds.add_annotation(gone["id"], 1, bbox=[10.0, 10.0, 40.0, 40.0])
    return ds, images, truth


@pytest.fixture
def scene(tmp_path):
    return make_set(tmp_path / "set")


def iou(seg, m: np.ndarray) -> float:
    got = segmentation_to_mask(seg, H, W)
    return float((got & m).sum() / (got | m).sum())


def test_box_only_means_no_mask_or_just_the_box_corners():
    assert is_box_only({"bbox": [1, 2, 3, 4], "segmentation": []})
    assert is_box_only({"bbox": [1, 2, 3, 4]})
    assert is_box_only({"bbox": [1, 2, 3, 4], "segmentation": [[4, 2, 4, 6, 1, 6, 1, 2]]})  # corners, any order
    assert not is_box_only({"bbox": [1, 2, 3, 4], "segmentation": [[1, 2, 4, 2, 4, 6, 1, 5]]})
    assert not is_box_only({"bbox": [1, 2, 3, 4], "segmentation": [[1, 2, 4, 2, 4, 6]]})
    assert not is_box_only({"bbox": [1, 2, 3, 4], "segmentation": {"size": [9, 9], "counts": "x"}})


def test_box_only_annotations_get_polygons_and_keep_ids_and_boxes(scene):
    ds, images, truth = scene
    before = ds.copy()
    calls = []
    res = boxes_to_masks(ds, images, progress=lambda done, total, message="": calls.append((done, total)))
    assert sorted(res.converted) == sorted(truth)
    assert res.skipped == 2 and len(res.failed) == 1
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    out = res.dataset
    assert [a["id"] for a in out.annotations] == [a["id"] for a in ds.annotations]
    for aid, m in truth.items():
        a = out.annotation(aid)
        assert iou(a["segmentation"], m) > 0.9
        assert a["bbox"] == before.annotation(aid)["bbox"]
        assert a["area"] == pytest.approx(polygons_area(a["segmentation"]))
    # the input is not changed; the skipped ones are left as they were
    assert ds.to_dict() == before.to_dict()
    for a in ds.annotations:
        if a["id"] not in truth:
            assert out.annotation(a["id"]) == a
    assert "converted" in res.summary() and res.seconds > 0


def test_a_missing_image_is_a_warning_naming_file_and_annotation(scene):
    ds, images, _ = scene
    res = boxes_to_masks(ds, images)
    (warning,) = res.warnings
    assert str(images / "gone.png") in warning and "not found" in warning
    assert str(res.failed[0]) in warning and "left as boxes" in warning


def test_redo_all_and_refit_boxes(scene):
    ds, images, truth = scene
    res = boxes_to_masks(ds, images, redo_all=True, refit_boxes=True)
    assert set(truth) <= set(res.converted) and res.skipped == 1  # never the crowd region
    assert len(res.converted) + len(res.failed) == 6  # the four boxes, the polygon, the missing image's box
    for aid in truth:
        a = res.dataset.annotation(aid)
        x, y, w, h = a["bbox"]
        assert box_of(truth[aid]) == pytest.approx([x, y, w, h], abs=2.0)
        assert a["bbox"] != ds.annotation(aid)["bbox"]


def test_an_image_of_another_size_and_a_broken_box_are_reported(scene):
    ds, images, truth = scene
    ds.images[0]["width"] = 400
    first = next(iter(truth))
    ds.annotation(list(truth)[2])["bbox"] = [10, 10, 0, 5]
    res = boxes_to_masks(ds, images)
    assert any("img0.png" in w and "400x150" in w and "200x150" in w for w in res.warnings)
    assert any(f"annotation {list(truth)[2]}: bbox" in w for w in res.warnings)
    assert first in res.failed


def test_an_unsafe_file_name_is_not_read(scene, tmp_path):
    ds, images, _ = scene
    ds.images[0]["file_name"] = "../outside.png"
    res = boxes_to_masks(ds, images)
    assert any("'../outside.png'" in w and "not read" in w for w in res.warnings)


def test_bad_options_and_cancel(scene):
    ds, images, _ = scene
    with pytest.raises(StudioError, match="unknown method 'sam'"):
        boxes_to_masks(ds, images, method="sam")
    with pytest.raises(StudioError, match="tolerance"):
        boxes_to_masks(ds, images, tolerance=-1)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        boxes_to_masks(ds, images, cancel=token)


def test_an_error_on_one_box_does_not_stop_the_job(scene, monkeypatch):
    from studio.core.smart import box2mask

    ds, images, truth = scene
    first = next(iter(truth))
    real = box2mask.METHODS["grabcut"]

    calls = []

    def flaky(img, box, **kw):  # fails on the first box it is given (the first image's first annotation)
        calls.append(box)
        if len(calls) == 1:
            raise cv2.error("odd box")
        return real(img, box, **kw)

    monkeypatch.setitem(box2mask.METHODS, "grabcut", flaky)
    res = boxes_to_masks(ds, images)
    assert first in res.failed and len(res.converted) == len(truth) - 1
    assert any(f"annotation {first}: error" in w and "odd box" in w for w in res.warnings)
