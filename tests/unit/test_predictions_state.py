"""The Predictions tab's state without Qt: thresholds, the worst-first list and the confusion-cell filter,
the image kept shown, the detections that count, what the buttons allow and the texts, on hand-made
predictions matched by the real matching code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.evaluation.curves import PRCurves
from studio.gui.inspect.jobs import ValPredictions, rematch
from studio.gui.inspect.predictions_state import (
    DEFAULT_SCORE,
    MAX_LABELLED,
    OVERLAID,
    PredictionsState,
)

CAT, DOG = 1, 2


def _box(x, y, w, h, cat, aid):
    return {"id": aid, "image_id": 0, "category_id": cat, "bbox": [x, y, w, h], "area": w * h, "segmentation": []}


def _gt() -> Dataset:
    images = [{"id": i, "file_name": f"im{i}.jpg", "width": 100, "height": 100} for i in (1, 2, 3)]
    anns = [
        {**_box(10, 10, 20, 20, CAT, 1), "image_id": 1},
        {**_box(50, 50, 20, 20, DOG, 2), "image_id": 1},
        {**_box(0, 0, 10, 10, CAT, 3), "image_id": 2},
        {**_box(20, 20, 10, 10, CAT, 4), "image_id": 2},
        {**_box(30, 30, 10, 10, DOG, 5), "image_id": 3},
    ]
    return Dataset.from_dict(
        {"images": images, "categories": [{"id": CAT, "name": "cat"}, {"id": DOG, "name": "dog"}], "annotations": anns}
    )


def _dets(rows) -> Detections:
    """rows: (x0, y0, x1, y1, score, label), sorted by score as a model gives them."""
    rows = sorted(rows, key=lambda r: -r[4])
    a = np.array([r[:4] for r in rows], np.float32).reshape(-1, 4)
    return Detections(a, np.array([r[4] for r in rows], np.float32), np.array([r[5] for r in rows], np.int64))


@pytest.fixture
def preds(tmp_path) -> ValPredictions:
    """Image 1: a cat found (0.9), the dog taken for a cat (0.6), a false cat (0.5): worst at a low threshold.
    Image 2: two cats missed. Image 3: the dog found (0.8), a false alarm (0.3)."""
    dets = {
        1: _dets([(10, 10, 30, 30, 0.9, 1), (50, 50, 70, 70, 0.6, 1), (80, 0, 90, 10, 0.5, 1)]),
        2: _dets([]),
        3: _dets([(30, 30, 40, 40, 0.8, 2), (0, 0, 5, 5, 0.3, 1)]),
    }
    results = [
        {
            "image_id": i,
            "category_id": int(d.labels[k]),
            "bbox": [*b[:2], *(b[2:] - b[:2])],
            "score": float(d.scores[k]),
        }
        for i, d in dets.items()
        for k, b in enumerate(d.boxes)
    ]
    return ValPredictions(
        checkpoint=tmp_path / "best.pt",
        ann=tmp_path / "val.json",
        images_dir=tmp_path / "images",
        gt=_gt(),
        class_map=ClassMap((CAT, DOG), ("cat", "dog")),
        with_masks=False,
        detections=dets,
        results=results,
        metrics={"bbox_mAP": 0.41234, "bbox_mAP_50": 0.5, "bbox_mAR_100": 0.9, "segm_mAP": None},
        curves=PRCurves(recall=[0.0, 1.0]),
    )


def predicted(preds: ValPredictions, score: float = DEFAULT_SCORE, iou: float = 0.5) -> PredictionsState:
    """A state after "Predict val set" and the first matching, as the panel drives it."""
    st = PredictionsState()
    st.set_source(preds.checkpoint)
    st.predicted(preds)
    st.set_thresholds(score, iou)
    st.show_image(st.matched(rematch(preds, st.score_thr, st.iou_thr)))
    return st


def test_a_new_source_drops_what_came_from_the_last(preds):
    st = PredictionsState()
    assert st.source_hint() == "" and not st.can_run(predicting=False)
    assert st.buttons(predicting=False, writing=False, selected=True).run is False
    assert st.set_source(preds.checkpoint)
    assert st.source_hint().startswith("Press “Predict val set”") and st.can_run(predicting=False)
    assert not st.can_run(predicting=True)
    assert not st.set_source(preds.checkpoint), "the same source: nothing is dropped"
    st.predicted(preds)
    st.matched(rematch(preds, 0.25, 0.5))
    st.filter_cell(0, 0)
    st.show_image(1)
    assert st.set_source(preds.checkpoint, Path("other.json"))
    assert (st.preds, st.matching, st.cell, st.image_id) == (None, None, None, None) and st.listed() == []


def test_images_are_listed_worst_first_and_thresholds_reorder_them(preds):
    st = predicted(preds, score=0.25)
    m = st.matching
    assert st.listed() == [1, 2, 3], "image 1: a missed dog + false alarms 0.6 and 0.5 (2.1) > two missed (2)"
    assert [round(m.matches[i].error, 2) for i in st.listed()] == [2.1, 2.0, 0.3]
    assert st.image_id == 1, "the worst image is shown"
    assert st.totals() == (2, 3, 3)
    assert st.summary() == "3 val images, 5 predictions from best.pt."
    assert st.metrics_text() == "bbox_mAP: 0.412   bbox_mAP_50: 0.500", "mAP and mAP50 only, never None"

    assert st.set_thresholds(0.7, 0.5), "predictions on hand: match again"
    show = st.matched(rematch(preds, st.score_thr, st.iou_thr))
    assert st.listed() == [2, 1, 3] and show == 1, "the image shown stays shown"
    assert st.totals() == (2, 0, 3)
    assert PredictionsState().set_thresholds(0.5, 0.5) is False, "nothing predicted: nothing to match"
    st.set_thresholds(0.7, 0.54999)
    assert st.iou_thr == 0.55


def test_detections_that_count_and_their_rows(preds):
    st = predicted(preds, score=0.25)
    st.show_image(1)
    assert st.visible_detections() == [0, 1, 2]
    rows = st.detection_rows()
    assert [(r.index, r.class_name, r.score, r.outcome) for r in rows] == [
        (0, "cat", "0.900", "correct"),
        (1, "cat", "0.600", "false alarm"),
        (2, "cat", "0.500", "false alarm"),
    ]
    assert rows[0].iou == "1.00" and rows[1].iou == "" and rows[0].status == "TP"
    st.score_thr = 0.95  # the slider moved, the matching has not come back yet
    assert st.threshold() == 0.25 and len(st.visible_detections()) == 3, "the numbers shown are the matching's"
    st.matching = None
    assert st.visible_detections() == [] and st.detection_rows() == [], "without a matching: the slider's"
    st.score_thr = 0.55
    assert [r.outcome for r in st.detection_rows()] == ["", ""], "not matched yet"


def test_a_confusion_cell_filters_the_list(preds):
    st = predicted(preds, score=0.25)
    conf = st.matching.confusion
    k = conf.num_classes
    assert conf.names == ["cat", "dog", "background"]
    cells = st.confusion_cells()
    assert len(cells) == k + 1 and all(len(r) == k + 1 for r in cells)
    dog_as_cat = cells[1][0]
    assert dog_as_cat.count == 1 and dog_as_cat.text == "1" and not dog_as_cat.good
    assert dog_as_cat.tooltip == "true dog, predicted cat: 1 object(s) in 1 image(s)"
    assert cells[0][0].good and cells[0][0].share == pytest.approx(1 / 3), "1 of 3 cats found"
    assert not cells[k][0].good and cells[2][2].text == "" and cells[2][2].count == 0

    st.show_image(3)
    show = st.filter_cell(1, 0)
    assert st.cell == (1, 0) and st.listed() == [1] and show == 1, "the image shown is not in the cell: the first"
    assert st.filter_text() == "<b>dog</b> predicted as <b>cat</b>: 1 image(s)"
    st.show_image(3)
    assert st.filter_cell(k, 0) == 3, "the image shown is in the cell: it stays"
    assert st.listed() == [1, 3] and set(conf.image_ids[k][0]) == {1, 3}, "false alarms taken for cats, worst first"
    assert st.filter_text() == "<b>background</b> predicted as <b>cat</b>: 2 image(s)"
    assert st.filter_cell(None) == 3 and st.listed() == [1, 2, 3] and st.filter_text() == "All images, worst first"
    assert st.filter_cell(2, 2) is None and st.listed() == [], "an empty cell: nothing to show"
    assert st.short_name("a very long class name") == "a very long…" and st.short_name("dog") == "dog"


def test_the_image_shown(preds, tmp_path):
    st = predicted(preds)
    assert st.image_file() == tmp_path / "images" / "im1.jpg"
    assert not st.show_image(1), "the same image: its picture is not read again"
    assert st.show_image(2) and st.image_id == 2
    assert st.title() == "Predictions · im2.jpg"
    st.mode = OVERLAID
    assert st.title() == "Ground truth (dashed) and predictions · im2.jpg"
    assert st.class_names() == {CAT: "cat", DOG: "dog"}
    assert st.labelled()
    st.clear_image()
    assert st.image_id is None and st.image_file() is None


def test_tags_only_on_the_selected_prediction_when_there_are_many(preds):
    many = _dets([(i, i, i + 5, i + 5, 0.9 - i / 1000, 1) for i in range(MAX_LABELLED + 1)])
    preds.detections[2] = many
    st = predicted(preds, score=0.25)
    st.show_image(2)
    assert len(st.visible_detections()) == MAX_LABELLED + 1 and not st.labelled()


def test_buttons(preds):
    st = predicted(preds)
    b = st.buttons(predicting=False, writing=False, selected=False)
    assert b.run and not b.cancel and not b.accept and not b.write
    b = st.buttons(predicting=False, writing=False, selected=True)
    assert b.accept and b.write
    b = st.buttons(predicting=False, writing=True, selected=True)
    assert b.accept and not b.write, "one write at a time"
    b = st.buttons(predicting=True, writing=False, selected=False)
    assert not b.run and b.cancel
    st.preds = None
    assert not st.buttons(predicting=False, writing=False, selected=True).accept


def test_proposals_and_writing_them(preds, tmp_path):
    st = predicted(preds)
    st.show_image(1)
    props = st.proposals([0, 2])
    assert [(p.image_id, p.category_id, p.shape) for p in props] == [
        (1, CAT, [10.0, 10.0, 20.0, 20.0]),
        (1, CAT, [80.0, 0.0, 10.0, 10.0]),
    ]
    assert st.written(props, preds) == "Added 2 annotation(s) to val.json."
    assert st.proposals([]) == []


def test_sending_to_the_editor_names_the_val_file_the_predictions_were_made_on(preds, tmp_path):
    """The editor may show another file (or none): what is sent says which file and image the shapes belong to,
    the val set of the predictions (the run's, or the one its checkpoint's config names), not the slider's source."""
    st = predicted(preds)
    st.val_ann = None  # the source named no file: the config's val set, which predicting resolved
    st.show_image(3)
    sent = st.to_editor([1, 0])
    assert sent.ann == tmp_path / "val.json" and sent.images_dir == tmp_path / "images"
    assert (sent.image_id, sent.file_name) == (3, "im3.jpg")
    assert [(p.image_id, p.category_id, p.shape) for p in sent.proposals] == [
        (3, CAT, [0.0, 0.0, 5.0, 5.0]),
        (3, DOG, [30.0, 30.0, 10.0, 10.0]),
    ]
    prov = sent.proposals[0].provenance  # a person picked them: the model's, accepted, with score and checkpoint
    assert (prov["source"], prov["status"], prov["checkpoint"]) == ("model", "accepted", st.preds.checkpoint.name)
    assert prov["score"] == pytest.approx(float(st.preds.detections[3].scores[1]), abs=1e-5)
    assert st.sent_text(sent) == "Sent 2 prediction(s) of im3.jpg to the editor (val.json)."
    assert st.to_editor([]) is None, "nothing selected: nothing to send"
