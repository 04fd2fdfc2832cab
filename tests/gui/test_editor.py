"""Annotation editing on the Data page's image view, driven with real mouse and key events on the balloon set."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import recovery_path
from studio.core.dataset.summary import follow_class_stats
from studio.core.geometry import polygons_bbox, shoelace_area
from studio.gui.common.commands import PageCommands
from studio.gui.common.workers import Jobs
from studio.gui.data.page import READY, DataPage
from studio.gui.editor import settings
from studio.gui.editor.controller import EditorController
from studio.gui.editor.handles import Handle
from studio.gui.editor.toolbar import ADD_CLASS, EditorToolbar

SHOTS = Path(os.environ.get("STUDIO_EDITOR_SHOTS", "")) if os.environ.get("STUDIO_EDITOR_SHOTS") else None


@pytest.fixture
def balloon(tmp_path, shared_data) -> Path:
    """The balloon val split imported to COCO in tmp_path (13 images, 50 polygons, class 'balloon')."""
    from studio.api import dataset_import

    src = shared_data / "balloon" / "val" / "via_region_data.json"
    if not src.is_file():
        pytest.skip(f"the balloon set is not in {src.parent}")
    ann = tmp_path / "balloon" / "val.json"
    dataset_import(src, ann)
    return ann


@dataclass
class Studio:
    page: DataPage
    editor: EditorController
    bar: EditorToolbar
    host: QWidget
    jobs: Jobs
    commands: PageCommands

    @property
    def view(self):
        return self.page.viewer.view

    @property
    def ds(self) -> Dataset:
        return self.page.loaded.dataset


@pytest.fixture
def open_studio(qtbot):
    """``open_studio(ann, ask=..., images=None, last_label=True, autosave=False)``: a Data page with the editor
    wired as the window wires it (its File > Save and Edit > Undo / Redo / Delete actions on the host), dataset
    loaded. By default a drawn shape takes the last label (no class prompt) and nothing is saved unasked."""
    made: list[Studio] = []

    def make(
        ann: Path, ask=lambda info: True, images: Path | None = None, last_label: bool = True, autosave: bool = False
    ) -> Studio:
        settings.set_flag(settings.LAST_LABEL, last_label)
        settings.set_flag(settings.AUTOSAVE, autosave)
        jobs = Jobs()
        host = QWidget()
        page = DataPage(jobs)
        page.recovery_ask = ask
        editor, bar = page.editor, page.edit_bar  # wired by the page itself
        lay = QVBoxLayout(host)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(page)
        commands = PageCommands(host, lambda: page)  # Ctrl+Z, Ctrl+Shift+Z / Ctrl+Y, Ctrl+S: as in the window
        commands.watch(page)
        qtbot.addWidget(host)
        host.resize(1300, 800)
        host.show()
        page.open(ann, images)
        qtbot.waitUntil(lambda: page.state == READY, timeout=30_000)
        s = Studio(page, editor, bar, host, jobs, commands)
        made.append(s)
        _wait_image(qtbot, s)
        return s

    yield make
    for s in made:
        s.host.close()
        s.jobs.shutdown()


def _wait_image(qtbot, s: Studio) -> None:
    qtbot.waitUntil(lambda: s.page.viewer.image is not None and not s.page.viewer.pending(), timeout=30_000)


def _at(s: Studio, x: float, y: float) -> QPoint:
    return s.view.mapFromScene(QPointF(x, y))


def _click(qtbot, s: Studio, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    qtbot.mouseClick(s.view.viewport(), button, pos=_at(s, x, y))


def _double_click(qtbot, s: Studio, x: float, y: float) -> None:
    """What a person's double-click delivers: press and release, then a double-click event and release."""
    _click(qtbot, s, x, y)
    qtbot.mouseDClick(s.view.viewport(), Qt.MouseButton.LeftButton, pos=_at(s, x, y))


