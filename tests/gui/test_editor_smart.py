"""The brush, the eraser, the smart box (GrabCut), the intelligent scissors and Data page > Box → mask…, driven with
real mouse and key events.

Most tests run on a drawn image (``smart`` below): a dark red ellipse and a yellow rectangle on a grey-green
textured background, 320 x 240, with a box-only annotation around the ellipse (1), a square polygon (2) and a
box-only annotation on an image whose file is missing (3). The balloon tests measure a stroke on a real photo and
write the README's screenshots (``STUDIO_EDITOR_SHOTS=docs/screenshots``).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from tests.gui.test_editor import Studio, _at, _click, _drag, _wait_image
from tests.gui.test_editor import balloon as balloon  # a fixture
from tests.gui.test_editor import open_studio as open_studio  # a fixture

from studio.core.dataset.edits import command_from_record
from studio.core.dataset.recovery import read_journal, recovery_path
from studio.core.dataset.shape_edits import Batch
from studio.core.geometry import segmentation_to_mask
from studio.gui.editor.options_bar import ToolOptionsBar
from studio.gui.editor.shape_list import EYE

SHOTS = Path(os.environ["STUDIO_EDITOR_SHOTS"]) if os.environ.get("STUDIO_EDITOR_SHOTS") else None
SHOT_BYTES = 250_000  # a README screenshot stays under this
W, H = 320, 240
ELLIPSE = ((110, 120), (50, 35))  # centre, half axes
RECT = (200, 60, 280, 180)  # x0, y0, x1, y1 (pixels x0..x1-1)
SQUARE = [20.0, 170.0, 80.0, 170.0, 80.0, 230.0, 20.0, 230.0, 20.0, 200.0]  # 5 points: not a box-only corner list
LEFT, RIGHT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton
CTRL, SHIFT, NONE = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier(0)


def _drawn_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = (120, 135, 110)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    cv2.ellipse(img, ELLIPSE[0], ELLIPSE[1], 0, 0, 360, (170, 35, 40), thickness=-1)
    x0, y0, x1, y1 = RECT
    img[y0:y1, x0:x1] = (235, 210, 40)
    return img


def _truth(kind: str) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    if kind == "ellipse":
        cv2.ellipse(m, ELLIPSE[0], ELLIPSE[1], 0, 0, 360, 1, thickness=-1)
    else:
        x0, y0, x1, y1 = RECT
        m[y0:y1, x0:x1] = 1
    return m


def _iou(seg, truth: np.ndarray) -> float:
    m = segmentation_to_mask(seg, H, W) > 0
    t = truth > 0
    return float((m & t).sum()) / float((m | t).sum())


@pytest.fixture
def smart(tmp_path):
    """``(annotations, images)`` of the drawn set (see the module docstring)."""
    images = tmp_path / "smart" / "images"
    images.mkdir(parents=True)
    Image.fromarray(_drawn_image()).save(images / "shapes.png")
    coco = {
        "images": [
            {"id": 1, "file_name": "shapes.png", "width": W, "height": H},
            {"id": 2, "file_name": "gone.png", "width": W, "height": H},
        ],
        "categories": [{"id": 1, "name": "thing"}, {"id": 2, "name": "other"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [58, 83, 104, 74], "area": 7696.0, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 2,
                "bbox": [20, 170, 60, 60],
                "area": 3600.0,
                "iscrowd": 0,
                "segmentation": [SQUARE],
            },
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500.0, "iscrowd": 0},
        ],
    }
    ann = tmp_path / "smart" / "annotations.json"
    ann.write_bytes(orjson.dumps(coco))
    return ann, images


@pytest.fixture
def studio(open_studio, smart):
    ann, images = smart

    def make(**kw) -> Studio:
        return open_studio(ann, images=images, **kw)

    return make


def _press_key(qtbot, widget, key, mods=NONE) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, key, mods)


def _view_key(qtbot, s: Studio, key, mods=NONE) -> None:
    _press_key(qtbot, s.view, key, mods)


def _stroke(qtbot, s: Studio, points, button=LEFT, mods=NONE) -> None:
    """Press at the first point, move through the others, release at the last."""
    vp = s.view.viewport()
    qtbot.mousePress(vp, button, mods, _at(s, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, _at(s, *p))
    qtbot.mouseRelease(vp, button, mods, _at(s, *points[-1]))


def _options(s: Studio) -> ToolOptionsBar:
    return s.bar.options_bar


def _idle(qtbot, tool) -> None:
    """Wait until a smart tool's worker jobs are done (and their results shown)."""
    qtbot.waitUntil(lambda: not tool.jobs.busy() and not getattr(tool, "builds", tool.jobs).busy(), timeout=20_000)


