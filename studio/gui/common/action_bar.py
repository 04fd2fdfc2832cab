"""A bar over the pages with a message and the buttons that act on it (the welcome's next steps, the offer to
make a config for a dataset just imported); the ✕ hides it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

STYLES = {
    "info": ("#e8f0fe", "#b9cdf5", "#1d3c78"),
    "success": ("#e6f4ea", "#a8d5b5", "#1e4d2b"),
}
PRIMARY = (
    "QPushButton { font-weight: 600; background: #2f6fde; color: white; border: 1px solid #245bbb; "
    "border-radius: 4px; padding: 4px 12px; } QPushButton:hover { background: #3b7cf0; }"
)


class ActionBar(QFrame):
    """``show_message(html, [(label, callback, primary), ...])``; ``closed`` when the user hides it."""

    closed = Signal()

    def __init__(self, kind: str = "info", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("action_bar")
        bg, border, fg = STYLES[kind]
        self.setStyleSheet(
            f"QFrame#action_bar {{ background: {bg}; border-bottom: 1px solid {border}; }} "
            f"QFrame#action_bar QLabel {{ color: {fg}; }}"
        )
        self.lay = QHBoxLayout(self)
        self.lay.setContentsMargins(12, 6, 8, 6)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.lay.addWidget(self.text, 1)
        self.buttons: dict[str, QPushButton] = {}
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        self.lay.addWidget(self.close_button)
        self.hide()

    def show_message(self, html: str, buttons: list[tuple[str, Callable[[], object], bool]]) -> None:
        """Show ``html`` with one button per (label, what a click does, primary); replaces what was shown."""
        for b in self.buttons.values():
            self.lay.removeWidget(b)
            b.hide()  # at once: deleteLater waits for the event loop
            b.deleteLater()
        self.buttons = {}
        self.text.setText(html)
        for label, slot, primary in buttons:
            b = QPushButton(label)
            if primary:
                b.setStyleSheet(PRIMARY)
            b.clicked.connect(lambda _=False, s=slot: s())
            self.lay.insertWidget(self.lay.count() - 1, b)
            self.buttons[label] = b
        self.show()

    def labels(self) -> list[str]:
        return list(self.buttons)

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()
