"""The editor's settings that outlive the window, kept in QSettings like the window's geometry and last folder:
autosave (on unless turned off), "use last label" (off: a class prompt follows each drawn shape), and the brush
radius and simplify tolerance of the toolbar (:mod:`studio.gui.editor.tool_options`)."""

from __future__ import annotations

import math

from PySide6.QtCore import QSettings

AUTOSAVE = "editor/autosave"
LAST_LABEL = "editor/use_last_label"
DEFAULTS = {AUTOSAVE: True, LAST_LABEL: False}
BRUSH_RADIUS = "editor/brush_radius"
SIMPLIFY_TOLERANCE = "editor/simplify_tolerance"
NUMBERS = (BRUSH_RADIUS, SIMPLIFY_TOLERANCE)


def flag(key: str) -> bool:
    """The switch ``key`` (one of :data:`DEFAULTS`); an INI file gives back "true" / "false" as text."""
    value = QSettings().value(key, DEFAULTS[key])
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def set_flag(key: str, on: bool) -> None:
    if key not in DEFAULTS:
        raise KeyError(key)
    QSettings().setValue(key, bool(on))


def number(key: str, default: float) -> float:
    """The number ``key`` (one of :data:`NUMBERS`), or ``default`` when it was never set or is no finite number
    (an INI file edited by hand); the caller clamps it to its range."""
    if key not in NUMBERS:
        raise KeyError(key)
    try:
        value = float(QSettings().value(key, default))
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def set_number(key: str, value: float) -> None:
    if key not in NUMBERS:
        raise KeyError(key)
    QSettings().setValue(key, float(value))
