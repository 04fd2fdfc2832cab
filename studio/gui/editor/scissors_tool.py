"""Intelligent scissors: click points around an object; between them the outline follows the image's edges.

OpenCV's ``IntelligentScissorsMB`` (:class:`studio.core.smart.Scissors`, no weights) is set up once per image,
lazily (when the tool is first used on it), and each click builds the map of cheapest paths from the new anchor
(the edge features of a window around it, then the map): a few hundred milliseconds on a photo, so both run in a
worker, in the order clicked (:class:`~studio.gui.editor.serial_jobs.SerialJobs`), while the canvas stays live.
Between the last anchor and the cursor the live path follows the edges (a straight dashed line while a map is
still being built); a click commits it and adds an anchor; Backspace (or a right-click) removes the last one;
Enter or a click on the first anchor closes the outline, simplified with the toolbar's tolerance, into a polygon
whose class is asked as after a drawn polygon; Esc drops it. Panning (middle-drag, Space+drag) and zooming work
while drawing, as in every tool.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtGui import QKeyEvent, QMouseEvent

from studio.core.dataset.provenance import SMART
from studio.core.errors import StudioError
from studio.core.smart import Scissors
from studio.gui.editor.handles import HIT_PX
from studio.gui.editor.serial_jobs import SerialJobs
from studio.gui.editor.smart_host import SmartToolHost
from studio.gui.editor.smart_marks import Haloed, polyline
from studio.gui.editor.tool_options import TOLERANCE
from studio.gui.editor.tools import BACK_KEYS, CANCEL_KEYS, ENTER_KEYS, LEFT, RIGHT, Tool

log = logging.getLogger("studio.gui.editor")

Point = tuple[float, float]


class ScissorsTool(Tool):
    """The anchors of one outline at a time, mirrored from the image's scissors (see the module docstring)."""

    name = "scissors"
    source = SMART  # the outline follows the image's edges
    title = "Scissors"
    tip = (
        "Click points around an object: the outline follows the edges between them; Enter or a click on the first "
        "point closes it, Backspace removes the last point, Esc cancels"
    )
    options = (TOLERANCE,)

    def __init__(self, editor: SmartToolHost):
        super().__init__(editor)
        self.editor: SmartToolHost = editor
        self.jobs = SerialJobs(editor.jobs, editor.view)  # the anchors, in the order clicked
        self.builds = SerialJobs(editor.jobs, editor.view)  # the edge features of the image
        self.scissors: Scissors | None = None
        self._for: np.ndarray | None = None  # the pixels it is (being) built for
        self.clicks: list[Point] = []  # the anchors as the user sees them (some may still be on their way)
        self._outline: list[Point] = []  # the committed outline, as of the last job done
        self._anchored = 0  # how many anchors the scissors had then
        self._live: list[Point] = []  # the path from the last anchor to the cursor
        self._cursor: Point | None = None
        self._finish_when_idle = False
        self.outline_mark: Haloed | None = None  # the committed outline (solid)
        self.live_mark: Haloed | None = None  # the live path (dashed)

    # ------------------------------------------------------------------ life cycle
    def activate(self) -> None:
        super().activate()
        self._ensure_built()

    def cancel(self) -> None:
        if self.clicks and self.scissors is not None:
            scissors = self.scissors
            self.jobs.drop()
            self.jobs.submit(scissors.reset, lambda _r: None, self._on_failed, title="scissors")
        self.clicks, self._outline, self._live, self._cursor, self._anchored = [], [], [], None, 0
        self._finish_when_idle = False
        for mark in (self.outline_mark, self.live_mark):
            if mark is not None:
                mark.remove()
        self.outline_mark = self.live_mark = None
        super().cancel()

    def scene_cleared(self) -> None:
        """Another image: the scissors of this one are of no use any more."""
        self.outline_mark = self.live_mark = None  # deleted with the scene
        self.jobs.drop()
        self.builds.drop()
        self.scissors, self._for = None, None
        self.clicks = []
        super().scene_cleared()

    def in_gesture(self) -> bool:
        return bool(self.clicks)

    def busy(self) -> bool:
        """Edges or anchor maps are still being built."""
        return self.builds.busy() or self.jobs.busy()

    def step_back(self) -> bool:
        return self._remove_last()

    # ------------------------------------------------------------------ building
    def _ensure_built(self) -> bool:
        """The scissors of the image shown exist or are on their way (False: its pixels are not there yet)."""
        pixels = self.editor.image_pixels()
        if pixels is None:
            return False
        if self._for is pixels:
            return True
        self.jobs.drop()
        self.builds.drop()
        self.scissors, self._for = None, pixels
        self.builds.submit(lambda: Scissors(pixels), self._on_built, self._on_failed, title="scissors: image edges")
        self.editor.note.emit("Finding the edges…")
        return True

    def _on_built(self, scissors: Scissors) -> None:
        self.scissors = scissors
        log.debug("scissors built in %.0f ms", scissors.build_seconds * 1000)
        self.editor.note.emit("Scissors ready: click points around an object")
        for x, y in self.clicks:  # clicked while the edges were being found
            self._submit_anchor(x, y)

    def _submit_anchor(self, x: float, y: float) -> None:
        scissors = self.scissors
        if scissors is not None:
            self.jobs.submit(lambda: scissors.add_anchor(x, y), self._on_job_done, self._on_failed, title="scissors")

    def _on_job_done(self, _result: object) -> None:
        """An anchor was added or removed: the outline as the scissors have it now (no job runs at this moment)."""
        if self.scissors is not None and self.clicks:
            self._outline = self.scissors.outline()
            self._anchored = len(self.scissors.anchors)
            if self._cursor is not None:
                self._follow(*self._cursor)
        self._draw()
        if not self.jobs.busy():
            self.editor.note.emit("")
            if self._finish_when_idle:
                self.finish()

    def _on_failed(self, message: str) -> None:
        self.editor.message.emit(f"Scissors: {message}")

    # ------------------------------------------------------------------ mouse
    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() == RIGHT:
            return self._remove_last()
        if event.button() != LEFT:
            return False
        if not self._ensure_built():
            self.editor.message.emit("Scissors: the image is not decoded yet (or cannot be read)")
            return True
        x, y = self.editor.state.clamp(pos.x(), pos.y())
        if self._closes(x, y):
            self.finish()
            return True
        self.clicks.append((x, y))
        self._submit_anchor(x, y)
        if self.jobs.busy():
            self.editor.note.emit("Following the edges…")
        self._draw()
        return True

    def _closes(self, x: float, y: float) -> bool:
        """A click on the first anchor (within the handles' reach on screen) closes the outline."""
        if len(self.clicks) < 2:
            return False
        fx, fy = self.clicks[0]
        return math.dist((fx, fy), (x, y)) * self.editor.view.zoom() <= HIT_PX

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if not self.clicks:
            self._ensure_built()  # lazily, as soon as the cursor is on the image
            return False
        self._cursor = self.editor.state.clamp(pos.x(), pos.y())
        self._follow(*self._cursor)
        self._draw()
        return True

    def _follow(self, x: float, y: float) -> None:
        """The live path to the cursor: along the edges when the last anchor's map is ready, else a straight line."""
        if self.scissors is not None and not self.jobs.busy() and self.scissors.anchors:
            self._live = self.scissors.path_to(x, y)
        else:  # straight on from the last anchor in place, through the clicks on their way
            start = max(0, min(self._anchored, len(self.clicks)) - 1)
            self._live = [*self.clicks[start:], (x, y)]

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return event.button() == LEFT or (event.button() == RIGHT and bool(self.clicks))

    # ------------------------------------------------------------------ keys
    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if not self.clicks:
            return False
        if key in ENTER_KEYS:
            self.finish()
            return True
        if key in CANCEL_KEYS:
            self.cancel()
            self.editor.note.emit("")
            return True
        if key in BACK_KEYS:
            return self._remove_last()
        return False

    def _remove_last(self) -> bool:
        if not self.clicks:
            return False
        if len(self.clicks) == 1:
            self.cancel()  # the first point goes: nothing is drawn any more
            return True
        self.clicks.pop()
        scissors = self.scissors
        if scissors is not None:
            self.jobs.submit(scissors.remove_last_anchor, self._on_job_done, self._on_failed, title="scissors")
        if self._cursor is not None:
            self._follow(*self._cursor)
        self._draw()
        return True

    # ------------------------------------------------------------------ closing
    def finish(self) -> bool:
        """Close the outline into a polygon and hand it over (its class is asked); once the anchors are in."""
        if len(self.clicks) < 2:
            self.editor.message.emit("Scissors: click at least two points around the object before closing")
            return False
        if self.busy() or self.scissors is None:
            self._finish_when_idle = True
            self.editor.note.emit("Closing once the last point is in…")
            return True
        self._finish_when_idle = False
        try:
            flat = self.scissors.close(self.editor.options.tolerance)
        except StudioError as e:
            self.editor.message.emit(str(e))
            return False
        self.cancel()
        self.editor.add_shape("polygon", flat)
        return True

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        """The committed outline (solid), the live path (dashed) and the anchors (the first one larger)."""
        scene = self.editor.view.scene()
        if not self.clicks:
            self.marks.clear()
            return
        if self.outline_mark is None:
            self.outline_mark = Haloed(scene)
            self.live_mark = Haloed(scene, dashed=True)
        committed = self._outline if len(self.clicks) > 1 and self.scissors is not None else []
        self.outline_mark.set_path(polyline(committed))
        self.live_mark.set_path(polyline(self._live))  # type: ignore[union-attr]
        self.marks.show(scene, self.clicks, first_bigger=True)
