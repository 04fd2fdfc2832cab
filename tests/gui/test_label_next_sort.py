"""The image list's "Label next (model)" order: ranked unlabelled images first with their figure, labelled ones after;
a real checkpoint ranks in a worker; no model, Cancel and File order go back to the file's order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtCore import Qt

from studio.core.dataset.model import Dataset
from studio.core.dataset.summary import ImageSummary
from studio.gui.data.image_list import FILE_ORDER, LABEL_NEXT, RANK_ROLE, ImageListPanel

RUN_MS = 60_000


@dataclass(frozen=True)
class Ranked:
    image_id: int
    score: float

    def reason(self) -> str:
        return f"uncertainty {self.score:.2f}"


@pytest.fixture(autouse=True)
def _discard_at_close(monkeypatch):
    from studio.gui.editor import controller

    monkeypatch.setattr(controller, "ask_save_changes", lambda _parent, _name: "discard")


@pytest.fixture
def partly_labelled(small_demo):
    ann, images = small_demo
    ds = Dataset.load(ann)
    bare = [im["id"] for im in ds.images[-4:]]
    for a in [a for a in ds.annotations if a["image_id"] in bare]:
        ds.remove_annotation(a["id"])
    ds.save(ann)
    return ann, images, bare


def _choose(qtbot, combo, mode: str) -> None:
    """Pick ``mode`` in the order box with the keyboard, as a user would."""
    combo.setFocus()
    key = Qt.Key.Key_Down if combo.findData(mode) > combo.currentIndex() else Qt.Key.Key_Up
    qtbot.keyClick(combo, key)


def test_ranked_images_lead_the_list_with_their_figure(qtbot):
    panel = ImageListPanel()
    qtbot.addWidget(panel)
    panel.set_images([ImageSummary(i, f"im{i}.jpg", 0 if i in (3, 5) else 1, frozenset()) for i in range(1, 7)])
    panel.set_ranking([Ranked(5, 0.9), Ranked(3, 0.4)])
    assert panel.visible_image_ids() == [5, 3, 1, 2, 4, 6]
    assert panel.order_mode() == LABEL_NEXT
    first = panel.proxy.index(0, 0)
    assert first.data(RANK_ROLE) == pytest.approx(0.9) and panel.proxy.index(2, 0).data(RANK_ROLE) is None
    assert "label next: #1, 0.90 (uncertainty 0.90)" in first.data(Qt.ItemDataRole.ToolTipRole)
    panel.unannotated_box.setChecked(True)  # the filters keep the order
    assert panel.visible_image_ids() == [5, 3]
    panel.set_ranking(None)
    assert panel.visible_image_ids() == [3, 5] and panel.order_mode() == FILE_ORDER


def test_label_next_ranks_the_unlabelled_images_with_the_model(qtbot, make_window, partly_labelled, checkpoint_factory):
    ann, images, bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    page.labelling_model.set_path(checkpoint_factory("seg_lite", 96, calibrate_bn=True))
    _choose(qtbot, page.images.order_combo, LABEL_NEXT)
    assert page.images.order_mode() == LABEL_NEXT
    assert page.label_next.slot.running and page.images.order_cancel.isVisible()
    qtbot.waitUntil(lambda: not page.label_next.slot.running, timeout=RUN_MS)
    ids = page.images.visible_image_ids()
    assert set(ids[: len(bare)]) == set(bare)  # the ranked (unlabelled) images first
    assert ids[len(bare) :] == [im["id"] for im in page.loaded.dataset.images if im["id"] not in bare]
    figures = [page.images.proxy.index(i, 0).data(RANK_ROLE) for i in range(len(bare))]
    assert all(f is not None for f in figures) and figures[0] == max(figures)
    assert not page.images.order_cancel.isVisible()
    # D walks the ranking
    page.select_first_image()
    page.viewer.view.setFocus()
    qtbot.keyClick(page.viewer.view, Qt.Key.Key_D)
    assert page.images.current_image_id() == ids[1]

    _choose(qtbot, page.images.order_combo, FILE_ORDER)
    assert page.images.visible_image_ids() == [im["id"] for im in page.loaded.dataset.images]
    assert page.images.proxy.index(0, 0).data(RANK_ROLE) is None


def test_without_a_model_the_order_stays_and_says_why(qtbot, make_window, partly_labelled):
    ann, images, _bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    _choose(qtbot, page.images.order_combo, LABEL_NEXT)
    assert page.images.order_mode() == FILE_ORDER and not page.label_next.slot.running
    assert "needs a trained model" in page.edit_bar.message_label.toolTip()


def test_cancel_goes_back_to_the_file_order(qtbot, make_window, partly_labelled, checkpoint_factory):
    ann, images, _bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    page.labelling_model.set_path(checkpoint_factory("seg_lite", 96, calibrate_bn=True))
    _choose(qtbot, page.images.order_combo, LABEL_NEXT)
    qtbot.mouseClick(page.images.order_cancel, Qt.MouseButton.LeftButton)
    assert not page.label_next.slot.running and page.images.order_mode() == FILE_ORDER
    assert not page.images.order_cancel.isVisible()
    assert page.images.visible_image_ids() == [im["id"] for im in page.loaded.dataset.images]
