"""The brush radius and the simplify tolerance in the editor toolbar, shown only while the active tool uses them;
the values set are kept for the next session (:mod:`studio.gui.editor.settings`).

The values live in the editor's :class:`~studio.gui.editor.tool_options.ToolOptions` (one for all tools); a change
reaches the active tool through ``Tool.options_changed``. ``[`` and ``]`` (the shortcut table's
``editor.brush_smaller`` / ``editor.brush_larger``) are actions the Data page adds to itself (:attr:`key_actions`),
so they work wherever the focus is on the page, and only while a tool with a brush is active.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QSizePolicy, QSpinBox, QWidget

from studio.gui.common.commands import bind
from studio.gui.editor import settings
from studio.gui.editor.controller import EditorController
from studio.gui.editor.tool_options import RADIUS, RADIUS_RANGE, TOLERANCE, TOLERANCE_RANGE
from studio.gui.shortcuts import keys_text


class ToolOptionsBar(QWidget):
    def __init__(self, editor: EditorController, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = editor
        opts = editor.options
        self.radius = QSpinBox()
        self.radius.setRange(int(RADIUS_RANGE[0]), int(RADIUS_RANGE[1]))
        self.radius.setPrefix("Brush ")
        self.radius.setSuffix(" px")
        self.radius.setValue(round(opts.radius))
        self.radius.setToolTip(
            "Radius of the brush, the eraser and the smart box's strokes, in image pixels "
            f"({keys_text('editor.brush_smaller')} / {keys_text('editor.brush_larger')})"
        )
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setRange(*TOLERANCE_RANGE)
        self.tolerance.setDecimals(1)
        self.tolerance.setSingleStep(0.5)
        self.tolerance.setPrefix("Simplify ")
        self.tolerance.setSuffix(" px")
        self.tolerance.setValue(opts.tolerance)
        self.tolerance.setToolTip(
            "How far (image pixels) a polygon made from pixels may stray from them: more gives fewer vertices, "
            "0 keeps every pixel corner"
        )
        for box in (self.radius, self.tolerance):
            box.setKeyboardTracking(False)  # typing "12" is one change, not "1" then "12"
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # may narrow in a small window
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.radius)
        lay.addWidget(self.tolerance)

        self.smaller = self._action("Smaller brush", "editor.brush_smaller", -1)
        self.larger = self._action("Larger brush", "editor.brush_larger", 1)
        #: the Data page adds these to itself (page-wide keys)
        self.key_actions = [self.smaller, self.larger]

        self.radius.valueChanged.connect(self._on_radius)
        self.tolerance.valueChanged.connect(self._on_tolerance)
        editor.tool_changed.connect(self._on_tool)
        self._on_tool(editor.state.tool)

    def _action(self, text: str, sid: str, steps: int) -> QAction:
        act = QAction(text, self)
        bind(act, sid)
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        act.setToolTip(f"{text} ({keys_text(sid)})")
        act.triggered.connect(lambda _=False: self.step_radius(steps))
        return act

    def uses(self, option: str) -> bool:
        return option in self.editor.tool.options

    def step_radius(self, steps: int) -> None:
        """``[`` (-1) or ``]`` (+1): the radius by one step of the paint programs' kind."""
        if self.uses(RADIUS):
            self.radius.setValue(round(self.editor.options.step_radius(steps)))

    def _on_tool(self, _name: str) -> None:
        radius, tolerance = self.uses(RADIUS), self.uses(TOLERANCE)
        self.radius.setVisible(radius)
        self.tolerance.setVisible(tolerance)
        self.smaller.setEnabled(radius)
        self.larger.setEnabled(radius)

    def _on_radius(self, value: int) -> None:
        settings.set_number(settings.BRUSH_RADIUS, self.editor.options.set_radius(value))  # kept for next time
        self.editor.tool.options_changed()

    def _on_tolerance(self, value: float) -> None:
        settings.set_number(settings.SIMPLIFY_TOLERANCE, self.editor.options.set_tolerance(value))
        self.editor.tool.options_changed()
