"""``--show``: a window with the annotated frames, where a display exists.

Without one (no ``DISPLAY`` / ``WAYLAND_DISPLAY`` on Linux, or an OpenCV built without windows, as the
headless wheel is), :func:`display_problem` says why, before any work starts, instead of a crash.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from studio.core.errors import StudioError

WINDOW = "studio"
_QUIT_KEYS = (ord("q"), 27)  # q, Esc


def display_problem() -> str | None:
    """Why no window can be shown here, or None when one can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display (DISPLAY and WAYLAND_DISPLAY are unset): run without --show"
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        return (
            "this OpenCV has no window support (the headless wheel): run without --show, or use the app's Preview tab"
        )
    return None


class Viewer:
    """Shows RGB frames in one window; :meth:`show` returns False once the user pressed q or Esc."""

    def __init__(self) -> None:
        problem = display_problem()
        if problem is not None:
            raise StudioError(f"--show: {problem}")

    def show(self, rgb: np.ndarray) -> bool:
        cv2.imshow(WINDOW, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return (cv2.waitKey(1) & 0xFF) not in _QUIT_KEYS

    def close(self) -> None:
        try:
            cv2.destroyWindow(WINDOW)
        except cv2.error:
            pass
