"""The editor's state without Qt: tools and selection, which command each gesture becomes (Delete, a drag, a
double-click), what an undo or redo selects or shows, the toolbar's enablement, recovery and saving."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import recovery_path, snapshot, write_snapshot
from studio.core.geometry import mask_to_rle, segmentation_to_mask
from studio.gui.editor.navigation import next_unlabelled
from studio.gui.editor.shapes import clamped_offset
from studio.gui.editor.state import KEEP, EditorState

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]
TRIANGLE = [40.0, 40.0, 60.0, 40.0, 50.0, 60.0]
COCO = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 2, "file_name": "b.jpg", "width": 64, "height": 64},
    ],
    "categories": [{"id": 2, "name": "dog"}, {"id": 1, "name": "cat"}],
    "annotations": [
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "segmentation": [SQUARE]},
        {"id": 6, "image_id": 1, "category_id": 2, "bbox": [50, 40, 10, 5], "area": 50, "segmentation": []},
        {"id": 7, "image_id": 1, "category_id": 1, "bbox": [40, 40, 20, 20], "area": 200, "segmentation": [TRIANGLE]},
        {"id": 8, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "segmentation": []},
    ],
}


class Editor:
    """An :class:`EditorState` with what the view would give it: the image shown and the events and messages."""

    def __init__(self, tmp_path, ask=lambda info: True):
        self.path = tmp_path / "ann.json"
        if not self.path.exists():
            Dataset.from_dict(copy.deepcopy(COCO)).save(self.path)
        self.ds = Dataset.load(self.path)
        self.shown: dict | None = self.ds.image(1)
        self.events, self.messages = [], []
        self.st = EditorState(lambda: self.shown)
        self.st.on_event = self.events.append
        self.st.on_message = self.messages.append
        self.replayed = self.st.open(self.ds, self.path, ask)

    def select(self, ann_id):
        shown = {a["id"] for a in self.ds.anns_for_image(self.shown["id"])} if self.shown else set()
        return self.st.select(ann_id, shown)


@pytest.fixture
def ed(tmp_path) -> Editor:
    return Editor(tmp_path)


def test_open_picks_the_first_class_and_nothing_is_dirty(ed):
    st = ed.st
    assert ed.replayed == 0 and st.category_id == 1, "classes in id order: cat (1) before dog (2)"
    assert [c["name"] for c in st.categories()] == ["cat", "dog"]
    assert st.class_name(2) == "dog" and st.class_name(9) == "unknown 9"
    assert not st.dirty() and st.active() and st.tool == "select"
    a = st.actions()
    assert a.on and not a.undo and not a.redo and not a.delete and a.save and a.mark == "saved"
    assert a.undo_tip == "Nothing to undo (Ctrl+Z)" and a.save_tip == "Save ann.json (Ctrl+S)"


def test_tools_and_selection(ed):
    st = ed.st
    assert ed.select(6) == 6 and st.shown_category() == 2, "the class box shows the selected shape's class"
    assert st.category_id == 1, "selecting a shape leaves the class of the next one"
    assert st.actions().delete
    assert ed.select(8) is None and st.selected is None, "annotation 8 is on another image"
    ed.select(6)
    assert st.set_tool("polygon") and st.tool == "polygon"
    assert not st.set_tool("polygon"), "already active"
    with pytest.raises(ValueError, match="unknown tool"):
        st.set_tool("lasso")
    ed.shown = None
    assert not st.active() and st.image is None
    ed.shown = {"id": 99}
    assert not st.active(), "an image of another dataset"


def test_a_new_shape_needs_a_class_and_an_image(ed):
    st = ed.st
    assert st.add_box([1, 2, 10, 10])
    new = ed.ds.anns_for_image(1)[-1]
    assert new["bbox"] == [1.0, 2.0, 10.0, 10.0] and new["category_id"] == 1
    assert st.add_polygon([0, 0, 10, 0, 10, 10])
    assert st.dirty() and st.actions().undo and st.actions().mark == "unsaved"
    assert st.actions().undo_tip.startswith("Undo ") and ed.events[-1].kind == "do"
    st.category_id = 42
    assert not st.add_box([1, 2, 10, 10]) and "add a class first" in ed.messages[-1]
    st.category_id = 1
    ed.shown = None
    assert not st.add_box([1, 2, 10, 10])
    ed.shown = ed.ds.image(1)
    st.enabled = False
    assert not st.add_box([1, 2, 10, 10]) and not st.actions().on and not st.actions().save


def test_delete_removes_the_active_vertex_else_the_shape(ed):
    st, ds = ed.st, ed.ds
    assert not st.delete(vertex_shown=True), "nothing selected: the key is not taken"
    ed.select(5)
    st.active_vertex = (0, 1)
    assert st.delete(vertex_shown=True)
    assert ds.annotation(5)["segmentation"][0] == SQUARE[:2] + SQUARE[4:] and st.active_vertex is None
    assert st.selected == 5
    st.active_vertex = (0, 0)
    assert st.delete(vertex_shown=True), "the key is taken even when refused"
    assert ed.messages[-1] == "annotation 5: a polygon keeps at least 3 points (delete the shape instead)"
    assert len(ds.annotation(5)["segmentation"][0]) == 6
    assert st.active_vertex == (0, 0), "a refused delete keeps the vertex active"
    st.active_vertex = None
    assert st.delete(vertex_shown=True) and not any(a["id"] == 5 for a in ds.anns_for_image(1))
    ed.select(6)
    st.active_vertex = (-1, 2)  # a box corner: Delete removes the box
    assert st.delete(vertex_shown=True) and not any(a["id"] == 6 for a in ds.anns_for_image(1))


def test_an_active_vertex_the_view_does_not_show_never_takes_the_delete(ed):
    """The issue: Delete meant for the shape removed a vertex that was still active but not highlighted, and the
    damaged polygon was saved unnoticed."""
    st, ds = ed.st, ed.ds
    ed.select(7)
    st.active_vertex = (0, 1)
    assert st.delete(vertex_shown=False)
    assert not any(a["id"] == 7 for a in ds.anns_for_image(1)), "the shape went, whole"
    assert st.active_vertex is None
    st.undo()
    assert ds.annotation(7)["segmentation"] == [TRIANGLE]


def test_handles_and_what_a_drag_does(ed):
    st, ds = ed.st, ed.ds
    assert st.handle_at(10, 10, 2) is None, "no selection, no handles"
    ed.select(5)
    assert st.handle_at(30.5, 10, 2) == (0, 1) and st.handle_at(20, 20, 2) is None
    assert st.on_edge(20, 10.5, 2) and not st.on_edge(20, 20, 2)
    assert st.dragged(0, 1, 35, 12) == [10.0, 10.0, 35.0, 12.0, 30.0, 30.0, 10.0, 30.0]
    assert st.drag(0, 1, 500, -5), "a vertex moves, kept on the image"
    assert ds.annotation(5)["segmentation"][0][2:4] == [100.0, 0.0]
    assert ds.annotation(5)["bbox"] == [10.0, 0.0, 90.0, 30.0]
    n = len(ed.events)
    assert not st.drag(0, 1, 100, 0), "a drop where it was: no edit, no undo step"
    assert len(ed.events) == n

    ed.select(6)  # box-only: the handles are its corners, part -1
    assert st.handle_at(60, 45, 2) == (-1, 2) and not st.on_edge(55, 40, 2)
    assert st.drag(-1, 2, 70, 50)
    assert ds.annotation(6)["bbox"] == [50.0, 40.0, 20.0, 10.0], "only that corner moved"


def test_a_double_click_on_an_edge_inserts_a_vertex_there(ed):
    st, ds = ed.st, ed.ds
    assert st.insert_vertex(20, 10, 2) is None, "no selection"
    ed.select(5)
    assert st.insert_vertex(90, 70, 2) is None, "not on the shape"
    assert st.insert_vertex(10, 10, 2) is False, "on a handle: two clicks, nothing inserted"
    assert st.insert_vertex(20, 10.5, 2) is True
    assert ds.annotation(5)["segmentation"][0][:6] == [10.0, 10.0, 20.0, 10.0, 30.0, 10.0]
    assert st.active_vertex == (0, 1), "the new vertex is the active one"
    ed.select(6)
    assert st.insert_vertex(55, 40, 2) is None, "a box has no vertices to insert"


def test_the_active_vertex_goes_with_its_shape_or_its_vertex(ed):
    st = ed.st
    ed.select(5)
    st.active_vertex = (0, 3)
    st.refresh_active()
    assert st.active_vertex is None, "set before the shape was shown: it belongs to no selection"
    st.active_vertex = (0, 3)
    st.refresh_active()
    assert st.active_vertex == (0, 3), "the same shape, the vertex still there"
    st.set_polygon(5, 0, SQUARE[:6])  # an undo took vertex 3 away, say
    st.refresh_active()
    assert st.active_vertex is None
    st.active_vertex = (0, 0)
    st.refresh_active()
    ed.select(7)
    st.refresh_active()
    assert st.active_vertex is None, "another shape selected"
    ed.select(6)
    st.refresh_active()  # the view shows the new selection's handles
    st.active_vertex = (-1, 0)
    st.refresh_active()
    assert st.active_vertex == (-1, 0)
    st.active_vertex = (0, 0)  # a polygon vertex on a box
    st.refresh_active()
    assert st.active_vertex is None
    ed.select(6)
    st.active_vertex = (-1, 1)
    assert st.scene_cleared() and st.selected is None and st.active_vertex is None
    assert not st.scene_cleared(), "nothing was selected"


def test_relabel_add_class_and_propose(ed):
    st, ds = ed.st, ed.ds
    ed.select(5)
    assert st.set_category(2) and ds.annotation(5)["category_id"] == 2 and st.shown_category() == 2
    assert st.category_id == 1, "relabelling the selected shape leaves the class of the next shape (the issue)"
    assert not st.set_category(2), "the same class: no edit"
    cid = st.add_class("bird")
    assert cid == 3 and st.class_name(3) == "bird" and ed.events[-1].categories_changed
    assert st.add_class("Bird") is None and "already exists" in ed.messages[-1]
    st.category_id = 3
    st.undo()  # the class goes: the class of new shapes falls back to the first one
    assert not ds.has_category(3) and st.category_id == 1
    cmd = st.propose(2, 1, [1, 2, 3, 4])
    assert cmd is not None and ds.annotation(cmd.ann_id)["bbox"] == [1.0, 2.0, 3.0, 4.0]
    cmd = st.propose(2, 1, [1, 1, 9, 1, 9, 9])
    assert ds.annotation(cmd.ann_id)["segmentation"] == [[1.0, 1.0, 9.0, 1.0, 9.0, 9.0]]
    assert st.propose(77, 1, [1, 2, 3, 4]) is None and "not in the open dataset" in ed.messages[-1]


def test_what_an_edit_redraws_selects_or_shows(ed):
    st = ed.st
    ed.select(5)
    st.delete_selected()
    r = st.reaction(ed.events[-1])
    assert r.redraw == [5] and r.select is None and r.show is None, "the selected shape is gone"
    st.undo()
    r = st.reaction(ed.events[-1])
    assert r.redraw == [5] and r.select == 5, "an undo selects what it brought back"
    st.set_tool("box")
    ed.select(7)
    st.redo()
    st.undo()
    assert st.reaction(ed.events[-1]).select == 7, "only the Select tool follows an undo"
    st.set_tool("select")
    ed.select(7)
    st.add_box([1, 1, 5, 5])
    assert st.reaction(ed.events[-1]).select == 7, "a new shape keeps the selection"

    ed.shown = ed.ds.image(2)  # the user went to another image
    st.undo()
    r = st.reaction(ed.events[-1])
    assert r.redraw == [] and r.select is KEEP and r.show == (1, None), "show the image the undo changed"
    st.redo()
    r = st.reaction(ed.events[-1])
    assert r.show == (1, ed.events[-1].command.ann_id)
    assert st.propose(1, 1, [2, 2, 3, 3]) is not None
    assert st.reaction(ed.events[-1]).show is None, "a new edit elsewhere shows nothing by itself"


def test_undo_and_redo_are_off_while_disabled(ed):
    st, ds = ed.st, ed.ds
    st.add_box([1, 2, 10, 10])
    st.enabled = False
    st.undo()
    assert len(ds.annotations) == 5
    st.enabled = True
    st.undo()
    assert len(ds.annotations) == 4 and not st.dirty()
    assert st.actions().redo and st.actions().redo_tip.startswith("Redo ")
    st.redo()
    assert len(ds.annotations) == 5


def test_dirty_changes_are_reported_once(ed):
    st = ed.st
    assert not st.dirty_changed()
    st.add_box([1, 2, 10, 10])
    assert st.dirty_changed() and not st.dirty_changed()
    st.undo()
    assert st.dirty_changed() and not st.dirty()


def test_saving_then_editing_meanwhile(ed):
    st = ed.st
    st.add_box([1, 2, 10, 10])
    job = st.begin_save()
    assert job is not None and st.saving and st.actions().mark == "saving" and not st.actions().save
    assert st.begin_save() is None, "one save at a time"
    st.add_box([3, 3, 10, 10])  # while the file is written
    write_snapshot(job.path, job.payload)
    st.save_ended(job)
    assert not st.saving and st.dirty(), "the edit made while saving is still unsaved"
    assert len(Dataset.load(ed.path).annotations) == 5
    st.undo()
    assert not st.dirty(), "back to what the file holds"

    job = st.begin_save()
    st.save_ended(job, "no space left on the disk")
    assert not st.saving and ed.messages[-1] == "not saved: no space left on the disk"


def test_unsaved_edits_are_replayed_or_dropped(tmp_path):
    first = Editor(tmp_path)
    first.st.add_box([1, 2, 10, 10])
    first.st.add_class("bird")
    assert recovery_path(first.path).is_file()
    # a crash: the session is never closed
    asked = []
    again = Editor(tmp_path, ask=lambda info: asked.append(info) or True)
    assert again.replayed == 2 and asked[0].steps == 2
    assert again.st.dirty() and again.ds.has_category(3) and len(again.ds.annotations) == 5
    assert not again.st.replaying and again.st.reaction(again.events[-1]).show is None
    again.st.close()
    declined = Editor(tmp_path, ask=lambda info: False)
    assert declined.replayed == 0 and len(declined.ds.annotations) == 4 and not recovery_path(declined.path).exists()


def test_a_session_whose_edits_were_all_undone_leaves_no_journal(tmp_path):
    first = Editor(tmp_path)
    first.st.add_class("bird")
    first.st.undo()
    assert recovery_path(first.path).is_file() and not first.st.dirty()
    first.st.close()  # a clean quit with nothing unsaved
    assert not recovery_path(first.path).exists()
    asked = []
    again = Editor(tmp_path, ask=lambda info: asked.append(info) or True)
    assert asked == [] and again.replayed == 0


def test_discard_and_close(ed):
    st = ed.st
    st.add_box([1, 2, 10, 10])
    assert recovery_path(ed.path).is_file()
    st.discard()
    assert not st.dirty() and not recovery_path(ed.path).exists()
    ed.select(5)
    st.close()
    assert st.ds is None and st.stack is None and st.selected is None and st.categories() == []
    assert not st.active() and st.begin_save() is None and st.actions().mark == ""


# ----------------------------------------------------------------------------------------------- editor parity
MASK = np.zeros((80, 100), np.uint8)
MASK[20:40, 50:70] = 1
RING = np.zeros((80, 100), np.uint8)
RING[10:50, 10:50] = 1
RING[25:35, 25:35] = 0  # a hole
PARTS = [[5.0, 5.0, 15.0, 5.0, 15.0, 15.0, 5.0, 15.0], [60.0, 60.0, 80.0, 60.0, 80.0, 75.0, 60.0, 75.0]]


@pytest.fixture
def rich(tmp_path) -> Editor:
    """The editor on COCO plus a two-part polygon (9), an RLE mask (10) and a mask with a hole (11) on image 1."""
    coco = copy.deepcopy(COCO)
    coco["annotations"] += [
        {"id": 9, "image_id": 1, "category_id": 2, "bbox": [5, 5, 75, 70], "area": 400, "segmentation": PARTS},
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [50, 20, 20, 20], "area": 400, "iscrowd": 1,
         "segmentation": mask_to_rle(MASK)},
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1500,
         "segmentation": mask_to_rle(RING)},
    ]  # fmt: skip
    Dataset.from_dict(coco).save(tmp_path / "ann.json")
    return Editor(tmp_path)


def test_a_whole_shape_moves_every_part_kept_on_the_image_in_one_undo_step(rich):
    st, ds = rich.st, rich.ds
    assert st.move(5, 7, -3)
    assert ds.annotation(5)["segmentation"] == [[17.0, 7.0, 37.0, 7.0, 37.0, 27.0, 17.0, 27.0]]
    assert ds.annotation(5)["bbox"] == [17.0, 7.0, 20.0, 20.0] and ds.annotation(5)["area"] == 400
    assert st.actions().undo_text == "Undo move shape"
    st.undo()
    assert ds.annotation(5)["segmentation"] == [SQUARE] and ds.annotation(5)["bbox"] == [10, 10, 20, 20]
    assert st.move(9, 100, 100), "both parts move together, up to the image's edge"
    part0, part1 = ds.annotation(9)["segmentation"]
    assert part1[4:6] == [100.0, 80.0] and part0[:2] == [25.0, 10.0]
    assert not st.move(9, 5, 5), "already against the edge: no edit"
    assert st.move(6, -500, 0) and ds.annotation(6)["bbox"] == [0.0, 40.0, 10.0, 5.0], "a box"
    assert ds.annotation(6)["segmentation"] == [] and ds.annotation(6)["area"] == 50
    assert st.move(10, 10.4, -5.6), "a mask moves by whole pixels"
    moved = segmentation_to_mask(ds.annotation(10)["segmentation"], 80, 100)
    assert moved.sum() == MASK.sum() and moved[14:34, 60:80].all()
    assert ds.annotation(10)["bbox"] == [60.0, 14.0, 20.0, 20.0]
    assert not st.move(8, 1, 1), "a shape of another image"


def test_nudges_in_a_row_are_one_undo_step(rich):
    st, ds = rich.st, rich.ds
    now = [100.0]
    st.clock = lambda: now[0]
    assert not st.nudge(1, 0), "nothing selected: the key is not taken"
    rich.select(5)
    st.active_vertex = (0, 2)
    for _ in range(3):
        assert st.nudge(1, 0)
        now[0] += 0.2
    assert st.nudge(0, 10)
    assert ds.annotation(5)["bbox"][:2] == [13.0, 20.0] and st.active_vertex is None
    undo_steps = len(st.stack)
    assert undo_steps == 1, "four nudges, one step"
    now[0] += 5  # a pause: a new step
    st.nudge(-1, 0)
    assert len(st.stack) == 2
    st.undo()
    st.undo()
    assert ds.annotation(5)["segmentation"] == [SQUARE] and not st.dirty()
    rich.select(6)
    st.nudge(0, 1)
    st.add_box([1, 1, 5, 5])  # another edit between: the next nudge is a new step
    rich.select(6)
    st.nudge(0, 1)
    assert len(st.stack) == 3 and ds.annotation(6)["bbox"][:2] == [50.0, 42.0]


def test_duplicate_copy_and_paste_across_images(rich):
    st, ds = rich.st, rich.ds
    assert st.duplicate() is None and "select a shape" in rich.messages[-1]
    rich.select(5)
    new = st.duplicate()
    assert ds.annotation(new)["segmentation"] == [[v + 10 for v in SQUARE]] and ds.annotation(new)["category_id"] == 1
    assert st.actions().undo_text == "Undo duplicate shape"
    rich.select(9)
    st.move(9, 100, 100)  # its second part now touches the bottom-right corner
    twin = st.duplicate()
    assert ds.annotation(twin)["bbox"][:2] == [ds.annotation(9)["bbox"][0] - 10, ds.annotation(9)["bbox"][1] - 10]

    assert st.paste() == [] and "nothing to paste" in rich.messages[-1]
    rich.select(None)
    assert st.copy() == len(ds.anns_for_image(1)), "nothing selected: every shape of the image"
    rich.select(5)
    assert st.copy() == 1 and st.actions().paste
    rich.shown = ds.image(2)  # another image, 64 x 64
    rich.select(None)
    (pasted,) = st.paste()
    assert ds.annotation(pasted)["image_id"] == 2 and ds.annotation(pasted)["segmentation"] == [SQUARE], "in place"
    rich.shown = ds.image(1)
    rich.select(9)
    st.copy()
    rich.shown = ds.image(2)
    ids = st.paste()
    assert len(ids) == 1 and "cut to the image's edges" in rich.messages[-1]
    x, y, w, h = ds.annotation(ids[0])["bbox"]
    assert x + w <= 64 and y + h <= 64, "clipped to the smaller image"
    rich.shown = ds.image(1)
    rich.select(10)
    st.copy()
    rich.shown = ds.image(2)
    (mask_id,) = st.paste()
    rle = ds.annotation(mask_id)["segmentation"]
    assert rle["size"] == [64, 64] and segmentation_to_mask(rle, 64, 64).sum() == 14 * 20, "cropped to 64 x 64"
    n = len(st.stack)
    st.undo()
    assert len(st.stack) == n - 1 and mask_id not in {a["id"] for a in ds.anns_for_image(2)}


def test_paste_onto_the_same_image_lands_a_few_pixels_off(rich):
    st, ds = rich.st, rich.ds
    rich.select(7)
    st.copy()
    (new,) = st.paste()
    assert ds.annotation(new)["segmentation"] == [[v + 10 for v in TRIANGLE]]


def test_copy_every_shape_of_the_previous_image(rich):
    st, ds = rich.st, rich.ds
    rich.shown = ds.image(2)
    ids = st.paste_from(1)
    assert len(ids) == 6 and {ds.annotation(i)["image_id"] for i in ids} == {2}
    assert st.actions().undo_text == "Undo paste shapes" and len(st.stack) == 1
    assert st.paste_from(None) == [] and "no previous image" in rich.messages[-1]
    assert st.paste_from(99) == [], "an image the dataset does not have"
    st.undo()
    assert ds.anns_for_image(2) == [ds.annotation(8)], "one undo takes every pasted shape back"


def test_number_keys_pick_a_class_or_relabel_the_selected_shape(rich):
    st, ds = rich.st, rich.ds
    assert st.pick_class(2) and st.category_id == 2, "nothing selected: the class of the next shape"
    st.add_box([1, 1, 5, 5])
    assert ds.anns_for_image(1)[-1]["category_id"] == 2
    rich.select(5)
    assert st.pick_class(1) is True and ds.annotation(5)["category_id"] == 1
    assert st.pick_class(2) and ds.annotation(5)["category_id"] == 2 and st.category_id == 2
    st.pick_class(1)
    assert st.category_id == 2, "relabelling never changes the class of the next shape"
    assert not st.pick_class(3) and "no class 3" in rich.messages[-1]
    rich.select(None)
    st.add_box([2, 2, 5, 5], category_id=1)
    assert st.category_id == 1, "a class given with a drawn shape (the class prompt) is the last label"


def test_delete_a_part_of_a_multi_part_polygon(rich):
    st, ds = rich.st, rich.ds
    rich.select(9)
    assert st.actions().delete_part
    st.active_vertex = (1, 2)
    assert not st.delete_part(vertex_shown=False) and "select a vertex" in rich.messages[-1]
    assert st.delete_part(vertex_shown=True)
    assert ds.annotation(9)["segmentation"] == [PARTS[0]] and ds.annotation(9)["bbox"] == [5.0, 5.0, 10.0, 10.0]
    st.active_vertex = (0, 0)
    assert not st.delete_part(vertex_shown=True) and "only part" in rich.messages[-1]
    st.undo()
    assert ds.annotation(9)["segmentation"] == PARTS
    assert st.handle_at(80, 75, 1) == (1, 2), "each part's vertices are handles"
    assert st.drag(1, 2, 90, 78) and ds.annotation(9)["segmentation"][1][4:6] == [90.0, 78.0]


def test_a_mask_becomes_polygons_and_the_user_is_told_what_that_loses(rich):
    st, ds = rich.st, rich.ds
    rich.select(10)
    assert st.shape() is None and st.actions().convert
    conversion = st.convert_mask()
    assert conversion is not None and not conversion.lossy and conversion.iou == pytest.approx(1.0)
    (outline,) = ds.annotation(10)["segmentation"]
    assert sorted(zip(outline[::2], outline[1::2])) == [(49.5, 19.5), (49.5, 39.5), (69.5, 19.5), (69.5, 39.5)]
    assert "lossless" in rich.messages[-1] and st.shape()[0] == "polygon"
    assert st.actions().undo_text == "Undo convert mask to polygons"
    rich.select(11)
    conversion = st.convert_mask()
    assert conversion.holes == 1 and conversion.lossy and conversion.iou < 0.99
    assert "1 hole(s) dropped" in rich.messages[-1] and "lossy" in rich.messages[-1]
    assert f"IoU {conversion.iou:.3f}" in rich.messages[-1]
    st.undo()
    assert ds.annotation(11)["segmentation"] == mask_to_rle(RING), "undo gives the mask back"
    rich.select(5)
    assert st.convert_mask() is None and "select a mask" in rich.messages[-1]


def test_the_new_edits_are_journaled_and_replayed_after_a_crash(tmp_path, rich):
    st, ds = rich.st, rich.ds
    st.move(5, 3, 4)
    rich.select(9)
    st.duplicate()
    rich.select(10)
    st.convert_mask()
    rich.select(9)
    st.active_vertex = (0, 0)
    st.delete_part(vertex_shown=True)
    rich.shown = ds.image(2)
    st.paste_from(1)
    expected = copy.deepcopy(ds.annotations)
    # the crash: no save, no close
    again = Editor(tmp_path)
    assert again.replayed == 5 and again.ds.annotations == expected


def test_next_unlabelled_goes_round_the_list():
    labelled = {1: True, 2: False, 3: True, 4: False}.__getitem__
    assert next_unlabelled([1, 2, 3, 4], 2, labelled) == 4
    assert next_unlabelled([1, 2, 3, 4], 4, labelled) == 2, "round to the top"
    assert next_unlabelled([1, 3], 1, labelled) is None
    assert next_unlabelled([1, 2, 3], 99, labelled) == 2, "from no current image: the first one"


def test_clamped_offsets_keep_a_shape_on_its_image():
    assert clamped_offset([10, 10, 20, 20], -50, 500, 100, 80) == (-10.0, 50.0)
    assert clamped_offset([-5, 0, 20, 20], -3, 0, 100, 80) == (0.0, 0.0), "partly off: never further off"
    assert clamped_offset([-5, 0, 20, 20], 3, 0, 100, 80) == (3.0, 0.0), "but back onto it"


def test_a_quiet_failed_save_stays_unsaved(ed):
    st = ed.st
    st.add_box([1, 2, 10, 10])
    n = len(ed.messages)
    st.save_ended(st.begin_save(), "read-only folder", quiet=True)
    assert st.dirty() and len(ed.messages) == n and recovery_path(ed.path).is_file()


def test_undoing_the_new_edits_gives_back_the_file_byte_for_byte(rich):
    st, ds = rich.st, rich.ds
    before = snapshot(ds)
    st.move(10, -4, 7)
    rich.select(9)
    st.duplicate()
    st.nudge(1, 1)
    rich.select(11)
    st.convert_mask()
    rich.select(9)
    st.active_vertex = (1, 0)
    st.delete_part(vertex_shown=True)
    st.copy()
    rich.shown = ds.image(2)
    st.paste()
    st.paste_from(1)
    assert snapshot(ds) != before
    while st.stack.can_undo():
        st.undo()
    assert snapshot(ds) == before and not st.dirty()
    while st.stack.can_redo():
        st.redo()
    assert len(ds.anns_for_image(2)) == 1 + 1 + 7
