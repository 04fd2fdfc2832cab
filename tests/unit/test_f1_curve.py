"""F1 against the score threshold, computed from the COCO evaluation's matches, on cases worked out by hand."""

from __future__ import annotations

import os

import numpy as np
import orjson
import pytest

from studio.core.dataset.model import Dataset
from studio.core.evaluation import evaluate, write_report
from studio.core.evaluation.f1 import (
    F1_CURVE_JSON,
    F1_CURVE_PNG,
    THRESHOLDS,
    F1Curves,
    f1_curves,
    prf_at,
    read_curves,
    read_suggestion,
    suggestion_line,
)

W, H = 200, 100


def _four_objects() -> Dataset:
    """4 GT boxes of one class spread over two images, plus a crowd region."""
    ds = Dataset()
    c = ds.add_category("ball")
    i1 = ds.add_image("a.png", W, H)["id"]
    i2 = ds.add_image("b.png", W, H)["id"]
    for im, x in ((i1, 10), (i1, 110), (i2, 10), (i2, 110)):
        ds.add_annotation(im, c, bbox=[x, 10, 40, 40])
    return ds


def _det(image_id: int, box: list[float], score: float, cat: int = 1) -> dict:
    return {"image_id": image_id, "category_id": cat, "bbox": box, "score": score}


def _hand_case() -> tuple[Dataset, list[dict]]:
    """Scores 0.9 TP, 0.8 FP, 0.7 TP, 0.3 TP against 4 objects (the 4th is never found)."""
    ds = _four_objects()
    res = [
        _det(1, [10, 10, 40, 40], 0.9),  # TP
        _det(1, [60, 60, 30, 30], 0.8),  # FP: on nothing
        _det(1, [110, 10, 40, 40], 0.7),  # TP
        _det(2, [12, 10, 40, 40], 0.3),  # TP (IoU 0.9)
    ]
    return ds, res


# by hand: threshold t keeps the detections scoring >= t
#   t <= 0.3      : 3 TP, 1 FP -> P 3/4, R 3/4, F1 0.75
#   0.3 < t <= 0.7: 2 TP, 1 FP -> P 2/3, R 1/2, F1 4/7
#   0.7 < t <= 0.8: 1 TP, 1 FP -> P 1/2, R 1/4, F1 1/3
#   0.8 < t <= 0.9: 1 TP       -> P 1,   R 1/4, F1 0.4
#   t > 0.9       : nothing    -> P 1,   R 0,   F1 0
def _expected_f1(t: float) -> float:
    if t <= 0.3:
        return 0.75
    if t <= 0.7:
        return 4 / 7
    if t <= 0.8:
        return 1 / 3
    if t <= 0.9:
        return 0.4
    return 0.0


def test_f1_at_every_threshold_matches_the_hand_computation():
    ds, res = _hand_case()
    curves = f1_curves(evaluate(ds, res))
    (ball,) = curves.classes["bbox"]
    assert ball.num_gt == 4
    assert curves.thresholds == THRESHOLDS
    for t, f in zip(curves.thresholds, ball.f1):
        assert f == pytest.approx(_expected_f1(t), abs=1e-5), t
    i = THRESHOLDS.index(0.5)
    assert ball.precision[i] == pytest.approx(2 / 3, abs=1e-5)
    assert ball.recall[i] == pytest.approx(0.5)
    # the plateau 0 .. 0.30 has F1 0.75: its highest threshold keeps the fewest detections
    best = curves.suggestion
    assert (best.score, best.f1, best.precision, best.recall) == (0.3, 0.75, 0.75, 0.75)
    assert "score >= 0.30 (F1 0.750" in suggestion_line(curves)
    assert "--score-thr 0.30" in suggestion_line(curves)


def test_a_confident_false_alarm_moves_the_optimum_above_it():
    """One more FP at 0.5 and one at 0.2: 0.3 keeps 3 TP 2 FP (F1 2/3); 0.51 .. 0.70 keeps 2 TP 1 FP (4/7);
    0.21 .. 0.30 is best still. Removing the 0.3 TP makes 0.71 .. 0.80 (1 TP 1 FP) lose to 0.01 .. 0.70."""
    ds, res = _hand_case()
    res += [_det(2, [150, 60, 30, 30], 0.5), _det(2, [60, 60, 30, 30], 0.2)]
    best = f1_curves(evaluate(ds, res)).suggestion
    assert best.score == 0.3 and best.f1 == pytest.approx(2 / 3, abs=1e-5)
    res = [r for r in res if r["score"] != 0.3]
    best = f1_curves(evaluate(ds, res)).suggestion
    # 2 TP 2 FP at t <= 0.5 (F1 0.5); 2 TP 1 FP at 0.51 .. 0.70 (F1 4/7): the latter wins, top of it 0.70
    assert best.score == 0.7 and best.f1 == pytest.approx(4 / 7, abs=1e-5)


