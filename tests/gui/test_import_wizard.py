"""The import wizard on real files (balloon VIA, cat COCO, labelme example), a broken file and a YOLO export."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QWizard

from studio import api
from studio.core.dataset.model import Dataset
from studio.gui.common import palette
from studio.gui.data.dialog_jobs import default_output, suggested_stem
from studio.gui.data.import_wizard import ImportWizard


@pytest.fixture
def make_wizard(qtbot, jobs):
    def make(source=None, datasets_dir=None) -> ImportWizard:
        w = ImportWizard(jobs, datasets_dir=datasets_dir, source=source)
        qtbot.addWidget(w)
        w.show()
        return w

    return make


def _detected(qtbot, w: ImportWizard) -> None:
    page = w.source_page
    qtbot.waitUntil(lambda: page.info is not None and not page.probe.running, timeout=10_000)


def _preview(qtbot, w: ImportWizard):
    w.next()
    page = w.preview_page
    assert w.currentPage() is page
    qtbot.waitUntil(lambda: page.preview is not None or page.error is not None, timeout=30_000)
    return page


def _grab(w, path: Path) -> None:
    assert w.grab().save(str(path)), path
    assert path.stat().st_size > 0


# ------------------------------------------------------------------------------------------- naming
def test_suggested_names_and_default_output(tmp_path):
    assert suggested_stem("/data/balloon/train/via_region_data.json") == "balloon_train"
    assert suggested_stem("/data/cat/annotations/trainval.json") == "cat_trainval"
    assert suggested_stem("/data/cat/annotations/annotations_all.json") == "annotations_all"
    folder = tmp_path / "labelme_example" / "data_annotated"
    folder.mkdir(parents=True)
    assert suggested_stem(folder) == "data_annotated"
    expected = tmp_path / "labelme_example" / "annotations" / "data_annotated.json"
    assert default_output(folder, "data_annotated") == expected
    src = tmp_path / "cat" / "annotations" / "cat.json"
    assert default_output(src, "cat") == src.with_name("cat_coco.json")  # never the source itself
    assert default_output(src, "cat", tmp_path / "ws" / "datasets") == tmp_path / "ws" / "datasets" / "cat.json"


# ------------------------------------------------------------------------------------------- real data
def test_balloon_via_is_detected_previewed_and_written(qtbot, make_wizard, shared_data, tmp_path):
    src = shared_data / "balloon" / "train" / "via_region_data.json"
    w = make_wizard(src)
    _detected(qtbot, w)
    page = w.source_page
    assert page.fmt() == "via"
    assert "Detected: VIA" in page.detected.text() and "balloon" in page.detected.text()
    assert page.isComplete()
    assert page.form.isRowVisible(page.class_attr) and not page.form.isRowVisible(page.split)
    assert "'balloon'" in page.default_class.placeholderText()
    _grab(w, tmp_path / "wizard_1_source.png")

    preview = _preview(qtbot, w)
    assert preview.error is None
    ds = preview.preview.dataset
    assert (len(ds.images), len(ds.annotations), len(ds.categories)) == (61, 255, 1)
    assert "61 images · 255 annotations · 1 class" in preview.status.text()
    assert preview.classes.rows() == [(1, "balloon", 255, 61)]
    assert preview.thumbs.count() == len(preview.preview.thumbnails) > 0
    assert all(not t.note for t in preview.preview.thumbnails)
    assert preview.report.kinds() == [] and not preview.preview.report.problems
    assert preview.warnings.count() == len(preview.preview.result.warnings) >= 1  # class inferred from folder
    assert preview.isComplete()
    _grab(w, tmp_path / "wizard_2_preview.png")

    w.next()
    out_page = w.output_page
    assert out_page.output.path() == src.parent / "annotations" / "balloon_train.json"
    out = tmp_path / "out" / "balloon.json"
    out_page.output.set_path(out)
    _grab(w, tmp_path / "wizard_3_output.png")
    with qtbot.waitSignal(w.imported, timeout=20_000) as sig:
        w.button(QWizard.WizardButton.FinishButton).click()
    assert sig.args == [out]
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=5_000)
    assert w.result() == QWizard.DialogCode.Accepted
    written = Dataset.load(out)
    assert (len(written.images), len(written.annotations)) == (61, 255)
    assert [c["name"] for c in written.categories] == ["balloon"]
    assert api.images_dir_of(out) == src.parent.resolve()


def test_cat_coco_preview_reports_the_missing_images(qtbot, make_wizard, shared_data, tmp_path):
    w = make_wizard(shared_data / "cat" / "annotations" / "annotations_all.json")
    _detected(qtbot, w)
    assert w.source_page.fmt() == "coco"
    preview = _preview(qtbot, w)
    p = preview.preview
    assert p is not None, preview.error
    assert len(p.report.by_kind()["missing_image"]) == 143
    assert len(p.report.errors) == 143
    group = preview.report.group("missing_image")
    assert group is not None and group.childCount() == 143
    assert group.foreground(0).color() == palette.ERROR.darker(115)
    assert "143 error(s)" in preview.status.text() and palette.ERROR.name() in preview.status.text()
    notes = [t.note for t in p.thumbnails]
    assert notes[0] == "" and notes[1:] and all(n == "image file not found" for n in notes[1:])
    assert preview.isComplete()  # missing images are reported, not fatal
    _grab(w, tmp_path / "wizard_cat_preview.png")


def test_labelme_folder_is_detected_with_its_labels(qtbot, make_wizard, shared_data):
    folder = shared_data / "labelme_example" / "data_annotated"
    w = make_wizard(folder)
    _detected(qtbot, w)
    page = w.source_page
    assert page.fmt() == "labelme"
    assert "labelme folder" in page.detected.text()
    assert page.form.isRowVisible(page.labels) and not page.form.isRowVisible(page.class_attr)
    assert "labels.txt" in page.labels.edit.placeholderText()
    preview = _preview(qtbot, w)
    ds = preview.preview.dataset
    assert (len(ds.images), len(ds.annotations)) == (3, 12)  # 18 shapes grouped into 12 instances
    assert any("labels.txt" in warning for warning in preview.preview.result.warnings)


# ------------------------------------------------------------------------------------------- errors
def test_broken_json_shows_the_error_naming_the_file(qtbot, make_wizard, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [1, 2', encoding="utf-8")
    w = make_wizard(broken)
    _detected(qtbot, w)
    preview = _preview(qtbot, w)
    assert preview.preview is None
    assert str(broken) in preview.error and "broken JSON" in preview.error
    assert str(broken) in preview.status.text() and palette.ERROR.name() in preview.status.text()
    assert not preview.isComplete()
    assert not w.button(QWizard.WizardButton.NextButton).isEnabled()
    assert w.isVisible()
    _grab(w, tmp_path / "wizard_broken.png")
    w.back()  # and the user can go on: back on page 1 with the source kept
    assert w.currentPage() is w.source_page and w.source_page.source.path() == broken


def test_unknown_file_needs_a_format_and_a_missing_path_is_reported(qtbot, make_wizard, tmp_path):
    odd = tmp_path / "notes.json"
    odd.write_text('{"hello": 1}', encoding="utf-8")
    w = make_wizard(odd)
    _detected(qtbot, w)
    page = w.source_page
    assert page.fmt() is None and not page.isComplete()
    assert "Not a format" in page.detected.text()
    page.format_combo.setCurrentIndex(page.format_combo.findData("via"))
    page.format_combo.activated.emit(page.format_combo.currentIndex())
    assert page.isComplete()
    preview = _preview(qtbot, w)
    assert str(odd) in preview.error
    w.back()

    page.set_source(tmp_path / "nowhere")
    qtbot.waitUntil(lambda: "no such file" in page.detected.text(), timeout=10_000)
    assert str(tmp_path / "nowhere") in page.detected.text()
    assert not page.isComplete()


# ------------------------------------------------------------------------------------------- no real data needed
def test_dropped_yolo_folder_offers_its_splits(qtbot, make_wizard, demo, tmp_path):
    yolo = tmp_path / "yolo"
    api.dataset_export(demo["train"].annotations, "yolo", yolo, images=demo["train"].images)
    w = make_wizard(datasets_dir=tmp_path / "workspace" / "datasets")
    page = w.source_page
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(yolo))])
    drop = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    page.dropEvent(drop)
    assert page.source.path() == yolo
    _detected(qtbot, w)
    assert page.fmt() == "yolo"
    assert page.form.isRowVisible(page.split) and not page.form.isRowVisible(page.images)
    assert [page.split.itemData(i) for i in range(page.split.count())] == [None, "train", "val"]
    page.split.setCurrentIndex(page.split.findData("train"))
    assert page.request().split == "train"
    preview = _preview(qtbot, w)
    coco = Dataset.load(demo["train"].annotations)
    assert len(preview.preview.dataset.images) == len(coco.images)
    assert len(preview.preview.dataset.annotations) == len(coco.annotations)
    w.next()
    assert w.output_page.output.path() == tmp_path / "workspace" / "datasets" / "yolo.json"
    with qtbot.waitSignal(w.imported, timeout=20_000):
        w.button(QWizard.WizardButton.FinishButton).click()
    out = tmp_path / "workspace" / "datasets" / "yolo.json"
    assert len(Dataset.load(out).images) == len(coco.images)
    assert api.images_dir_of(out) == yolo.resolve()


def test_write_failure_keeps_the_wizard_open_with_the_message(qtbot, make_wizard, demo, tmp_path):
    w = make_wizard(demo["val"].annotations)
    _detected(qtbot, w)
    _preview(qtbot, w)
    w.next()
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    w.output_page.output.set_path(blocker / "sub" / "out.json")  # a folder that cannot be made
    w.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: "Could not write" in w.output_page.status.text(), timeout=10_000)
    assert str(blocker) in w.output_page.status.text()
    assert w.isVisible() and w.currentPage() is w.output_page
    assert w.button(QWizard.WizardButton.FinishButton).isEnabled()
    w.output_page.output.set_path(demo["val"].annotations)  # the source itself is refused up front
    assert w.output_page.status.text() == ""
    assert "being imported" in w.output_page.note.text()
    assert not w.output_page.isComplete() and not w.button(QWizard.WizardButton.FinishButton).isEnabled()
