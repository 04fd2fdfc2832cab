"""The review bar under the editor toolbar, shown while review mode is on: where the review stands ("image 3 / 12
with proposals · 5 pending here · 40 in all") and its buttons, each with the key that does the same.

It only forwards clicks to :class:`~studio.gui.editor.review.ReviewMode` and shows its :meth:`status`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from studio.gui.common import palette
from studio.gui.editor.review import ReviewMode
from studio.gui.shortcuts import keys_text


class ReviewBar(QWidget):
    def __init__(self, review: ReviewMode, parent: QWidget | None = None):
        super().__init__(parent)
        self.review = review
        self.setObjectName("reviewBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        tint = palette.WARNING
        self.setStyleSheet(
            f"#reviewBar {{ background: rgba({tint.red()}, {tint.green()}, {tint.blue()}, 38);"
            f" border: 1px solid rgba({tint.red()}, {tint.green()}, {tint.blue()}, 140); border-radius: 4px; }}"
        )
        self.title = QLabel("Review")
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.status_label = QLabel()
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.leave_button = self._button("Leave review", "Back to the normal editor", review.stop, "review.toggle")
        self.prev_button = self._button("◀ Prev", "The image before with proposals", lambda: review.step(-1))
        self.prev_button.setToolTip(f"The image before with proposals ({keys_text('data.prev_image')})")
        self.next_button = self._button("Next ▶", "The next image with proposals", lambda: review.step(1))
        self.next_button.setToolTip(f"The next image with proposals ({keys_text('data.next_image')})")
        self.accept_button = self._button(
            "Accept", "Accept the selected proposal and select the next", review.accept, "editor.finish"
        )
        self.reject_button = self._button("Reject", "Remove the selected proposal", review.reject, "editor.back")
        self.accept_image_button = self._button(
            "Accept image", "Accept every proposal of this image", review.accept_image, "review.accept_image"
        )
        self.min_score = QDoubleSpinBox()
        self.min_score.setRange(0.0, 1.0)
        self.min_score.setSingleStep(0.05)
        self.min_score.setDecimals(2)
        self.min_score.setValue(review.min_score)
        self.min_score.setToolTip("The lowest score 'Accept ≥' accepts")
        self.min_score.valueChanged.connect(lambda v: setattr(review, "min_score", float(v)))
        self.accept_above_button = self._button(
            "Accept all ≥",
            "Accept every pending proposal of the dataset scoring at least this much (one undo step)",
            lambda: review.accept_above(self.min_score.value()),
        )

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title)
        top.addWidget(self.status_label, 1)
        top.addWidget(self.leave_button)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        for b in (self.prev_button, self.next_button):
            row.addWidget(b)
        row.addSpacing(10)
        for b in (self.accept_button, self.reject_button, self.accept_image_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.accept_above_button)
        row.addWidget(self.min_score)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 3, 6, 3)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addLayout(row)

        review.changed.connect(self.refresh)
        self.refresh()

    def _button(self, text: str, tip: str, slot: Callable[[], Any], sid: str | None = None) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(f"{tip} ({keys_text(sid)})" if sid else tip)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the image view
        b.setAutoDefault(False)
        b.clicked.connect(lambda _=False: slot())
        return b

    def refresh(self) -> None:
        """Shown while review mode is on, with where it stands and what the buttons may do now."""
        review = self.review
        self.setVisible(review.active)
        if not review.active:
            return
        status = review.status()
        text = status.text()
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
        selected = review.selected_pending() is not None
        self.accept_button.setEnabled(bool(status.here))
        self.reject_button.setEnabled(selected)
        self.accept_image_button.setEnabled(bool(status.here))
        others = status.images - (1 if status.position else 0)
        self.prev_button.setEnabled(others > 0)
        self.next_button.setEnabled(others > 0)
        self.accept_above_button.setEnabled(bool(status.total))
