"""The pre-flight panel of the Config page: what would stop a training run, before Start is pressed.

It lists the findings of :func:`studio.core.training.preflight.preflight` (errors first), and the
estimated GPU memory (:mod:`studio.core.training.memory`) against the GPU's memory when there is one.
The check itself runs in a worker; this widget only shows its :class:`PreflightResult`.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QTextBrowser, QVBoxLayout, QWidget

from studio.core.training.memory import GiB
from studio.gui.common import palette
from studio.gui.common.messages import colored, warning_color
from studio.gui.common.sections import section_label
from studio.gui.config.jobs import PreflightResult

LEVEL_ORDER = {"error": 0, "warning": 1, "info": 2}
LEVEL_COLORS = {"error": palette.ERROR, "warning": palette.WARNING, "info": palette.OK}


class PreflightView(QWidget):
    """Clicking a finding's key emits ``key_activated(key)`` (the page shows that field)."""

    key_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = section_label("Pre-flight check")
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        # rich text rather than a tree: messages name long paths, which must wrap anywhere, and stay copyable
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.anchorClicked.connect(lambda url: self.key_activated.emit(url.toString()))
        self.text.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.memory = QLabel()
        self.memory.setWordWrap(True)
        self.memory.setTextFormat(Qt.TextFormat.RichText)
        self.memory_bar = QProgressBar()
        self.memory_bar.setMaximumHeight(14)
        self.memory_bar.setMaximumWidth(220)
        self.memory_bar.setTextVisible(False)
        self.memory_bar.setVisible(False)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title)
        top.addWidget(self.summary, 1)
        mem = QHBoxLayout()
        mem.setContentsMargins(0, 0, 0, 0)
        mem.addWidget(self.memory, 1)
        mem.addWidget(self.memory_bar)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addWidget(self.text, 1)
        lay.addLayout(mem)
        self.result: PreflightResult | None = None
        self.set_message("Open a config to check it")

    # ------------------------------------------------------------------ states
    def set_message(self, text: str, error: bool = False) -> None:
        """No report to show: before a config is open, while it is invalid, or when the check failed."""
        self.result = None
        self.text.clear()
        self.summary.setText(colored(text, palette.ERROR, bold=True) if error else text)
        self.memory.setText("")
        self.memory_bar.setVisible(False)

    def set_running(self) -> None:
        self.summary.setText("checking…")

    def set_result(self, result: PreflightResult) -> None:
        self.result = result
        rows = []
        for level, item, message in self.rows():
            color = LEVEL_COLORS.get(level, palette.OK)
            text_color = (
                palette.ERROR.darker(120) if level == "error" else warning_color() if level == "warning" else None
            )
            msg = colored(message, text_color) if text_color is not None else html.escape(message)
            rows.append(
                f'<p style="margin:0 0 3px 0"><span style="color:{color.name()}">●</span> '
                f'<a href="{html.escape(item)}" style="color:palette(text); text-decoration:none">'
                f"<b>{html.escape(item)}</b></a>&nbsp;&nbsp;{msg}</p>"
            )
        self.text.setHtml("".join(rows))
        errors = len(result.report.errors)
        warnings = sum(1 for f in result.findings if f.level == "warning")
        if errors:
            self.summary.setText(
                colored(f"{errors} error{'s' if errors != 1 else ''}: training cannot start", palette.ERROR, bold=True)
                + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else "")
            )
        else:
            ok = colored("ready to start", palette.OK.darker(140), bold=True)
            self.summary.setText(ok + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""))
        self._show_memory(result)

    def _show_memory(self, result: PreflightResult) -> None:
        est, gpu = result.memory, result.gpu
        if est is None:
            self.memory.setText(f"GPU memory: no estimate ({result.memory_error or 'unknown architecture'})")
            self.memory_bar.setVisible(False)
            return
        parts = ", ".join(f"{k.replace('_', ' ')} {v / GiB:.2f}" for k, v in est.detail.items() if v)
        self.memory.setToolTip(
            f"An estimate, not a measurement: {parts} GiB.\nActivations: {est.basis}.\n"
            f"{est.params / 1e6:.1f}M parameters, {est.trainable / 1e6:.1f}M trainable.\n"
            "How it is derived: studio/core/training/memory.py"
        )
        text = f"<b>Estimated GPU memory:</b> {est.gib:.1f} GiB"
        if gpu is None:
            self.memory.setText(text + " (no CUDA GPU here: what a GPU run would need)")
            self.memory_bar.setVisible(False)
            return
        name, total = gpu
        share = est.bytes / total
        color = palette.ERROR if share > 0.9 else warning_color() if share > 0.7 else palette.OK.darker(140)
        self.memory.setText(
            text + " of " + colored(f"{total / GiB:.1f} GiB on {name} ({share:.0%})", color, bold=share > 0.9)
        )
        self.memory_bar.setRange(0, 1000)
        self.memory_bar.setValue(min(1000, int(share * 1000)))
        self.memory_bar.setVisible(True)

    # ------------------------------------------------------------------ queries (tests)
    def rows(self) -> list[tuple[str, str, str]]:
        """``(level, item, message)`` of every row shown."""
        if self.result is None:
            return []
        return [
            (f.level, f.item, f.message)
            for f in sorted(self.result.findings, key=lambda f: LEVEL_ORDER.get(f.level, 3))
        ]