# ----------------------------------------------------------------------------------------------- toolbar and keys
def test_tools_are_in_the_toolbar_with_their_keys_and_settings_only_while_relevant(qtbot, studio):
    s = studio()
    bar = s.bar
    assert list(bar.tool_buttons) == ["select", "polygon", "box", "smart_box", "scissors", "brush", "eraser"]
    tips = {name: b.toolTip() for name, b in bar.tool_buttons.items()}
    assert tips["smart_box"].endswith("(M)") and tips["scissors"].endswith("(I)")
    assert tips["brush"].endswith("(Shift+B)") and tips["eraser"].endswith("(E)")
    opts = _options(s)
    assert not opts.radius.isVisible() and not opts.tolerance.isVisible()
    # the tool keys work with the focus in the image list too
    for key, mods, name, radius, tolerance in (
        (Qt.Key.Key_M, NONE, "smart_box", True, True),
        (Qt.Key.Key_I, NONE, "scissors", False, True),
        (Qt.Key.Key_B, SHIFT, "brush", True, True),
        (Qt.Key.Key_E, NONE, "eraser", True, True),
        (Qt.Key.Key_V, NONE, "select", False, False),
    ):
        _press_key(qtbot, s.page.images.view, key, mods)
        assert s.editor.tool.name == name and bar.tool_buttons[name].isChecked()
        assert (opts.radius.isVisible(), opts.tolerance.isVisible()) == (radius, tolerance), name


def test_bracket_keys_change_the_brush_radius_wherever_the_focus_is(qtbot, studio):
    s = studio()
    opts = _options(s)
    s.editor.set_tool("brush")
    start = s.editor.options.radius
    _press_key(qtbot, s.page.images.view, Qt.Key.Key_BracketRight)
    assert s.editor.options.radius > start and opts.radius.value() == s.editor.options.radius
    _view_key(qtbot, s, Qt.Key.Key_BracketLeft)
    _view_key(qtbot, s, Qt.Key.Key_BracketLeft)
    assert s.editor.options.radius < start
    qtbot.mouseMove(s.view.viewport(), _at(s, 100, 100))
    assert s.editor.tool._ring is not None and s.editor.tool._ring.rect().width() == 2 * s.editor.options.radius
    opts.radius.setValue(20)
    assert s.editor.options.radius == 20 and s.editor.tool._ring.rect().width() == 40
    s.editor.set_tool("select")
    _press_key(qtbot, s.page.images.view, Qt.Key.Key_BracketRight)
    assert s.editor.options.radius == 20, "no brush, no change"


