"""TP / FP / FN matching per image and the worst-first order (studio.core.evaluation.matching)."""

from __future__ import annotations

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.evaluation.matching import FP, IGNORED, TP, match_dataset, match_image, totals, worst_first

CMAP = ClassMap((7, 9), ("cat", "dog"))


def _dets(rows):
    """rows: (x0, y0, x1, y1, score, label)."""
    a = np.asarray(rows, np.float64).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32), a[:, 5].astype(np.int64))


def _ds():
    images = [
        {
            "id": 1,
            "file_name": "a.jpg",
            "width": 100,
            "height": 100,
            "ignore_regions": [[80, 80, 99, 80, 99, 99, 80, 99]],
        },
        {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100},
        {"id": 3, "file_name": "c.jpg", "width": 100, "height": 100},
    ]
    cats = [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}, {"id": 11, "name": "other"}]
    anns = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 7,
            "bbox": [0, 0, 20, 20],
            "area": 400,
            "iscrowd": 0,
            "segmentation": [],
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 9,
            "bbox": [40, 40, 20, 20],
            "area": 400,
            "iscrowd": 0,
            "segmentation": [],
        },
        {
            "id": 3,
            "image_id": 1,
            "category_id": 11,
            "bbox": [60, 0, 10, 10],
            "area": 100,
            "iscrowd": 0,
            "segmentation": [],
        },
        {
            "id": 4,
            "image_id": 2,
            "category_id": 7,
            "bbox": [10, 10, 30, 30],
            "area": 900,
            "iscrowd": 0,
            "segmentation": [],
        },
        {
            "id": 5,
            "image_id": 2,
            "category_id": 9,
            "bbox": [50, 50, 40, 40],
            "area": 1600,
            "iscrowd": 1,
            "segmentation": [],
        },
    ]
    return Dataset(images, cats, anns)


def test_match_image_tp_fp_fn_and_ignored():
    ds = _ds()
    dets = _dets(
        [
            (0, 0, 20, 20, 0.9, 1),  # TP: the cat
            (1, 1, 21, 21, 0.8, 1),  # FP: duplicate of the cat
            (40, 40, 60, 60, 0.7, 1),  # FP: right place, wrong class (the dog is then missed)
            (81, 81, 98, 98, 0.6, 2),  # on the ignore region: neither
            (60, 0, 70, 10, 0.55, 1),  # FP: a class outside the class map is not GT
            (0, 0, 20, 20, 0.2, 1),  # below the threshold: not counted
        ]
    )
    m = match_image(ds.image(1), ds.anns_for_image(1), dets, CMAP, score_thr=0.5, iou_thr=0.5)
    assert m.tp == (0,) and m.fp == (1, 2, 4) and m.fn == (2,) and m.ignored == (3,)
    assert m.status_of(0) == TP and m.status_of(2) == FP and m.status_of(3) == IGNORED and m.status_of(5) is None
    assert m.matched_annotation(0) == (1, 1.0)
    assert abs(m.error - (1 + 0.8 + 0.7 + 0.55)) < 1e-6


def test_threshold_and_iou_change_the_outcome():
    ds = _ds()
    dets = _dets([(10, 10, 40, 36, 0.9, 1), (0, 0, 20, 20, 0.3, 1)])  # IoU with ann 4: 780/900 = 0.867
    strict = match_image(ds.image(2), ds.anns_for_image(2), dets, CMAP, score_thr=0.5, iou_thr=0.9)
    assert strict.tp == () and strict.fp == (0,) and strict.fn == (4,)
    loose = match_image(ds.image(2), ds.anns_for_image(2), dets, CMAP, score_thr=0.1, iou_thr=0.5)
    assert loose.tp == (0,) and loose.fp == (1,) and loose.fn == ()  # the crowd dog is never missed


def test_match_dataset_worst_first_and_totals():
    ds = _ds()
    dets = {
        1: _dets([(0, 0, 20, 20, 0.9, 1), (40, 40, 60, 60, 0.9, 2)]),  # perfect
        2: _dets([(70, 0, 90, 20, 0.95, 1)]),  # one confident false alarm + one miss
        3: Detections.empty(),  # nothing, nothing to find
    }
    matches = match_dataset(ds, dets, CMAP, score_thr=0.5, iou_thr=0.5)
    assert list(matches) == [1, 2, 3]
    assert worst_first(matches) == [2, 1, 3]
    assert matches[2].error > 1.9 and matches[1].error == 0
    assert totals(matches.values()) == (2, 1, 1)


def test_cancel_stops_matching():
    import pytest

    from studio.core.errors import CancelledError
    from studio.core.jobs import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        match_dataset(_ds(), {1: Detections.empty()}, CMAP, cancel=token)
