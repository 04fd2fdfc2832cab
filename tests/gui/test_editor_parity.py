"""Editor parity with labelme / X-AnyLabeling / CVAT, driven with real mouse and key events: moving whole shapes,
nudging, duplicate / copy / paste across images, navigation keys wherever the focus is, panning in every tool,
zoom at the cursor, class keys and the class prompt, the shape list, Delete and Esc, multi-part polygons and
RLE masks, autosave and crash replay, the check report after edits, the Masks switch, the layout at 1280x800.

Most tests run on the hand-made ``mixed`` set (tests/gui/conftest.py): image 1 (a.jpg, 200x150) has a
two-part polygon (10, cat), an RLE mask (11, dog), a box (12, cat) and a small square (14, dog); image 2
(b.jpg, 100x80, its file is missing) has a square (13); image 3 (c.jpg, 120x90) has no shapes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from tests.gui.test_editor import Studio, _at, _click, _double_click, _drag, _pixel, _wait_image
from tests.gui.test_editor import open_studio as open_studio  # a fixture

from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import recovery_path
from studio.gui.editor.class_prompt import NewClass

SHOTS = Path(os.environ["STUDIO_EDITOR_SHOTS"]) if os.environ.get("STUDIO_EDITOR_SHOTS") else None
PART0 = [10, 10, 40, 10, 40, 50, 10, 50]
PART1 = [60, 10, 100, 10, 100, 30, 60, 30]
CTRL, SHIFT, NONE = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier(0)


@pytest.fixture
def studio(open_studio, mixed):
    """``studio(**kw)``: the Data page on the mixed set (``open_studio``'s keywords)."""
    ann, images = mixed

    def make(**kw) -> Studio:
        return open_studio(ann, images=images, **kw)

    return make


def _press(qtbot, widget, key, mods=NONE) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, key, mods)


def _view_key(qtbot, s: Studio, key, mods=NONE) -> None:
    _press(qtbot, s.view, key, mods)


def _row(s: Studio) -> int:
    return s.page.images.view.currentIndex().row()


def _shown(s: Studio):
    return s.page.viewer.image["id"]


def _go(qtbot, s: Studio, key, mods=NONE, widget=None) -> None:
    _press(qtbot, widget if widget is not None else s.view, key, mods)
    _wait_image(qtbot, s)


def _close(a: list[float], b: list[float], tol: float) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def _shifted(flat: list[float], dx: float, dy: float) -> list[float]:
    return [v + (dx if i % 2 == 0 else dy) for i, v in enumerate(flat)]


# ----------------------------------------------------------------------------------------------- moving shapes
def test_dragging_inside_the_selected_shape_moves_it_whole_in_one_undo_step(qtbot, studio):
    s = studio()
    tol = 2 * _pixel(s)
    _click(qtbot, s, 25, 30)
    assert s.editor.selected == 10
    _drag(qtbot, s, (25, 30), (45, 50))  # inside part 0 of the two-part polygon
    seg = s.ds.annotation(10)["segmentation"]
    assert _close(seg[0], _shifted(PART0, 20, 20), tol) and _close(seg[1], _shifted(PART1, 20, 20), tol)
    assert s.editor.stack.peek_undo().label == "move shape" and len(s.editor.stack) == 1
    drawn = s.page.viewer.overlays.by_ann[10].polygons[0]
    assert drawn.pos() == QPointF(0, 0) and drawn.polygon().boundingRect().left() == pytest.approx(seg[0][0])
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(10)["segmentation"] == [PART0, PART1], "one undo step"

    _drag(qtbot, s, (25, 30), (525, 30))  # far past the right edge: kept on the image
    x, _y, w, _h = s.ds.annotation(10)["bbox"]
    assert x + w == pytest.approx(200) and s.ds.annotation(10)["segmentation"][1][2] == pytest.approx(200)
    _click(qtbot, s, 125, 75)
    _drag(qtbot, s, (125, 75), (135, 85))  # the box-only shape
    assert _close(s.ds.annotation(12)["bbox"], [120, 70, 30, 30], tol)
    _click(qtbot, s, 40, 120)
    _drag(qtbot, s, (40, 120), (50, 110))  # the RLE mask moves by whole pixels
    assert s.ds.annotation(11)["bbox"][:2] in ([30.0, 90.0], [29.0, 90.0], [30.0, 89.0], [31.0, 90.0], [30.0, 91.0])
    assert s.editor.dirty() and len(s.editor.stack) == 3