def _drag(qtbot, s: Studio, start: tuple[float, float], end: tuple[float, float], steps: int = 4) -> None:
    vp = s.view.viewport()
    a, b = _at(s, *start), _at(s, *end)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, steps + 1):
        qtbot.mouseMove(vp, pos=a + (b - a) * (i / steps))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)


def _key(qtbot, s: Studio, key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    s.view.setFocus()
    qtbot.keyClick(s.view, key, mods)


def _pixel(s: Studio) -> float:
    """One screen pixel in image pixels: how precisely a click lands."""
    return 1.0 / s.view.zoom()


def _shot(s: Studio, tmp_path: Path, name: str) -> Path:
    path = (SHOTS or tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    assert s.host.grab().save(str(path))
    return path


def _largest_polygon(s: Studio) -> dict:
    image_id = s.page.viewer.image["id"]
    return max(s.ds.anns_for_image(image_id), key=lambda a: a["area"])


def _select(qtbot, s: Studio, ann: dict) -> None:
    box = ann["bbox"]
    _click(qtbot, s, box[0] + box[2] / 2, box[1] + box[3] / 2)  # balloons are convex: the centre is inside
    assert s.editor.selected == ann["id"]


# ----------------------------------------------------------------------------------------------- tests
def test_draw_a_polygon_undo_redo_save_and_reload(qtbot, open_studio, balloon, tmp_path):
    s = open_studio(balloon)
    image = s.page.viewer.image
    n_before = len(s.ds.anns_for_image(image["id"]))
    qtbot.mouseClick(s.bar.tool_buttons["polygon"], Qt.MouseButton.LeftButton)
    assert s.editor.tool.name == "polygon"
    points = [(100.0, 1500.0), (400.0, 1480.0), (380.0, 1800.0), (120.0, 1850.0)]
    for x, y in points[:3]:
        _click(qtbot, s, x, y)
    qtbot.mouseMove(s.view.viewport(), pos=_at(s, 200, 1700))
    assert len(s.editor.tool.points) == 3
    assert len(s.editor.tool.marks.handles) == 3 and s.editor.tool.marks.outline is not None
    assert len(s.ds.anns_for_image(image["id"])) == n_before, "nothing is added before the polygon closes"
    _shot(s, tmp_path, "editor_drawing_polygon.png")
    _double_click(qtbot, s, *points[3])

    anns = s.ds.anns_for_image(image["id"])
    assert len(anns) == n_before + 1
    new = anns[-1]
    poly = new["segmentation"][0]
    assert len(poly) == 8 and new["category_id"] == 1
    for (x, y), (px, py) in zip(points, zip(poly[::2], poly[1::2])):
        assert abs(px - x) <= _pixel(s) and abs(py - y) <= _pixel(s)
    assert new["bbox"] == polygons_bbox([poly]) and new["area"] == pytest.approx(shoelace_area(poly))
    assert new["id"] in s.page.viewer.overlays.by_ann
    assert s.editor.dirty() and s.bar.dirty_label.text() == "● unsaved"
    assert s.editor.tool.marks.handles == []

    _key(qtbot, s, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(s.ds.anns_for_image(image["id"])) == n_before
    assert new["id"] not in s.page.viewer.overlays.by_ann and not s.editor.dirty()
    _key(qtbot, s, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert s.ds.annotation(new["id"])["segmentation"] == [poly]
    assert new["id"] in s.page.viewer.overlays.by_ann and s.editor.dirty()
    _key(qtbot, s, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _key(qtbot, s, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # the other redo shortcut
    assert len(s.ds.anns_for_image(image["id"])) == n_before + 1
    assert recovery_path(balloon).is_file()

    with qtbot.waitSignal(s.editor.saved, timeout=10_000):
        _key(qtbot, s, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not s.editor.dirty() and s.bar.dirty_label.text() == "saved"
    assert not recovery_path(balloon).exists()
    reloaded = Dataset.load(balloon)
    saved = reloaded.annotation(new["id"])
    assert saved["segmentation"] == [poly] and saved["image_id"] == image["id"]
    assert reloaded.category(saved["category_id"])["name"] == "balloon"
    assert saved["bbox"] == polygons_bbox([poly]) and saved["area"] == pytest.approx(shoelace_area(poly))
    assert len(reloaded.annotations) == 51
    _key(qtbot, s, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert s.editor.dirty(), "undo past the save makes it dirty again"


def test_polygon_tool_closes_on_the_first_point_or_enter_and_esc_cancels(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    image_id = s.page.viewer.image["id"]
    n = len(s.ds.anns_for_image(image_id))
    s.editor.set_tool("polygon")
    tri = [(100.0, 1500.0), (400.0, 1480.0), (380.0, 1800.0)]
    for p in tri:
        _click(qtbot, s, *p)
    _click(qtbot, s, tri[0][0] + 2 * _pixel(s), tri[0][1])  # on the first point: closes
    assert len(s.ds.anns_for_image(image_id)) == n + 1
    for p in tri:
        _click(qtbot, s, p[0] + 500, p[1])
    _key(qtbot, s, Qt.Key.Key_Backspace)
    assert len(s.editor.tool.points) == 2
    _click(qtbot, s, 880, 1800)
    _key(qtbot, s, Qt.Key.Key_Return)
    assert len(s.ds.anns_for_image(image_id)) == n + 2
    for p in tri[:2]:
        _click(qtbot, s, p[0], p[1] - 400)
    _key(qtbot, s, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # while drawing: the last point goes
    assert len(s.editor.tool.points) == 1 and len(s.ds.anns_for_image(image_id)) == n + 2
    _click(qtbot, s, tri[1][0], tri[1][1] - 400)
    _key(qtbot, s, Qt.Key.Key_Escape)
    assert s.editor.tool.points == [] and s.editor.tool.marks.handles == []
    assert len(s.ds.anns_for_image(image_id)) == n + 2
    assert s.editor.selected is None, "drawing never selects: the class box then sets the next shape's class"


def test_box_tool_draws_a_box_only_annotation(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    image_id = s.page.viewer.image["id"]
    s.page.viewer.labels_box.setChecked(False)
    s.editor.set_tool("box")
    _drag(qtbot, s, (900.0, 1500.0), (1200.0, 1700.0))
    new = s.ds.anns_for_image(image_id)[-1]
    assert new["segmentation"] == []
    drawn = s.page.viewer.overlays.by_ann[new["id"]]
    assert drawn.box.isVisible() and not drawn.label.isVisible(), "the layer switches hold for new shapes"
    x, y, w, h = new["bbox"]
    assert abs(x - 900) <= _pixel(s) and abs(y - 1500) <= _pixel(s)
    assert abs(w - 300) <= 2 * _pixel(s) and abs(h - 200) <= 2 * _pixel(s)
    assert new["area"] == pytest.approx(w * h)
    count = len(s.ds.annotations)
    qtbot.mouseClick(s.view.viewport(), Qt.MouseButton.LeftButton, pos=_at(s, 100, 100))  # a click is no box
    assert len(s.ds.annotations) == count

    # a box-only shape gets corner handles; dragging one moves that corner only
    s.editor.set_tool("select")
    _click(qtbot, s, 1050, 1600)
    assert s.editor.selected == new["id"] and len(s.editor.tool.marks.handles) == 4
    _drag(qtbot, s, (x + w, y + h), (1250.0, 1800.0))
    x2, y2, w2, h2 = s.ds.annotation(new["id"])["bbox"]
    assert (x2, y2) == (x, y) and abs(x2 + w2 - 1250) <= _pixel(s) and abs(y2 + h2 - 1800) <= _pixel(s)


def test_move_insert_and_delete_vertices(qtbot, open_studio, balloon, tmp_path):
    s = open_studio(balloon)
    ann = _largest_polygon(s)
    aid = ann["id"]
    _select(qtbot, s, ann)
    poly = list(ann["segmentation"][0])
    n = len(poly) // 2
    handles = s.editor.tool.marks.handles
    assert len(handles) == n and all(isinstance(h, Handle) for h in handles)
    _shot(s, tmp_path, "editor_selected_handles.png")

    # handles keep their on-screen size whatever the zoom
    size = handles[0].deviceTransform(s.view.viewportTransform()).mapRect(handles[0].boundingRect()).width()
    s.view.zoom_by(2.0)
    s.view.centerOn(poly[0], poly[1])
    size2 = handles[0].deviceTransform(s.view.viewportTransform()).mapRect(handles[0].boundingRect()).width()
    assert size == pytest.approx(size2) and 6 <= size <= 12

    # drag vertex 0 by 30 px (image) to the left
    x0, y0 = poly[0], poly[1]
    _drag(qtbot, s, (x0, y0), (x0 - 30, y0))
    moved = s.ds.annotation(aid)["segmentation"][0]
    assert abs(moved[0] - (x0 - 30)) <= _pixel(s) and abs(moved[1] - y0) <= _pixel(s)
    assert moved[2:] == poly[2:]
    assert s.ds.annotation(aid)["bbox"] == polygons_bbox([moved])
    assert s.editor.tool.active == (0, 0)

    # double-click on the middle of edge 0-1 inserts a vertex there
    mx, my = (moved[0] + moved[2]) / 2, (moved[1] + moved[3]) / 2
    _double_click(qtbot, s, mx, my)
    inserted = s.ds.annotation(aid)["segmentation"][0]
    assert len(inserted) == len(moved) + 2
    assert math.dist((inserted[2], inserted[3]), (mx, my)) <= 2 * _pixel(s)
    assert len(s.editor.tool.marks.handles) == n + 1 and s.editor.selected == aid

    # right-click on that handle removes it; Delete removes the active vertex
    _click(qtbot, s, inserted[2], inserted[3], Qt.MouseButton.RightButton)
    assert s.ds.annotation(aid)["segmentation"][0] == moved
    _click(qtbot, s, moved[4], moved[5])  # vertex 2 becomes the active one
    assert s.editor.tool.active == (0, 2)
    _key(qtbot, s, Qt.Key.Key_Delete)
    assert s.ds.annotation(aid)["segmentation"][0] == moved[:4] + moved[6:]
    assert s.editor.selected == aid, "deleting a vertex keeps the shape"

    # undo all four vertex edits: the original polygon and its stored box come back
    for _ in range(4):
        s.editor.undo()
    assert s.ds.annotation(aid)["segmentation"][0] == poly and not s.editor.dirty()


def test_a_polygon_keeps_three_points(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    s.editor.set_tool("polygon")
    for p in [(100.0, 1500.0), (400.0, 1480.0), (380.0, 1800.0)]:
        _click(qtbot, s, *p)
    _key(qtbot, s, Qt.Key.Key_Return)
    s.editor.set_tool("select")
    _click(qtbot, s, 300, 1600)
    tri = s.editor.selected_annotation()["segmentation"][0]
    assert len(tri) == 6
    messages = []
    s.editor.message.connect(messages.append)
    _click(qtbot, s, tri[0], tri[1], Qt.MouseButton.RightButton)
    assert s.editor.selected_annotation()["segmentation"][0] == tri
    assert messages and "at least 3 points" in messages[0] and "at least 3 points" in s.bar.message()


def test_delete_shape_change_label_and_add_class(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    ann = _largest_polygon(s)
    aid, image_id = ann["id"], ann["image_id"]
    stats = list(s.page.loaded.class_stats)
    followed = []

    def follow(event):
        nonlocal stats
        stats = follow_class_stats(stats, s.ds, event)
        followed.append(event.kind)

    s.editor.edited.connect(follow)
    _select(qtbot, s, ann)
    combo = s.bar.class_combo
    assert combo.currentData() == 1

    # "Add class…" with a shape selected: the class is created and the shape takes it
    s.bar.ask_class_name = lambda parent: "red balloon"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_End)  # the last entry is "Add class…"
    assert s.ds.category_id("red balloon") == 2
    assert s.ds.annotation(aid)["category_id"] == 2 and combo.currentData() == 2
    assert combo.itemData(combo.count() - 1) == ADD_CLASS and combo.findText("red balloon") >= 0
    label = s.page.viewer.overlays.by_ann[aid].label
    assert label.text == "red balloon"
    assert [(st.name, st.instances, st.images) for st in stats] == [("balloon", 49, 12), ("red balloon", 1, 1)]
    s.bar.ask_class_name = lambda parent: "Balloon"
    qtbot.keyClick(combo, Qt.Key.Key_End)
    assert len(s.ds.categories) == 2 and "already exists" in s.bar.message()

    # picking another class in the box relabels the selected shape (one undoable edit)
    qtbot.keyClick(combo, Qt.Key.Key_Home)
    assert s.ds.annotation(aid)["category_id"] == 1
    s.editor.undo()
    assert s.ds.annotation(aid)["category_id"] == 2 and combo.currentData() == 2

    # Delete removes the selected shape; undo brings it back selected
    _key(qtbot, s, Qt.Key.Key_Escape)
    _select(qtbot, s, s.ds.annotation(aid))
    _key(qtbot, s, Qt.Key.Key_Delete)
    assert aid not in {a["id"] for a in s.ds.anns_for_image(image_id)}
    assert aid not in s.page.viewer.overlays.by_ann and s.editor.selected is None
    assert [(st.name, st.instances, st.images) for st in stats] == [("balloon", 49, 12), ("red balloon", 0, 0)]
    s.editor.undo()
    assert s.ds.annotation(aid)["category_id"] == 2 and s.editor.selected == aid
    for _ in range(3):
        s.editor.undo()  # relabel, add class... and nothing more to undo
    assert not s.ds.has_category(2) and combo.findText("red balloon") == -1
    assert [(st.name, st.instances, st.images) for st in stats] == [("balloon", 50, 13)]
    assert not s.editor.dirty()
    assert followed.count("undo") == 4


def test_undo_on_another_image_shows_that_image(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    first = s.page.viewer.image["id"]
    s.editor.set_tool("box")
    _drag(qtbot, s, (100.0, 100.0), (300.0, 300.0))
    s.page.images.select_row(3)
    _wait_image(qtbot, s)
    assert s.page.viewer.image["id"] != first
    box_id = s.ds.anns_for_image(first)[-1]["id"]
    s.editor.set_tool("select")
    s.editor.undo()
    assert s.page.viewer.image["id"] == first
    assert len(s.page.viewer.overlays.by_ann) == len(s.ds.anns_for_image(first))
    assert box_id not in s.page.viewer.overlays.by_ann
    s.page.images.select_row(3)
    _wait_image(qtbot, s)
    s.editor.redo()  # back on the first image, with the box selected and its handles shown
    assert s.page.viewer.image["id"] == first and s.editor.selected == box_id
    assert len(s.editor.tool.marks.handles) == 4


def test_recovery_after_a_crash_replays_every_edit(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    image_id = s.page.viewer.image["id"]
    s.editor.set_tool("polygon")
    for p in [(100.0, 1500.0), (400.0, 1480.0), (380.0, 1800.0)]:
        _click(qtbot, s, *p)
    _key(qtbot, s, Qt.Key.Key_Return)
    s.editor.set_tool("select")
    ann = _largest_polygon(s)
    _select(qtbot, s, ann)
    poly = ann["segmentation"][0]
    _drag(qtbot, s, (poly[0], poly[1]), (poly[0] + 25, poly[1] + 10))
    s.editor.add_class("string")
    s.editor.set_category(2)  # relabels the selected balloon
    s.editor.undo()
    s.editor.delete_selected()
    expected = [dict(a) for a in s.ds.annotations]
    expected_cats = [dict(c) for c in s.ds.categories]
    assert len(s.ds.anns_for_image(image_id)) == len(Dataset.load(balloon).anns_for_image(image_id))
    # the crash: the editor goes away without saving (no close, no save, no discard)
    s.host.hide()

    asked = []
    s2 = open_studio(balloon, ask=lambda info: asked.append(info) or True)
    assert len(asked) == 1 and asked[0].steps == 6 and not asked[0].base_changed
    assert s2.ds.annotations == expected and s2.ds.categories == expected_cats
    assert s2.editor.dirty() and s2.bar.dirty_label.text() == "● unsaved"
    assert s2.bar.class_combo.findText("string") >= 0
    shown = s2.page.viewer.overlays.by_ann
    assert set(shown) == {a["id"] for a in s2.ds.anns_for_image(s2.page.viewer.image["id"])}
    with qtbot.waitSignal(s2.editor.saved, timeout=10_000):
        s2.editor.save()
    assert Dataset.load(balloon).annotations == expected and not recovery_path(balloon).exists()


def test_declining_the_recovery_deletes_it(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    s.editor.set_tool("box")
    _drag(qtbot, s, (100.0, 100.0), (300.0, 300.0))
    assert recovery_path(balloon).is_file()
    s.host.hide()
    s2 = open_studio(balloon, ask=lambda info: False)
    assert len(s2.ds.annotations) == 50 and not s2.editor.dirty()
    assert not recovery_path(balloon).exists()


def test_editing_is_off_while_disabled(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    s.editor.set_enabled(False)
    assert not s.bar.tool_buttons["polygon"].isEnabled() and not s.bar.save_action.isEnabled()
    s.editor.set_tool("box")
    _drag(qtbot, s, (100.0, 100.0), (300.0, 300.0))
    assert len(s.ds.annotations) == 50
    s.editor.set_enabled(True)
    _drag(qtbot, s, (100.0, 100.0), (300.0, 300.0))
    assert len(s.ds.annotations) == 51


def test_edits_that_no_longer_apply_are_kept_aside(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    ann = _largest_polygon(s)
    s.editor.add_class("string")
    s.editor.select(ann["id"])
    s.editor.set_category(2)
    s.host.hide()  # the crash
    # meanwhile another tool rewrote the file: that balloon is gone
    other = Dataset.load(balloon)
    other.remove_annotation(ann["id"])
    other.save(balloon)
    journal = recovery_path(balloon)
    stamp = journal.stat().st_mtime_ns
    os.utime(balloon, ns=(stamp - 10**9, stamp - 10**9))

    asked = []
    s2 = open_studio(balloon, ask=lambda info: asked.append(info) or True)
    assert asked[0].base_changed and "has changed since" in asked[0].describe()
    assert "could not be recovered" in s2.bar.message() and "line 3" in s2.bar.message()
    assert len(s2.ds.annotations) == 49 and not s2.ds.has_category(2), "nothing half-replayed"
    assert not journal.exists() and journal.with_suffix(".jsonl.broken").is_file()
    assert s2.bar.class_combo.findText("string") == -1 and not s2.editor.dirty()


def test_confirm_close_saves_discards_or_cancels(qtbot, open_studio, balloon):
    s = open_studio(balloon)
    answers = []

    def ask(answer):
        return lambda parent, name: answers.append(name) or answer

    assert s.editor.confirm_close(ask=ask("cancel")) and answers == [], "nothing unsaved: no question"
    s.editor.set_tool("box")
    _drag(qtbot, s, (100.0, 100.0), (300.0, 300.0))
    assert not s.editor.confirm_close(ask=ask("cancel")) and answers == ["val.json"]
    assert s.editor.dirty() and recovery_path(balloon).is_file()
    assert s.editor.confirm_close(ask=ask("save"))
    assert not s.editor.dirty() and len(Dataset.load(balloon).annotations) == 51
    assert not recovery_path(balloon).exists()
    _drag(qtbot, s, (400.0, 100.0), (600.0, 300.0))
    assert s.editor.confirm_close(ask=ask("discard"))
    assert not s.editor.dirty() and not recovery_path(balloon).exists()
    assert len(Dataset.load(balloon).annotations) == 51
