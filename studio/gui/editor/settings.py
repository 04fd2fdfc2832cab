"""The editor's switches that outlive the window, kept in QSettings like the window's geometry and last folder:
autosave (on unless turned off) and "use last label" (off: a class prompt follows each drawn shape)."""

from __future__ import annotations

from PySide6.QtCore import QSettings

AUTOSAVE = "editor/autosave"
LAST_LABEL = "editor/use_last_label"
DEFAULTS = {AUTOSAVE: True, LAST_LABEL: False}


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