def test_dragging_elsewhere_still_pans(qtbot, studio):
    s = studio()
    s.view.zoom_by(3.0)
    s.view.centerOn(150, 100)
    bars = s.view.horizontalScrollBar(), s.view.verticalScrollBar()
    before = [b.value() for b in bars]
    _drag(qtbot, s, (170, 130), (180, 140))  # the background
    after = [b.value() for b in bars]
    assert after != before and len(s.editor.stack) == 0 and s.editor.selected is None
    _drag(qtbot, s, (125, 75), (135, 85))  # a shape that is not selected: a pan too, no edit
    assert [b.value() for b in bars] != after and len(s.editor.stack) == 0
    assert s.ds.annotation(12)["bbox"] == [110, 60, 30, 30]


def test_arrow_keys_nudge_the_selected_shape_and_merge_into_one_step(qtbot, studio):
    s = studio()
    _click(qtbot, s, 125, 75)
    assert s.editor.selected == 12
    for _ in range(3):
        _view_key(qtbot, s, Qt.Key.Key_Right)
    _view_key(qtbot, s, Qt.Key.Key_Down, SHIFT)
    assert s.ds.annotation(12)["bbox"] == [113.0, 70.0, 30.0, 30.0]
    assert len(s.editor.stack) == 1, "nudges in a row: one undo step"
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(12)["bbox"] == [110, 60, 30, 30] and not s.editor.dirty()
    # while the image list has the focus, the arrows move in the list
    _go(qtbot, s, Qt.Key.Key_Down, widget=s.page.images.view)
    assert _row(s) == 1 and s.ds.annotation(12)["bbox"] == [110, 60, 30, 30]


def test_duplicate_copy_and_paste_onto_other_images(qtbot, studio):
    s = studio()
    _click(qtbot, s, 25, 30)
    _view_key(qtbot, s, Qt.Key.Key_D, CTRL)
    dup = s.editor.selected
    assert dup != 10 and s.ds.annotation(dup)["segmentation"] == [_shifted(PART0, 10, 10), _shifted(PART1, 10, 10)]
    assert s.ds.annotation(dup)["category_id"] == 1 and dup in s.page.viewer.overlays.by_ann
    _view_key(qtbot, s, Qt.Key.Key_C, CTRL)  # copies the selected duplicate
    _go(qtbot, s, Qt.Key.Key_D)  # next image: b.jpg, 100 x 80
    assert _shown(s) == 2
    _view_key(qtbot, s, Qt.Key.Key_V, CTRL)
    (pasted,) = [a for a in s.ds.anns_for_image(2) if a["id"] != 13]
    part0, part1 = pasted["segmentation"]
    assert part0 == _shifted(PART0, 10, 10), "in place on another image"
    assert max(part1[::2]) == pytest.approx(100) and "cut to the image's edges" in s.bar.message()
    assert s.editor.selected == pasted["id"]
    _go(qtbot, s, Qt.Key.Key_D)  # c.jpg, 120 x 90: the copy fits
    _view_key(qtbot, s, Qt.Key.Key_V, CTRL)
    assert [a["segmentation"] for a in s.ds.anns_for_image(3)] == [[_shifted(PART0, 10, 10), _shifted(PART1, 10, 10)]]
    # nothing selected: Ctrl+C copies every shape of the image
    _go(qtbot, s, Qt.Key.Key_A)
    _go(qtbot, s, Qt.Key.Key_A)
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert s.editor.selected is None
    _view_key(qtbot, s, Qt.Key.Key_C, CTRL)
    assert len(s.editor.state.clipboard.shapes) == 5
    _view_key(qtbot, s, Qt.Key.Key_V, CTRL)  # on the same image: a few pixels off
    assert len(s.ds.anns_for_image(1)) == 10
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert len(s.ds.anns_for_image(1)) == 5, "a paste is one undo step"


