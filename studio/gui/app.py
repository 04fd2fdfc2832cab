"""Start the desktop app (``studio gui``), or render its pages to PNG files and exit."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from studio.core.doctor import Check, display_check
from studio.core.workspace import recent_workspaces

log = logging.getLogger("studio.gui")
qt_log = logging.getLogger("studio.gui.qt")

# Qt messages that say nothing to a user (the offscreen platform of screenshot mode prints this one a lot)
_QT_NOISE = ("This plugin does not support propagateSizeHints",)


def _qt_message(mode, context, message: str) -> None:
    """Route Qt's own warnings into the "studio" log (and so into the log panel)."""
    from PySide6.QtCore import QtMsgType  # deferred: PySide6

    if any(message.startswith(n) for n in _QT_NOISE):
        return
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
    }.get(mode, logging.ERROR)
    qt_log.log(level, "%s", message)


def display_libraries_warning(
    environ: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    check: Callable[[], Check | None] = display_check,
) -> str | None:
    """Before Qt starts on an X display (Linux, ``DISPLAY`` set, not Wayland nor offscreen): the libraries
    Qt's xcb plugin needs that are missing and the command that installs them, else None. Qt itself would
    only abort with "xcb-cursor0 or libxcb-cursor0 is needed"."""
    qpa = environ.get("QT_QPA_PLATFORM", "")
    on_x = qpa == "xcb" or (qpa == "" and environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"))
    if not platform.startswith("linux") or not on_x:
        return None
    result = check()
    return None if result is None or result.ok else f"studio: {result.value} (`studio doctor` checks again)"


def run_app(ann: Path | None = None, images: Path | None = None, screenshot_dir: Path | None = None) -> int:
    """Open ``ann``: a workspace folder, or a COCO file with its ``images`` folder (default: recorded or
    guessed). Without ``ann``: the most recent workspace, or on a first start the demo workspace with a
    welcome bar (screenshots always use the demo workspace unless ``ann`` is given).

    With ``screenshot_dir``: wait for loading and checking, select the first image, save ``<page>.png``
    for each page and ``main_window.png``, close the window and return 0 (1 when the dataset could not
    be loaded or the jobs did not finish), without entering an event loop.
    """
    if screenshot_dir is not None and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # screenshots never need a display
    if (warning := display_libraries_warning()) is not None:
        print(warning, file=sys.stderr)  # Qt may abort next: this line says what to install
    from PySide6.QtCore import qInstallMessageHandler  # deferred: PySide6
    from PySide6.QtWidgets import QApplication  # deferred: PySide6

    from studio.gui.main_window import (
        MainWindow,  # deferred: PySide6, cv2, numpy, pydantic, pyqtgraph, torch, torchvision
    )

    app = QApplication.instance() or QApplication(sys.argv[:1])
    previous_handler = qInstallMessageHandler(_qt_message)
    app.setApplicationName("Studio")
    app.setOrganizationName("Studio")
    window = MainWindow(persist=screenshot_dir is None)
    window.show()

    if ann is not None and Path(ann).is_dir():
        window.open_workspace(Path(ann))
    elif ann is not None:
        window.open_dataset(Path(ann), Path(images) if images is not None else None)
    else:
        recent = recent_workspaces() if screenshot_dir is None else []
        if recent:
            window.open_workspace(recent[0])
        else:
            window.open_workspace(None, welcome=screenshot_dir is None)
    if screenshot_dir is None:
        try:
            return app.exec()
        finally:
            qInstallMessageHandler(previous_handler)

    from studio.gui.screenshots import (
        save_screenshots,  # deferred: PySide6, cv2, numpy, pydantic, pyqtgraph, torch, torchvision
    )

    try:
        written = save_screenshots(window, Path(screenshot_dir))
        code = 0
        log.info("screenshots: %s", ", ".join(str(p) for p in written))
    except (TimeoutError, RuntimeError, OSError) as e:
        log.error("screenshots: %s", e)
        print(f"studio: screenshots: {e}", file=sys.stderr)
        code = 1
    window.close()
    window.deleteLater()
    app.processEvents()
    qInstallMessageHandler(previous_handler)
    return code
