"""Review mode and pending proposals in the editor, driven with real keys and clicks: proposals drawn dashed with
their score, Enter / Backspace / A / D / Shift+Enter / R, accept all above a score, edits that accept, provenance of
drawn shapes, and the look of it at 1280x800.

The data is a small demo set (tests/gui/conftest.py) whose annotations are turned into model proposals: image 2 has
a manual shape and three pending proposals (0.92, 0.61, 0.35), image 4 two (0.88, 0.45), image 6 one (0.7) and two
manual shapes; images 1, 3 and 5 have none.
"""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from tests.gui.test_editor import Studio, _click, _drag, _wait_image
from tests.gui.test_editor import balloon as balloon  # a fixture
from tests.gui.test_editor import open_studio as open_studio  # a fixture
from tests.gui.test_editor_smart import SHOT_BYTES, _save_shot

from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import ACCEPTED, MODEL, PENDING, SMART, is_pending, proposal
from studio.core.dataset.review_edits import pending_ids
from studio.core.dataset.summary import summarize
from studio.gui.common.overlays import proposal_score
from studio.gui.editor.review import next_image, pending_counts

NONE, SHIFT, CTRL = Qt.KeyboardModifier(0), Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier
SCORES = {2: [None, 0.92, 0.61, 0.35], 4: [0.88, 0.45], 6: [None, 0.7, None]}


@pytest.fixture
def review_set(small_demo):
    """The small demo's train split with proposals (see the module docstring): ``(annotations, images_dir)``."""
    ann, images = small_demo
    ds = Dataset.load(ann)
    for image_id, scores in SCORES.items():
        anns = ds.anns_for_image(image_id)
        assert len(anns) >= len(scores), "the demo set changed"
        for a, score in zip(anns, scores):
            if score is not None:
                a.update(proposal(score, "model.pt"))
    ds.save(ann)
    return ann, images


@pytest.fixture
def studio(open_studio, review_set):
    ann, images = review_set
    return lambda **kw: open_studio(ann, images=images, **kw)


def _key(qtbot, s: Studio, key, mods=NONE) -> None:
    s.view.setFocus()
    qtbot.keyClick(s.view, key, mods)


def _go(qtbot, s: Studio, key, mods=NONE) -> None:
    _key(qtbot, s, key, mods)
    _wait_image(qtbot, s)


def _shown(s: Studio):
    return s.page.viewer.image["id"]


def _pending(s: Studio, image_id=None) -> list:
    return pending_ids(s.ds, image_id)


def _status(s: Studio, aid) -> str:
    return s.ds.annotation(aid).get("status", ACCEPTED)


def _center(s: Studio, aid) -> tuple[float, float]:
    x, y, w, h = s.ds.annotation(aid)["bbox"]
    return x + w / 2, y + h / 2


def _show(qtbot, s: Studio, image_id) -> None:
    assert s.page.select_image(image_id)
    _wait_image(qtbot, s)


# ----------------------------------------------------------------------------------------------- drawing
def test_pending_proposals_are_drawn_dashed_with_their_score_and_listed(qtbot, studio):
    s = studio()
    _show(qtbot, s, 2)
    manual, first, *_ = [a["id"] for a in s.ds.anns_for_image(2)]
    ov = s.page.viewer.overlays
    assert ov.by_ann[first].pending and not ov.by_ann[manual].pending
    assert ov.by_ann[first].polygons[0].pen().style() == Qt.PenStyle.DashLine
    assert ov.by_ann[manual].polygons[0].pen().style() == Qt.PenStyle.SolidLine
    assert ov.by_ann[first].label.text.endswith(" 0.92") and ov.by_ann[first].label.pending
    fill = [ov.by_ann[a].polygons[0].brush().color().alphaF() for a in (first, manual)]
    assert fill[0] == pytest.approx(fill[1] / 2, abs=0.01), "a proposal's fill is lighter"
    statuses = dict(s.page.shapes.statuses())
    assert statuses[manual] == "" and statuses[first] == "pending 0.92"
    assert proposal_score({"score": 0.5}) == "0.50" and proposal_score({}) == "?"