def test_crowd_detections_count_neither_way_like_the_map():
    ds, res = _hand_case()
    ds.add_annotation(1, 1, bbox=[55, 55, 40, 40], iscrowd=1)  # the FP at 0.8 now lies on a crowd region
    (ball,) = f1_curves(evaluate(ds, res)).classes["bbox"]
    assert ball.num_gt == 4
    assert ball.f1[THRESHOLDS.index(0.8)] == pytest.approx(0.4)  # 1 TP, no FP
    assert ball.best.score == 0.3 and ball.best.f1 == pytest.approx(2 * 1 * 0.75 / 1.75, abs=1e-5)


def test_mean_over_classes_and_a_class_without_ground_truth():
    ds, res = _hand_case()
    ds.add_category("bat")  # id 2: detected, never present
    ds.add_category("cup")  # id 3: one object, found at 0.6
    ds.add_annotation(2, 3, bbox=[60, 55, 30, 30])
    res += [_det(2, [60, 55, 30, 30], 0.6, cat=3), _det(1, [0, 60, 30, 30], 0.95, cat=2)]
    curves = f1_curves(evaluate(ds, res))
    ball, bat, cup = curves.classes["bbox"]
    assert bat.f1 is None and bat.best is None
    assert cup.best.score == 0.6 and cup.best.f1 == 1.0
    mean = curves.mean["bbox"]
    for t, f in zip(THRESHOLDS, mean.f1):
        assert f == pytest.approx((_expected_f1(t) + (1.0 if t <= 0.6 else 0.0)) / 2, abs=1e-5)
    assert curves.suggestion.score == 0.3  # (0.75 + 1) / 2 beats (4/7 + 1) / 2


def test_nothing_found_suggests_nothing():
    ds, _ = _hand_case()
    curves = f1_curves(evaluate(ds, [_det(1, [60, 60, 30, 30], 0.9)]))
    assert curves.suggestion is None
    assert "no threshold to suggest" in suggestion_line(curves)
    assert f1_curves(evaluate(ds, [])).suggestion is None


def test_prf_at_counts_a_score_equal_to_the_threshold():
    p, r, f = prf_at(np.array([0.3, 0.30001]), np.array([True, False]), 2, [0.3, 0.30001, 0.31])
    assert list(p) == [0.5, 0.0, 1.0]
    assert list(r) == [0.5, 0.0, 0.0]
    assert f[0] == pytest.approx(0.5) and f[1] == 0.0 and f[2] == 0.0


def test_report_writes_the_curve_json_and_png_and_reads_back(tmp_path):
    ds, res = _hand_case()
    written = write_report(tmp_path, evaluate(ds, res))
    assert F1_CURVE_JSON in written and F1_CURVE_PNG in written
    assert (tmp_path / F1_CURVE_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = orjson.loads((tmp_path / F1_CURVE_JSON).read_bytes())
    assert data["suggested"] == {"iou_type": "bbox", "score": 0.3, "f1": 0.75, "precision": 0.75, "recall": 0.75}
    back = read_curves(tmp_path / F1_CURVE_JSON)
    assert isinstance(back, F1Curves) and back.to_dict() == data


def test_read_suggestion_only_for_the_checkpoint_that_was_evaluated(tmp_path):
    ds, res = _hand_case()
    result = evaluate(ds, res)
    write_report(tmp_path, result)
    m = result.metrics["bbox_mAP"]
    ok = {"epoch": 7, "best_epoch": 7, "metric_name": "bbox_mAP", "best_metric": m}
    best, path = read_suggestion(tmp_path, **ok)
    assert best.score == 0.3 and path == tmp_path / F1_CURVE_JSON
    assert read_suggestion(tmp_path, **{**ok, "epoch": 9}) is None  # last.pt after the best epoch
    assert read_suggestion(tmp_path, **{**ok, "best_metric": m + 0.01}) is None  # another evaluation's file
    assert read_suggestion(tmp_path, **{**ok, "best_epoch": None}) is None  # never evaluated
    assert read_suggestion(tmp_path / "nowhere", **ok) is None
    (tmp_path / F1_CURVE_JSON).write_text("{not json")
    assert read_suggestion(tmp_path, **ok) is None  # a broken file is no reason to fail a prediction
    os.remove(tmp_path / F1_CURVE_JSON)
    assert read_suggestion(tmp_path, **ok) is None
