"""The log dock: Python logging records from the "studio" logger, delivered through a Qt signal; and
:class:`TailLog`, the read-only text view that follows its newest line (the dock, the Train page's log)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QDockWidget, QPlainTextEdit, QWidget

_LEVEL_COLORS = {logging.WARNING: "#b35c00", logging.ERROR: "#c1121f", logging.CRITICAL: "#c1121f"}


class _Emitter(QObject):
    record = Signal(str, int)  # formatted text, level


class QtLogHandler(logging.Handler):
    """A logging handler safe to call from any thread: it only emits a (queued) Qt signal."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.emitter = _Emitter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.emitter.record.emit(self.format(record), record.levelno)
        except RuntimeError:  # the receiving widget is gone (window closed)
            pass
        except Exception:
            self.handleError(record)


class TailLog(QPlainTextEdit):
    """A read-only log view that follows its tail: while the view is at its last line (or was never scrolled), a
    new line scrolls to it, also one added while the view is hidden; scrolled up, it stays where the user put it
    until they scroll back to the bottom. :meth:`clear` starts following again."""

    def __init__(self, max_lines: int = 5000, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.following = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(lambda _lo, _hi: self.follow_tail())

    def _on_scrolled(self, value: int) -> None:
        self.following = value >= self.verticalScrollBar().maximum()

    def follow_tail(self) -> None:
        if self.following:
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum())

    def append_line(self, line: str) -> None:
        self.appendPlainText(line)
        self.follow_tail()

    def clear(self) -> None:
        super().clear()
        self.following = True

    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum()

    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        self.follow_tail()

    def resizeEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().resizeEvent(event)
        self.follow_tail()


class LogPanel(QDockWidget):
    """Dockable, read-only view of the "studio" log; attaches its handler on creation."""

    MAX_LINES = 5000

    def __init__(self, parent: QWidget | None = None, logger_name: str = "studio"):
        super().__init__("Log", parent)
        self.setObjectName("log_dock")
        self.text = TailLog(self.MAX_LINES)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(8.0, font.pointSizeF() - 1))
        self.text.setFont(font)
        self.setWidget(self.text)
        self.logger = logging.getLogger(logger_name)
        if self.logger.level == logging.NOTSET or self.logger.level > logging.INFO:
            self.logger.setLevel(logging.INFO)
        self.handler = QtLogHandler()
        self.handler.emitter.record.connect(self.append)
        self.logger.addHandler(self.handler)

    def append(self, text: str, level: int) -> None:
        fmt = QTextCharFormat()
        color = _LEVEL_COLORS.get(level)
        fmt.setForeground(QColor(color) if color else self.text.palette().text().color())
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self.text.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(text, fmt)
        self.text.follow_tail()  # at the bottom: the new record shows; scrolled up: the view stays

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def detach(self) -> None:
        """Stop receiving records (the window is closing)."""
        self.logger.removeHandler(self.handler)
