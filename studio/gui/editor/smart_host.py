"""What the brush, the eraser and the smart tools ask of the editor beyond :class:`~studio.gui.editor.host.ToolHost`:
the pixels of the image shown, the workers to run OpenCV in, the settings they share and a line to say what they
are doing. :class:`~studio.gui.editor.controller.EditorController` provides them. The labelling model a smart box asks
first (:class:`PromptModel`) is handed to the tool by the Data page (``SmartBoxTool.use_model``)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import SignalInstance

from studio.core.labelling.box_prompt import DetectionCache
from studio.gui.common.workers import Jobs
from studio.gui.editor.host import ToolHost
from studio.gui.editor.tool_options import ToolOptions


class SmartToolHost(ToolHost, Protocol):
    jobs: Jobs
    options: ToolOptions  # the brush radius and the simplify tolerance
    note: SignalInstance  # note.emit(text): what the tool is doing or found ("" clears it)
    message: SignalInstance  # message.emit(text): a warning (a refused edit, a failure)

    def image_pixels(self) -> np.ndarray | None:
        """The image shown, ``H x W x 3`` uint8 RGB; None until it is decoded (or when it cannot be)."""
        ...


class PromptModel(Protocol):
    """The model a box drawn with the smart box asks first (the Data page's
    :class:`~studio.gui.data.label_model.LabellingModelChoice`): ``path`` None when none is chosen; ``cache`` holds its
    detections per image, filled in the tool's worker."""

    path: Path | None
    cache: DetectionCache
