"""The settings the brush, the eraser and the smart tools share, without Qt: the brush radius, the simplify tolerance.

One :class:`ToolOptions` per editor, so a radius picked for the brush is the eraser's and the smart box's stroke
radius too. A tool names the options it uses (``Tool.options``); the toolbar shows those, and only while the tool
is active (:mod:`studio.gui.editor.options_bar`).
"""

from __future__ import annotations

from dataclasses import dataclass

RADIUS, TOLERANCE = "radius", "tolerance"
RADIUS_RANGE = (1.0, 400.0)  # image pixels
TOLERANCE_RANGE = (0.0, 20.0)  # image pixels: 0 keeps every corner of the pixel staircase
RADIUS_STEP = 1.25  # [ and ] scale the radius by this, as paint programs do (a step looks the same at any size)


@dataclass
class ToolOptions:
    radius: float = 8.0
    tolerance: float = 1.0

    def set_radius(self, value: float) -> float:
        self.radius = float(min(max(value, RADIUS_RANGE[0]), RADIUS_RANGE[1]))
        return self.radius

    def set_tolerance(self, value: float) -> float:
        self.tolerance = float(min(max(value, TOLERANCE_RANGE[0]), TOLERANCE_RANGE[1]))
        return self.tolerance

    def step_radius(self, steps: int) -> float:
        """``steps`` presses of ] (negative: of [): a whole number of pixels, at least one pixel of change."""
        value = self.radius * RADIUS_STEP**steps
        rounded = float(round(value))
        if rounded == self.radius:
            rounded += 1.0 if steps > 0 else -1.0
        return self.set_radius(rounded)
