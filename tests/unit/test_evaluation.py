"""COCO metrics, PR curves, confusion matrix and report files on tiny in-memory datasets."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import orjson
import pytest

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.errors import StudioError
from studio.core.evaluation import (
    ConfusionMatrix,
    confusion_matrix,
    evaluate,
    metric_keys,
    pr_curves,
    write_report,
)
from studio.core.geometry import ellipse_polygon, mask_to_rle, segmentation_to_mask

W, H = 96, 72


def _gt() -> Dataset:
    """3 images (the last one without objects), 2 classes, elliptic masks of varied sizes."""
    ds = Dataset()
    a = ds.add_category("apple")
    b = ds.add_category("banana")
    i1 = ds.add_image("one.png", W, H)["id"]
    i2 = ds.add_image("two.png", W, H)["id"]
    ds.add_image("empty.png", W, H)
    ds.add_annotation(i1, a, [ellipse_polygon(20, 20, 12, 9)])
    ds.add_annotation(i1, b, [ellipse_polygon(62, 40, 20, 14, 0.3)])
    ds.add_annotation(i2, a, [ellipse_polygon(30, 45, 16, 12)])
    ds.add_annotation(i2, b, [ellipse_polygon(75, 18, 10, 8)])
    ds.add_annotation(i2, a, [ellipse_polygon(50, 60, 7, 6)])
    return ds


def _perfect(ds: Dataset, with_masks: bool = True) -> list[dict]:
    out = []
    for ann in ds.annotations:
        im = ds.image(ann["image_id"])
        r = {
            "image_id": im["id"],
            "file_name": im["file_name"],
            "category_id": ann["category_id"],
            "bbox": list(ann["bbox"]),
            "score": 1.0,
        }
        if with_masks:
            r["segmentation"] = mask_to_rle(segmentation_to_mask(ann["segmentation"], im["height"], im["width"]))
        out.append(r)
    return out


def _shifted(ds: Dataset, dx: float) -> list[dict]:
    res = _perfect(ds, with_masks=False)
    for r in res:
        r["bbox"][0] += dx
    return res


def _pycocotools_stats(ds: Dataset, results: list[dict], iou_type: str, tmp_path) -> list[float]:
    """pycocotools run directly, from a file, the way everybody else does it."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    path = tmp_path / "gt.json"
    ds.save(path)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats[:6]]


# ------------------------------------------------------------------------------------------------
# metrics
def test_perfect_predictions_give_map_one_for_boxes_and_masks():
    ds = _gt()
    r = evaluate(ds, _perfect(ds))
    assert r.iou_types == ["bbox", "segm"]
    assert set(r.metrics) == set(metric_keys("bbox") + metric_keys("segm"))
    assert r.metrics["bbox_mAP"] == pytest.approx(1.0)
    assert r.metrics["segm_mAP"] == pytest.approx(1.0)
    assert r.metrics["bbox_mAP_50"] == pytest.approx(1.0) and r.metrics["segm_mAP_75"] == pytest.approx(1.0)
    # 96x72 images hold no object over 96^2 px: pycocotools' -1 becomes None, JSON null
    assert r.metrics["bbox_mAP_l"] is None and r.metrics["segm_mAP_l"] is None
    assert r.num_images == 3 and r.num_results == 5
    assert "Average Precision" in r.summary_text
    d = orjson.loads(orjson.dumps(r.to_dict()))
    assert d["bbox_mAP_l"] is None and d["iou_types"] == ["bbox", "segm"] and d["num_images"] == 3


def test_metrics_equal_pycocotools_run_directly(tmp_path):
    ds = _gt()
    res = _perfect(ds)
    rng = np.random.default_rng(0)
    for r in res:
        r["bbox"] = [v + float(rng.normal(0, 1.5)) for v in r["bbox"]]
        r["score"] = float(rng.uniform(0.2, 1.0))
    res[1]["category_id"] = 1  # a confusion
    fp_mask = np.zeros((H, W), np.uint8)
    fp_mask[5:20, 70:90] = 1
    res.append(
        {
            "image_id": 3,
            "file_name": "empty.png",
            "category_id": 2,
            "bbox": [70, 5, 20, 15],
            "score": 0.9,
            "segmentation": mask_to_rle(fp_mask),
        }
    )
    ours = evaluate(ds, res)
    # mask AP sizes objects by their mask area, as detectron2 and MMDetection do, by giving
    # pycocotools the segm results without their boxes (with a box it takes the box area)
    no_box = [{k: v for k, v in r.items() if k != "bbox"} for r in res]
    for iou_type, ref_res in (("bbox", res), ("segm", no_box)):
        ref = _pycocotools_stats(ds, ref_res, iou_type, tmp_path)
        got = [ours.metrics[k] for k in metric_keys(iou_type)]
        assert [(-1.0 if g is None else g) for g in got] == pytest.approx(ref, abs=1e-9), iou_type
    # the size-independent numbers do not depend on that choice
    with_box = _pycocotools_stats(ds, res, "segm", tmp_path)
    assert [ours.metrics[k] for k in ("segm_mAP", "segm_mAP_50", "segm_mAP_75")] == pytest.approx(with_box[:3])
    assert 0.0 < ours.metrics["bbox_mAP"] < 1.0 and 0.0 < ours.metrics["segm_mAP"] < 1.0


