"""What an editing tool may ask of the editor that hosts it: the view, the selection and the edits.

The tools (:mod:`studio.gui.editor.tools`) are written against this protocol, not against
:class:`~studio.gui.editor.controller.EditorController`, which builds them and passes itself in: the
controller imports the tools, the tools import only this module, so the two never import each other.
"""

from __future__ import annotations

from typing import Any, Protocol

from studio.gui.common.image_view import ImageView


class ToolHost(Protocol):
    view: ImageView
    selected: Any  # id of the selected annotation, or None

    def selected_annotation(self) -> dict | None: ...

    def tolerance(self) -> float:
        """How far (image pixels) a click may be from a handle or an edge."""
        ...

    def clamp(self, x: float, y: float) -> tuple[float, float]:
        """The point kept on the image."""
        ...

    def select(self, ann_id: Any) -> None: ...

    # the edits: each is one undoable command; False when refused or a no-op
    def add_polygon(self, flat: list[float]) -> bool: ...

    def add_box(self, bbox: list[float]) -> bool: ...

    def set_polygon(self, ann_id: Any, part: int, new: list[float]) -> bool: ...

    def delete_vertex(self, ann_id: Any, part: int, index: int) -> bool: ...

    def set_box(self, ann_id: Any, new: list[float]) -> bool: ...

    def delete_selected(self) -> bool: ...
