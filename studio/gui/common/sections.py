"""Section titles of the pages and dialogs: the title label, a titled box and a title row with its controls."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget


def section_label(text: str) -> QLabel:
    """A section title (object name ``section``, which the style sheet sets in bold)."""
    label = QLabel(text)
    label.setObjectName("section")
    return label


def titled(title: str | QLabel, *widgets: QWidget) -> QWidget:
    """``widgets`` stacked under a section title in a box without margins; the last one takes the spare height.

    ``title``: the text, or a label made with :func:`section_label` that the caller keeps to change later."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(3)
    lay.addWidget(title if isinstance(title, QLabel) else section_label(title))
    for w in widgets[:-1]:
        lay.addWidget(w)
    lay.addWidget(widgets[-1], 1)
    return box


def title_row(title: str, *widgets: QWidget) -> QHBoxLayout:
    """A section title on the left and ``widgets`` (buttons, a combo box) on the right."""
    row = QHBoxLayout()
    row.addWidget(section_label(title))
    row.addStretch(1)
    for w in widgets:
        row.addWidget(w)
    return row