def test_the_brush_radius_and_tolerance_are_kept_for_the_next_session(qtbot, studio):
    """A radius set with ] and a tolerance typed in the toolbar come back in the next window; a setting that is no
    number (an INI edited by hand) or out of range falls back to the default or the range's end."""
    from PySide6.QtCore import QSettings

    from studio.gui.editor import settings
    from studio.gui.editor.tool_options import RADIUS_RANGE, ToolOptions

    s = studio()
    opts = _options(s)
    s.editor.set_tool("brush")
    _press_key(qtbot, s.page.images.view, Qt.Key.Key_BracketRight)
    radius = s.editor.options.radius
    assert radius != ToolOptions().radius
    s.editor.set_tool("smart_box")
    opts.tolerance.setFocus()
    opts.tolerance.selectAll()
    qtbot.keyClicks(opts.tolerance, "2.5")
    qtbot.keyClick(opts.tolerance, Qt.Key.Key_Return)
    assert s.editor.options.tolerance == 2.5
    again = studio()
    assert (again.editor.options.radius, again.editor.options.tolerance) == (radius, 2.5)
    assert _options(again).radius.value() == radius and _options(again).tolerance.value() == 2.5
    QSettings().setValue(settings.BRUSH_RADIUS, "big")
    QSettings().setValue(settings.SIMPLIFY_TOLERANCE, 1e9)
    odd = studio()
    assert odd.editor.options.radius == ToolOptions().radius and odd.editor.options.tolerance == 20.0
    assert RADIUS_RANGE[0] <= odd.editor.options.radius <= RADIUS_RANGE[1]


# ----------------------------------------------------------------------------------------------- brush and eraser
def test_brush_paints_a_new_shape_then_keeps_painting_on_it(qtbot, studio):
    s = studio()
    n = len(s.ds.annotations)
    s.editor.set_tool("brush")
    _options(s).radius.setValue(6)
    _stroke(qtbot, s, [(30, 30), (60, 35), (90, 40)])
    assert len(s.ds.annotations) == n + 1
    new = s.ds.annotations[-1]
    assert new["category_id"] == 1 and len(new["segmentation"]) == 1
    assert s.editor.selected == new["id"], "the next stroke paints on the new shape"
    assert s.editor.tool._band is None, "the stroke's band goes on release"
    area = new["area"]
    assert 60 * 12 * 0.8 < area < 72 * 14 * 1.2
    _stroke(qtbot, s, [(90, 40), (90, 70)])
    assert len(s.ds.annotations) == n + 1 and s.ds.annotation(new["id"])["area"] > area + 100
    assert s.editor.stack.peek_undo().label == "edit shape"
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(new["id"])["area"] == pytest.approx(area), "one stroke, one undo step"
    # Esc deselects: the next stroke starts another shape
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert s.editor.selected is None
    _stroke(qtbot, s, [(150, 200), (170, 200)])
    assert len(s.ds.annotations) == n + 2


def test_brush_shows_the_stroke_while_painting_and_a_stroke_inside_changes_nothing(qtbot, studio):
    s = studio()
    s.editor.set_tool("select")
    _click(qtbot, s, 50, 200)
    assert s.editor.selected == 2
    s.editor.set_tool("brush")
    assert s.editor.selected == 2, "the brush paints on the selected shape"
    vp = s.view.viewport()
    qtbot.mousePress(vp, LEFT, NONE, _at(s, 70, 200))
    qtbot.mouseMove(vp, _at(s, 110, 200))
    band = s.editor.tool._band
    assert band is not None and band.isVisible() and band.pen().color().alpha() < 255
    assert band.pen().widthF() == pytest.approx(2 * s.editor.options.radius)
    qtbot.mouseRelease(vp, LEFT, NONE, _at(s, 110, 200))
    grown = s.ds.annotation(2)
    assert grown["bbox"][0] + grown["bbox"][2] > 110 and len(grown["segmentation"]) == 1
    steps = len(s.editor.stack)
    _stroke(qtbot, s, [(40, 190), (50, 200)])  # inside the square: nothing to add
    assert len(s.editor.stack) == steps and "added nothing" in s.bar.message()


