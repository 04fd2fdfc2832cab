"""The image viewer of the Data page: layer switches above the canvas, a status line below it."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from studio.core.dataset.check import Problem
from studio.gui.common.image_cache import ImageLoader
from studio.gui.common.image_view import ImageView
from studio.gui.common.overlays import Overlays, build_overlays
from studio.gui.common.workers import Jobs


class ImagePanel(QWidget):
    """Shows one image record with its annotations; decoding happens in a worker via :class:`ImageLoader`."""

    annotation_selected = Signal(object)  # annotation id or None, from a click on the canvas
    image_ready = Signal()  # the current image is decoded (or failed to)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.loader = ImageLoader(jobs, parent=self)
        self.view = ImageView()
        self.overlays: Overlays | None = None
        self.image: dict | None = None
        self.path: str | None = None
        self.error: str | None = None
        self._anns: list[dict] = []
        self._class_name: Callable[[Any], str] = str
        self._problems: list[Problem] = []

        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the image to the window")
        self.masks_box = QCheckBox("Masks")
        self.boxes_box = QCheckBox("Boxes")
        self.labels_box = QCheckBox("Labels")
        for b in (self.masks_box, self.boxes_box, self.labels_box):
            b.setChecked(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(40)
        self.opacity.setFixedWidth(100)
        self.opacity.setToolTip("Fill opacity of masks and polygons")
        self.opacity_label = QLabel()
        self.opacity_label.setMinimumWidth(34)
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("muted")
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        tools = QHBoxLayout()
        tools.addWidget(self.fit_button)
        tools.addSpacing(8)
        for b in (self.masks_box, self.boxes_box, self.labels_box):
            tools.addWidget(b)
        tools.addSpacing(8)
        tools.addWidget(QLabel("Opacity"))
        tools.addWidget(self.opacity)
        tools.addWidget(self.opacity_label)
        tools.addStretch(1)
        tools.addWidget(self.zoom_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(tools)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.status)

        self.fit_button.clicked.connect(self.view.fit_to_window)
        self.masks_box.toggled.connect(lambda on: self._layer("masks", on))
        self.boxes_box.toggled.connect(lambda on: self._layer("boxes", on))
        self.labels_box.toggled.connect(lambda on: self._layer("labels", on))
        self.opacity.valueChanged.connect(self._on_opacity)
        self.view.clicked.connect(self._on_click)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self._on_opacity(self.opacity.value())
        self.clear()

    # ------------------------------------------------------------------ content
    def clear(self, message: str = "No image selected") -> None:
        self.view.clear()
        self.overlays, self.image, self.path, self.error = None, None, None, None
        self._set_status(message)

    def show_image(
        self,
        image: dict,
        anns: list[dict],
        path: str | Path,
        class_name: Callable[[Any], str],
        problems: list[Problem] | None = None,
    ) -> None:
        """Draw the overlays on a canvas of the record's size now; the pixels follow when decoded."""
        self.image, self.path, self.error = image, str(path), None
        self._anns, self._class_name, self._problems = anns, class_name, list(problems or [])
        self.view.set_canvas(image.get("width") or 1, image.get("height") or 1)
        self.overlays = build_overlays(self.view.scene(), image, anns, class_name, self.opacity.value() / 100)
        self.view.pick_area = self.overlays.annotation_area
        for layer, box in (("masks", self.masks_box), ("boxes", self.boxes_box), ("labels", self.labels_box)):
            if not box.isChecked():
                self.overlays.set_visible(layer, False)
        self._set_status()
        img = self.loader.request(self.path)
        if img is not None:
            self._on_loaded(self.path, img)

    def set_problems(self, problems: list[Problem]) -> None:
        """The check report's problems for the image shown (they arrive after the image)."""
        self._problems = list(problems)
        if self.image is not None:
            self._set_status()

    def pending(self) -> bool:
        """True while the current image is still being decoded."""
        return self.path is not None and self.error is None and self.view.image_item is None

    def select_annotation(self, ann_id: Any) -> None:
        if self.overlays is None:
            return
        self.overlays.select(ann_id)
        self._set_status()

    def selected_annotation(self) -> Any:
        return self.overlays.selected if self.overlays is not None else None

    # ------------------------------------------------------------------ slots
    def _on_loaded(self, path: str, img: QImage) -> None:
        if path != self.path:
            return  # a decode for an image no longer shown: cached, not drawn
        self.view.set_image(img)
        self._set_status()
        self.image_ready.emit()

    def _on_failed(self, path: str, message: str) -> None:
        if path != self.path:
            return
        self.error = message
        self.view.set_placeholder_text(message.split(":", 1)[0])
        self._set_status()
        self.image_ready.emit()

    def _on_click(self, ann_id: Any) -> None:
        self.select_annotation(ann_id)
        self.annotation_selected.emit(ann_id)

    def _layer(self, layer: str, on: bool) -> None:
        if self.overlays is not None:
            self.overlays.set_visible(layer, on)

    def _on_opacity(self, value: int) -> None:
        self.opacity_label.setText(f"{value}%")
        if self.overlays is not None:
            self.overlays.set_opacity(value / 100)

    # ------------------------------------------------------------------ status line
    def status_text(self) -> str:
        return self.status.text()

    def _set_status(self, message: str | None = None) -> None:
        if message is not None or self.image is None:
            self.status.setStyleSheet("")
            self.status.setText(message or "")
            return
        im = self.image
        parts = [
            f"<b>{_esc(im['file_name'])}</b>",
            f"id {_esc(im['id'])}",
            f"{im.get('width')}×{im.get('height')}",
            f"{len(self._anns)} annotation(s)",
        ]
        if self.image.get("ignore_regions"):
            parts.append(f"{len(im['ignore_regions'])} ignore region(s)")
        sel = self.selected_annotation()
        if sel is not None and self.overlays is not None:
            a = self.overlays.by_ann[sel].ann
            parts.append(
                f"selected: annotation {_esc(sel)} ({_esc(self._class_name(a.get('category_id')))}, "
                f"area {float(a.get('area') or 0):.0f} px²)"
            )
        lines = [" · ".join(parts)]
        if self.error:
            lines.append(f'<span style="color:#c1121f"><b>{_esc(self.error)}</b></span>')
        for p in self._problems[:3]:
            if self.error and p.kind in ("missing_image", "unreadable_image"):
                continue
            color = "#c1121f" if p.severity == "error" else "#b35c00"
            ann = f" (annotation {_esc(p.ann_id)})" if p.ann_id is not None else ""
            lines.append(f'<span style="color:{color}">{p.severity}: {_esc(p.message)}{ann}</span>')
        if len(self._problems) > 3:
            lines.append(f"... and {len(self._problems) - 3} more problem(s) in the check report")
        self.status.setText("<br>".join(lines))


def _esc(v: Any) -> str:
    return html.escape(str(v))
