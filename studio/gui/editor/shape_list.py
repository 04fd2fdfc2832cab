"""The shape list: every shape of the image shown, with its class colour and name, its kind, its review status
(a model's proposal waiting for review shows "pending" and its score, an accepted one "model" or "smart") and an
eye box.

A row is one annotation (in the file's order): clicking it selects the shape on the canvas (with the Select
tool), and a shape picked on the canvas is highlighted here. The eye box hides the shape on the canvas, which
is view-only (no edit, nothing saved): a hidden shape cannot be picked and shows no handles. The list
follows every edit, undo and redo of the image shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core.dataset.edits import EditEvent
from studio.core.dataset.provenance import MANUAL, is_pending, source_of
from studio.gui.common import palette
from studio.gui.common.overlays import proposal_score
from studio.gui.data.image_panel import ImagePanel
from studio.gui.editor.controller import EditorController
from studio.gui.editor.shapes import describe_kind

ANN_ROLE = Qt.ItemDataRole.UserRole + 1
EYE, CLASS, KIND, ID, STATUS = range(5)


class ShapeList(QTreeWidget):
    HEADERS = ("Show", "Class", "Type", "Id", "Status")

    def __init__(self, editor: EditorController, panel: ImagePanel, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor, self.panel = editor, panel
        self.setColumnCount(len(self.HEADERS))
        self.setHeaderLabels(self.HEADERS)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.headerItem().setToolTip(EYE, "Untick to hide the shape on the canvas (view only, not an edit)")
        header = self.header()
        header.setStretchLastSection(False)
        self.headerItem().setToolTip(
            STATUS,
            "pending: a model's proposal waiting for review (its score); model, smart: where an accepted one came from",
        )
        for col in (EYE, KIND, ID, STATUS):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CLASS, QHeaderView.ResizeMode.Stretch)
        self._filling = False
        self.itemChanged.connect(self._on_changed)
        self.currentItemChanged.connect(self._on_current)
        panel.shown.connect(self.refill)
        editor.edited.connect(self._on_edited)
        editor.selection_changed.connect(self.show_selected)
        self.refill()

    # ------------------------------------------------------------------ content
    def annotations(self) -> list[dict]:
        """The shapes of the image shown, in the file's order."""
        im, ds = self.panel.image, self.editor.ds
        if im is None or ds is None or not ds.has_image(im.get("id")):
            return []
        return list(ds.anns_for_image(im["id"]))

    def refill(self) -> None:
        self._filling = True
        try:
            self.clear()
            for ann in self.annotations():
                aid = ann["id"]
                cid = ann.get("category_id")
                item = QTreeWidgetItem(["", self.editor.state.class_name(cid), describe_kind(ann), str(aid)])
                item.setData(EYE, ANN_ROLE, aid)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                visible = self.panel.annotation_visible(aid)
                item.setCheckState(EYE, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
                item.setIcon(CLASS, palette.dot_icon(palette.class_color(cid)))
                item.setToolTip(CLASS, f"{self.editor.state.class_name(cid)} (class id {cid})")
                item.setTextAlignment(ID, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setText(STATUS, status_text(ann))
                if is_pending(ann):
                    item.setForeground(STATUS, palette.WARNING)
                    item.setToolTip(
                        STATUS, f"a model's proposal (score {proposal_score(ann)}): Enter accepts it in review mode"
                    )
                self.addTopLevelItem(item)
        finally:
            self._filling = False
        self.show_selected(self.editor.selected)

    def rows(self) -> list[tuple[Any, str, str, bool]]:
        """(annotation id, class, type, shown) of each row (tests)."""
        out = []
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            shown = it.checkState(EYE) == Qt.CheckState.Checked
            out.append((it.data(EYE, ANN_ROLE), it.text(CLASS), it.text(KIND), shown))
        return out

    def item_of(self, ann_id: Any) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            if it.data(EYE, ANN_ROLE) == ann_id:
                return it
        return None

    # ------------------------------------------------------------------ both ways with the canvas
    def show_selected(self, ann_id: Any) -> None:
        """The shape selected on the canvas is the current row (none: no row)."""
        item = self.item_of(ann_id) if ann_id is not None else None
        self.blockSignals(True)
        try:
            if item is None:
                self.setCurrentItem(None)  # type: ignore[arg-type]
                self.clearSelection()
            else:
                self.setCurrentItem(item)
                self.scrollToItem(item)
        finally:
            self.blockSignals(False)

    def _on_current(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if self._filling or current is None:
            return
        aid = current.data(EYE, ANN_ROLE)
        if not self.panel.annotation_visible(aid):
            return  # a hidden shape is not selected on the canvas
        if self.editor.state.tool != "select":
            self.editor.set_tool("select")
        self.editor.select(aid)

    def _on_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != EYE:
            return
        aid = item.data(EYE, ANN_ROLE)
        on = item.checkState(EYE) == Qt.CheckState.Checked
        if not on and self.editor.selected == aid:
            self.editor.select(None)
        self.panel.set_annotation_visible(aid, on)

    def statuses(self) -> list[tuple[Any, str]]:
        """(annotation id, status text) of each row (tests)."""
        return [
            (self.topLevelItem(i).data(EYE, ANN_ROLE), self.topLevelItem(i).text(STATUS))
            for i in range(self.topLevelItemCount())
        ]

    def _on_edited(self, event: EditEvent) -> None:
        im = self.panel.image
        across = event.command.image is None and bool(event.command.annotation_ids())  # an edit of several images
        if event.categories_changed or across or (im is not None and event.command.image == im.get("id")):
            self.refill()


def status_text(ann: dict) -> str:
    """The Status column: ``pending 0.83`` for a proposal, ``model`` / ``smart`` for an accepted shape from there,
    nothing for a shape drawn by hand."""
    if is_pending(ann):
        return f"pending {proposal_score(ann)}"
    source = source_of(ann)
    return "" if source == MANUAL else source