# ----------------------------------------------------------------------------------------------- review mode
def test_review_mode_walks_the_proposals_with_enter_backspace_a_and_d(qtbot, studio, tmp_path):
    s = studio()
    s.editor.set_tool("polygon")
    assert _shown(s) == 1 and not s.editor.review.active
    _go(qtbot, s, Qt.Key.Key_R)
    review, bar = s.editor.review, s.bar.review_bar
    assert review.active and bar.isVisible() and s.bar.review_button.isChecked()
    assert s.editor.state.tool == "select"
    p2 = _pending(s, 2)
    assert _shown(s) == 2 and s.editor.selected == p2[0], "the first image with proposals, its first one selected"
    assert bar.status_label.text() == "image 1 / 3 with proposals · 3 pending here · 6 in all"
    assert s.page.viewer.overlays.selected == p2[0]

    _key(qtbot, s, Qt.Key.Key_Return)
    assert _status(s, p2[0]) == ACCEPTED and s.ds.annotation(p2[0])["source"] == MODEL
    assert s.editor.selected == p2[1], "the next pending one is selected"
    assert s.page.viewer.overlays.by_ann[p2[0]].pending is False, "redrawn as accepted"
    _key(qtbot, s, Qt.Key.Key_Backspace)
    assert p2[1] not in [a["id"] for a in s.ds.annotations], "rejected: removed"
    assert s.editor.selected == p2[2]
    assert bar.status_label.text() == "image 1 / 3 with proposals · 1 pending here · 4 in all"

    _go(qtbot, s, Qt.Key.Key_D)
    assert _shown(s) == 4 and s.editor.selected == _pending(s, 4)[0]
    _go(qtbot, s, Qt.Key.Key_D)
    assert _shown(s) == 6 and s.editor.selected == _pending(s, 6)[0]
    _go(qtbot, s, Qt.Key.Key_D)
    assert _shown(s) == 2, "round to the first"
    _go(qtbot, s, Qt.Key.Key_A)
    assert _shown(s) == 6
    s.page.images.view.setFocus()  # A / D work wherever the focus is on the page
    qtbot.keyClick(s.page.images.view, Qt.Key.Key_A)
    _wait_image(qtbot, s)
    assert _shown(s) == 4

    _key(qtbot, s, Qt.Key.Key_Z, CTRL)  # undo the reject: the proposal comes back, on image 2
    _wait_image(qtbot, s)
    assert p2[1] in _pending(s, 2)
    _key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert _status(s, p2[0]) == PENDING and len(s.editor.stack) == 0

    _key(qtbot, s, Qt.Key.Key_R)
    assert not review.active and not bar.isVisible() and s.editor.state.tool == "polygon", "the tool of before"
    _go(qtbot, s, Qt.Key.Key_D)
    assert _shown(s) == 3, "D is the next image in the list again"


def test_enter_without_a_proposal_selected_selects_one_and_backspace_leaves_an_accepted_shape_to_the_tool(
    qtbot, studio
):
    s = studio()
    _go(qtbot, s, Qt.Key.Key_R)
    manual = s.ds.anns_for_image(2)[0]["id"]
    s.editor.select(None)
    _key(qtbot, s, Qt.Key.Key_Return)
    assert s.editor.selected == _pending(s, 2)[0] and len(s.editor.stack) == 0, "nothing accepted"
    _click(qtbot, s, *_center(s, manual))
    assert s.editor.selected == manual
    _key(qtbot, s, Qt.Key.Key_Backspace)  # the Select tool's delete: the shape goes
    assert manual not in [a["id"] for a in s.ds.annotations]


def test_accept_all_on_the_image_and_all_above_a_score_are_one_undo_step_each(qtbot, studio):
    s = studio()
    _go(qtbot, s, Qt.Key.Key_R)
    p2 = _pending(s, 2)
    _key(qtbot, s, Qt.Key.Key_Return, SHIFT)
    assert _pending(s, 2) == [] and all(_status(s, a) == ACCEPTED for a in p2) and len(s.editor.stack) == 1
    assert s.page.shapes.statuses()[1][1] == "model", "accepted model shapes are listed as such"
    _key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert _pending(s, 2) == p2

    bar = s.bar.review_bar
    bar.min_score.setValue(0.6)
    qtbot.mouseClick(bar.accept_above_button, Qt.MouseButton.LeftButton)
    left = {s.ds.annotation(a)["score"] for a in _pending(s)}
    assert left == {0.35, 0.45}, "0.92, 0.61, 0.88, 0.7 accepted" and len(s.editor.stack) == 1
    assert bar.status_label.text() == "image 1 / 2 with proposals · 1 pending here · 2 in all"
    assert s.page.viewer.overlays.by_ann[p2[0]].pending is False, "the image shown is redrawn"
    assert dict(s.page.shapes.statuses())[p2[0]] == "model"
    _key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert len(_pending(s)) == 6 and s.page.viewer.overlays.by_ann[p2[0]].pending

    bar.min_score.setValue(0.99)
    qtbot.mouseClick(bar.accept_above_button, Qt.MouseButton.LeftButton)
    assert len(_pending(s)) == 6 and "no pending proposal scores 0.99" in s.bar.message()


