"""Headless screenshots: wait for the window's jobs, select the first image, save one PNG per page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

from studio.gui.data.page import READY
from studio.gui.main_window import MainWindow


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Process events until ``predicate()`` holds; False on timeout."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)
    return True


def page_file_name(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") + ".png"


def save_screenshots(window: MainWindow, out_dir: Path, timeout_s: float = 120.0) -> list[Path]:
    """``<page>.png`` for every page and ``main_window.png``, once the dataset is loaded and checked.

    Raises TimeoutError when the jobs do not finish in time and RuntimeError when the dataset failed
    to load (the screenshots are still written, showing the error).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = window.data_page
    wait_for(window.jobs.is_idle, timeout_s)  # a workspace being prepared opens its dataset when done
    if not wait_for(lambda: not page.busy(), timeout_s):
        raise TimeoutError(f"the dataset did not load within {timeout_s:.0f} s")
    if page.state == READY and page.select_first_image():
        wait_for(lambda: not page.viewer.pending(), timeout_s)
    wait_for(window.jobs.is_idle, timeout_s)  # the device label too
    written = []
    current = window.stack.currentIndex()
    for i, p in enumerate(window.pages):
        window.show_page(i)
        QApplication.processEvents()
        path = out_dir / page_file_name(p.title)
        if not p.grab().save(str(path)):
            raise OSError(f"cannot write {path}")
        written.append(path)
    window.show_page(current)
    QApplication.processEvents()
    path = out_dir / "main_window.png"
    if not window.grab().save(str(path)):
        raise OSError(f"cannot write {path}")
    written.append(path)
    if page.state != READY:
        raise RuntimeError(f"the dataset could not be loaded; screenshots in {out_dir} show the error")
    return written