def test_shifted_boxes_score_lower_the_more_they_move():
    ds = _gt()
    m = [evaluate(ds, _shifted(ds, dx)).metrics["bbox_mAP"] for dx in (0.0, 2.0, 5.0)]
    assert m[0] == pytest.approx(1.0)
    assert m[0] > m[1] > m[2] >= 0.0


def test_empty_results_give_zeros_not_an_error():
    ds = _gt()
    r = evaluate(ds, [])
    assert r.iou_types == ["bbox"]
    for k in ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s"):
        assert r.metrics[k] == 0.0
    assert all(c["AP"] == 0.0 and c["AP50"] == 0.0 for c in r.per_class["bbox"].values())
    assert r.num_results == 0


def test_per_class_ap_one_class_perfect_one_missed():
    ds = _gt()
    res = [x for x in _perfect(ds, with_masks=False) if x["category_id"] == 1]
    r = evaluate(ds, res)
    pc = r.per_class["bbox"]
    assert pc["apple"]["AP"] == pytest.approx(1.0) and pc["apple"]["AP50"] == pytest.approx(1.0)
    assert pc["banana"]["AP"] == 0.0 and pc["banana"]["AP50"] == 0.0
    assert pc["apple"]["num_gt"] == 3 and pc["banana"]["num_gt"] == 2
    assert pc["apple"]["category_id"] == 1
    assert r.metrics["bbox_mAP"] == pytest.approx(0.5)


def test_a_class_without_ground_truth_has_no_ap_and_does_not_count():
    ds = _gt()
    ds.add_category("cherry")
    r = evaluate(ds, _perfect(ds, with_masks=False))
    assert r.per_class["bbox"]["cherry"] == {"category_id": 3, "AP": None, "AP50": None, "num_gt": 0}
    assert r.metrics["bbox_mAP"] == pytest.approx(1.0)


def test_false_positive_on_an_image_without_objects_lowers_ap():
    ds = _gt()
    res = _perfect(ds, with_masks=False)
    for r in res:
        r["score"] = 0.8
    assert evaluate(ds, res).metrics["bbox_mAP"] == pytest.approx(1.0)
    res.append({"image_id": 3, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9})  # ranked first
    assert evaluate(ds, res).metrics["bbox_mAP"] < 1.0


def test_crowd_objects_and_ignore_regions_are_neither_missed_nor_false_positives():
    ds = _gt()
    ds.add_annotation(3, 1, bbox=[5, 5, 30, 30], iscrowd=1)
    ds.image(3)["ignore_regions"] = [[60, 30, 90, 30, 90, 70, 60, 70]]
    res = _perfect(ds, with_masks=False)
    res = [dict(r, score=0.8) for r in res if r["image_id"] != 3]  # the crowd is not predicted: not a miss
    # ranked above every true detection, so they would lower AP if they counted
    res.append({"image_id": 3, "category_id": 1, "bbox": [8, 8, 10, 10], "score": 0.9})  # inside the crowd
    res.append({"image_id": 3, "category_id": 2, "bbox": [65, 40, 15, 15], "score": 0.9})  # inside the region
    r = evaluate(ds, res)
    assert r.metrics["bbox_mAP"] == pytest.approx(1.0)
    assert r.per_class["bbox"]["apple"]["num_gt"] == 3  # the crowd is not counted as an object
    # the same prediction outside any ignored area is a false positive
    res.append({"image_id": 3, "category_id": 2, "bbox": [40, 5, 15, 15], "score": 0.9})
    assert evaluate(ds, res).metrics["bbox_mAP"] < 1.0