def test_eraser_splits_a_shape_into_parts_and_erasing_all_deletes_it_undoably(qtbot, studio):
    s = studio()
    s.editor.set_tool("eraser")
    _options(s).radius.setValue(4)
    _stroke(qtbot, s, [(50, 200), (50, 160), (50, 240)])  # no selection: the shape under the press
    assert s.editor.selected == 2
    parts = s.ds.annotation(2)["segmentation"]
    assert len(parts) == 2, "a cut through the middle leaves two parts"
    assert s.page.viewer.overlays.by_ann[2].polygons, "redrawn"
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(2)["segmentation"] == [SQUARE]
    _options(s).radius.setValue(80)
    _stroke(qtbot, s, [(50, 200)])
    assert 2 not in {a["id"] for a in s.ds.annotations} and s.editor.selected is None
    assert s.editor.stack.peek_undo().label == "delete shape"
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(2)["segmentation"] == [SQUARE]
    s.editor.select(None)
    _stroke(qtbot, s, [(300, 20)])  # no shape there: nothing to erase, and the user is told
    assert "press on a shape" in s.bar.message()


def test_simplify_tolerance_sets_how_many_vertices_a_stroke_leaves(qtbot, studio):
    s = studio()
    s.editor.set_tool("brush")
    opts = _options(s)
    opts.radius.setValue(12)
    counts = []
    for tolerance in (0.0, 3.0):
        opts.tolerance.setValue(tolerance)
        s.editor.select(None)
        _stroke(qtbot, s, [(40, 40), (100, 60), (160, 40)])
        counts.append(len(s.ds.annotations[-1]["segmentation"][0]) // 2)
    assert s.editor.options.tolerance == 3.0
    assert counts[1] < counts[0] / 2, counts


def test_brush_on_a_box_or_a_mask_makes_polygons(qtbot, open_studio, mixed):
    ann, images = mixed
    s = open_studio(ann, images=images)
    s.editor.set_tool("select")
    _click(qtbot, s, 125, 75)
    assert s.editor.selected == 12  # the box-only shape
    s.editor.set_tool("brush")
    _options(s).radius.setValue(4)
    _stroke(qtbot, s, [(140, 75), (150, 75)])
    box_shape = s.ds.annotation(12)
    assert len(box_shape["segmentation"]) == 1 and box_shape["bbox"][0] + box_shape["bbox"][2] >= 150
    s.editor.select(11)  # the RLE mask
    _stroke(qtbot, s, [(60, 120), (70, 120)])
    mask_shape = s.ds.annotation(11)
    assert isinstance(mask_shape["segmentation"], list) and mask_shape["bbox"][0] + mask_shape["bbox"][2] >= 70


def test_a_brush_stroke_on_a_balloon_photo_stays_responsive(qtbot, open_studio, balloon):
    """A stroke's release costs what the stroke and its shape cover, not what the photo does: measured."""
    s = open_studio(balloon)
    image = s.page.viewer.image
    target = max(s.ds.anns_for_image(image["id"]), key=lambda a: a["area"])
    s.editor.select(target["id"])
    s.editor.set_tool("brush")
    _options(s).radius.setValue(25)
    x, y, w, h = target["bbox"]
    times = []
    for i in range(3):
        sy = y + h * (0.3 + 0.2 * i)
        _stroke(qtbot, s, [(x + w - 20, sy), (x + w + 40, sy + 10), (x + w + 80, sy)])
        times.append(s.editor.tool.last_seconds)
    print(
        f"\nbrush stroke release on {image['width']}x{image['height']}: "
        + ", ".join(f"{t * 1000:.0f} ms" for t in times)
    )
    assert len(s.editor.stack) == 3 and max(times) < 1.0


# ----------------------------------------------------------------------------------------------- smart box
def test_smart_box_outlines_the_object_and_enter_keeps_it(qtbot, studio):
    s = studio()
    n = len(s.ds.annotations)
    s.editor.set_tool("smart_box")
    tool = s.editor.tool
    _drag(qtbot, s, (56, 81), (164, 159))
    assert tool.box is not None
    assert "working" in s.bar.message() or tool.result is not None
    _idle(qtbot, tool)
    assert tool.result is not None and tool.result.ok
    assert _iou(tool.result.polygons, _truth("ellipse")) > 0.9
    assert tool.proposal is not None and tool.proposal.line.pen().style() == Qt.PenStyle.DashLine
    assert len(s.ds.annotations) == n, "nothing is added before Enter"
    _view_key(qtbot, s, Qt.Key.Key_Return)
    assert len(s.ds.annotations) == n + 1
    new = s.ds.annotations[-1]
    assert _iou(new["segmentation"], _truth("ellipse")) > 0.9 and new["category_id"] == 1
    assert tool.box is None and tool.proposal is None and not tool._items, "the proposal goes with Enter"
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert len(s.ds.annotations) == n


def test_smart_box_strokes_refine_and_backspace_takes_the_last_back(qtbot, studio):
    s = studio()
    s.editor.set_tool("smart_box")
    tool = s.editor.tool
    _options(s).radius.setValue(5)
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    first = segmentation_to_mask(tool.result.polygons, H, W)
    assert first[120, 70] == 1
    # a background stroke down the left of the ellipse (right-drag): those pixels leave the outline
    _stroke(qtbot, s, [(75, 95), (75, 145)], button=RIGHT)
    assert [bg for _s, bg in tool.strokes] == [True]
    _idle(qtbot, tool)
    second = segmentation_to_mask(tool.result.polygons, H, W)
    assert second[120, 75] == 0 and second.sum() < first.sum()
    # Shift+drag is a background stroke too; a plain drag a foreground one
    _stroke(qtbot, s, [(145, 100), (145, 140)], mods=SHIFT)
    _stroke(qtbot, s, [(30, 60), (40, 60)])
    assert [bg for _s, bg in tool.strokes] == [True, True, False]
    _idle(qtbot, tool)
    third = segmentation_to_mask(tool.result.polygons, H, W)
    assert third[120, 145] == 0 and third[60, 35] == 1, "a foreground stroke keeps what it touches"
    _view_key(qtbot, s, Qt.Key.Key_Backspace)
    _view_key(qtbot, s, Qt.Key.Key_Backspace)
    _idle(qtbot, tool)
    assert len(tool.strokes) == 1
    assert (segmentation_to_mask(tool.result.polygons, H, W) == second).all(), "the same strokes, the same outline"
    n = len(s.ds.annotations)
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert tool.box is None and tool.result is None and len(s.ds.annotations) == n


def test_smart_box_falls_back_to_the_box_and_asks_the_class(qtbot, studio):
    s = studio(last_label=False)
    s.editor.set_tool("smart_box")
    tool = s.editor.tool
    _drag(qtbot, s, (0, 0), (W, H))  # the whole image: no background to learn from
    _idle(qtbot, tool)
    assert not tool.result.ok and "box" in s.bar.message()
    n = len(s.ds.annotations)
    _view_key(qtbot, s, Qt.Key.Key_Return)
    prompt = s.editor.prompt
    qtbot.waitUntil(prompt.isVisible)
    assert s.editor.pending_shape()[0] == "polygon"
    qtbot.keyClick(prompt.filter, Qt.Key.Key_Down)
    qtbot.keyClick(prompt.filter, Qt.Key.Key_Return)
    assert len(s.ds.annotations) == n + 1
    new = s.ds.annotations[-1]
    assert new["category_id"] == 2 and new["bbox"] == pytest.approx([-0.5, -0.5, W, H], abs=1.0)


def test_enter_while_grabcut_works_keeps_the_outline_once_ready(qtbot, studio):
    s = studio()
    s.editor.set_tool("smart_box")
    n = len(s.ds.annotations)
    _drag(qtbot, s, (56, 81), (164, 159))
    _view_key(qtbot, s, Qt.Key.Key_Return)  # at once: GrabCut has not answered yet
    qtbot.waitUntil(lambda: len(s.ds.annotations) == n + 1, timeout=20_000)
    assert _iou(s.ds.annotations[-1]["segmentation"], _truth("ellipse")) > 0.9


# ----------------------------------------------------------------------------------------------- scissors
def test_scissors_follow_the_edges_and_close_on_the_first_point(qtbot, studio):
    s = studio()
    s.editor.set_tool("scissors")
    tool = s.editor.tool
    n = len(s.ds.annotations)
    x0, y0, x1, y1 = RECT
    # clicks a little off the corners: the path between them keeps to the rectangle's edges
    clicks = [(x0 + 2, y0 + 1), (x1 - 2, y0 - 1), (x1, y1 - 3), (x0 - 1, y1 - 2)]
    for p in clicks:
        _click(qtbot, s, *p)
    assert len(tool.clicks) == 4
    _idle(qtbot, tool)
    qtbot.mouseMove(s.view.viewport(), _at(s, x0 + 1, (y0 + y1) / 2))
    assert len(tool._live) > 2, "the live path follows the edge, not a straight line"
    assert len(tool.marks.handles) == 4 and tool.outline_mark.line.path().elementCount() > 4
    _click(qtbot, s, *clicks[0])  # on the first point: closes
    assert len(s.ds.annotations) == n + 1
    new = s.ds.annotations[-1]
    assert _iou(new["segmentation"], _truth("rect")) > 0.9
    assert tool.clicks == [] and tool.marks.handles == []


def test_scissors_backspace_esc_enter_and_panning_while_drawing(qtbot, studio):
    s = studio()
    s.editor.set_tool("scissors")
    tool = s.editor.tool
    n = len(s.ds.annotations)
    x0, y0, x1, y1 = RECT
    for p in [(x0, y0), (x1, y0), (150, 20)]:
        _click(qtbot, s, *p)
    _view_key(qtbot, s, Qt.Key.Key_Backspace)
    assert len(tool.clicks) == 2 and abs(tool.clicks[1][0] - x1) < 1
    # pan with the middle button and zoom: the anchors stay
    s.view.zoom_by(2.0)
    vp = s.view.viewport()
    bars = s.view.horizontalScrollBar(), s.view.verticalScrollBar()
    before = [b.value() for b in bars]
    qtbot.mousePress(vp, MIDDLE, NONE, QPoint(200, 200))
    qtbot.mouseMove(vp, QPoint(150, 170))
    qtbot.mouseRelease(vp, MIDDLE, NONE, QPoint(150, 170))
    assert [b.value() for b in bars] != before and len(tool.clicks) == 2
    for p in [(x1, y1), (x0, y1)]:
        _click(qtbot, s, *p)
    _view_key(qtbot, s, Qt.Key.Key_Return)  # closes once the anchors are in
    qtbot.waitUntil(lambda: len(s.ds.annotations) == n + 1, timeout=20_000)
    assert _iou(s.ds.annotations[-1]["segmentation"], _truth("rect")) > 0.9
    _idle(qtbot, tool)
    assert tool.scissors.anchors == [], "the next object starts afresh"
    _click(qtbot, s, 30, 30)
    _click(qtbot, s, 60, 30)
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    assert tool.clicks == [] and len(s.ds.annotations) == n + 1
    _idle(qtbot, tool)
    assert tool.scissors.anchors == []


# ----------------------------------------------------------------------------------------------- box → mask
def test_box_to_mask_converts_the_box_only_annotations_in_one_undoable_edit(qtbot, studio):
    s = studio()
    action = s.page.box2mask.action
    assert action in s.bar.actions_button.menu().actions() and action.isEnabled()
    action.trigger()
    dialog = s.page.box2mask.dialog
    assert dialog is not None and "2 annotations on 2 images" in dialog.intro.text()
    qtbot.mouseClick(dialog.convert_button, LEFT)
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30_000)
    result = dialog.result
    assert result.converted == [1] and result.failed == [3] and result.skipped == 1
    assert "gone.png" in dialog.warnings.toPlainText() and "annotation(s) 3" in dialog.warnings.toPlainText()
    assert "1 converted, 1 skipped" in dialog.status.text() and s.editor.enabled
    converted = s.ds.annotation(1)
    assert _iou(converted["segmentation"], _truth("ellipse")) > 0.9
    assert converted["bbox"] == [58, 83, 104, 74], "the box stays as drawn"
    assert not s.ds.annotation(3).get("segmentation"), "its image is missing: left as a box"
    assert isinstance(s.editor.stack.peek_undo(), Batch) and len(s.editor.stack) == 1
    assert s.page.viewer.overlays.by_ann[1].polygons, "the image shown is drawn again"
    # journaled as one record that replays
    steps = read_journal(recovery_path(s.page.loaded.annotations)).steps
    assert len(steps) == 1 and isinstance(command_from_record(steps[0][1]), Batch)
    assert "1 annotation on 1 image" in dialog.intro.text(), "the one whose image is missing is left"
    qtbot.mouseClick(dialog.close_button, LEFT)
    s.host.activateWindow()  # what the window manager does when a dialog closes
    qtbot.waitUntil(s.host.isActiveWindow)
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert not s.ds.annotation(1).get("segmentation") and s.ds.annotation(1)["bbox"] == [58, 83, 104, 74]
    assert not s.page.viewer.overlays.by_ann[1].polygons