def test_copy_every_shape_of_the_previous_image(qtbot, studio):
    s = studio()
    s.page.images.select_row(2)
    _wait_image(qtbot, s)
    assert _shown(s) == 3 and s.ds.anns_for_image(3) == []
    assert s.page.edit_actions.actions["editor.paste_previous"].isEnabled()
    _view_key(qtbot, s, Qt.Key.Key_V, CTRL | SHIFT)
    (copied,) = s.ds.anns_for_image(3)
    assert copied["segmentation"] == s.ds.annotation(13)["segmentation"] and copied["category_id"] == 2
    assert copied["id"] in s.page.viewer.overlays.by_ann


# ----------------------------------------------------------------------------------------------- navigation
def test_next_and_previous_image_keys_wherever_the_focus_is_but_text_boxes_type(qtbot, studio):
    s = studio()
    page = s.page
    _go(qtbot, s, Qt.Key.Key_D)
    assert _row(s) == 1
    _go(qtbot, s, Qt.Key.Key_A)
    assert _row(s) == 0
    _go(qtbot, s, Qt.Key.Key_PageDown, widget=page.images.view)
    assert _row(s) == 1
    _go(qtbot, s, Qt.Key.Key_PageUp, widget=page.problems)
    assert _row(s) == 0
    _go(qtbot, s, Qt.Key.Key_D, widget=s.bar.class_combo)
    assert _row(s) == 1
    _go(qtbot, s, Qt.Key.Key_A, widget=page.images.view)
    assert _row(s) == 0
    # the next image without shapes: c.jpg (b.jpg has one)
    _go(qtbot, s, Qt.Key.Key_D, SHIFT)
    assert _shown(s) == 3
    _go(qtbot, s, Qt.Key.Key_D)
    assert _shown(s) == 3, "the last image: nothing after it"
    # a text box keeps its letters
    fired = []
    page.edit_actions.actions["data.next_image"].triggered.connect(lambda: fired.append(1))
    page.images.search.setFocus()
    qtbot.keyClicks(page.images.search, "dap")
    assert page.images.search.text() == "dap" and fired == [] and s.editor.tool.name == "select"


def test_tool_keys_work_from_any_widget_of_the_page(qtbot, studio):
    s = studio()
    _press(qtbot, s.page.images.view, Qt.Key.Key_P)
    assert s.editor.tool.name == "polygon" and s.bar.tool_buttons["polygon"].isChecked()
    _press(qtbot, s.page.problems, Qt.Key.Key_B)
    assert s.editor.tool.name == "box"
    _press(qtbot, s.page.shapes, Qt.Key.Key_V)
    assert s.editor.tool.name == "select"


def test_pan_with_the_middle_button_or_space_in_every_tool_keeps_a_polygon_being_drawn(qtbot, studio):
    s = studio()
    s.editor.set_tool("polygon")
    s.view.zoom_by(3.0)
    s.view.centerOn(100, 75)
    _click(qtbot, s, 90, 70)
    _click(qtbot, s, 110, 70)
    bars = s.view.horizontalScrollBar(), s.view.verticalScrollBar()
    vp = s.view.viewport()
    before = [b.value() for b in bars]
    a, b = _at(s, 100, 80), _at(s, 80, 60)
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=a)
    qtbot.mouseMove(vp, pos=(a + b) / 2)
    qtbot.mouseMove(vp, pos=b)
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=b)
    after_middle = [v.value() for v in bars]
    assert after_middle != before and len(s.editor.tool.points) == 2, "middle-drag pans, the points stay"
    s.view.setFocus()
    qtbot.keyPress(s.view, Qt.Key.Key_Space)
    a, b = QPoint(300, 250), QPoint(340, 280)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(vp, pos=b)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)
    qtbot.keyRelease(s.view, Qt.Key.Key_Space)
    assert [v.value() for v in bars] != after_middle, "Space + drag pans"
    assert len(s.editor.tool.points) == 2, "Space + click adds no vertex"
    assert not s.editor.panner.space_held
    _click(qtbot, s, 100, 90)
    _view_key(qtbot, s, Qt.Key.Key_Return)
    new = s.ds.anns_for_image(1)[-1]
    assert len(new["segmentation"][0]) == 6 and abs(new["segmentation"][0][0] - 90) <= 2 * _pixel(s)
    # the box tool: a middle-drag draws no box
    s.editor.set_tool("box")
    n = len(s.ds.annotations)
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=QPoint(200, 200))
    qtbot.mouseMove(vp, pos=QPoint(260, 240))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=QPoint(260, 240))
    assert len(s.ds.annotations) == n


