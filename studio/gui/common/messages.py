"""Message lines of dialogs and pages: HTML-escaped rich text in the palette's colours, and the label they go in."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

from studio.gui.common import palette


def colored(text: str, color: QColor, bold: bool = False) -> str:
    """``text`` HTML-escaped in ``color`` (rich-text labels)."""
    weight = "; font-weight:600" if bold else ""
    return f'<span style="color:{color.name()}{weight}">{html.escape(text)}</span>'


def error_html(message: str) -> str:
    return colored(message, palette.ERROR, bold=True)


def warning_color() -> QColor:
    return palette.WARNING.darker(125)  # the palette's orange is for icons; text needs more contrast


def status_label() -> QLabel:
    """The line under a dialog where results and errors appear (rich text, selectable to copy)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
