"""Plugin panels: each panel contribution's factory builds a widget that the main window docks.

A factory is called once, at window start, as ``factory(context)`` with a :class:`PanelContext`; it
returns a QWidget. A factory that raises or returns something else fails its contribution (the
Plugins dialog and the log say why) and the window starts without it.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from studio.core.plugin_check import panel_contributions
from studio.core.plugins.discovery import exception_text

log = logging.getLogger("studio.plugins")

AREAS = {
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}


class PanelContext(QObject):
    """What a plugin panel may use: the app's state and its signals, the job runner, the status bar."""

    dataset_changed = Signal(object)  # the Dataset open on the Data page (studio.core.dataset.model.Dataset), or None
    workspace_changed = Signal(object)  # the open Workspace (studio.core.workspace), or None

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self._window = window
        self.jobs = window.jobs  # jobs.run(fn, ..., on_finished=...) runs fn(progress=, cancel=) in a thread

    def dataset(self) -> Any:
        loaded = self._window.data_page.loaded
        return loaded.dataset if loaded is not None else None

    def annotations_path(self):
        loaded = self._window.data_page.loaded
        return loaded.annotations if loaded is not None else None

    def images_dir(self):
        loaded = self._window.data_page.loaded
        return loaded.images_dir if loaded is not None else None

    def workspace(self) -> Any:
        return self._window.workspace_ui.current

    def show_message(self, text: str, ms: int = 5000) -> None:
        self._window.statusBar().showMessage(text, ms)


def install_panels(window: QMainWindow, context: PanelContext) -> list[QDockWidget]:
    """Build every plugin panel into a (hidden) dock of ``window``; failures are recorded, never raised."""
    docks = []
    try:
        contributions = panel_contributions()
    except Exception as e:  # the plugin system itself must not stop the window
        log.warning("plugin panels could not be listed: %s", e)
        return docks
    for c in contributions:
        try:
            widget = c.obj(context)
            if not isinstance(widget, QWidget):
                raise TypeError(f"the factory returned {type(widget).__name__}, not a QWidget")
        except Exception as e:
            c.fail(f"building the panel failed: {exception_text(e)}")
            continue
        dock = QDockWidget(c.title, window)
        dock.setObjectName(f"plugin_panel:{c.plugin.name}:{c.name}")
        dock.setWidget(widget)
        if c.decl.description:
            dock.setToolTip(c.decl.description)
        window.addDockWidget(AREAS[c.decl.options.get("area", "right")], dock)
        dock.hide()  # View > Plugin panels shows it; the saved window state remembers
        docks.append(dock)
    return docks