def _wheel(view, pos: QPoint, steps: int) -> None:
    vp = view.viewport()
    event = QWheelEvent(
        QPointF(pos),
        QPointF(vp.mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(vp, event)


def test_wheel_zoom_keeps_the_point_under_the_cursor(qtbot, studio):
    """Wherever the view can scroll that far: at the image's edge it cannot scroll past (no viewer does)."""
    s = studio()
    centre = s.view.mapFromScene(QPointF(100, 75))
    off_centre = [centre + QPoint(dx, dy) for dx, dy in ((-120, -90), (150, 60), (60, -100))]
    for pos in (centre, *off_centre):
        before = s.view.mapToScene(pos)
        zoom = s.view.zoom()
        _wheel(s.view, pos, 2)
        assert s.view.zoom() == pytest.approx(zoom * 1.25**2)
        after = s.view.mapToScene(pos)
        assert abs(after.x() - before.x()) <= 1.5 / zoom and abs(after.y() - before.y()) <= 1.5 / zoom, pos


# ----------------------------------------------------------------------------------------------- classes
def test_number_keys_pick_the_next_class_or_relabel_the_selected_shape(qtbot, studio):
    s = studio()
    combo = s.bar.class_combo
    _view_key(qtbot, s, Qt.Key.Key_2)
    assert s.editor.category_id == 2 and combo.currentData() == 2 and s.bar.class_label.text() == "Draw as"
    s.editor.set_tool("box")
    _drag(qtbot, s, (150, 100), (190, 140))
    box = s.ds.anns_for_image(1)[-1]
    assert box["category_id"] == 2
    s.editor.set_tool("select")
    _click(qtbot, s, 125, 75)
    assert combo.currentData() == 1 and s.bar.class_label.text() == "Relabel"
    _view_key(qtbot, s, Qt.Key.Key_3)
    assert s.ds.annotation(12)["category_id"] == 3 and combo.currentData() == 3
    assert s.editor.category_id == 2, "relabelling never changes the class of the next shape"
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert combo.currentData() == 2, "nothing selected: the box shows the next shape's class again"
    _press(qtbot, s.page.images.view, Qt.Key.Key_1)
    assert s.editor.category_id == 1, "from the image list too"
    _view_key(qtbot, s, Qt.Key.Key_9)
    assert "no class 9" in s.bar.message()


def test_the_class_prompt_follows_each_drawn_shape(qtbot, studio, tmp_path):
    s = studio(last_label=False)
    prompt = s.editor.prompt
    s.editor.set_tool("box")
    n = len(s.ds.annotations)
    _drag(qtbot, s, (150, 100), (190, 140))
    assert prompt.isVisible() and s.editor.pending_shape() is not None and len(s.ds.annotations) == n
    assert prompt.names() == ["cat", "dog", "bird"] and prompt.list.currentItem().text() == "cat"
    _shot(s, tmp_path, "editor_class_prompt.png")
    qtbot.keyClicks(prompt.filter, "bi")
    assert prompt.names() == ["bird", "Add class “bi”"] and prompt.list.currentItem().text() == "bird"
    qtbot.keyClick(prompt.filter, Qt.Key.Key_Return)
    assert not prompt.isVisible() and len(s.ds.annotations) == n + 1
    assert s.ds.annotations[-1]["category_id"] == 3 and s.ds.annotations[-1]["segmentation"] == []
    # the next prompt opens on the last label; Down moves, Esc drops the shape
    _drag(qtbot, s, (150, 20), (190, 60))
    assert prompt.list.currentItem().text() == "bird"
    qtbot.keyClick(prompt.filter, Qt.Key.Key_Up)
    assert prompt.list.currentItem().text() == "dog"
    qtbot.keyClick(prompt.filter, Qt.Key.Key_Escape)
    assert not prompt.isVisible() and len(s.ds.annotations) == n + 1 and s.editor.pending_shape() is None
    # a name no class has: Enter adds the class, then the shape
    _drag(qtbot, s, (150, 20), (190, 60))
    qtbot.keyClicks(prompt.filter, "kite")
    assert prompt.names() == ["Add class “kite”"]
    assert isinstance(prompt.list.currentItem().data(Qt.ItemDataRole.UserRole), NewClass)
    qtbot.keyClick(prompt.filter, Qt.Key.Key_Return)
    assert s.ds.category_id("kite") == 4 and s.ds.annotations[-1]["category_id"] == 4
    # "Use last label": no prompt
    qtbot.mouseClick(s.bar.last_label_box, Qt.MouseButton.LeftButton)
    assert s.editor.use_last_label
    _drag(qtbot, s, (10, 60), (40, 90))
    assert not prompt.isVisible() and s.ds.annotations[-1]["category_id"] == 4


# ----------------------------------------------------------------------------------------------- the shape list
def _row_rect(tree, ann_id):
    return tree.visualItemRect(tree.item_of(ann_id))


def test_the_shape_list_shows_every_shape_and_follows_the_canvas_both_ways(qtbot, studio, tmp_path):
    s = studio()
    shapes = s.page.shapes
    assert shapes.rows() == [
        (10, "cat", "polygon (2 parts)", True),
        (11, "dog", "mask (RLE)", True),
        (12, "cat", "box", True),
        (14, "dog", "polygon", True),
    ]
    qtbot.mouseClick(shapes.viewport(), Qt.MouseButton.LeftButton, pos=_row_rect(shapes, 12).center())
    assert s.editor.selected == 12 and s.page.viewer.overlays.selected == 12
    _click(qtbot, s, 54, 40)  # the small square, on the canvas
    assert s.editor.selected == 14 and shapes.currentItem().data(0, Qt.ItemDataRole.UserRole + 1) == 14
    # hide the mask: its row's eye box (Space toggles the current row's box)
    rect = _row_rect(shapes, 11)
    qtbot.mouseClick(shapes.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 30, rect.center().y()))
    assert s.editor.selected == 11
    shapes.setCurrentItem(shapes.item_of(11), 0)
    qtbot.keyClick(shapes, Qt.Key.Key_Space)
    assert (11, "dog", "mask (RLE)", False) in shapes.rows()
    assert not s.page.viewer.overlays.by_ann[11].masks[0].isVisible() and s.editor.selected is None
    _click(qtbot, s, 40, 120)
    assert s.editor.selected is None, "a hidden shape cannot be picked"
    assert not s.editor.dirty(), "hiding is view-only"
    _shot(s, tmp_path, "editor_shape_list.png")
    # the list follows edits
    s.editor.set_tool("box")
    _drag(qtbot, s, (150, 100), (190, 140))
    assert len(shapes.rows()) == 5 and shapes.rows()[-1][2] == "box"
    s.editor.undo()
    assert len(shapes.rows()) == 4 and (11, "dog", "mask (RLE)", False) in shapes.rows(), "still hidden"
    shapes.setCurrentItem(shapes.item_of(11), 0)
    qtbot.keyClick(shapes, Qt.Key.Key_Space)
    assert s.page.viewer.overlays.by_ann[11].masks[0].isVisible()


# ----------------------------------------------------------------------------------------------- Delete and Esc
def test_delete_takes_a_vertex_only_when_it_is_shown_highlighted(qtbot, studio):
    s = studio()
    _click(qtbot, s, 25, 30)
    _click(qtbot, s, 40, 10)  # vertex 1 of part 0: highlighted
    assert s.editor.state.active_vertex == (0, 1) and s.editor.vertex_shown()
    _view_key(qtbot, s, Qt.Key.Key_Delete)
    assert s.ds.annotation(10)["segmentation"][0] == [10, 10, 40, 50, 10, 50], "the highlighted vertex went"
    s.editor.undo()
    # Esc clears the vertex first, then the shape
    _click(qtbot, s, 40, 50)
    assert s.editor.state.active_vertex == (0, 2)
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert s.editor.state.active_vertex is None and s.editor.selected == 10
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert s.editor.selected is None
    # the issue: a vertex still active but not in sight must not take the Delete meant for the shape
    _click(qtbot, s, 25, 30)
    _click(qtbot, s, 40, 50)
    s.view.zoom_by(6.0)
    s.view.centerOn(25, 20)
    assert s.editor.state.active_vertex == (0, 2) and not s.editor.vertex_shown()
    _view_key(qtbot, s, Qt.Key.Key_Delete)
    assert not any(a["id"] == 10 for a in s.ds.anns_for_image(1)), "the shape went, not a vertex"
    s.editor.undo()
    assert s.ds.annotation(10)["segmentation"] == [PART0, PART1]
    # a click inside the shape (not on a vertex) drops the highlighted vertex too
    s.view.fit_to_window()
    _click(qtbot, s, 25, 30)
    _click(qtbot, s, 40, 50)
    _click(qtbot, s, 25, 30)
    assert s.editor.state.active_vertex is None
    _view_key(qtbot, s, Qt.Key.Key_Delete)
    assert not any(a["id"] == 10 for a in s.ds.anns_for_image(1))


# ----------------------------------------------------------------------------------------------- parts and masks
def test_every_part_of_a_multi_part_polygon_is_editable_and_parts_can_go(qtbot, studio):
    s = studio()
    _click(qtbot, s, 25, 30)
    assert len(s.editor.tool.marks.handles) == 8, "both parts have handles"
    _drag(qtbot, s, (100, 30), (110, 40))
    part1 = s.ds.annotation(10)["segmentation"][1]
    assert abs(part1[4] - 110) <= _pixel(s) and abs(part1[5] - 40) <= _pixel(s)
    assert s.ds.annotation(10)["segmentation"][0] == PART0
    _click(qtbot, s, 60, 10)  # a vertex of part 1
    _view_key(qtbot, s, Qt.Key.Key_Delete, SHIFT)
    assert s.ds.annotation(10)["segmentation"] == [PART0] and s.ds.annotation(10)["bbox"] == [10, 10, 30, 40]
    assert len(s.editor.tool.marks.handles) == 4
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert len(s.ds.annotation(10)["segmentation"]) == 2


def test_a_mask_is_converted_to_polygons_on_a_double_click_and_the_fidelity_is_said(qtbot, studio):
    s = studio()
    _click(qtbot, s, 40, 120)
    assert s.editor.selected == 11 and s.editor.tool.marks.handles == [], "a mask has no handles"
    assert s.page.edit_actions.actions["editor.convert_mask"].isEnabled()
    _double_click(qtbot, s, 40, 120)
    (outline,) = s.ds.annotation(11)["segmentation"]
    assert sorted(zip(outline[::2], outline[1::2])) == [(19.5, 99.5), (19.5, 139.5), (59.5, 99.5), (59.5, 139.5)]
    assert "IoU 1.000" in s.bar.message() and "lossless" in s.bar.message()
    assert len(s.editor.tool.marks.handles) == 4 and s.page.shapes.item_of(11).text(2) == "polygon"
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(11)["segmentation"]["size"] == [150, 200], "undo gives the mask back"


# ----------------------------------------------------------------------------------------------- autosave
def test_autosave_writes_the_edits_a_moment_after_the_last_one(qtbot, studio, mixed):
    ann, _images = mixed
    s = studio(autosave=True)
    assert s.bar.autosave_box.isChecked() and s.editor.autosave.enabled
    s.editor.autosave.timer.setInterval(300)
    s.editor.set_tool("box")
    _drag(qtbot, s, (150, 100), (190, 140))
    _drag(qtbot, s, (150, 20), (190, 60))
    assert s.editor.dirty() and s.editor.autosave.pending() and recovery_path(ann).is_file()
    qtbot.waitUntil(lambda: not s.editor.dirty(), timeout=5000)
    assert len(Dataset.load(ann).anns_for_image(1)) == 6 and not recovery_path(ann).exists()
    assert s.bar.dirty_label.text() == "saved"
    qtbot.mouseClick(s.bar.autosave_box, Qt.MouseButton.LeftButton)
    assert not s.editor.autosave.enabled
    _drag(qtbot, s, (10, 60), (40, 90))
    assert not s.editor.autosave.pending()


def test_a_crash_before_the_autosave_still_replays_the_journal(qtbot, studio, mixed):
    ann, _images = mixed
    s = studio(autosave=True)
    s.editor.set_tool("box")
    _drag(qtbot, s, (150, 100), (190, 140))
    assert s.editor.autosave.pending()
    s.editor.autosave.timer.stop()  # the process dies before the delay runs out
    s.host.hide()
    asked = []
    s2 = studio(ask=lambda info: asked.append(info) or True)
    assert asked and asked[0].steps == 1 and len(s2.ds.anns_for_image(1)) == 5 and s2.editor.dirty()


def test_a_failed_autosave_is_said_once_and_keeps_the_journal(qtbot, studio, mixed):
    ann, _images = mixed
    s = studio(autosave=True)
    s.editor.autosave.timer.setInterval(200)
    failures = []
    s.editor.save_failed.connect(failures.append)
    ann.unlink()
    ann.mkdir()  # the file cannot be replaced now: every write fails
    s.editor.set_tool("box")
    for y in (20, 60):
        _drag(qtbot, s, (150, y), (190, y + 30))
        qtbot.waitUntil(lambda: not s.editor.autosave.pending() and not s.editor.saving(), timeout=5000)
    assert len(failures) == 1 and "not saved" in s.bar.message() and s.editor.dirty()
    assert recovery_path(ann).is_file(), "the journal keeps every edit"
    ann.rmdir()
    _drag(qtbot, s, (150, 100), (190, 140))
    qtbot.waitUntil(lambda: not s.editor.dirty(), timeout=5000)
    assert len(Dataset.load(ann).anns_for_image(1)) == 7 and not recovery_path(ann).exists()


# ----------------------------------------------------------------------------------------------- the check, the view
def test_the_check_report_runs_again_after_edits(qtbot, studio):
    s = studio()
    page = s.page
    page.rechecker.timer.setInterval(100)
    assert {"unannotated_image", "empty_category", "missing_image"} <= set(page.problems.kinds())
    page.images.select_row(2)
    _wait_image(qtbot, s)
    _view_key(qtbot, s, Qt.Key.Key_3)  # bird, the class no shape has
    s.editor.set_tool("box")
    _drag(qtbot, s, (20, 20), (60, 60))
    qtbot.waitUntil(lambda: "unannotated_image" not in page.problems.kinds(), timeout=5000)
    kinds = page.problems.kinds()
    assert "empty_category" not in kinds and "missing_image" in kinds, "the image files' problems stay"
    assert page.check.report.num_annotations == 6
    s.editor.undo()
    qtbot.waitUntil(lambda: "unannotated_image" in page.problems.kinds(), timeout=5000)


def test_the_masks_switch_hides_fills_and_keeps_outlines(qtbot, studio, tmp_path):
    s = studio()
    viewer = s.page.viewer
    qtbot.mouseClick(viewer.masks_box, Qt.MouseButton.LeftButton)
    assert not viewer.fills() and not viewer.opacity.isEnabled()
    polygon = viewer.overlays.by_ann[10].polygons[0]
    assert polygon.isVisible() and polygon.brush().color().alpha() == 0 and polygon.pen().widthF() > 0
    assert not viewer.overlays.by_ann[11].masks[0].isVisible(), "a mask is drawn as its outline"
    outline = viewer._outlines[11]
    assert outline.isVisible() and outline.path().boundingRect().width() == pytest.approx(40), "around the pixels"
    _shot(s, tmp_path, "editor_masks_off.png")
    _click(qtbot, s, 40, 120)
    assert s.editor.selected == 11, "the outline picks its mask"
    _drag(qtbot, s, (40, 120), (50, 120))  # an edited mask keeps an outline
    assert viewer._outlines[11].isVisible()
    qtbot.mouseClick(viewer.masks_box, Qt.MouseButton.LeftButton)
    assert polygon.scene() is None or polygon.brush().color().alpha() > 0
    assert viewer.overlays.by_ann[10].polygons[0].brush().color().alpha() > 0 and viewer._outlines == {}


def _shot(s: Studio, tmp_path: Path, name: str) -> Path:
    path = (SHOTS or tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    assert s.host.grab().save(str(path))
    return path


def test_the_data_page_at_1280x800_fits_the_shape_list_without_crushing_the_image(qtbot, make_window, mixed, tmp_path):
    ann, images = mixed
    w = make_window(ann, images)
    w.resize(1280, 800)
    qtbot.waitUntil(lambda: w.data_page.viewer.image is not None, timeout=10_000)
    page = w.data_page
    QApplication.processEvents()
    assert w.width() == 1280, "nothing forces the window wider"
    assert page.viewer.view.width() >= 450 and page.viewer.view.height() >= 300
    assert page.shapes.width() >= 200 and page.edit_bar.width() >= page.edit_bar.minimumSizeHint().width()
    path = (SHOTS or tmp_path) / "data_page_1280x800.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert w.grab().save(str(path))
