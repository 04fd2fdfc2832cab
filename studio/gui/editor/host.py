"""What an editing tool may ask of the editor that hosts it: the view, the state, the selection, the shapes on
the canvas, and where a finished shape goes.

The tools (:mod:`studio.gui.editor.tools`) are written against this protocol, not against
:class:`~studio.gui.editor.controller.EditorController`, which builds them and passes itself in: the
controller imports the tools, the tools import only this module, so the two never import each other.
What a gesture does to the dataset is decided by the Qt-free :class:`~studio.gui.editor.state.EditorState`
(each edit one undoable command); a tool only tracks the gesture in progress and draws its marks. A new
drawing tool (a brush, a smart tool) hands what it made to :meth:`ToolHost.add_shape`, which asks its class.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QGraphicsItem

from studio.gui.common.image_view import ImageView
from studio.gui.editor.state import EditorState


class ToolHost(Protocol):
    view: ImageView
    state: EditorState  # the selection, the active vertex and the edits

    @property
    def selected(self) -> Any:
        """Id of the selected annotation, or None."""
        ...

    def tolerance(self) -> float:
        """How far (image pixels) a click may be from a handle or an edge."""
        ...

    def select(self, ann_id: Any) -> None: ...

    def shape_at(self, pos: QPoint) -> Any:
        """The shape under viewport ``pos`` (the selected one first), or None."""
        ...

    def shape_items(self, ann_id: Any) -> list[QGraphicsItem]:
        """The canvas items that draw one annotation."""
        ...

    def shape_visible(self, ann_id: Any) -> bool:
        """False when the user hid the shape (its handles are not drawn)."""
        ...

    def add_shape(self, kind: str, geom: list[float]) -> None:
        """A finished shape: ``kind`` "polygon" (a flat polygon) or "box" (x, y, w, h); its class is asked."""
        ...

    def delete(self) -> bool:
        """The Delete key: the highlighted vertex, else the selected shape."""
        ...

    def convert_mask(self) -> Any:
        """The selected RLE mask becomes polygons."""
        ...
