"""The F1-versus-score chart of the Predictions tab, with the threshold where F1 is highest and a button that
puts it on the tab's score slider.

"All classes" draws every class's F1 thin and their mean thick, as ``f1_curve.png`` does; one class draws its
F1 with its precision and recall. A dashed line marks where the F1 shown is highest, a solid one the score
slider's threshold, so the user sees how far the slider is from the best cut. What is drawn comes from
:class:`~studio.core.evaluation.f1.F1Curves`; the chart decides nothing.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.evaluation.f1 import F1Curves, Optimum
from studio.gui.inspect.prediction_widgets import CURVE_COLORS

ALL_CLASSES = "All classes"
MEAN_COLOR = "#f0f0f0"
CURRENT_COLOR = "#ffe14d"  # not one of the class colours


class F1Chart(QWidget):
    """See the module docstring. ``apply_requested(score)``: the user asked for the F1-optimal threshold."""

    apply_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.curves: F1Curves | None = None
        self.iou_type = ""
        self.best: Optimum | None = None
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The F1 of all classes (each thin, their mean thick) or of one class")
        self.class_combo.currentIndexChanged.connect(lambda _i: self._draw())
        self.best_label = QLabel()
        self.best_label.setTextFormat(Qt.TextFormat.RichText)
        self.apply_button = QPushButton("Use best")
        self.apply_button.setToolTip("Set the score slider to the threshold where this F1 is highest")
        self.apply_button.clicked.connect(self._apply)
        pg.setConfigOptions(antialias=True, background="#1e2024", foreground="#c8cad0")
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "score threshold")
        self.plot.setLabel("left", "F1")
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setMinimumHeight(180)
        self.legend = self.plot.addLegend(offset=(-6, 6), labelTextSize="8pt", brush=pg.mkBrush(30, 32, 36, 200))
        self.current_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen(CURRENT_COLOR, width=1),
            label="slider",
            labelOpts={"position": 0.06, "color": CURRENT_COLOR, "anchors": [(-0.1, 1), (-0.1, 1)]},
        )
        self.current_line.setToolTip("The score slider's threshold")
        row = QHBoxLayout()
        row.addWidget(self.class_combo)
        row.addWidget(self.best_label, 1)
        row.addWidget(self.apply_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.plot, 1)
        self._draw()

    def show_curves(self, curves: F1Curves | None, iou_type: str) -> None:
        """Show ``curves`` of ``iou_type``; the class chosen stays chosen when the new curves have it."""
        chosen = self.class_combo.currentText()
        self.curves, self.iou_type = curves, iou_type
        names = [c.name for c in curves.classes.get(iou_type, []) if c.f1 is not None] if curves else []
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItems([ALL_CLASSES, *names] if names else [])
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findText(chosen)))
        self.class_combo.blockSignals(False)
        self._draw()

    def set_current(self, score_thr: float) -> None:
        """Where the score slider is."""
        self.current_line.setValue(float(score_thr))

    def selected_class(self) -> str | None:
        """The class shown, None for all classes."""
        text = self.class_combo.currentText()
        return None if text in ("", ALL_CLASSES) else text

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.plot.addItem(self.current_line)
        curves = self.curves
        if curves is None or self.iou_type not in curves.classes:
            self.best = None
            self.best_label.setText("<span style='color:gray'>Predict the val set to see F1 against the score</span>")
            self._update_button()
            return
        x = curves.thresholds
        name = self.selected_class()
        for k, c in enumerate(curves.classes[self.iou_type]):
            if c.f1 is None or (name is not None and c.name != name):
                continue
            color = CURVE_COLORS[k % len(CURVE_COLORS)]
            if name is None:
                self.plot.plot(x, c.f1, pen=pg.mkPen(color, width=1.2), name=c.name)
            else:
                self.plot.plot(x, c.f1, pen=pg.mkPen(color, width=2.5), name="F1")
                dash = Qt.PenStyle.DashLine
                self.plot.plot(x, c.precision, pen=pg.mkPen("#9aa0aa", width=1, style=dash), name="precision")
                self.plot.plot(x, c.recall, pen=pg.mkPen("#9aa0aa", width=1, style=Qt.PenStyle.DotLine), name="recall")
        mean = curves.mean.get(self.iou_type)
        if name is None and mean is not None:
            self.plot.plot(x, mean.f1, pen=pg.mkPen(MEAN_COLOR, width=3), name="mean")
        self.best = curves.best_for(self.iou_type, name)
        if self.best is not None:
            line = pg.InfiniteLine(
                self.best.score, angle=90, pen=pg.mkPen(MEAN_COLOR, width=1, style=Qt.PenStyle.DashLine)
            )
            self.plot.addItem(line)
            b = self.best
            self.best_label.setText(
                f"F1 <b>{b.f1:.2f}</b> at score ≥ <b>{b.score:.2f}</b> "
                f"<span style='color:gray'>(P {b.precision:.2f}, R {b.recall:.2f})</span>"
            )
        else:
            self.best_label.setText("<span style='color:gray'>F1 is 0 at every threshold</span>")
        self._update_button()

    def _update_button(self) -> None:
        self.apply_button.setEnabled(self.best is not None)
        self.apply_button.setText(f"Use {self.best.score:.2f}" if self.best is not None else "Use best")

    def _apply(self) -> None:
        if self.best is not None:
            self.apply_requested.emit(self.best.score)
