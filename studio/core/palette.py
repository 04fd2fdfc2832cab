"""Fixed, distinct per-class colours, keyed by category id, without Qt.

The GUI (``studio.gui.common.palette``) and the PNGs drawn by ``studio.core.evaluation`` must show a class in
the same colour, so the table and the lookup rule live here in plain Python; the GUI can wrap these
hex strings in ``QColor``.
"""

from __future__ import annotations

import numbers
import zlib
from typing import Any

# Distinct colours (after Sasha Trubetskoy's list) without yellow, which marks the selection.
PALETTE: tuple[str, ...] = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#fabed4",
    "#469990",
    "#dcbeff",
    "#9a6324",
    "#fffac8",
    "#800000",
    "#aaffc3",
    "#808000",
    "#ffd8b1",
    "#000075",
    "#a9a9a9",
)

SELECTION = "#ffd60a"
IGNORE = "#969696"
ERROR = "#d62828"
WARNING = "#f77f00"
OK = "#2a9d3f"


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` -> ``(r, g, b)``."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def class_color_hex(category_id: Any) -> str:
    """The colour of a category: ids 0, 1, 2... walk the palette in order; other ids hash into it."""
    if isinstance(category_id, numbers.Integral):  # numpy integers too, so labels from arrays agree
        idx = int(category_id) % len(PALETTE)
    else:
        idx = zlib.crc32(str(category_id).encode()) % len(PALETTE)
    return PALETTE[idx]


def class_color_rgb(category_id: Any) -> tuple[int, int, int]:
    """:func:`class_color_hex` as an ``(r, g, b)`` tuple of 0..255 ints (for OpenCV on RGB images)."""
    return hex_to_rgb(class_color_hex(category_id))


def text_color_on(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``rgb`` (same luminance rule as the GUI)."""
    r, g, b = rgb
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    return (0, 0, 0) if lum > 150 else (255, 255, 255)
