"""Live training charts (pyqtgraph): loss terms, learning rate, validation mAP, per-class AP.

The charts draw from a :class:`RunHistory`'s numpy arrays. A timer redraws at 15 Hz, and only when the
history's version moved, so a fast GPU run sending 100 iterations a second costs 15 redraws. Each curve
is cut to the visible x range and peak-decimated to about two points per two pixel columns before it
reaches pyqtgraph (:meth:`studio.core.training.history.Series.decimated`, a min/max pyramid: O(bins)
per redraw, not O(points)), so a 100,000-point loss curve draws as ~400 points with every spike kept;
zooming in redraws at full detail. What makes a redraw cheap (bench/gui_train.py: ~3 ms for 100,000
points x 8 curves): curves whose data did not change are not set again; dense curves are bare
PlotCurveItems with 1 px pens (one QPainterPath each; only the total loss is 2 px); while following a
run the x axis grows in nice steps (:func:`x_extent`) instead of with every iteration, and the y axes
have fixed widths, so new points rarely move an axis and never re-lay out the four plots (a moved axis
regenerates its ticks and labels: the costliest part of a redraw). In comparison mode several runs
overlay: total loss, lr and the val metric per run.
"""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.training.history import RunHistory, Series

REFRESH_MS = 66  # 15 Hz
COLORS = ["#4c8dff", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
TOTAL_COLOR = "#f0f0f0"


@functools.cache
def _pen(color: str, width: float = 1.0, dashed: bool = False):
    """Dense curves use 1 px pens: Qt strokes a wider pen segment by segment (pyqtgraph's drawLines),
    about 4x the time of a 1 px path; only the total loss keeps 2 px (bench/gui_train.py)."""
    return pg.mkPen(color, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)


def _plot(title: str, y_label: str, widest_tick: str) -> pg.PlotItem:
    p = pg.PlotItem(title=title)
    # no grid: its alpha-blended lines double the repaint time of the four charts (bench/gui_train.py)
    p.setLabel("bottom", "epoch")
    p.getAxis("bottom").enableAutoSIPrefix(False)  # "0.25" early in a run, not "250" and "epoch (x0.001)"
    p.setLabel("left", y_label)
    _fix_width(p.getAxis("left"), widest_tick)
    p.addLegend(
        offset=(-8, 8), labelTextSize="8pt", brush=pg.mkBrush(30, 32, 36, 180)
    )  # translucent: no spike hides behind it
    p.setMenuEnabled(False)
    return p


NICE_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def x_extent(x_last: float, planned: float | None = None, live: bool = True) -> float:
    """How far the loss and lr plots' x axis reaches while it follows a run (auto-range).

    An ended run: its last x. A live one: the next nice number at or above its last x (1, 1.2, 1.5, 2,
    2.5, 3, 4, 5, 6, 8 x 10^k), or the run's planned epochs when that is nearer, so the axis moves about
    11 times per decade of training instead of with every iteration (a moved axis regenerates its ticks
    and labels, the costliest part of a redraw after painting the curves).
    """
    if not live or x_last <= 0 or not np.isfinite(x_last):
        return float(x_last)
    k = int(np.floor(np.log10(x_last)))
    steps = [float(f"{m}e{k}") for m in NICE_STEPS] + [float(f"1e{k + 1}")]  # exact decimals: 0.15, not 0.1 * 1.5
    nice = next(v for v in steps if v >= x_last * (1 - 1e-9))
    if planned is not None and x_last <= planned:
        return float(min(nice, planned))
    return float(nice)


class _Extent(pg.GraphicsObject):
    """Invisible; its x bounds are [0, extent], so auto-range spans the run's :func:`x_extent`."""

    def __init__(self):
        super().__init__()
        self.extent: float | None = None
        self.setFlag(self.GraphicsItemFlag.ItemHasNoContents)

    def set_extent(self, extent: float | None) -> None:
        if extent != self.extent:
            self.extent = extent
            self.informViewBoundsChanged()

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        return (0.0, self.extent) if ax == 0 and self.extent else None

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(self, *_args) -> None:
        pass


def _fix_width(axis: pg.AxisItem, widest_tick: str) -> None:
    """Give a y axis a fixed width, room for ``widest_tick``. Left to itself, an axis widens or narrows
    with its tick labels, and that re-lays out all four plots, regenerating every axis (~30 ms of the
    GUI thread at a run's first iterations, bench/gui_train.py); a fixed width also lines up the x axes
    of the loss and lr plots."""
    fm = QFontMetrics(axis.style["tickFont"] or QFont())
    label = axis.label.boundingRect().height() * 0.8 if axis.label.isVisible() else 0.0
    axis.setWidth(
        int(
            np.ceil(
                fm.horizontalAdvance(widest_tick)
                + axis.style["tickTextOffset"][0]
                + max(0, axis.style["tickLength"])
                + label
            )
        )
    )


class _Curve(pg.PlotCurveItem):
    """A PlotCurveItem whose data bounds are two numpy reductions: auto-range asks every curve for
    them on each redraw, and pyqtgraph's general version (warning filters, percentile branches)
    costs more than the reductions themselves."""

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        if frac < 1.0 or orthoRange is not None:
            return super().dataBounds(ax, frac, orthoRange)
        cache = self._boundsCache[ax]
        if cache is not None and cache[0] == (frac, orthoRange):
            return cache[1]
        d = self.xData if ax == 0 else self.yData
        if d is None or not len(d):
            return None, None
        lo, hi = float(np.fmin.reduce(d)), float(np.fmax.reduce(d))  # NaN-skipping
        b = (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else (None, None)
        self._boundsCache[ax] = [(frac, orthoRange), b]
        return b


class TrainCharts(QWidget):
    """Loss / lr / metric plots for one run (live or replayed), or an overlay of several runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="#1e2024", foreground="#c8cad0")
        self.view = pg.GraphicsLayoutWidget()
        self.loss_plot = _plot("Loss", "loss", "0.0000")
        self.lr_plot = _plot("Learning rate", "lr", "0.0000")
        self.metric_plot = _plot("Validation", "mAP", "0.00")
        self.ap_plot = _plot("Per-class AP", "AP@[.5:.95]", "0.00")
        self.ap_plot.setLabel(
            "bottom", "class"
        )  # what the bars show goes here: a changed title would re-lay out all four plots
        self.view.addItem(self.loss_plot, 0, 0)
        self.view.addItem(self.metric_plot, 0, 1)
        self.view.addItem(self.lr_plot, 1, 0)
        self.view.addItem(self.ap_plot, 1, 1)
        self.lr_plot.setXLink(self.loss_plot)
        self._extents = (_Extent(), _Extent())
        self.loss_plot.addItem(self._extents[0])
        self.lr_plot.addItem(self._extents[1])
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
        self._stamps: dict[tuple[str, str], tuple] = {}  # what each curve shows: unchanged curves are not set again
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

    def _points(self, key: tuple[str, str], series: Series, window: tuple[float, float, int] | None):
        """The (x, y) to give curve ``key``: ``series`` decimated to ``window`` (x0, x1, bins), or all its
        points when ``window`` is None; None when the curve already shows exactly that."""
        stamp = (id(series), series.stamp, window if self.decimate else None)
        if self._stamps.get(key) == stamp:
            return None
        self._stamps[key] = stamp
        if window is None or not self.decimate:
            return series.xy()
        return series.decimated(*window)

    def _reset(self) -> None:
        """Redraw for new content. Curve items are kept and refilled where the keys match (another run of
        the same model has the same loss terms): creating pyqtgraph items and legend rows is the slow part."""
        self._ap_key = None
        self._drawn = -1
        self._stamps.clear()  # series of another history may reuse an id
        self.refresh()

    # ------------------------------------------------------------------ drawing
    def _curve(self, plot: pg.PlotItem, key: tuple[str, str], name: str, pen, symbol: str | None = None):
        """The item of curve ``key``, created on first use: a bare PlotCurveItem for a decimated line (a
        PlotDataItem adds a layer of Python to every setData), a PlotDataItem for symbols and the baseline."""
        self._used.add(key)
        c = self._curves.get(key)
        if c is None:
            if symbol is None and self.decimate:
                c = _Curve(name=name, pen=pen, connect="finite", skipFiniteCheck=False)
            else:
                c = pg.PlotDataItem(
                    name=name,
                    pen=pen,
                    symbol=symbol,
                    symbolSize=6,
                    symbolBrush=pen.color(),
                    symbolPen=None,
                    connect="finite",
                    skipFiniteCheck=False,
                )
            if not self.decimate:
                c.setDownsampling(auto=True, method="peak")
                c.setClipToView(True)
            plot.addItem(c)
            self._curves[key] = c
        return c

    def _set(self, plot: pg.PlotItem, key: tuple[str, str], name: str, pen, data, symbol: str | None = None) -> None:
        c = self._curve(plot, key, name, pen, symbol)
        if data is not None:
            c.setData(*data)

    def version(self) -> int:
        if self.history is not None:
            return self.history.version
        return sum(h.version for _n, h in self.compared) + len(self.compared) * 1_000_003

    def refresh(self, force: bool = False) -> None:
        v = self.version()
        if v == self._drawn and not force:
            return
        if force:
            self._stamps.clear()
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
            self._stamps.pop(key, None)

    def _plot_of(self, key: tuple[str, str]) -> pg.PlotItem:
        return {"loss": self.loss_plot, "lr": self.lr_plot, "metric": self.metric_plot}[key[0]]

    def _draw_run(self, h: RunHistory) -> None:
        win = self._window(self.loss_plot)
        with h.lock:  # decimated copies; the trainer thread appends meanwhile
            losses = {k: self._points(("loss", k), s, win) for k, s in h.losses.items()}
            lr = self._points(("lr", "lr"), h.lr, win)
            metrics = {k: self._points(("metric", k), s, None) for k, s in h.metrics.items()}
            ap_epoch, ap = h.latest_per_class_ap()
            classes = h.classes
            extent = self._extent_of(h)
        self._set_extent(extent)
        for i, (k, data) in enumerate(sorted(losses.items(), key=lambda kv: (kv[0] != "loss", kv[0]))):
            pen = _pen(TOTAL_COLOR, 2.0) if k == "loss" else _pen(COLORS[i % len(COLORS)])
            self._set(self.loss_plot, ("loss", k), "total" if k == "loss" else k.removeprefix("loss_"), pen, data)
        self._set(self.lr_plot, ("lr", "lr"), "lr", _pen(COLORS[1]), lr)
        shown = [k for k in sorted(metrics) if k.endswith(("_mAP", "_mAP_50"))]
        for i, k in enumerate(shown):
            pen = _pen(COLORS[(i // 2) % len(COLORS)], 1.8, dashed=k.endswith("_50"))
            self._set(self.metric_plot, ("metric", k), k, pen, metrics[k], symbol="o")
        if self.per_class_visible:
            self._draw_per_class(ap_epoch, ap, classes)

    def _draw_comparison(self) -> None:
        win = self._window(self.loss_plot)
        empty = Series(0)  # a run without that curve (yet)
        extents = []
        for i, (name, h) in enumerate(self.compared):
            color = COLORS[i % len(COLORS)]
            with h.lock:
                loss = self._points(("loss", name), h.losses.get("loss", empty), win)
                lr = self._points(("lr", name), h.lr, win)
                metric = self._points(("metric", name), h.metric_curve() or empty, None)
                mname = h.metric_name or "metric"
                extents.append(self._extent_of(h))
            self._set(self.loss_plot, ("loss", name), name, _pen(color), loss)
            self._set(self.lr_plot, ("lr", name), name, _pen(color), lr)
            self._set(self.metric_plot, ("metric", name), f"{name} {mname}", _pen(color, 1.8), metric, symbol="o")
        self._set_extent(max((e for e in extents if e), default=None))
        if self._ap_key != "compare":
            self._ap_key = "compare"
            self._clear_ap()
            self.ap_plot.setLabel("bottom", "class (one run at a time)")

    @staticmethod
    def _extent_of(h: RunHistory) -> float | None:
        s = h.losses.get("loss")
        if s is None or not len(s):
            return None
        return x_extent(float(s.x[len(s) - 1]), h.started.epochs if h.started else None, live=h.outcome is None)

    def _set_extent(self, extent: float | None) -> None:
        for e in self._extents:
            e.set_extent(extent if self.decimate else None)

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
            self.ap_plot.setLabel("bottom", "class (after the first validation)")
            return
        self.ap_plot.setLabel("bottom", f"class (epoch {epoch})")
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
