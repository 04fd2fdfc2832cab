"""Predictions to COCO results (boxes, scores, RLE masks), drawing (studio.core.draw), saving images, the palette."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from studio.core import draw, palette
from studio.core.data.classes import ClassMap
from studio.core.detections import Detections
from studio.core.draw import draw_detections
from studio.core.errors import StudioError
from studio.core.evaluation import read_results, to_coco_results, write_results
from studio.core.imageio import save_image

H, W = 48, 64


def _dets(with_masks: bool = True) -> Detections:
    masks = np.zeros((2, H, W), bool)
    masks[0, 10:30, 5:25] = True
    masks[1, 20:40, 30:60] = True
    masks[1, 22:25, 40:44] = False  # a hole
    return Detections(
        boxes=np.array([[5.0, 10.0, 25.0, 30.0], [30.123, 20.456, 60.0, 40.0]], np.float32),
        scores=np.array([0.987654321, 0.5], np.float32),
        labels=np.array([1, 2], np.int64),
        masks=masks if with_masks else None,
    )


IMAGE = {"id": 7, "file_name": "sub/img.png", "width": W, "height": H}
CLASSES = ClassMap.from_names(["cat", "dog"], cat_ids=[3, 9])


# ------------------------------------------------------------------------------------------------
# results
def test_coco_results_fields_and_rounding():
    res = to_coco_results(_dets(with_masks=False), IMAGE, CLASSES)
    assert [r["category_id"] for r in res] == [3, 9]
    assert all(r["image_id"] == 7 and r["file_name"] == "sub/img.png" for r in res)
    assert res[0]["bbox"] == [5.0, 10.0, 20.0, 20.0]
    assert res[1]["bbox"] == [30.12, 20.46, 29.88, 19.54]
    assert res[0]["score"] == round(float(np.float32(0.987654321)), 5)
    assert "segmentation" not in res[0]
    assert to_coco_results(Detections.empty(), IMAGE, CLASSES) == []


def test_coco_results_rle_round_trip(tmp_path):
    dets = _dets()
    res = to_coco_results(dets, IMAGE, CLASSES)
    path = tmp_path / "out" / "results.json"
    write_results(path, res)
    back = read_results(path)  # through JSON: counts must be a str
    assert back == res
    for r, m in zip(back, dets.masks):
        seg = r["segmentation"]
        assert isinstance(seg["counts"], str) and seg["size"] == [H, W]
        decoded = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()})
        assert np.array_equal(decoded.astype(bool), m)


def test_coco_results_reject_masks_of_another_size():
    dets = _dets()
    small = Detections(dets.boxes, dets.scores, dets.labels, dets.masks[:, :20, :20])
    with pytest.raises(StudioError, match="sub/img.png"):
        to_coco_results(small, IMAGE, CLASSES)


def test_read_results_names_the_file(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text('{"not": "a list"}')
    with pytest.raises(StudioError, match="r.json"):
        read_results(bad)


# ------------------------------------------------------------------------------------------------
# drawing
def _image() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, 1] = 60
    return img


def test_draw_changes_pixels_in_the_boxes_only():
    img = _image()
    before = img.copy()
    out = draw_detections(img, _dets(), ["cat", "dog"], cat_ids=CLASSES.cat_ids)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(img, before)  # the input is not drawn on
    assert (out[12:28, 7:23] != img[12:28, 7:23]).any(axis=2).all()  # the first mask is filled
    assert np.array_equal(out[44:, :4], img[44:, :4])  # a corner no detection touches
    # the mask fill is the class colour blended over the image (below the label, inside the outline)
    cat = np.array(palette.class_color_rgb(3), np.float32)
    expect = np.round(img[27, 15] * 0.55 + cat * 0.45)
    assert np.abs(out[27, 15].astype(int) - expect).max() <= 1


def test_draw_uses_the_palette_colour_of_the_category():
    out = draw_detections(_image(), _dets(with_masks=False), ["cat", "dog"], cat_ids=CLASSES.cat_ids)
    dog = palette.class_color_rgb(9)
    # the box edge of the dog detection (x0 = 30) is drawn in its colour
    assert (out[30:38, 30] == dog).all(axis=1).any()
    # without ids the label is the colour key (datasets numbered 1..K)
    out = draw_detections(_image(), _dets(with_masks=False), ["cat", "dog"])
    assert (out[30:38, 30] == palette.class_color_rgb(2)).all(axis=1).any()


def test_draw_score_threshold_and_grey_input():
    img = _image()
    dets = _dets()
    assert np.array_equal(draw_detections(img, dets, ["cat", "dog"], score_thr=0.99), img)
    grey = np.full((H, W), 128, np.uint8)
    out = draw_detections(grey, dets, ["cat", "dog"])
    assert out.shape == (H, W, 3) and (out != 128).any()


@pytest.mark.parametrize("side", [32, 1600])
def test_draw_scales_with_the_image_and_handles_boxes_past_the_edges(side):
    img = np.zeros((side, side, 3), np.uint8)
    s = side / 32
    dets = Detections(
        np.array([[0, 0, 20 * s, 12 * s], [-5, -5, side + 5, side + 5]], np.float32),
        np.array([0.9, 0.4], np.float32),
        np.array([1, 5], np.int64),
    )
    out = draw_detections(img, dets, ["a-rather-long-class-name"])  # label 5 has no name: "class 5"
    assert out.shape == img.shape
    # lines get thicker on large images: the box's left edge is several pixels wide there
    edge = (out[side // 2, : max(8, side // 100)] != 0).any(axis=1).sum()
    assert edge >= (3 if side >= 1000 else 1)
    # the label of the box at the top edge does not fit above it: it is drawn inside, on the filled colour
    a = palette.class_color_rgb(1)
    assert (out[: max(4, side // 50), : side // 2] == a).all(axis=2).sum() > (side // 50) ** 2


def test_draw_rejects_masks_of_another_size():
    dets = _dets()
    with pytest.raises(StudioError, match="masks"):
        draw_detections(np.zeros((10, 10, 3), np.uint8), dets, ["cat", "dog"])


# ------------------------------------------------------------------------------------------------
# saving
def test_save_image_png_is_lossless_and_rgb(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    p = save_image(tmp_path / "a" / "x.png", img)
    back = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, img)
    assert cv2.imread(str(save_image(tmp_path / "x.jpg", img))).shape == (H, W, 3)
    with pytest.raises(StudioError, match="x.gif"):
        save_image(tmp_path / "x.gif", img)
    assert sorted(f.name for f in tmp_path.rglob("*") if f.is_file()) == ["x.jpg", "x.png"]
    with pytest.raises(StudioError, match="expected a .png file name"):  # what a "Save PNG" dialog allows
        save_image(tmp_path / "y.jpg", img, suffix=".png")
    assert not (tmp_path / "y.jpg").exists()


# ------------------------------------------------------------------------------------------------
# the drawing module's other parts
def test_boxes_only_and_labels_without_scores():
    img = np.zeros((H, W, 3), np.uint8)
    no_masks = draw_detections(img, _dets(), ["cat", "dog"], with_masks=False)
    assert np.array_equal(no_masks, draw_detections(img, _dets(with_masks=False), ["cat", "dog"]))
    outlined = draw_detections(img, _dets(), ["cat", "dog"], masks_alpha=0.0, scores=False)
    assert not outlined[27, 15].any()  # inside the first mask (below its label): outlined, not filled
    assert draw_detections(img, _dets(), ["cat", "dog"])[27, 15].any()


def test_tile_grid_places_tiles_of_any_size_in_cells():
    a, b = np.full((4, 6, 3), 10, np.uint8), np.full((2, 3, 3), 20, np.uint8)
    g = draw.tile_grid([a, b, a], gap=1)  # 2 columns: as square as possible
    assert g.shape == (2 * 4 + 1, 2 * 6 + 1, 3)
    assert g[0, 0, 0] == 10 and g[0, 7, 0] == 20 and g[3, 7, 0] == 255 and g[5, 0, 0] == 10
    framed = draw.tile_grid([a], gap=4, background=32, margin=4)
    assert framed.shape == (12, 14, 3) and framed[0, 0, 0] == 32 and framed[4, 4, 0] == 10
    with pytest.raises(StudioError, match="no images"):
        draw.tile_grid([])


def test_thumbnail_of_annotations_and_of_a_missing_image():
    anns = [
        {"id": 1, "category_id": 3, "segmentation": [[0, 0, 30, 0, 30, 20, 0, 20]], "bbox": [0, 0, 30, 20]},
        {"id": 2, "category_id": 9, "segmentation": [], "bbox": [40, 30, 20, 10]},
    ]
    thumb = draw.draw_thumbnail(np.zeros((H, W, 3), np.uint8), anns, 32)
    assert thumb.shape == (24, 32, 3)
    r, g, b = palette.class_color_rgb(3)
    assert tuple(thumb[5, 7]) == (round(r * 0.35), round(g * 0.35), round(b * 0.35))  # filled at 35 %
    grey = draw.draw_thumbnail(None, anns, 32, width=W, height=H)  # no pixels: a grey canvas of the recorded size
    assert grey.shape == (24, 32, 3) and tuple(grey[1, 30]) == (70, 70, 70)


def test_ground_truth_and_prediction_marks():
    from studio.core.evaluation.matching import FN, FP, TP, ImageMatch

    anns = [
        {"id": 10, "category_id": 3, "bbox": [0, 0, 5, 5]},
        {"id": 11, "category_id": 9, "bbox": [0, 0, 5, 5]},
        {"id": 12, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 1},
        {"id": 13, "category_id": 4, "bbox": [0, 0, 5, 5]},  # not a class of the model
    ]
    name = {3: "cat", 9: "dog"}.get
    before = draw.ground_truth_marks(anns, None, name, [3, 9])
    assert [(a["id"], m.color, m.label, m.outcome) for a, m in before] == [
        (10, palette.class_color_hex(3), "cat", None),
        (11, palette.class_color_hex(9), "dog", None),
    ]
    match = ImageMatch(7, tp=(0,), fp=(1,), fn=(11,), pairs=((0, 10, 0.9),))
    after = draw.ground_truth_marks(anns, match, name, [3, 9])
    assert [(m.color, m.label, m.tip, m.outcome) for _, m in after] == [
        (palette.OK, "cat", "cat (annotation 10)", TP),
        (palette.WARNING, "FN dog", "dog (annotation 11): missed", FN),
    ]
    preds = draw.prediction_marks(_dets(with_masks=False), match, 0.3, ["cat", "dog"])
    assert [(i, m.color, m.label, m.outcome) for i, m in preds] == [
        (1, palette.ERROR, "FP dog 0.50", FP),  # the best last: drawn on top
        (0, palette.OK, "TP cat 0.99", TP),
    ]
    assert preds[1][1].tip == "#0 cat 0.99: TP"
    unmatched = draw.prediction_marks(_dets(with_masks=False), None, 0.9, ["cat", "dog"])
    assert [(i, m.color, m.tip) for i, m in unmatched] == [
        (0, palette.class_color_hex(0), "#0 cat 0.99: not matched yet")  # label 1 -> colour 0, as the page had it
    ]
