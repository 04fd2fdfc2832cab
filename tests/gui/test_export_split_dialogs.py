"""The export dialog (YOLO from the demo set, an export error) and the split dialog (preview and files)."""

from __future__ import annotations

from collections import Counter

import pytest

from studio import api
from studio.core.dataset.model import Dataset
from studio.core.formats import import_dataset
from studio.gui.common import palette
from studio.gui.data.export_dialog import ExportDialog
from studio.gui.data.split_dialog import SplitDialog


@pytest.fixture
def train(demo):
    return demo["train"].annotations, demo["train"].images


def _grab(w, path) -> None:
    assert w.grab().save(str(path)), path


# ------------------------------------------------------------------------------------------- export
def test_export_dialog_writes_yolo_for_the_demo_set(qtbot, jobs, train, tmp_path):
    ann, images = train
    d = ExportDialog(jobs, ann, images)
    qtbot.addWidget(d)
    d.show()
    d.set_format("yolo")
    assert d.form.isRowVisible(d.task)
    assert d.output.path() == ann.parent / f"{ann.stem}_yolo"  # default follows the format
    out = tmp_path / "yolo"
    d.output.set_path(out)
    d.task.setCurrentIndex(d.task.findData("segment"))
    _grab(d, tmp_path / "export_dialog.png")
    with qtbot.waitSignal(d.exported, timeout=20_000) as sig:
        d.export_button.click()
    assert sig.args == [out]
    assert "Exported as yolo" in d.result.text() and str(out) in d.result.text()
    assert (out / "data.yaml").is_file() and out / "data.yaml" in d.written
    coco = Dataset.load(ann)
    labels = sorted((out / "labels" / "train").glob("*.txt"))
    assert len(labels) == len(coco.images)
    assert len(list((out / "images" / "train").iterdir())) == len(coco.images)  # images placed
    back = import_dataset("yolo", out).dataset
    assert (len(back.images), len(back.annotations)) == (len(coco.images), len(coco.annotations))
    assert all(len(a["segmentation"]) >= 1 for a in back.annotations)  # polygons, not boxes
    assert not d.cancel_button.isVisible()
    _grab(d, tmp_path / "export_dialog_done.png")
    # the folder now holds that export: exporting again needs the explicit "replace", which swaps it whole
    assert not d.export_button.isEnabled() and d.form.isRowVisible(d.overwrite)
    assert "earlier export" in d.note.text()
    stale = out / "labels" / "train" / "stale_from_before.txt"
    stale.write_text("0 0.5 0.5 0.1 0.1\n")
    d.overwrite.setChecked(True)
    assert d.export_button.isEnabled()
    d.task.setCurrentIndex(d.task.findData("detect"))
    with qtbot.waitSignal(d.exported, timeout=20_000):
        d.export_button.click()
    assert not stale.exists()  # replaced as a whole, nothing merged
    boxes = import_dataset("yolo", out).dataset
    assert len(boxes.annotations) == len(coco.annotations)
    assert all(len(a["segmentation"]) == 0 or len(a["segmentation"][0]) == 8 for a in boxes.annotations)


def test_export_dialog_refuses_a_folder_with_other_files(qtbot, jobs, train, tmp_path):
    ann, images = train
    out = tmp_path / "my_documents"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    d = ExportDialog(jobs, ann, images)
    qtbot.addWidget(d)
    d.show()
    d.output.set_path(out)
    assert not d.export_button.isEnabled() and not d.form.isRowVisible(d.overwrite)
    assert "not empty" in d.note.text() and palette.ERROR.name() in d.note.text()
    d.start_export()  # even when forced past the button, core refuses
    qtbot.waitUntil(lambda: not d.job.running, timeout=20_000)
    assert (out / "thesis.txt").read_text() == "precious" and sorted(p.name for p in out.iterdir()) == ["thesis.txt"]


def test_export_dialog_names_an_image_whose_name_leads_outside(qtbot, jobs, train, tmp_path):
    ann, images = train
    ds = Dataset.load(ann)
    ds.images[1]["file_name"] = "../../victim/important.txt"
    bad = tmp_path / "bad.json"
    ds.save(bad)
    d = ExportDialog(jobs, bad, images)
    qtbot.addWidget(d)
    d.show()
    d.set_format("coco")
    d.output.set_path(tmp_path / "out")
    d.start_export()
    qtbot.waitUntil(lambda: not d.job.running, timeout=20_000)
    text = d.result.text()
    assert "Export failed" in text and f"image id {ds.images[1]['id']}" in text and "../../victim/important.txt" in text
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "victim").exists()


