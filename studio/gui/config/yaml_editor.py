"""The YAML view of the Config page: a plain-text editor kept in sync with the form both ways.

Typing is parsed after a short pause (:data:`DEBOUNCE_MS`), not on every key: half-typed YAML is
broken YAML. A syntax error is shown with its line (and the line is marked) and ``invalid`` is
emitted, so the form keeps the last valid state (the page says what happens to the form's edits
meanwhile). When the form changes a value the page rewrites the text with
:meth:`YamlEditor.set_text`, which replaces only the span that differs: the cursor, the selection
and the scroll position stay where they were, and the change is one undo step.
"""

from __future__ import annotations

import re

import yaml
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

from studio.gui.common.messages import error_html

DEBOUNCE_MS = 350
ERROR_LINE_BG = QColor(255, 228, 228)


class _Highlighter(QSyntaxHighlighter):
    """Keys, comments and ``_base_``: enough colour to read the structure, no YAML parsing."""

    KEY = re.compile(r"^\s*(?:-\s+)?([^\s#:][^#:]*?)\s*:(?=\s|$)")
    COMMENT = re.compile(r"(^|\s)#.*$")

    def __init__(self, doc: QTextDocument):
        super().__init__(doc)
        self.key = QTextCharFormat()
        self.key.setForeground(QColor("#1f4e99"))
        self.base = QTextCharFormat()
        self.base.setForeground(QColor("#7a3e9d"))
        self.base.setFontWeight(QFont.Weight.Bold)
        self.comment = QTextCharFormat()
        self.comment.setForeground(QColor("#7b7f87"))
        self.comment.setFontItalic(True)

    def highlightBlock(self, text: str) -> None:
        m = self.KEY.match(text)
        if m:
            fmt = self.base if m.group(1) == "_base_" else self.key
            self.setFormat(m.start(1), m.end(1) - m.start(1), fmt)
        c = self.COMMENT.search(text)
        if c:
            start = c.start() + len(c.group(1))
            self.setFormat(start, len(text) - start, self.comment)


class YamlEditor(QWidget):
    """``parsed(dict)`` after the user pauses typing valid YAML, ``invalid(message)`` when it does not
    parse, ``edited()`` on every user edit."""

    parsed = Signal(object)
    invalid = Signal(str)  # the text does not parse; the message names the line
    edited = Signal()

    def __init__(self, parent: QWidget | None = None, debounce_ms: int = DEBOUNCE_MS):
        super().__init__(parent)
        self.edit = QPlainTextEdit()
        self.edit.setObjectName("yaml")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(max(font.pointSize(), 10))
        self.edit.setFont(font)
        self.edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.edit.setTabStopDistance(self.edit.fontMetrics().horizontalAdvance(" ") * 2)
        self.highlighter = _Highlighter(self.edit.document())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setVisible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.status)
        self.error: str | None = None
        self.error_line: int | None = None  # 1-based
        self._programmatic = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self._parse)
        self.edit.textChanged.connect(self._on_text_changed)

    # ------------------------------------------------------------------ text
    def text(self) -> str:
        return self.edit.toPlainText()

    def load_text(self, text: str) -> None:
        """A new file: replace everything, forget the undo history, cursor at the top; parsed at once."""
        self._programmatic = True
        try:
            self.edit.setPlainText(text)
        finally:
            self._programmatic = False
        self.timer.stop()
        self._parse()

    def set_text(self, text: str) -> None:
        """Rewrite to ``text`` (the form changed a value) touching only the span that differs."""
        old = self.text()
        if old == text:
            return
        prefix = 0
        limit = min(len(old), len(text))
        while prefix < limit and old[prefix] == text[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and old[len(old) - 1 - suffix] == text[len(text) - 1 - suffix]:
            suffix += 1
        bar = self.edit.verticalScrollBar()
        scroll = bar.value()
        cursor = QTextCursor(self.edit.document())  # not the view's cursor: that one stays where it is
        cursor.setPosition(prefix)
        cursor.setPosition(len(old) - suffix, QTextCursor.MoveMode.KeepAnchor)
        self._programmatic = True
        try:
            cursor.insertText(text[prefix : len(text) - suffix])
        finally:
            self._programmatic = False
        bar.setValue(scroll)
        self.timer.stop()
        self._set_error(None)

    def flush(self) -> bool:
        """Parse now if a parse is pending; True when the text is valid YAML (a mapping)."""
        if self.timer.isActive():
            self.timer.stop()
            self._parse()
        return self.error is None

    # ------------------------------------------------------------------ parsing
    def _on_text_changed(self) -> None:
        if self._programmatic:
            return
        self.edited.emit()
        self.timer.start()

    def _parse(self) -> None:
        try:
            data = yaml.safe_load(self.text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            if mark is not None:
                self._set_error(
                    f"YAML error at line {mark.line + 1}, column {mark.column + 1}: {problem}", mark.line + 1
                )
            else:
                self._set_error(f"YAML error: {problem}")
            self.invalid.emit(self.error)
            return
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self._set_error(
                "YAML error: the top level must be a mapping of keys (model:, data:, train:), "
                f"not a {type(data).__name__}",
                1,
            )
            self.invalid.emit(self.error)
            return
        self._set_error(None)
        self.parsed.emit(data)

    def _set_error(self, message: str | None, line: int | None = None) -> None:
        self.error, self.error_line = message, line
        self.status.setVisible(message is not None)
        self.status.setText(error_html(message) if message else "")
        selections = []
        if line is not None:
            sel = QTextEdit.ExtraSelection()
            sel.format.setBackground(ERROR_LINE_BG)
            sel.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            block = self.edit.document().findBlockByNumber(line - 1)
            sel.cursor = QTextCursor(block)
            selections.append(sel)
        self.edit.setExtraSelections(selections)
