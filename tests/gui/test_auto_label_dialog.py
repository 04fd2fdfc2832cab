"""Data page > Auto-label with…: a real (random-weight) checkpoint proposes shapes in a worker; they come back as one
undoable edit of pending model proposals; errors name the file; Cancel adds nothing; the header counts follow."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import MODEL, PENDING, count_provenance, is_pending
from studio.gui.data.auto_label_dialog import ALL, CURRENT, UNLABELLED, AutoLabelDialog

LEFT = Qt.MouseButton.LeftButton
RUN_MS = 60_000  # loading torch and a model on a shared 2-core machine


@pytest.fixture(autouse=True)
def _discard_at_close(monkeypatch):
    """Closing a window with unsaved proposals would ask whether to save them: the tests' windows discard."""
    from studio.gui.editor import controller

    monkeypatch.setattr(controller, "ask_save_changes", lambda _parent, _name: "discard")


@pytest.fixture
def partly_labelled(small_demo):
    """The small demo's train split with the annotations of its last three images removed: (ann, images, their ids)."""
    ann, images = small_demo
    ds = Dataset.load(ann)
    bare = [im["id"] for im in ds.images[-3:]]
    for a in [a for a in ds.annotations if a["image_id"] in bare]:
        ds.remove_annotation(a["id"])
    ds.save(ann)
    return ann, images, bare


@pytest.fixture
def ckpt(checkpoint_factory) -> Path:
    """A seg_lite checkpoint with random weights for the demo's classes: it proposes plenty of shapes."""
    return checkpoint_factory("seg_lite", 96, calibrate_bn=True)


def _open_dialog(qtbot, page) -> AutoLabelDialog:
    qtbot.mouseClick(page.auto_label.button, LEFT)
    d = page.auto_label.dialog
    assert d is not None
    qtbot.waitExposed(d)
    return d


def _type_score(d: AutoLabelDialog, text: str) -> None:
    d.score.setFocus()
    d.score.lineEdit().selectAll()
    QTest.keyClicks(d.score.lineEdit(), text)
    QTest.keyClick(d.score.lineEdit(), Qt.Key.Key_Tab)


