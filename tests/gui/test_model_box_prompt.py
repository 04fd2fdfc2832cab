"""The smart box with a labelling model, driven with real mouse and key events: Data page > Actions > Labelling
model… chooses the model; a box dragged around an object gives the model's mask (one model run per image), a box over
empty space, or around an object the model is unsure of, GrabCut's outline, and the message line says which. The
model is a stand-in that returns known detections (the unit tests cover the matching); the drawn image is
test_editor_smart's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from tests.gui.test_editor import _drag
from tests.gui.test_editor import open_studio as open_studio  # a fixture
from tests.gui.test_editor_smart import ELLIPSE, RECT, H, W, _idle, _iou, _truth, _view_key
from tests.gui.test_editor_smart import smart as smart  # a fixture
from tests.gui.test_editor_smart import studio as studio  # a fixture

from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.labelling.box_prompt import MIN_SCORE
from studio.gui.data import label_model
from studio.gui.data.label_model import LabellingModelDialog

SCORE = 0.87


def _model_mask() -> np.ndarray:
    """The ellipse with a wedge cut out of its right side: a shape GrabCut would not give, so the test can tell."""
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, ELLIPSE[0], ELLIPSE[1], 0, 0, 360, 1, thickness=-1)
    (cx, cy) = ELLIPSE[0]
    cv2.fillPoly(m, [np.array([[cx, cy], [cx + 60, cy - 30], [cx + 60, cy + 30]], np.int32)], 0)
    return m.astype(bool)


class FakeModel:
    """Detections of the ellipse only (its box, a score, the wedged mask); counts its runs."""

    with_masks = True

    def __init__(self):
        self.runs = 0
        self.score = SCORE

    def predict(self, images):
        self.runs += 1
        (cx, cy), (ax, ay) = ELLIPSE
        box = np.array([[cx - ax, cy - ay, cx + ax + 1, cy + ay + 1]], np.float32)
        return [Detections(box, np.array([self.score], np.float32), np.array([1], np.int64), _model_mask()[None])]


@pytest.fixture
def fake_model(monkeypatch, tmp_path):
    """``(model, path)``: the stand-in, loaded by the labelling model choice for a checkpoint file at ``path``."""
    model = FakeModel()
    loads = []

    def load(path):
        loads.append(path)
        return model

    monkeypatch.setattr(label_model, "load_prompt_model", load)
    path = tmp_path / "run-1" / "best.pt"
    path.parent.mkdir()
    path.write_bytes(b"weights")
    model.loads = loads
    return model, path


def _choose_model(qtbot, s, path) -> LabellingModelDialog:
    """Actions > Labelling model…: type the path, click OK."""
    s.page.labelling_model_action.action.trigger()
    dialog = s.page.labelling_model_action.dialog
    qtbot.waitExposed(dialog)
    dialog.field.edit.clear()
    qtbot.keyClicks(dialog.field.edit, str(path))
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    return dialog


def _box_around_the_ellipse(qtbot, studio, path):
    """Open the dataset, choose the labelling model at ``path``, pick the smart box (M) and drag a box around the
    ellipse; ``(studio, tool)`` once its outline is in."""
    s = studio()
    _choose_model(qtbot, s, path)
    _view_key(qtbot, s, Qt.Key.Key_M)
    tool = s.editor.tool
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    return s, tool


def test_a_box_around_an_object_gives_the_models_mask_and_empty_space_grabcut(qtbot, studio, fake_model):
    model, path = fake_model
    s = studio()
    assert s.page.labelling_model_action.action in s.bar.actions_button.menu().actions()
    _choose_model(qtbot, s, path)
    assert s.page.labelling_model.path == path and s.page.labelling_model.describe() == "run-1/best.pt"
    n = len(s.ds.annotations)
    _view_key(qtbot, s, Qt.Key.Key_M)
    tool = s.editor.tool
    assert tool.name == "smart_box"
    # around the ellipse: the model's (wedged) mask, not GrabCut's ellipse
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    assert tool.outline_by == f"model {SCORE:.2f}" and f"model {SCORE:.2f}" in s.bar.message()
    assert _iou(tool.result.polygons, _model_mask()) > 0.95
    assert _iou(tool.result.polygons, _truth("ellipse")) < 0.92, "the wedge is missing: the model gave it"
    _view_key(qtbot, s, Qt.Key.Key_Return)
    assert len(s.ds.annotations) == n + 1
    new = s.ds.annotations[-1]
    assert _iou(new["segmentation"], _model_mask()) > 0.95
    assert new.get("source") == "smart" and new.get("status", "accepted") == "accepted"
    # over the yellow rectangle, which the model did not detect: GrabCut, and the line says why
    x0, y0, x1, y1 = RECT
    _drag(qtbot, s, (x0 - 4, y0 - 4), (x1 + 3, y1 + 3))
    _idle(qtbot, tool)
    assert tool.outline_by == "GrabCut" and "GrabCut (no detection of the model fits the box)" in s.bar.message()
    assert _iou(tool.result.polygons, _truth("rect")) > 0.9
    _view_key(qtbot, s, Qt.Key.Key_Return)
    assert len(s.ds.annotations) == n + 2 and _iou(s.ds.annotations[-1]["segmentation"], _truth("rect")) > 0.9
    assert model.runs == 1 and len(model.loads) == 1, "the model ran once for the image, for both boxes"
    # strokes correct with GrabCut, as without a model
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    assert tool.outline_by.startswith("model")
    qtbot.mousePress(s.view.viewport(), Qt.MouseButton.RightButton, pos=s.view.mapFromScene(140, 120))
    qtbot.mouseRelease(s.view.viewport(), Qt.MouseButton.RightButton, pos=s.view.mapFromScene(140, 120))
    _idle(qtbot, tool)
    assert tool.outline_by == "GrabCut" and model.runs == 1


def test_a_detection_the_model_is_unsure_of_is_left_to_grabcut(qtbot, studio, fake_model):
    model, path = fake_model
    model.score = 0.42
    s, tool = _box_around_the_ellipse(qtbot, studio, path)
    assert tool.outline_by == "GrabCut" and model.runs == 1
    assert "GrabCut (model unsure, 0.42)" in s.bar.message() and MIN_SCORE > 0.42
    assert _iou(tool.result.polygons, _truth("ellipse")) > 0.9, "GrabCut's ellipse, not the model's wedged mask"


def test_without_a_model_or_with_a_broken_one_the_smart_box_uses_grabcut(qtbot, studio, monkeypatch, tmp_path):
    s = studio()
    assert s.page.labelling_model.path is None
    s.editor.set_tool("smart_box")
    tool = s.editor.tool
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    assert tool.outline_by == "GrabCut" and _iou(tool.result.polygons, _truth("ellipse")) > 0.9
    _view_key(qtbot, s, Qt.Key.Key_Escape)

    def broken(path):
        raise StudioError("weights do not fit seg_fast", file=path)

    monkeypatch.setattr(label_model, "load_prompt_model", broken)
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    _choose_model(qtbot, s, bad)
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    assert tool.outline_by == "GrabCut" and _iou(tool.result.polygons, _truth("ellipse")) > 0.9
    message = s.bar.message()
    assert "labelling model failed" in message and "broken.pt" in message and "weights do not fit" in message


def test_the_dialog_refuses_what_is_no_model_and_the_choice_is_kept_per_dataset(qtbot, studio, smart, tmp_path):
    s = studio()
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    dialog = _choose_model(qtbot, s, notes)
    assert dialog.isVisible() and "notes.txt is not a checkpoint" in dialog.problem.text()
    assert s.page.labelling_model.path is None
    dialog.field.edit.clear()
    qtbot.keyClicks(dialog.field.edit, str(tmp_path / "nowhere.pt"))
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "does not exist" in dialog.problem.text()
    run = tmp_path / "run-2"
    run.mkdir()
    (run / "last.pt").write_bytes(b"w")
    dialog.field.edit.clear()
    qtbot.keyClicks(dialog.field.edit, str(run))
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible() and s.page.labelling_model.path == run
    assert "run-2" in s.page.labelling_model_action.action.toolTip()
    # the same annotation file opened again (another page): the same model
    again = studio()
    assert again.page.labelling_model.path == run
    # Use none clears it, for this file too
    again.page.labelling_model_action.open_dialog()
    dialog = again.page.labelling_model_action.dialog
    qtbot.waitExposed(dialog)
    qtbot.mouseClick(dialog.clear_button, Qt.MouseButton.LeftButton)
    assert again.page.labelling_model.path is None
    assert studio().page.labelling_model.path is None


def test_a_mask_rcnn_answers_the_box_with_its_mask_head_and_never_runs_on_the_whole_image(
    qtbot, studio, fake_model, monkeypatch
):
    """A labelling model whose mask head runs on any box (Mask R-CNN: ``model.roi_heads.mask_head``) outlines the
    dragged box itself: the head's mask (here a stand-in for masks_for_boxes, the unit tests run the real one), no
    whole-image run. Unsure there, the whole-image detections take over as before."""
    from types import SimpleNamespace

    from studio.core.inference import box_masks

    model, path = fake_model
    heads = SimpleNamespace(mask_roi_pool=object(), mask_head=object(), mask_predictor=object())
    model.model = SimpleNamespace(roi_heads=heads, backbone=object(), transform=object())  # a Mask R-CNN's parts
    head_score = [0.93]
    asked = []

    def fake_head(predictor, image, boxes, labels=None):
        asked.append(np.asarray(boxes).round().tolist())
        return box_masks.BoxMasks(_model_mask()[None], np.array([1]), np.array(head_score, np.float32))

    monkeypatch.setattr(box_masks, "masks_for_boxes", fake_head)
    s, tool = _box_around_the_ellipse(qtbot, studio, path)
    assert tool.outline_by == "model 0.93" and model.runs == 0, "the head answered: no whole-image run"
    assert len(asked) == 1 and asked[0][0][0] == pytest.approx(56, abs=2)  # the dragged box, in image pixels
    assert _iou(tool.result.polygons, _model_mask()) > 0.95
    _view_key(qtbot, s, Qt.Key.Key_Escape)
    head_score[0] = 0.3  # unsure: the whole-image detection (0.87) gives its mask
    _drag(qtbot, s, (56, 81), (164, 159))
    _idle(qtbot, tool)
    assert tool.outline_by == f"model {SCORE:.2f}" and model.runs == 1
