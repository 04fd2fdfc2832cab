"""The training charts draw decimated curves, reuse their items across runs and follow a filling history."""

from __future__ import annotations

import numpy as np

from studio.core.training.events import EpochEnd, IterationEnd, RunStarted
from studio.core.training.history import RunHistory
from studio.gui.train.charts import TrainCharts


def _history(n: int, terms=("loss_a", "loss_b")) -> RunHistory:
    import numpy as np

    h = RunHistory()
    h.add(RunStarted("r", "seg_lite", "segm", ("x", "y"), 0, 2, n, 2, "cpu", 1, False, "segm_mAP"))
    for g in range(1, n + 1):
        h._add(IterationEnd(1, g, g, n, {t: 1.0 / g for t in terms}, 2.0 / g, 0.01, 5.0, g, 0.0))
    h.add(
        EpochEnd(
            1, 2, {}, {"segm_mAP": 0.3, "bbox_mAP": 0.4}, {"segm": np.array([0.2, 0.4])}, 0.3, 0.3, 1, True, 1.0, 1.0
        )
    )
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


def test_x_extent_moves_in_nice_steps_and_stops_at_the_planned_epochs():
    from studio.gui.train.charts import x_extent

    assert x_extent(0.05) == 0.05 and x_extent(0.051) == 0.06 and x_extent(0.13) == 0.15
    assert x_extent(3.0) == 3.0 and x_extent(3.01) == 4.0 and x_extent(81.0) == 100.0
    assert x_extent(7.3, planned=7) == 8.0  # past the plan (an extension being written): nice steps again
    assert x_extent(6.5, planned=7) == 7.0 and x_extent(0.3, planned=7) == 0.3
    assert x_extent(6.5, planned=100, live=False) == 6.5  # an ended run fits its data
    steps = {x_extent(x, planned=300) for x in np.linspace(0.01, 300, 30_000)}
    assert len(steps) <= 11 * 5  # ~11 per decade, not one per iteration


def test_a_live_redraw_sets_only_what_changed_and_never_re_lays_out_the_plots(qtbot):
    c = TrainCharts()
    qtbot.addWidget(c)
    c.timer.stop()
    c.resize(900, 500)
    c.show()
    h = RunHistory()
    c.show_history(h)
    qtbot.wait(50)
    boxes = [p.getViewBox() for p in (c.loss_plot, c.lr_plot, c.metric_plot, c.ap_plot)]
    geometry = [vb.sceneBoundingRect() for vb in boxes]
    h.add(RunStarted("r", "seg_lite", "segm", ("x", "y"), 0, 3, 100, 2, "cpu", 1, False, "segm_mAP"))
    for g in range(1, 301):
        h.add(
            IterationEnd(
                (g - 1) // 100 + 1,
                (g - 1) % 100 + 1,
                g,
                100,
                {"loss_a": 1.0 / g, "loss_b": 10.0 ** (g % 7)},
                1.0 / g,
                1e-4 * g,
                5.0,
                g,
                0.0,
            )
        )
        if g % 100 == 0:
            h.add(
                EpochEnd(
                    g // 100,
                    3,
                    {},
                    {"segm_mAP": 0.1 * g / 100, "segm_mAP_50": 0.2},
                    {"segm": np.array([0.2, 0.4])},
                    0.3,
                    0.3,
                    1,
                    True,
                    1.0,
                    1.0,
                )
            )
        if g % 20 == 0:
            c.refresh()
            c.view.viewport().repaint()  # tick labels are laid out while painting
            qtbot.wait(1)  # and a re-layout would happen here
    # tick labels from 1e-6 to 1e6, a longer title, new legend rows: the four plots kept their places
    assert [vb.sceneBoundingRect() for vb in boxes] == geometry
    metric = c._curves[("metric", "segm_mAP")]
    before = metric.getData()[0]
    h.add(IterationEnd(4, 1, 301, 100, {"loss_a": 0.5, "loss_b": 0.5}, 1.0, 1e-4, 5.0, 301, 0.0))
    c.refresh()
    assert metric.getData()[0] is before  # no new validation: that curve was not set again
    assert len(c._curves[("loss", "loss")].getData()[0]) == 301
    lo, hi = c.loss_plot.getViewBox().viewRange()[0]
    assert hi >= 3.0 and lo <= 0.0  # the x axis spans the planned run, not just the points so far


def test_every_spike_of_a_long_curve_reaches_the_chart(qtbot):
    c = TrainCharts()
    qtbot.addWidget(c)
    c.timer.stop()
    c.resize(900, 500)
    c.show()
    h = RunHistory()
    h.add(RunStarted("r", "seg_lite", "segm", ("x", "y"), 0, 1, 60_000, 2, "cpu", 1, False, "segm_mAP"))
    spikes = {777: 50.0, 31_001: -4.0, 59_990: 80.0}
    for g in range(1, 60_001):
        v = spikes.get(g, 1.0 + 0.1 * np.sin(g / 50))
        h._add(IterationEnd(1, g, g, 60_000, {"loss_a": v}, v, 0.01, 5.0, g, 0.0))
    h.version += 1
    c.show_history(h)
    x, y = c._curves[("loss", "loss_a")].getData()
    assert len(x) < 1500 and set(spikes.values()) <= set(y.tolist())
