"""What an editing tool may ask of the editor that hosts it: the view, the state and the selection.

The tools (:mod:`studio.gui.editor.tools`) are written against this protocol, not against
:class:`~studio.gui.editor.controller.EditorController`, which builds them and passes itself in: the
controller imports the tools, the tools import only this module, so the two never import each other.
What a gesture does to the dataset is decided by the Qt-free :class:`~studio.gui.editor.state.EditorState`
(each edit one undoable command); a tool only tracks the gesture in progress and draws its marks.
"""

from __future__ import annotations

from typing import Any, Protocol

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
