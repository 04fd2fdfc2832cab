"""Live training charts (pyqtgraph): loss terms, learning rate, validation mAP, per-class AP.

The charts draw from a :class:`RunHistory`'s numpy arrays. A timer redraws at 15 Hz, and only when the
history's version moved, so a fast GPU run sending 100 iterations a second costs 15 redraws. Each curve
is cut to the visible x range and peak-decimated to two points per pixel column before it reaches
pyqtgraph (:func:`studio.core.training.history.peak_decimate`), so a 100,000-point loss curve draws as
~2,000 points with every spike kept (bench/gui_train.py); zooming in redraws at full detail. In
comparison mode several runs overlay: total loss, lr and the val metric per run.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.training.history import RunHistory, Series

REFRESH_MS = 66  # 15 Hz
COLORS = ["#4c8dff", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
TOTAL_COLOR = "#f0f0f0"


def _pen(color: str, width: float = 1.5, dashed: bool = False):
    return pg.mkPen(color, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)


def _plot(title: str, y_label: str) -> pg.PlotItem:
    p = pg.PlotItem(title=title)
    # no grid: its alpha-blended lines double the repaint time of the four charts (bench/gui_train.py)
    p.setLabel("bottom", "epoch")
    p.setLabel("left", y_label)
    p.addLegend(offset=(-8, 8), labelTextSize="8pt", brush=pg.mkBrush(30, 32, 36, 180))
    p.setMenuEnabled(False)
    return p


class TrainCharts(QWidget):
    """Loss / lr / metric plots for one run (live or replayed), or an overlay of several runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="#1e2024", foreground="#c8cad0")
        self.view = pg.GraphicsLayoutWidget()
        self.loss_plot = _plot("Loss", "loss")
        self.lr_plot = _plot("Learning rate", "lr")
        self.metric_plot = _plot("Validation", "mAP")
        self.ap_plot = _plot("Per-class AP", "AP")
        self.ap_plot.setLabel("bottom", "class")
        self.view.addItem(self.loss_plot, 0, 0)
        self.view.addItem(self.metric_plot, 0, 1)
        self.view.addItem(self.lr_plot, 1, 0)
        self.view.addItem(self.ap_plot, 1, 1)
        self.lr_plot.setXLink(self.loss_plot)
        for p in (self.loss_plot, self.lr_plot):  # a zoom or pan redraws at the new detail
            p.getViewBox().sigRangeChangedManually.connect(self._invalidate)
        self.metric_plot.setYRange(0, 1, padding=0.02)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.history: RunHistory | None = None
        self.compared: list[tuple[str, RunHistory]] = []
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self._ap_items: list = []
        self._ap_key = None  # what the bars show: (history id, epoch), "compare" or None
        self._used: set[tuple[str, str]] = set()
        self._drawn = -1
        self.per_class_visible = True
        self.decimate = True  # off: hand every point to pyqtgraph and its own downsampling (the bench's baseline)
        self.redraws = 0  # for tests and the bench
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    # ------------------------------------------------------------------ what to show
    def show_history(self, history: RunHistory | None) -> None:
        """Show one run; ``history`` may still be filling (a live run)."""
        if history is self.history and history is not None and not self.compared:
            return
        self.compared = []
        self.history = history
        self._reset()

    def compare(self, runs: list[tuple[str, RunHistory]]) -> None:
        """Overlay several runs (name, history): their total loss, lr and val metric."""
        self.history = None
        self.compared = list(runs)
        self._reset()

    def set_per_class_visible(self, visible: bool) -> None:
        self.per_class_visible = visible
        self.ap_plot.setVisible(visible)
        self._drawn = -1

    def _invalidate(self, *_args) -> None:
        self._drawn = -1  # the timer redraws at its next tick

    def _window(self, plot: pg.PlotItem) -> tuple[float, float, int]:
        """The x range to draw (everything while auto-ranging) and the plot's width in pixels."""
        vb = plot.getViewBox()
        bins = max(200, int(vb.width()) // 2)  # a min and a max per two pixel columns
        if vb.autoRangeEnabled()[0]:
            return -np.inf, np.inf, bins
        x0, x1 = vb.viewRange()[0]
        return x0, x1, bins

    def _points(self, series: Series, x0: float, x1: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
        return series.decimated(x0, x1, bins) if self.decimate else series.xy()

    def _reset(self) -> None:
        """Redraw for new content. Curve items are kept and refilled where the keys match (another run of
        the same model has the same loss terms): creating pyqtgraph items and legend rows is the slow part."""
        self._ap_key = None
        self._drawn = -1
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def _curve(self, plot: pg.PlotItem, key: tuple[str, str], name: str, pen, symbol: str | None = None) -> pg.PlotDataItem:
        self._used.add(key)
        c = self._curves.get(key)
        if c is None:
            c = pg.PlotDataItem(name=name, pen=pen, symbol=symbol, symbolSize=6, symbolBrush=pen.color(),
                                symbolPen=None, connect="finite", skipFiniteCheck=False)
            if not self.decimate:
                c.setDownsampling(auto=True, method="peak")
                c.setClipToView(True)
            plot.addItem(c)
            self._curves[key] = c
        return c

    def version(self) -> int:
        if self.history is not None:
            return self.history.version
        return sum(h.version for _n, h in self.compared) + len(self.compared) * 1_000_003

    def refresh(self, force: bool = False) -> None:
        v = self.version()
        if v == self._drawn and not force:
            return
        self._drawn = v
        self.redraws += 1
        self._used = set()
        if self.history is not None:
            self._draw_run(self.history)
        elif self.compared:
            self._draw_comparison()
        else:
            self._ap_key = None
            self._clear_ap()
        for key in [k for k in self._curves if k not in self._used]:  # curves of what is no longer shown
            self._plot_of(key).removeItem(self._curves.pop(key))

    def _plot_of(self, key: tuple[str, str]) -> pg.PlotItem:
        return {"loss": self.loss_plot, "lr": self.lr_plot, "metric": self.metric_plot}[key[0]]

    def _draw_run(self, h: RunHistory) -> None:
        x0, x1, bins = self._window(self.loss_plot)
        with h.lock:  # decimated copies; the trainer thread appends meanwhile
            losses = {k: self._points(s, x0, x1, bins) for k, s in h.losses.items()}
            lr = self._points(h.lr, x0, x1, bins)
            metrics = {k: s.xy() for k, s in h.metrics.items()}
            ap_epoch, ap = h.latest_per_class_ap()
            classes = h.classes
        for i, (k, (x, y)) in enumerate(sorted(losses.items(), key=lambda kv: (kv[0] != "loss", kv[0]))):
            pen = _pen(TOTAL_COLOR, 2.0) if k == "loss" else _pen(COLORS[i % len(COLORS)], 1.2)
            self._curve(self.loss_plot, ("loss", k), "total" if k == "loss" else k.removeprefix("loss_"), pen).setData(x, y)
        self._curve(self.lr_plot, ("lr", "lr"), "lr", _pen(COLORS[1])).setData(*lr)
        shown = [k for k in sorted(metrics) if k.endswith(("_mAP", "_mAP_50"))]
        for i, k in enumerate(shown):
            pen = _pen(COLORS[(i // 2) % len(COLORS)], 1.8, dashed=k.endswith("_50"))
            self._curve(self.metric_plot, ("metric", k), k, pen, symbol="o").setData(*metrics[k])
        if self.per_class_visible:
            self._draw_per_class(ap_epoch, ap, classes)

    def _draw_comparison(self) -> None:
        x0, x1, bins = self._window(self.loss_plot)
        for i, (name, h) in enumerate(self.compared):
            color = COLORS[i % len(COLORS)]
            with h.lock:
                loss = self._points(h.losses["loss"], x0, x1, bins) if "loss" in h.losses else (np.empty(0), np.empty(0))
                lr = self._points(h.lr, x0, x1, bins)
                metric = h.metric_curve()
                mxy = metric.xy() if metric is not None else (np.empty(0), np.empty(0))
                mname = h.metric_name or "metric"
            self._curve(self.loss_plot, ("loss", name), name, _pen(color)).setData(*loss)
            self._curve(self.lr_plot, ("lr", name), name, _pen(color)).setData(*lr)
            self._curve(self.metric_plot, ("metric", name), f"{name} {mname}", _pen(color, 1.8), symbol="o").setData(*mxy)
        if self._ap_key != "compare":
            self._ap_key = "compare"
            self._clear_ap()
            self.ap_plot.setTitle("Per-class AP (one run at a time)")

    def _clear_ap(self) -> None:
        for it in self._ap_items:
            self.ap_plot.removeItem(it)
        self._ap_items = []

    def _draw_per_class(self, epoch: int | None, ap: dict[str, np.ndarray], classes: tuple[str, ...]) -> None:
        key = (id(self.history), epoch)
        if key == self._ap_key:  # bars change once per validation, not with every iteration
            return
        self._ap_key = key
        self._clear_ap()
        if epoch is None or not ap:
            self.ap_plot.setTitle("Per-class AP (after the first validation)")
            return
        self.ap_plot.setTitle(f"Per-class AP@[.5:.95], epoch {epoch}")
        kinds = sorted(ap)
        width = 0.8 / len(kinds)
        for j, kind in enumerate(kinds):
            vals = np.nan_to_num(ap[kind], nan=0.0)
            x = np.arange(len(vals)) + (j - (len(kinds) - 1) / 2) * width
            bars = pg.BarGraphItem(x=x, height=vals, width=width * 0.9, brush=COLORS[j % len(COLORS)], name=kind)
            self.ap_plot.addItem(bars)
            self._ap_items.append(bars)
        ticks = [(i, c if len(c) <= 12 else c[:11] + "…") for i, c in enumerate(classes)]
        self.ap_plot.getAxis("bottom").setTicks([ticks])
        self.ap_plot.setYRange(0, 1, padding=0.02)
