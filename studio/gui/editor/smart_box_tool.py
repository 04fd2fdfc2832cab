"""The smart box: drag a box around an object, GrabCut outlines it, strokes correct it, Enter keeps it.

GrabCut (:func:`studio.core.smart.box_to_polygon`, OpenCV, no weights) runs on a crop around the box in a worker,
so the canvas stays live while it works ("working…" on the editor's message line). Its polygon is proposed as a
dashed outline over a light fill. Then a left-drag paints a foreground stroke (this is object, green) and a
right-drag, or a Shift+left-drag for a one-button mouse or a pen, a background stroke (this is not, red); each
stroke runs GrabCut again with every stroke so far, and Backspace takes the last one back. Strokes use the
toolbar's brush radius. Enter adds the proposal as a shape (its class is asked, or the last label taken, as after
a drawn polygon); Esc drops it. When GrabCut finds nothing, the box itself is proposed and the message line says
why.

With a labelling model chosen (Data page > Actions > Labelling model…, :meth:`SmartBoxTool.use_model`), a drawn box
asks the model first (:func:`studio.core.labelling.box_prompt.box_prompt`): the model runs once per image in the same
worker (its detections are cached per image and model), and the detection that fits the box gives its mask, clipped
to the box, when the model is sure of it (score >= ``box_prompt.MIN_SCORE``: its less sure masks were worse than
GrabCut's on balloon). When none fits, the model is unsure, has no masks or cannot be loaded, GrabCut outlines the box
as without a model. The message line says which one gave the outline ("model 0.91" or "GrabCut", and why). Strokes
correct with GrabCut, as before: a model cannot take them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem

from studio.core.dataset import hit
from studio.core.dataset.provenance import SMART
from studio.core.errors import StudioError, error_message
from studio.core.geometry import shoelace_area
from studio.core.labelling.box_prompt import GRABCUT, BoxPromptResult, box_prompt, grabcut_prompt
from studio.core.smart import SmartResult, Stroke, box_to_polygon
from studio.gui.common import palette
from studio.gui.editor import smart_marks as marks
from studio.gui.editor.handles import Z_EDIT
from studio.gui.editor.serial_jobs import SerialJobs
from studio.gui.editor.smart_host import PromptModel, SmartToolHost
from studio.gui.editor.smart_marks import Haloed
from studio.gui.editor.tool_options import RADIUS, TOLERANCE
from studio.gui.editor.tools import BACK_KEYS, CANCEL_KEYS, ENTER_KEYS, LEFT, MIN_BOX_PX, RIGHT, Tool

log = logging.getLogger("studio.gui.editor")

FG_COLOR, BG_COLOR = QColor(40, 200, 90, 150), QColor(230, 50, 50, 150)
PROPOSAL_FILL = 50  # alpha of the proposal's fill
MODEL_FAILED = "the labelling model failed"


def run_grabcut(
    pixels: np.ndarray,
    box: list[float],
    fg: tuple[Stroke, ...],
    bg: tuple[Stroke, ...],
    tolerance: float,
) -> SmartResult:
    """One GrabCut run (in a worker): everything it needs is passed in, nothing the GUI changes is read."""
    return box_to_polygon(pixels, box, fg_strokes=fg, bg_strokes=bg, tolerance=tolerance)


def run_model_prompt(
    model: PromptModel, path: Any, image_key: Any, pixels: np.ndarray, box: list[float], tolerance: float
) -> BoxPromptResult:
    """One box prompt (in a worker): a Mask R-CNN's mask head run on the box; else the model's detections on the image
    (it runs once per image), the mask of the one that fits the box; GrabCut when none does, or when the model cannot
    be loaded or run (the note says why)."""
    try:
        loaded = model.cache.model(path)
        return box_prompt(
            loaded,
            pixels,
            box,
            detections=lambda: model.cache.detections(path, image_key, pixels)[0],
            tolerance=tolerance,
        )
    except (StudioError, OSError, ImportError, RuntimeError, ValueError) as e:
        note = f"{MODEL_FAILED} ({error_message(e)})"
        return grabcut_prompt(pixels, box, tolerance=tolerance, note=note)


class SmartBoxTool(Tool):
    """The box, the strokes and the proposal of one object at a time (see the module docstring)."""

    name = "smart_box"
    source = SMART  # the outline comes from GrabCut or the labelling model, not drawn point by point
    title = "Smart box"
    tip = (
        "Drag a box around an object: the labelling model (if one is chosen) or GrabCut outlines it; then drag to "
        "mark object, right-drag or Shift+drag to mark background; Enter keeps the outline, Esc drops it"
    )
    options = (RADIUS, TOLERANCE)

    def __init__(self, editor: SmartToolHost):
        super().__init__(editor)
        self.editor: SmartToolHost = editor
        self.jobs = SerialJobs(editor.jobs, editor.view)
        self.box: list[float] | None = None  # the box GrabCut works in, once drawn
        self.strokes: list[tuple[Stroke, bool]] = []  # in the order drawn: (stroke, background?)
        self.result: SmartResult | None = None  # the proposal (of the last run that finished)
        self._start: tuple[float, float] | None = None  # a box being dragged
        self._stroke: tuple[list[tuple[float, float]], bool] | None = None  # points, background?
        self._accept_when_done = False
        self._items: dict[str, QGraphicsItem] = {}  # "box", "stroke" (in progress), "stroke.<k>" (made)
        self.proposal: Haloed | None = None  # the outline proposed
        self.model: PromptModel | None = None  # the labelling model a drawn box asks first (None: GrabCut only)
        self.outline_by = ""  # what gave the proposal: "model 0.91" or "GrabCut"

    def use_model(self, model: PromptModel | None) -> None:
        """The labelling model a drawn box asks first (the Data page's choice); its ``path`` None: GrabCut only."""
        self.model = model

    # ------------------------------------------------------------------ life cycle
    def cancel(self) -> None:
        self.jobs.drop()
        self.box, self.strokes, self.result, self.outline_by = None, [], None, ""
        self._start = self._stroke = None
        self._accept_when_done = False
        for item in self._items.values():
            marks.remove(item)
        self._items.clear()
        if self.proposal is not None:
            self.proposal.remove()
            self.proposal = None
        self.editor.note.emit("")
        super().cancel()

    def scene_cleared(self) -> None:
        self._items.clear()  # deleted with the scene
        self.proposal = None
        super().scene_cleared()

    def in_gesture(self) -> bool:
        return self.box is not None or self._start is not None

    @property
    def fg(self) -> tuple[Stroke, ...]:
        """The foreground strokes (this is object)."""
        return tuple(s for s, background in self.strokes if not background)

    @property
    def bg(self) -> tuple[Stroke, ...]:
        """The background strokes (this is not)."""
        return tuple(s for s, background in self.strokes if background)

    def working(self) -> bool:
        """GrabCut or the model is running (or waiting to)."""
        return self.jobs.busy()

    def step_back(self) -> bool:
        """Ctrl+Z while a proposal is shown: the last stroke goes, else the box."""
        if self.strokes:
            self._drop_last_stroke()
        elif self.in_gesture():
            self.cancel()
        else:
            return False
        return True

    def options_changed(self) -> None:
        """A new simplify tolerance gives a new outline of the same object."""
        if self.box is not None and self.result is not None:
            self._run()

    # ------------------------------------------------------------------ mouse
    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        button = event.button()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        point = self.editor.state.clamp(pos.x(), pos.y())
        if self.box is None:
            if button != LEFT:
                return False
            self._start = point
            return True
        if button not in (LEFT, RIGHT):
            return False
        self._stroke = ([point], button == RIGHT or shift)
        self._draw_stroke()
        return True

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        point = self.editor.state.clamp(pos.x(), pos.y())
        if self._start is not None:
            self._draw_box(hit.box_from_points(*self._start, *point), dashed=False)
            return True
        if self._stroke is not None:
            points = self._stroke[0]
            if max(abs(point[0] - points[-1][0]), abs(point[1] - points[-1][1])) * self.editor.view.zoom() >= 1:
                points.append(point)
                self._draw_stroke()
            return True
        return False

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        point = self.editor.state.clamp(pos.x(), pos.y())
        if self._start is not None and event.button() == LEFT:
            box = hit.box_from_points(*self._start, *point)
            self._start = None
            if min(box[2], box[3]) * self.editor.view.zoom() < MIN_BOX_PX:
                self.cancel()  # a click, not a box
                return True
            self.box = box
            self._draw_box(box, dashed=True)
            self._run()
            return True
        if self._stroke is not None and event.button() in (LEFT, RIGHT):
            points, background = self._stroke
            if point != points[-1]:
                points.append(point)
            self._stroke = None
            marks.remove(self._items.pop("stroke", None))
            self.strokes.append((Stroke.of(points, self.editor.options.radius), background))
            self._draw_strokes()
            self._run()
            return True
        return False

    # ------------------------------------------------------------------ keys
    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if self.box is None and self._start is None:
            return False
        if key in ENTER_KEYS:
            self.accept()
            return True
        if key in CANCEL_KEYS:
            self.cancel()
            return True
        if key in BACK_KEYS and self.strokes:
            self._drop_last_stroke()
            return True
        return False

    def accept(self) -> bool:
        """Enter: the proposal becomes a shape (asked for its class). While GrabCut still works, once it is done."""
        if self.box is None:
            return False
        if self.result is None or self.working():
            self._accept_when_done = True
            self.editor.note.emit(f"{self._worker_name()} working… (kept once ready)")
            return True
        polygons = [list(p) for p in self.result.polygons]
        self.cancel()
        if polygons:
            self.editor.add_shape("parts", polygons)
        return True

    # ------------------------------------------------------------------ GrabCut, or the model first
    def _model_path(self) -> Any:
        """The labelling model's path when a drawn box asks it (no strokes yet), else None."""
        if self.model is None or self.strokes:
            return None
        return self.model.path

    def _worker_name(self) -> str:
        return "The model" if self._model_path() is not None else "GrabCut"

    def _run(self) -> None:
        pixels = self.editor.image_pixels()
        if pixels is None or self.box is None:
            self.editor.message.emit("Smart box: the image is not decoded yet (or cannot be read)")
            return
        self.jobs.drop()  # an older run's outline is not wanted any more
        path = self._model_path()
        if path is not None and self.model is not None:
            self._run_model(self.model, path, pixels)
            return
        self.jobs.submit(
            lambda job=(pixels, list(self.box), self.fg, self.bg, self.editor.options.tolerance): run_grabcut(*job),
            self._on_result,
            self._on_failed,
            title="GrabCut",
        )
        self.editor.note.emit("GrabCut working…")

    def _run_model(self, model: PromptModel, path: Any, pixels: np.ndarray) -> None:
        image = self.editor.state.image or {}
        key = (str(self.editor.state.ann_path), image.get("id"), image.get("file_name"))  # detections of one image
        job = (model, path, key, pixels, list(self.box or []), self.editor.options.tolerance)
        self.jobs.submit(lambda job=job: run_model_prompt(*job), self._on_prompt, self._on_failed, title="Box prompt")
        first = "" if model.cache.cached(path, key) else " (its first run on this image)"
        self.editor.note.emit(f"The model working…{first}")

    def _on_prompt(self, result: BoxPromptResult) -> None:
        """The model's outline, or GrabCut's when the model had none: proposed the same way, saying which."""
        if self.box is None:
            return
        poly = [float(v) for v in result.polygon]
        self.result = SmartResult([poly] if poly else [], shoelace_area(poly) if poly else 0.0, result.seconds)
        self.outline_by = result.describe()
        self._draw_proposal()
        if result.note.startswith(MODEL_FAILED):
            self.editor.message.emit(f"Smart box: {result.note}; GrabCut outlined the box (Enter keeps it)")
        else:
            why = f" ({result.note})" if result.source == GRABCUT and result.note else ""
            self.editor.note.emit(f"{self.outline_by}{why}: Enter keeps it ({result.seconds * 1000:.0f} ms)")
        if self._accept_when_done and not self.working():
            self.accept()

    def _on_result(self, result: SmartResult) -> None:
        if self.box is None:
            return
        self.result = result
        self.outline_by = "GrabCut"
        self._draw_proposal()
        if result.fallback is not None:
            self.editor.message.emit(f"Smart box: {result.fallback}; the box itself is proposed (Enter keeps it)")
        else:
            parts = f", {len(result.polygons)} parts" if len(result.polygons) > 1 else ""
            self.editor.note.emit(f"GrabCut: Enter keeps it ({result.seconds * 1000:.0f} ms{parts})")
        if self._accept_when_done and not self.working():
            self.accept()

    def _on_failed(self, message: str) -> None:
        self._accept_when_done = False
        self.editor.message.emit(f"Smart box: {self._worker_name()} failed: {message}")

    def _drop_last_stroke(self) -> None:
        self.strokes.pop()
        self._draw_strokes()
        self._run()

    # ------------------------------------------------------------------ drawing
    def _scene_item(self, key: str, make: Any) -> Any:
        item = self._items.get(key)
        if item is None:
            item = make()
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.editor.view.scene().addItem(item)
            self._items[key] = item
        return item

    def _draw_box(self, box: list[float], dashed: bool) -> None:
        item = self._scene_item("box", QGraphicsRectItem)
        item.setZValue(Z_EDIT)
        style = Qt.PenStyle.DotLine if dashed else Qt.PenStyle.SolidLine
        item.setPen(marks.cosmetic(QColor(250, 250, 250, 220) if dashed else palette.SELECTION, 1.5, style))
        item.setRect(QRectF(*box))

    def _draw_stroke(self) -> None:
        if self._stroke is None:
            return
        points, background = self._stroke
        item = self._scene_item("stroke", QGraphicsPathItem)
        item.setZValue(Z_EDIT + 2)
        item.setPen(marks.band_pen(BG_COLOR if background else FG_COLOR, self.editor.options.radius))
        item.setPath(marks.band(points))

    def _draw_strokes(self) -> None:
        """The strokes made so far, each in its colour and width."""
        for key in [k for k in self._items if k.startswith("stroke.")]:
            marks.remove(self._items.pop(key))
        for i, (stroke, background) in enumerate(self.strokes):
            item = self._scene_item(f"stroke.{i}", QGraphicsPathItem)
            item.setZValue(Z_EDIT + 2)
            item.setPen(marks.band_pen(BG_COLOR if background else FG_COLOR, stroke.radius))
            item.setPath(marks.band(list(stroke.points)))

    def _draw_proposal(self) -> None:
        """The outline proposed: dashed, over a dark halo and a light fill."""
        if self.proposal is None:
            self.proposal = marks.Haloed(self.editor.view.scene(), dashed=True, fill=PROPOSAL_FILL)
        self.proposal.set_path(marks.polygons(self.result.polygons if self.result is not None else []))
