"""Qt wrappers of the per-class colours in :mod:`studio.core.palette`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from studio.core import palette as _core
from studio.core.palette import PALETTE  # noqa: F401  (one table: GUI and drawn PNGs agree)

SELECTION = QColor(_core.SELECTION)
IGNORE = QColor(_core.IGNORE)
ERROR = QColor(_core.ERROR)
WARNING = QColor(_core.WARNING)
OK = QColor(_core.OK)


def class_color(category_id: Any) -> QColor:
    """The colour of a category: ids 0, 1, 2... walk the palette in order; other ids hash into it."""
    return QColor(_core.class_color_hex(category_id))


def text_color_on(bg: QColor) -> QColor:
    """Black or white, whichever reads better on ``bg``."""
    r, g, b = _core.text_color_on((bg.red(), bg.green(), bg.blue()))
    return QColor(r, g, b)


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