def test_unknown_images_and_categories_are_errors_that_name_them():
    ds = _gt()
    res = _perfect(ds, with_masks=False)
    bad_img = res + [{"image_id": 99, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    with pytest.raises(StudioError, match="99"):
        evaluate(ds, bad_img)
    bad_file = res + [{"file_name": "nowhere.png", "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    with pytest.raises(StudioError, match="nowhere.png"):
        evaluate(ds, bad_file)
    bad_cat = res + [{"image_id": 1, "category_id": 42, "bbox": [0, 0, 5, 5], "score": 0.5}]
    with pytest.raises(StudioError, match="42"):
        evaluate(ds, bad_cat)
    with pytest.raises(StudioError, match="score"):
        evaluate(ds, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}])
    with pytest.raises(StudioError, match="segm"):
        evaluate(ds, res, iou_types=["segm"])  # results without masks


def test_results_match_by_file_name_when_ids_differ():
    ds = _gt()
    res = _perfect(ds, with_masks=False)
    for r in res:
        r["image_id"] += 100  # ids from an earlier import of the same images
    assert evaluate(ds, res).metrics["bbox_mAP"] == pytest.approx(1.0)


def test_image_ids_restrict_the_evaluation():
    ds = _gt()
    res = [r for r in _perfect(ds, with_masks=False) if r["image_id"] == 1]
    assert evaluate(ds, res).metrics["bbox_mAP"] < 1.0
    sub = evaluate(ds, res, image_ids=[1])
    assert sub.metrics["bbox_mAP"] == pytest.approx(1.0)
    assert sub.num_images == 1 and sub.per_class["bbox"]["apple"]["num_gt"] == 1
    with pytest.raises(StudioError, match="77"):
        evaluate(ds, res, image_ids=[1, 77])


def test_class_map_picks_the_classes_and_names():
    ds = _gt()
    cm = ClassMap.from_names(["Apple"], cat_ids=[1])
    res = [r for r in _perfect(ds, with_masks=False) if r["category_id"] == 1]
    r = evaluate(ds, res, class_map=cm)
    assert list(r.per_class["bbox"]) == ["Apple"]
    assert r.metrics["bbox_mAP"] == pytest.approx(1.0)
    with pytest.raises(StudioError, match="7"):
        evaluate(ds, res, class_map=ClassMap.from_names(["x"], cat_ids=[7]))
    # a class order other than the ids' (pycocotools sorts ids): per-class AP stays with its class
    rev = evaluate(ds, res, class_map=ClassMap.from_names(["Banana", "Apple"], cat_ids=[2, 1]))
    assert rev.per_class["bbox"]["Apple"]["AP"] == pytest.approx(1.0)
    assert rev.per_class["bbox"]["Banana"]["AP"] == 0.0
    assert [c.name for c in pr_curves(rev).curves["bbox"]] == ["Banana", "Apple"]
    assert pr_curves(rev).curves["bbox"][1].precision_50 == [1.0] * 101


def test_ground_truth_is_not_modified():
    ds = _gt()
    before = copy.deepcopy(ds.to_dict())
    res = _perfect(ds)
    res_before = copy.deepcopy(res)
    evaluate(ds, res)
    confusion_matrix(ds, res)
    assert ds.to_dict() == before and res == res_before


# ------------------------------------------------------------------------------------------------
# curves
def test_pr_curves_follow_the_101_point_grid_and_match_ap():
    ds = _gt()
    ds.add_category("cherry")
    res = [x for x in _perfect(ds, with_masks=False) if x["category_id"] == 1]
    curves = pr_curves(evaluate(ds, res))
    assert len(curves.recall) == 101 and curves.recall[0] == 0.0 and curves.recall[-1] == 1.0
    apple, banana, cherry = curves.curves["bbox"]
    assert apple.precision_50 == [1.0] * 101 and apple.ap == pytest.approx(1.0)
    assert banana.precision_50 == [0.0] * 101 and banana.ap50 == 0.0
    assert cherry.precision_50 is None and cherry.ap is None
    assert curves.mean_precision_50("bbox") == [0.5] * 101
    assert type(curves).from_dict(orjson.loads(orjson.dumps(curves.to_dict()))) == curves


# ------------------------------------------------------------------------------------------------
# confusion matrix
def _box_case() -> Dataset:
    ds = Dataset()
    ds.add_category("A")
    ds.add_category("B")
    for name in ("i1", "i2", "i3"):
        ds.add_image(f"{name}.png", 100, 100)
    ds.add_annotation(1, 1, bbox=[10, 10, 20, 20])
    ds.add_annotation(1, 2, bbox=[50, 50, 30, 30])
    ds.add_annotation(2, 1, bbox=[10, 10, 20, 20])
    ds.add_annotation(3, 2, bbox=[40, 40, 20, 20])
    return ds


def _box_results() -> list[dict]:
    return [
        {"image_id": 1, "category_id": 1, "bbox": [11, 10, 20, 20], "score": 0.9},  # A right
        {"image_id": 1, "category_id": 1, "bbox": [50, 51, 30, 30], "score": 0.8},  # B taken for A
        {"image_id": 2, "category_id": 2, "bbox": [60, 60, 20, 20], "score": 0.7},  # B on nothing
        {"image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.1},  # below the threshold
        {"image_id": 3, "category_id": 2, "bbox": [40, 40, 20, 20], "score": 0.9},  # B right
        {"image_id": 3, "category_id": 2, "bbox": [41, 41, 20, 20], "score": 0.6},  # duplicate
    ]


def test_confusion_matrix_counts_and_images_per_cell():
    cm = confusion_matrix(_box_case(), _box_results())
    assert cm.names == ["A", "B", "background"]
    assert cm.counts.tolist() == [
        [1, 0, 1],  # A: 1 right, 1 missed (its only prediction scored under 0.25)
        [1, 1, 0],  # B: 1 predicted as A, 1 right
        [0, 2, 0],  # false alarms: B on nothing, B duplicate
    ]
    assert cm.images_for("A", "A") == [1]
    assert cm.images_for("A", "background") == [2]
    assert cm.images_for("B", "A") == [1]
    assert cm.images_for(2, 2) == [3]  # by category id
    assert cm.images_for("background", "B") == [2, 3]
    assert cm.images_for("background", "background") == []
    norm = cm.normalized()
    assert norm[0].tolist() == [0.5, 0.0, 0.5] and norm[2].tolist() == [0.0, 1.0, 0.0]
    assert ConfusionMatrix.from_dict(orjson.loads(orjson.dumps(cm.to_dict()))).counts.tolist() == cm.counts.tolist()


def test_confusion_matrix_score_threshold_and_subset():
    cm = confusion_matrix(_box_case(), _box_results(), score_thr=0.05)
    assert cm.counts[0].tolist() == [2, 0, 0]  # the low-score A now finds its object
    assert cm.images_for("A", "A") == [1, 2]
    sub = confusion_matrix(_box_case(), _box_results(), image_ids=[3])
    assert sub.counts.tolist() == [[0, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_confusion_prefers_the_own_class_and_skips_crowds():
    ds = Dataset()
    ds.add_category("A")
    ds.add_category("B")
    ds.add_image("x.png", 100, 100)
    ds.add_annotation(1, 1, bbox=[10, 10, 40, 40])  # A
    ds.add_annotation(1, 2, bbox=[14, 14, 40, 40])  # B, overlaps A, closer to the prediction
    ds.add_annotation(1, 1, bbox=[60, 60, 30, 30], iscrowd=1)
    res = [
        {"image_id": 1, "category_id": 1, "bbox": [13, 13, 40, 40], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [62, 62, 20, 20], "score": 0.9},  # on the crowd
    ]
    cm = confusion_matrix(ds, res)
    assert cm.counts.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]


# ------------------------------------------------------------------------------------------------
# report
def test_report_files(tmp_path):
    ds = _gt()
    res = _perfect(ds)
    res[0]["category_id"] = 2
    ev = evaluate(ds, res)
    paths = write_report(tmp_path / "report", ev, confusion_matrix(ds, res), pr_curves(ev))
    for name in ("metrics.json", "pr_curves.json", "confusion_matrix.json", "pr_curves.png", "confusion_matrix.png"):
        assert paths[name].is_file() and paths[name].parent == tmp_path / "report", name
    metrics = orjson.loads(paths["metrics.json"].read_bytes())
    for k in metric_keys("bbox") + metric_keys("segm") + ["per_class", "iou_types", "num_images"]:
        assert k in metrics, k
    assert metrics["bbox_mAP_l"] is None
    assert set(metrics["per_class"]) == {"bbox", "segm"} and set(metrics["per_class"]["bbox"]) == {"apple", "banana"}
    curves = orjson.loads(paths["pr_curves.json"].read_bytes())
    assert len(curves["recall"]) == 101 and set(curves["iou_types"]) == {"bbox", "segm"}
    conf = orjson.loads(paths["confusion_matrix.json"].read_bytes())
    assert conf["counts"][0][1] == 1 and conf["names"][-1] == "background"
    for name in ("pr_curves.png", "confusion_matrix.png"):
        img = cv2.imread(str(paths[name]))
        assert img is not None and img.shape[0] > 300 and img.shape[1] > 300 and img.std() > 10
    assert not list((tmp_path / "report").glob(".*.tmp"))  # no temporary leftovers


def test_progress_reaches_the_end_and_cancel_stops():
    from studio.core.errors import CancelledError
    from studio.core.jobs import CancelToken

    ds = _gt()
    seen: list[tuple[int, int]] = []
    evaluate(ds, _perfect(ds), progress=lambda d, t, m="": seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        evaluate(ds, _perfect(ds), cancel=token)
    with pytest.raises(CancelledError):
        confusion_matrix(ds, _perfect(ds), cancel=token)