def test_editing_a_pending_proposal_with_the_normal_tools_accepts_it(qtbot, studio):
    s = studio()
    _show(qtbot, s, 4)
    first, second = _pending(s, 4)
    _click(qtbot, s, *_center(s, first))
    assert s.editor.selected == first
    before = s.ds.annotation(first)["bbox"]
    _drag(qtbot, s, _center(s, first), (_center(s, first)[0] + 6, _center(s, first)[1] + 4))
    assert s.ds.annotation(first)["bbox"] != before and _status(s, first) == ACCEPTED
    assert len(s.editor.stack) == 1 and s.editor.stack.peek_undo().label == "move shape"
    assert s.page.viewer.overlays.by_ann[first].pending is False
    _key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert s.ds.annotation(first)["bbox"] == before and _status(s, first) == PENDING, "one step takes both back"

    _click(qtbot, s, *_center(s, second))
    assert s.editor.selected == second
    _key(qtbot, s, Qt.Key.Key_Right)  # a nudge, then another: one merged step, accepted
    _key(qtbot, s, Qt.Key.Key_Right)
    assert _status(s, second) == ACCEPTED and len(s.editor.stack) == 1
    _key(qtbot, s, Qt.Key.Key_Z, CTRL)
    assert _status(s, second) == PENDING and len(s.editor.stack) == 0
    _key(qtbot, s, Qt.Key.Key_1)  # relabel with a class key
    assert _status(s, second) == ACCEPTED and s.ds.annotation(second)["category_id"] == 1


def test_shapes_drawn_in_the_editor_are_manual_and_smart_tools_make_smart_ones(qtbot, studio):
    s = studio()
    _show(qtbot, s, 3)
    _key(qtbot, s, Qt.Key.Key_B)
    _drag(qtbot, s, (200, 20), (260, 70))
    drawn = s.ds.annotation(s.editor.stack.peek_undo().ann_id)
    assert (drawn["source"], drawn["status"]) == ("manual", ACCEPTED)
    _key(qtbot, s, Qt.Key.Key_V)
    s.editor.select(drawn["id"])
    _key(qtbot, s, Qt.Key.Key_D, CTRL)  # duplicate: a person's copy of a manual shape
    copy = s.ds.annotation(s.editor.selected)
    assert copy["id"] != drawn["id"] and (copy["source"], copy["status"]) == ("manual", ACCEPTED)
    s.editor.set_tool("scissors")  # the outline a smart tool hands over
    s.editor.add_shape("polygon", [10.0, 10.0, 60.0, 10.0, 60.0, 50.0])
    smart = s.ds.annotation(s.editor.stack.peek_undo().ann_id)
    assert (smart["source"], smart["status"]) == (SMART, ACCEPTED)
    assert not any(is_pending(a) for a in s.ds.anns_for_image(3))


def test_review_helpers_order_the_images_and_count():
    assert next_image([1, 2, 3, 4, 5, 6], [2, 4, 6], 1, 1) == 2
    assert next_image([1, 2, 3, 4, 5, 6], [2, 4, 6], 2, 1) == 4
    assert next_image([1, 2, 3, 4, 5, 6], [2, 4, 6], 6, 1) == 2
    assert next_image([1, 2, 3, 4, 5, 6], [2, 4, 6], 2, -1) == 6
    assert next_image([1, 2, 3, 4, 5, 6], [2, 4, 6], 5, -1) == 4
    assert next_image([1, 2, 3], [2], 2, 1) is None and next_image([1, 2], [], 1, 1) is None
    ds = Dataset()
    for name in ("a", "b", "c"):
        ds.add_image(f"{name}.jpg", 10, 10)
    cid = ds.add_category("x")
    ds.add_annotation(3, cid, bbox=[1, 1, 2, 2], **proposal(0.5, None))
    ds.add_annotation(1, cid, bbox=[1, 1, 2, 2], **proposal(0.5, None))
    ds.add_annotation(1, cid, bbox=[1, 1, 2, 2])
    assert list(pending_counts(ds).items()) == [(1, 1), (3, 1)], "in the image order"


