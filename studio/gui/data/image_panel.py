"""The image viewer of the Data page: layer switches above the canvas, a status line below it.

What the viewer hides is view-only, never an edit: the Masks switch takes the fill off polygons (their
outlines stay) and shows an RLE mask as its outline instead of its pixels, and single shapes can be hidden
(the shape list's eye boxes). Both hold when a shape is redrawn after an edit; an outline picks its shape
like the fill did.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QPainterPath
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.check import Problem
from studio.core.geometry import is_rle, segmentation_to_mask
from studio.gui.common import palette
from studio.gui.common.image_cache import ImageLoader
from studio.gui.common.image_view import ImageView
from studio.gui.common.overlays import ANN_ID_KEY, Z_SELECTED, Overlays, build_overlays, cosmetic_pen
from studio.gui.common.workers import Jobs
from studio.gui.editor.shapes import outline_parts

log = logging.getLogger("studio.gui.data")


class ImagePanel(QWidget):
    """Shows one image record with its annotations; decoding happens in a worker via :class:`ImageLoader`."""

    annotation_selected = Signal(object)  # annotation id or None, from a click on the canvas
    image_ready = Signal()  # the current image is decoded (or failed to)
    shown = Signal()  # another image (or none) is shown: its annotations are drawn

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
        self.hidden: set[Any] = set()  # annotations of the image shown that are not drawn (view-only)
        self._outlines: dict[Any, QGraphicsPathItem] = {}  # RLE mask outlines, while fills are off

        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit the image to the window")
        self.masks_box = QCheckBox("Masks")
        self.boxes_box = QCheckBox("Boxes")
        self.labels_box = QCheckBox("Labels")
        for b in (self.masks_box, self.boxes_box, self.labels_box):
            b.setChecked(True)
        self.masks_box.setToolTip("Fill masks and polygons; off, only their outlines are drawn")
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
        self.masks_box.toggled.connect(self._on_fills)
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
        self._anns, self._outlines, self.hidden = [], {}, set()
        self._set_status(message)
        self.shown.emit()

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
        self._outlines, self.hidden = {}, set()
        self.overlays = build_overlays(self.view.scene(), image, anns, class_name, self._fill_opacity())
        self.view.pick_area = self.overlays.annotation_area
        for layer, box in (("boxes", self.boxes_box), ("labels", self.labels_box)):
            if not box.isChecked():
                self.overlays.set_visible(layer, False)
        if not self.fills():
            for ann in anns:
                self._outline(ann)
            for mask in self.overlays.mask_items():
                mask.setVisible(False)
        self._set_status()
        self.shown.emit()
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
        was = self.overlays.selected
        self.overlays.select(ann_id)
        for aid in {was, self.overlays.selected} - {None}:
            self._style_outline(aid)
        self._set_status()

    # ------------------------------------------------------------------ what is drawn (view-only)
    def fills(self) -> bool:
        """Masks and polygons are filled (the Masks switch); off, only outlines are drawn."""
        return self.masks_box.isChecked()

    def redraw_annotation(self, ann_id: Any, ann: dict | None, class_name: Callable[[Any], str]) -> None:
        """Draw one annotation again after an edit (``ann`` None: it is gone); a hidden one stays hidden."""
        if self.overlays is None or self.image is None:
            return
        self._drop_outline(ann_id)
        self.overlays.replace(self.view.scene(), self.image, ann_id, ann, class_name)
        if ann is None:
            self.hidden.discard(ann_id)
            return
        if not self.fills():
            self._outline(ann)
        self._show_items(ann_id, ann_id not in self.hidden)

    def set_annotation_visible(self, ann_id: Any, on: bool) -> None:
        """Show or hide one annotation of the image shown (the shape list's eye box); a hidden one cannot be
        picked on the canvas."""
        if self.overlays is None or ann_id not in self.overlays.by_ann:
            return
        if on:
            self.hidden.discard(ann_id)
        else:
            self.hidden.add(ann_id)
        self._show_items(ann_id, on)

    def annotation_visible(self, ann_id: Any) -> bool:
        return ann_id not in self.hidden

    def annotation_items(self, ann_id: Any) -> list[QGraphicsItem]:
        """Every item drawing one annotation (a shape being dragged moves them)."""
        if self.overlays is None or ann_id not in self.overlays.by_ann:
            return []
        a = self.overlays.by_ann[ann_id]
        items = [*a.polygons, *a.masks, a.box, a.label, self._outlines.get(ann_id)]
        return [it for it in items if it is not None]

    def _show_items(self, ann_id: Any, on: bool) -> None:
        a = self.overlays.by_ann[ann_id]  # type: ignore[union-attr]
        for it in [*a.polygons, self._outlines.get(ann_id)]:
            if it is not None:
                it.setVisible(on)
        for mask in a.masks:
            mask.setVisible(on and self.fills())
        if a.box is not None:
            a.box.setVisible(on and self.boxes_box.isChecked())
        if a.label is not None:
            a.label.setVisible(on and self.labels_box.isChecked())

    def _fill_opacity(self) -> float:
        return self.opacity.value() / 100 if self.fills() else 0.0

    def _on_fills(self, on: bool) -> None:
        self.opacity.setEnabled(on)
        if self.overlays is None:
            return
        self.overlays.set_opacity(self._fill_opacity())
        if on:
            for aid in list(self._outlines):
                self._drop_outline(aid)
        else:
            for a in self.overlays.by_ann.values():
                self._outline(a.ann)
        for aid in self.overlays.by_ann:
            self._show_items(aid, aid not in self.hidden)

    def _outline(self, ann: dict) -> None:
        """The outline of an RLE mask (polygons have theirs), drawn while the fills are off."""
        seg, im = ann.get("segmentation"), self.image or {}
        h, w = int(im.get("height") or 0), int(im.get("width") or 0)
        if not is_rle(seg) or not h or not w or ann["id"] in self._outlines:
            return
        try:
            parts = outline_parts(segmentation_to_mask(seg, h, w))
        except Exception as e:  # a broken RLE is reported by the check; it must not stop the drawing
            log.warning("annotation %s: cannot outline its RLE mask (%s)", ann["id"], e)
            return
        path = QPainterPath()
        for flat in parts:
            path.moveTo(QPointF(flat[0], flat[1]))
            for i in range(2, len(flat) - 1, 2):
                path.lineTo(QPointF(flat[i], flat[i + 1]))
            path.closeSubpath()
        item = QGraphicsPathItem(path)
        item.setData(ANN_ID_KEY, ann["id"])
        item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.view.scene().addItem(item)
        self._outlines[ann["id"]] = item
        self._style_outline(ann["id"])
        if ann["id"] in self.hidden:
            item.setVisible(False)

    def _style_outline(self, ann_id: Any) -> None:
        item = self._outlines.get(ann_id)
        if item is None or self.overlays is None or ann_id not in self.overlays.by_ann:
            return
        sel = ann_id == self.overlays.selected
        color = palette.SELECTION if sel else self.overlays.by_ann[ann_id].color
        item.setPen(cosmetic_pen(color, 3.0 if sel else 1.5))
        item.setZValue(Z_SELECTED if sel else Z_SELECTED - 1)

    def _drop_outline(self, ann_id: Any) -> None:
        item = self._outlines.pop(ann_id, None)
        if item is not None and item.scene() is not None:
            item.scene().removeItem(item)

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
            for aid in self.hidden:
                self._show_items(aid, False)

    def _on_opacity(self, value: int) -> None:
        self.opacity_label.setText(f"{value}%")
        if self.overlays is not None and self.fills():
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