def _pick(qtbot, button) -> None:
    """Click a radio button on its indicator (its middle may lie past its text, where a click does nothing)."""
    qtbot.mouseClick(button, LEFT, pos=QPoint(8, button.height() // 2))


def _run(qtbot, d: AutoLabelDialog) -> None:
    qtbot.mouseClick(d.run_button, LEFT)
    qtbot.waitUntil(lambda: not d.job.running, timeout=RUN_MS)


def test_auto_label_adds_pending_proposals_to_unlabelled_images_as_one_undoable_edit(
    qtbot, make_window, partly_labelled, ckpt
):
    ann, images, bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    page.labelling_model.set_path(ckpt)
    before = count_provenance(page.loaded.dataset.annotations)
    assert page.header.provenance.text().endswith(">0 pending</span>")

    d = _open_dialog(qtbot, page)
    assert d.model_path() == ckpt  # pre-filled with the page's labelling model
    assert d.scope() == UNLABELLED and "3 images" in d.scope_buttons[UNLABELLED].text()
    _type_score(d, "0.8")
    assert d.score.value() == pytest.approx(0.8)
    _run(qtbot, d)

    ds = page.loaded.dataset
    pending = [a for a in ds.annotations if is_pending(a)]
    assert pending, d.status.text()
    assert {a["image_id"] for a in pending} <= set(bare)  # only the unlabelled images
    assert all(a["source"] == MODEL and a["status"] == PENDING for a in pending)
    assert all(a["score"] >= 0.8 and a["checkpoint"] == ckpt.name for a in pending)
    assert f"Added {len(pending)} proposals" in d.status.text() and "review them (R)" in d.status.text()
    assert page.editor.dirty()
    # the header's counts and the rows of the touched images follow
    assert f"{len(pending)} model" in page.header.provenance.text()
    assert f"{len(pending)} pending" in page.header.provenance.text()
    row = page.images.model.rows[page.images.model.row_of(bare[0])]
    assert row.num_annotations == len(page.loaded.dataset.anns_for_image(bare[0]))

    # one Ctrl+Z takes every proposal back
    d.close()
    w.activateWindow()  # what the window manager does when a dialog closes
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)
    page.viewer.view.setFocus()
    qtbot.keyClick(page.viewer.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not any(is_pending(a) for a in page.loaded.dataset.annotations)
    assert count_provenance(page.loaded.dataset.annotations) == before
    assert page.header.provenance.text().endswith(">0 pending</span>")


def test_running_again_replaces_the_earlier_proposals_and_other_scopes(qtbot, make_window, partly_labelled, ckpt):
    ann, images, bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    page.labelling_model.set_path(ckpt)
    page.select_image(bare[0])
    d = _open_dialog(qtbot, page)
    _pick(qtbot, d.scope_buttons[CURRENT])
    assert d.scope() == CURRENT
    _type_score(d, "0.9")
    _run(qtbot, d)
    ds = page.loaded.dataset
    first = [a["id"] for a in ds.annotations if is_pending(a)]
    assert first and {ds.annotation(i)["image_id"] for i in first} == {bare[0]}
    assert page.viewer.image["id"] == bare[0]

    _run(qtbot, d)  # the same image again: its pending proposals are replaced, not piled up
    again = [a for a in page.loaded.dataset.annotations if is_pending(a)]
    assert len(again) == len(first)  # the same model on the same image: as many, not twice as many
    assert "earlier proposal" in d.status.text()

    _pick(qtbot, d.scope_buttons[ALL])
    assert d.scope() == ALL
    _type_score(d, "0.99")
    _run(qtbot, d)
    assert "Added" in d.status.text() or "nothing was added" in d.status.text()
    manual = [a for a in page.loaded.dataset.annotations if not is_pending(a)]
    assert len(manual) == len(Dataset.load(ann).annotations)  # accepted annotations are never touched


def test_errors_name_the_file_and_missing_images_are_skipped(qtbot, make_window, partly_labelled, tmp_path, ckpt):
    ann, images, bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    d = _open_dialog(qtbot, page)

    missing = tmp_path / "nowhere" / "model.pt"
    d.model_edit.setText(str(missing))
    qtbot.mouseClick(d.run_button, LEFT)
    assert "model not found" in d.status.text() and "model.pt" in d.status.text()
    assert not d.job.running

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"this is not a checkpoint")
    d.model_edit.clear()
    QTest.keyClicks(d.model_edit, str(broken))
    _run(qtbot, d)
    assert "Auto-label failed" in d.status.text() and "broken.pt" in d.status.text()
    assert not any(is_pending(a) for a in page.loaded.dataset.annotations)

    gone = Dataset.load(ann).image(bare[1])["file_name"]
    (images / gone).unlink()
    d.model_edit.setText(str(ckpt))
    _type_score(d, "0.8")
    _run(qtbot, d)
    assert d.warnings.isVisible()
    assert gone in d.warnings.toPlainText() and f"image {bare[1]}" in d.warnings.toPlainText()
    assert not any(a["image_id"] == bare[1] and is_pending(a) for a in page.loaded.dataset.annotations)


def test_cancel_adds_nothing(qtbot, make_window, partly_labelled, ckpt):
    ann, images, _bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    page.labelling_model.set_path(ckpt)
    d = _open_dialog(qtbot, page)
    qtbot.mouseClick(d.run_button, LEFT)
    assert d.job.running and d.close_button.text() == "Cancel"
    qtbot.mouseClick(d.close_button, LEFT)
    assert "Cancelled" in d.status.text() and d.close_button.text() == "Close"
    qtbot.wait(300)
    assert not any(is_pending(a) for a in page.loaded.dataset.annotations)
    assert not page.editor.dirty()


def test_without_a_labelling_model_the_newest_run_on_this_file_is_proposed(qtbot, make_window, partly_labelled, ckpt):
    from studio.core.training.run_index import RunSummary

    ann, images, _bare = partly_labelled
    w = make_window(ann, images)
    page = w.data_page
    assert page.labelling_model.path is None
    d = _open_dialog(qtbot, page)
    assert d.model_path() is None and "browse" in d.model_note.text()
    assert not d.run_button.isEnabled()
    d.close()

    run = ann.parent.parent / "runs" / "run-1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  train:\n    ann: {ann}\n", encoding="utf-8")
    (run / "best.pt").write_bytes(ckpt.read_bytes())
    other = run.parent / "run-2"
    other.mkdir()
    (other / "config.yaml").write_text("data:\n  train:\n    ann: /elsewhere/train.json\n", encoding="utf-8")
    (other / "best.pt").write_bytes(b"")

    def summary(path: Path) -> RunSummary:
        return RunSummary(
            path, path.name, "seg_lite", "segment", 1, 1, "segm_mAP", 0.1, 1, 1.0, "finished", "", 0, True
        )

    w.train_page.runs.set_runs([summary(other), summary(run)])  # newest first: run-2 trains on another file
    d = _open_dialog(qtbot, page)
    assert d.model_path() == run / "best.pt"
    assert "run-1" in d.model_note.text()