def test_the_editor_in_review_mode_at_1280x800(qtbot, studio, tmp_path):
    s = studio()
    s.host.resize(1280, 800)
    _go(qtbot, s, Qt.Key.Key_R)
    _key(qtbot, s, Qt.Key.Key_Return)
    bar = s.bar.review_bar
    qtbot.wait(50)
    assert bar.isVisible() and bar.height() >= 2 * bar.status_label.fontMetrics().height()
    for b in (bar.prev_button, bar.next_button, bar.accept_button, bar.reject_button, bar.accept_image_button):
        assert b.width() >= b.sizeHint().width(), f"{b.text()!r} is clipped"
    assert bar.accept_above_button.geometry().right() < bar.min_score.geometry().left()
    assert bar.min_score.geometry().right() <= bar.width()
    assert s.view.viewport().height() > 300, "the canvas keeps most of the height"
    assert s.host.grab().save(str(tmp_path / "review_demo.png"))


@pytest.mark.slow
def test_screenshot_of_review_mode_on_balloon_photos(qtbot, open_studio, balloon, tmp_path):
    """``docs/screenshots/editor_review.png`` (with STUDIO_EDITOR_SHOTS): proposals on the six-balloon photo, one
    accepted, the next selected, the review bar above."""
    ds = Dataset.load(balloon)
    sky = next(im for im in ds.images if im["file_name"] == "3825919971_93fb1ec581_b.jpg")
    anns = sorted(ds.anns_for_image(sky["id"]), key=lambda a: a["bbox"][0])
    for ann, score in zip(anns, (0.93, 0.81, 0.58, 0.34, 0.88)):
        ann.update(proposal(score, "best.pt"))
    for im in ds.images[:3]:
        for ann in ds.anns_for_image(im["id"])[:2]:
            ann.update(proposal(0.7, "best.pt"))
    ds.save(balloon)
    s = open_studio(balloon)
    s.host.resize(1280, 800)
    _show(qtbot, s, sky["id"])
    _go(qtbot, s, Qt.Key.Key_R)
    assert _shown(s) == sky["id"] and s.editor.review.active
    first, second, *_ = _pending(s, sky["id"])  # in the file's order
    _key(qtbot, s, Qt.Key.Key_Return)
    assert _status(s, first) == ACCEPTED and s.editor.selected == second
    x0 = min(a["bbox"][0] for a in anns)
    y0 = min(a["bbox"][1] for a in anns)
    x1 = max(a["bbox"][0] + a["bbox"][2] for a in anns)
    y1 = max(a["bbox"][1] + a["bbox"][3] for a in anns)
    s.view.zoom_by(2.0)  # the balloons, close up
    s.view.centerOn((x0 + x1) / 2, (y0 + y1) / 2)
    qtbot.waitUntil(lambda: not s.page.rechecker.pending(), timeout=30_000)  # the check report follows the edit
    path = _save_shot(s, tmp_path, "review")
    assert path.stat().st_size < SHOT_BYTES and Image.open(path).size == (1280, 800)


def test_shift_n_marks_an_image_with_nothing_to_label_as_background_and_labelled(qtbot, studio):
    s = studio()
    image_id = s.ds.images[-1]["id"]
    for a in list(s.ds.anns_for_image(image_id)):  # an image nobody labelled yet
        s.ds.remove_annotation(a["id"])
    s.page.loaded.images = summarize(s.ds)[1]
    s.page.images.replace_images(s.page.loaded.images)
    s.page.labelling.loaded(s.page.loaded)  # recount, as opening such a file would
    before = s.page.labelling.progress.labelled
    _show(qtbot, s, image_id)
    _key(qtbot, s, Qt.Key.Key_N, SHIFT)
    assert s.ds.image(image_id).get("background") is True
    assert s.page.labelling.progress.labelled == before + 1, "a reviewed empty image counts as labelled"
    row = s.page.images.model.rows[s.page.images.model.row_of(image_id)]
    assert row.background and row.labelled
    _key(qtbot, s, Qt.Key.Key_N, SHIFT)  # again: the mark comes off
    assert "background" not in s.ds.image(image_id) and s.page.labelling.progress.labelled == before
    _key(qtbot, s, Qt.Key.Key_N, SHIFT)
    s.editor.undo()
    assert "background" not in s.ds.image(image_id)
    _show(qtbot, s, s.ds.images[0]["id"])  # an image with shapes is labelled already: refused, nothing changes
    _key(qtbot, s, Qt.Key.Key_N, SHIFT)
    assert "background" not in s.ds.images[0]