def test_box_to_mask_refits_boxes_and_cancel_changes_nothing(qtbot, studio):
    s = studio()
    dialog = s.page.box2mask.open_dialog()
    dialog.refit.setChecked(True)
    assert dialog.start()
    assert not s.editor.enabled, "the editor is off while the job reads the dataset"
    qtbot.mouseClick(dialog.close_button, LEFT)  # "Cancel" while it runs
    assert "Cancelled" in dialog.status.text() and s.editor.enabled and len(s.editor.stack) == 0
    qtbot.waitUntil(lambda: not s.jobs.running(), timeout=30_000)
    assert len(s.editor.stack) == 0
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=30_000)
    box = s.ds.annotation(1)["bbox"]
    assert box != [58, 83, 104, 74] and abs(box[0] - 60) <= 3 and abs(box[2] - 100) <= 4


# ----------------------------------------------------------------------------------------------- screenshots
def _save_shot(s: Studio, tmp_path: Path, name: str) -> Path:
    """``docs/screenshots/editor_<name>.png`` (with STUDIO_EDITOR_SHOTS) at 1280x800, quantised to stay small."""
    QApplication.processEvents()
    path = (SHOTS or tmp_path) / f"editor_{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = tmp_path / f"raw_{name}.png"
    assert s.host.grab().save(str(raw))
    img = Image.open(raw).convert("RGB")
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(
        path, optimize=True
    )
    return path