def test_export_error_names_the_missing_image(qtbot, jobs, train, tmp_path):
    ann, _images = train
    empty = tmp_path / "no_images"
    empty.mkdir()
    d = ExportDialog(jobs, ann, empty)
    qtbot.addWidget(d)
    d.show()
    d.set_format("voc")
    assert not d.form.isRowVisible(d.task)
    d.output.set_path(tmp_path / "voc")
    d.start_export()
    qtbot.waitUntil(lambda: not d.job.running, timeout=20_000)
    text = d.result.text()
    assert "Export failed" in text and "image file not found" in text and str(empty) in text
    assert palette.ERROR.name() in text
    assert d.isVisible() and d.export_button.isEnabled()


# ------------------------------------------------------------------------------------------- split
def test_split_preview_adds_up_and_matches_the_written_files(qtbot, jobs, train, tmp_path):
    ann, images = train
    coco = Dataset.load(ann)
    d = SplitDialog(jobs, ann, images)
    qtbot.addWidget(d)
    d.show()
    d.set_ratios(0.6, 0.2, 0.2)
    d.seed.setValue(3)
    qtbot.waitUntil(
        lambda: d.preview is not None and d.preview.names == ["train", "val", "test"] and not d.preview_job.running,
        timeout=20_000,
    )
    counts = d.counts()
    assert counts["Images"][-1] == len(coco.images) == sum(counts["Images"][:-1])
    assert counts["Annotations"][-1] == len(coco.annotations) == sum(counts["Annotations"][:-1])
    instances = Counter(a["category_id"] for a in coco.annotations)
    for cat in coco.categories:
        row = counts[cat["name"]]
        assert sum(row[:-1]) == row[-1] == instances[cat["id"]], cat["name"]
    _grab(d, tmp_path / "split_dialog.png")

    out = tmp_path / "split"
    d.output.set_path(out)
    with qtbot.waitSignal(d.split_written, timeout=20_000) as sig:
        d.write_button.click()
    assert sig.args == [[out / "train.json", out / "val.json", out / "test.json"]]
    for k, name in enumerate(("train", "val", "test")):
        part = Dataset.load(out / f"{name}.json")
        assert len(part.images) == counts["Images"][k]
        assert len(part.annotations) == counts["Annotations"][k]
        assert api.images_dir_of(out / f"{name}.json") == images.resolve()  # opens with its images
    assert "Wrote into" in d.status.text()
    _grab(d, tmp_path / "split_dialog_done.png")
    # the files exist now: writing again needs "Replace them"
    assert not d.write_button.isEnabled() and d.form.isRowVisible(d.overwrite) and "exist" in d.note.text()
    before = (out / "train.json").read_bytes()
    d.seed.setValue(4)
    d.overwrite.setChecked(True)
    assert d.write_button.isEnabled()
    with qtbot.waitSignal(d.split_written, timeout=20_000):
        d.write_button.click()
    assert (out / "train.json").read_bytes() != before


def test_split_dialog_never_replaces_the_file_being_split(qtbot, jobs, train, tmp_path):
    ann, images = train
    src = tmp_path / "train.json"
    src.write_bytes(ann.read_bytes())
    d = SplitDialog(jobs, src, images)
    qtbot.addWidget(d)
    d.show()
    d.set_ratios(0.75, 0.25, 0.0)
    d.output.set_path(tmp_path)
    assert not d.write_button.isEnabled() and not d.form.isRowVisible(d.overwrite)
    assert "file being split" in d.note.text()


def test_split_ratios_must_add_up_to_one_and_zero_drops_a_subset(qtbot, jobs, train, tmp_path):
    ann, images = train
    d = SplitDialog(jobs, ann, images)
    qtbot.addWidget(d)
    d.show()
    d.set_ratios(0.5, 0.3, 0.1)
    assert not d.ratios_valid() and not d.write_button.isEnabled()
    assert "must add up to 1" in d.sum_label.text()
    assert d.table.rowCount() == 0
    d.set_ratios(0.75, 0.25, 0.0)
    assert d.subsets() == (["train", "val"], [0.75, 0.25])
    qtbot.waitUntil(lambda: d.preview is not None and not d.preview_job.running, timeout=20_000)
    assert d.preview.names == ["train", "val"]
    assert d.table.columnCount() == 1 + 2 + 1  # label, train, val, total
    assert d.write_button.isEnabled()
