"""The Predictions tab's F1 / score chart on a hand-made case whose answer is known: it shows the mean and each
class, marks the F1-optimal threshold, and its button puts that threshold on the score slider, which
re-matches (real clicks and keys)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.evaluation import evaluate, pr_curves, to_coco_results
from studio.core.evaluation.f1 import f1_curves
from studio.core.imageio import save_image
from studio.gui.inspect import predictions as predictions_module
from studio.gui.inspect.f1_chart import ALL_CLASSES
from studio.gui.inspect.jobs import ValPredictions
from studio.gui.inspect.predictions import PredictionsPanel

TIMEOUT = 20_000
W, H = 200, 100


def _hand_predictions(folder: Path) -> ValPredictions:
    """ball: 4 objects, detections 0.9 TP, 0.8 FP, 0.7 TP, 0.3 TP (F1 highest, 0.75, at 0.30 and below);
    cup: 1 object found at 0.6 (F1 1 up to 0.60). Mean F1: 0.875 at 0.30."""
    ds = Dataset()
    ball, cup = ds.add_category("ball"), ds.add_category("cup")
    a = ds.add_image("a.png", W, H)["id"]
    b = ds.add_image("b.png", W, H)["id"]
    for im, x in ((a, 10), (a, 110), (b, 10), (b, 110)):
        ds.add_annotation(im, ball, bbox=[x, 10, 40, 40])
    ds.add_annotation(b, cup, bbox=[60, 55, 30, 30])
    for name in ("a.png", "b.png"):
        save_image(folder / name, np.full((H, W, 3), 90, np.uint8))
    cmap = ClassMap((ball, cup), ("ball", "cup"))

    def dets(rows: list[tuple[list[float], float, int]]) -> Detections:
        boxes = np.array([r[0] for r in rows], np.float32)
        return Detections(boxes, np.array([r[1] for r in rows], np.float32), np.array([r[2] for r in rows], np.int64))

    detections = {
        a: dets([([10, 10, 50, 50], 0.9, 1), ([60, 60, 90, 90], 0.8, 1), ([110, 10, 150, 50], 0.7, 1)]),
        b: dets([([12, 10, 52, 50], 0.3, 1), ([60, 55, 90, 85], 0.6, 2)]),
    }
    results = [r for iid, d in detections.items() for r in to_coco_results(d, ds.image(iid), cmap)]
    ev = evaluate(ds, results, class_map=cmap)
    ann = folder / "val.json"
    ds.save(ann)
    return ValPredictions(
        folder / "best.pt", ann, folder, ds, cmap, False, detections, results, ev.metrics, pr_curves(ev), f1_curves(ev)
    )


@pytest.fixture
def panel(qtbot, jobs, tmp_path, monkeypatch):
    preds = _hand_predictions(tmp_path)
    monkeypatch.setattr(predictions_module, "predict_val", lambda *a, **k: preds)
    p = PredictionsPanel(jobs)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    p.set_source(tmp_path / "best.pt")
    qtbot.mouseClick(p.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.matching is not None, timeout=TIMEOUT)
    yield p
    p.stop()


def _open_f1_tab(p, qtbot) -> None:
    bar = p.curve_tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    assert p.curve_tabs.currentWidget() is p.f1_chart


def _counts(p) -> tuple[int, int, int]:
    return p.matching.tp, p.matching.fp, p.matching.fn


def test_the_chart_shows_the_mean_optimum_and_applies_it(panel, qtbot):
    p = panel
    assert p.score_thr == 0.25 and _counts(p) == (4, 1, 1)  # every detection in, one ball never found
    p.score_slider.setFocus()
    qtbot.keyClick(p.score_slider, Qt.Key.Key_End)  # 1.00: nothing kept, all 5 objects missed
    qtbot.waitUntil(lambda: p.matching.score_thr == 1.0, timeout=TIMEOUT)
    assert _counts(p) == (0, 0, 5)
    _open_f1_tab(p, qtbot)
    chart = p.f1_chart
    assert [chart.class_combo.itemText(i) for i in range(chart.class_combo.count())] == [ALL_CLASSES, "ball", "cup"]
    assert "F1 <b>0.88</b> at score ≥ <b>0.30</b>" in chart.best_label.text()
    assert chart.apply_button.text() == "Use 0.30" and chart.apply_button.isEnabled()
    drawn = [c.name() for c in chart.plot.getPlotItem().listDataItems()]
    assert drawn == ["ball", "cup", "mean"]
    assert chart.current_line.value() == pytest.approx(1.0)

    qtbot.mouseClick(chart.apply_button, Qt.MouseButton.LeftButton)
    assert p.score_slider.value() == 30 and p.score_label.text() == "0.30"
    qtbot.waitUntil(lambda: p.matching.score_thr == 0.3, timeout=TIMEOUT)
    assert _counts(p) == (4, 1, 1)  # ball 0.9, 0.7, 0.3 and the cup; the 0.8 false alarm; one ball missed
    assert chart.current_line.value() == pytest.approx(0.3)


def test_one_class_has_its_own_optimum(panel, qtbot):
    p = panel
    _open_f1_tab(p, qtbot)
    chart = p.f1_chart
    chart.class_combo.setFocus()
    qtbot.keyClick(chart.class_combo, Qt.Key.Key_Down)  # ball
    qtbot.keyClick(chart.class_combo, Qt.Key.Key_Down)  # cup
    assert chart.selected_class() == "cup"
    assert [c.name() for c in chart.plot.getPlotItem().listDataItems()] == ["F1", "precision", "recall"]
    assert chart.apply_button.text() == "Use 0.60" and "F1 <b>1.00</b>" in chart.best_label.text()
    qtbot.mouseClick(chart.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.matching.score_thr == 0.6, timeout=TIMEOUT)
    assert _counts(p) == (3, 1, 2)  # ball 0.9, 0.7 and the cup found; the 0.8 false alarm; 2 balls missed

    # the class stays chosen when the curves are shown again (another IoU type, or new predictions)
    p.iou_type_combo.currentIndexChanged.emit(0)
    assert chart.selected_class() == "cup"
    if os.environ.get("STUDIO_SHOTS"):
        p.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "inspect_f1_cup.png"))


def test_nothing_to_apply_before_predicting(qtbot, jobs):
    p = PredictionsPanel(jobs)
    qtbot.addWidget(p)
    chart = p.f1_chart
    assert not chart.apply_button.isEnabled() and chart.class_combo.count() == 0
    assert "Predict the val set" in chart.best_label.text()
