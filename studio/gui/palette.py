"""Fixed, distinct per-class colours, keyed by category id."""

from __future__ import annotations

import zlib
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

# Distinct colours (after Sasha Trubetskoy's list) without yellow, which marks the selection.
PALETTE: tuple[str, ...] = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
    "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000",
    "#ffd8b1", "#000075", "#a9a9a9",
)

SELECTION = QColor("#ffd60a")
IGNORE = QColor(150, 150, 150)
ERROR = QColor("#d62828")
WARNING = QColor("#f77f00")
OK = QColor("#2a9d3f")


def class_color(category_id: Any) -> QColor:
    """The colour of a category: ids 0, 1, 2... walk the palette in order; other ids hash into it."""
    if isinstance(category_id, int):
        idx = category_id % len(PALETTE)
    else:
        idx = zlib.crc32(str(category_id).encode()) % len(PALETTE)
    return QColor(PALETTE[idx])


def text_color_on(bg: QColor) -> QColor:
    """Black or white, whichever reads better on ``bg``."""
    lum = 0.299 * bg.red() + 0.587 * bg.green() + 0.114 * bg.blue()
    return QColor(Qt.GlobalColor.black) if lum > 150 else QColor(Qt.GlobalColor.white)


def dot_icon(color: QColor, size: int = 12) -> QIcon:
    """A filled circle, used as a class swatch or a severity marker."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(color.darker(140))
    p.setBrush(color)
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pm)
