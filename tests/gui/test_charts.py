"""The training charts draw decimated curves, reuse their items across runs and follow a filling history."""

from __future__ import annotations

from studio.core.training.events import EpochEnd, IterationEnd, RunStarted
from studio.core.training.history import RunHistory
from studio.gui.charts import TrainCharts


def _history(n: int, terms=("loss_a", "loss_b")) -> RunHistory:
    import numpy as np

    h = RunHistory()
    h.add(RunStarted("r", "seg_lite", "segm", ("x", "y"), 0, 2, n, 2, "cpu", 1, False, "segm_mAP"))
    for g in range(1, n + 1):
        h._add(IterationEnd(1, g, g, n, {t: 1.0 / g for t in terms}, 2.0 / g, 0.01, 5.0, g, 0.0))
    h.add(EpochEnd(1, 2, {}, {"segm_mAP": 0.3, "bbox_mAP": 0.4}, {"segm": np.array([0.2, 0.4])}, 0.3, 0.3, 1, True, 1.0, 1.0))
    return h


def test_curves_are_decimated_and_items_reused(qtbot):
    c = TrainCharts()
    qtbot.addWidget(c)
    c.resize(900, 500)
    c.show()
    h1 = _history(50_000)
    c.show_history(h1)
    total = c._curves[("loss", "loss")]
    x, _y = total.getData()
    assert 0 < len(x) <= 2 * 450 + 10  # two points per two pixel columns, not 50,000
    assert ("metric", "segm_mAP") in c._curves and len(c._ap_items) == 1
    c.show_history(_history(100))
    assert c._curves[("loss", "loss")] is total and len(total.getData()[0]) == 100  # same item, new data
    c.show_history(_history(10, terms=("loss_c",)))
    assert ("loss", "loss_a") not in c._curves and ("loss", "loss_c") in c._curves


def test_a_live_history_redraws_only_when_it_changed(qtbot):
    c = TrainCharts()
    qtbot.addWidget(c)
    h = _history(5)
    c.show_history(h)
    n = c.redraws
    c.refresh()
    assert c.redraws == n
    h.add(IterationEnd(2, 1, 6, 5, {"loss_a": 0.1}, 0.1, 0.01, 5.0, 6, 0.0))
    qtbot.waitUntil(lambda: c.redraws > n, timeout=2000)  # the 15 Hz timer picked it up
    assert len(c._curves[("loss", "loss")].getData()[0]) == 6