def _show(qtbot, s: Studio, file_name: str) -> dict:
    image = next(im for im in s.ds.images if im["file_name"] == file_name)
    assert s.page.select_image(image["id"])
    _wait_image(qtbot, s)
    s.view.setFocus()
    return image


def _balloon(s: Studio, image: dict, k: int) -> tuple[float, ...]:
    """The box of the ``k``-th balloon of ``image`` from the left, and its id."""
    ann = sorted(s.ds.anns_for_image(image["id"]), key=lambda a: a["bbox"][0])[k]
    return (*ann["bbox"], ann["id"])


def _box_of(s: Studio, image: dict, k: int) -> list[float]:
    return list(_balloon(s, image, k)[:4])


@pytest.mark.slow
def test_screenshots_of_every_tool_in_use(qtbot, open_studio, balloon, tmp_path):
    """One PNG per tool on balloon photos, for the README: each under SHOT_BYTES, at 1280 x 800."""
    s = open_studio(balloon)
    s.host.resize(1280, 800)
    vp = s.view.viewport()
    shots = []

    image = _show(qtbot, s, "3825919971_93fb1ec581_b.jpg")  # six balloons in the sky
    s.editor.set_tool("select")
    x, y, w, h = _box_of(s, image, 1)
    _click(qtbot, s, x + w / 2, y + h / 2)
    assert s.editor.selected is not None
    shots.append(_save_shot(s, tmp_path, "select"))

    image = _show(qtbot, s, "410488422_5f8991f26e_b.jpg")  # three big balloons
    s.editor.set_tool("polygon")
    for p in [(420, 380), (520, 350), (600, 420), (590, 560)]:
        _click(qtbot, s, *p)
    qtbot.mouseMove(vp, _at(s, 450, 590))
    shots.append(_save_shot(s, tmp_path, "polygon"))
    _view_key(qtbot, s, Qt.Key.Key_Escape)

    s.editor.set_tool("box")
    x, y, w, h = _box_of(s, image, 1)
    qtbot.mousePress(vp, LEFT, NONE, _at(s, x - 6, y + 2))
    qtbot.mouseMove(vp, _at(s, x + w / 2, y + h / 2))
    qtbot.mouseMove(vp, _at(s, x + w + 6, y + h + 6))
    shots.append(_save_shot(s, tmp_path, "box"))
    qtbot.mouseRelease(vp, LEFT, NONE, _at(s, x + w + 6, y + h + 6))
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)

    s.editor.set_tool("select")
    x, y, w, h = _box_of(s, image, 0)
    _click(qtbot, s, x + w / 2, y + h / 2)
    s.editor.set_tool("brush")
    _options(s).radius.setValue(14)
    qtbot.mousePress(vp, LEFT, NONE, _at(s, x + w * 0.5, y + h - 10))
    for t in (0.15, 0.3, 0.45):
        qtbot.mouseMove(vp, _at(s, x + w * 0.5 + 20 * t, y + h + 200 * t))
    qtbot.mouseMove(vp, _at(s, x + w * 0.5 + 9, y + h + 90))
    shots.append(_save_shot(s, tmp_path, "brush"))
    qtbot.mouseRelease(vp, LEFT, NONE, _at(s, x + w * 0.5 + 9, y + h + 90))
    _view_key(qtbot, s, Qt.Key.Key_Z, CTRL)

    s.editor.set_tool("smart_box")
    tool = s.editor.tool
    x, y, w, h, aid = _balloon(s, image, 2)
    s.page.shapes.item_of(aid).setCheckState(EYE, Qt.CheckState.Unchecked)  # as if it were not labelled yet
    _drag(qtbot, s, (x - 6, max(0, y - 6)), (x + w + 6, y + h + 6))
    _idle(qtbot, tool)
    _options(s).radius.setValue(8)
    _stroke(qtbot, s, [(x + w * 0.1, y + h - 20), (x + w * 0.25, y + h - 5)], button=RIGHT)
    _stroke(qtbot, s, [(x + w * 0.4, y + h * 0.4), (x + w * 0.6, y + h * 0.45)])
    _idle(qtbot, tool)
    assert tool.result is not None
    shots.append(_save_shot(s, tmp_path, "smart_box"))
    _view_key(qtbot, s, Qt.Key.Key_Escape)

    s.editor.set_tool("scissors")
    tool = s.editor.tool
    x, y, w, h, aid = _balloon(s, image, 1)
    s.page.shapes.item_of(aid).setCheckState(EYE, Qt.CheckState.Unchecked)
    for p in [(x + w * 0.5, y + 1), (x + w - 1, y + h * 0.45), (x + w * 0.5, y + h - 1)]:
        _click(qtbot, s, *p)
    _idle(qtbot, tool)
    qtbot.mouseMove(vp, _at(s, x + 2, y + h * 0.5))
    shots.append(_save_shot(s, tmp_path, "scissors"))
    _view_key(qtbot, s, Qt.Key.Key_Escape)

    for path in shots:
        assert path.stat().st_size < SHOT_BYTES, (path.name, path.stat().st_size)
        assert Image.open(path).size == (1280, 800)
