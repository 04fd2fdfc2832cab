"""Data > Export…: pending model proposals are left out unless "Include pending model proposals" is ticked; the
result line says how many were left out or written, and warns when the format cannot mark them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from studio.core.dataset import provenance as pv
from studio.core.dataset.model import Dataset
from studio.gui.data.export_dialog import ExportDialog


def _with_pending(demo, tmp_path) -> Path:
    ds = Dataset.load(demo["val"].annotations)
    for a in ds.annotations[:3]:
        a.update(pv.proposal(0.7, "best.pt"))
    ann = tmp_path / "pending.json"
    ds.save(ann)
    return ann


def _export(qtbot, d: ExportDialog, out: Path) -> None:
    d.output.set_path(out)
    with qtbot.waitSignal(d.exported, timeout=20_000):
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)


def test_export_dialog_leaves_pending_out_unless_ticked(qtbot, jobs, demo, tmp_path):
    ann = _with_pending(demo, tmp_path)
    d = ExportDialog(jobs, ann, demo["val"].images)
    qtbot.addWidget(d)
    d.show()
    d.set_format("yolo")
    assert d.include_pending.isVisible() and not d.include_pending.isChecked()
    total = len(Dataset.load(ann).annotations)

    _export(qtbot, d, tmp_path / "accepted")
    assert "3 pending proposals left out" in d.result.text() and "Warning" not in d.result.text()
    lines = [ln for t in (tmp_path / "accepted" / "labels" / "train").glob("*.txt") for ln in t.read_text().split("\n")]
    assert len([ln for ln in lines if ln]) == total - 3

    qtbot.mouseClick(d.include_pending, Qt.MouseButton.LeftButton)
    assert d.include_pending.isChecked()
    _export(qtbot, d, tmp_path / "all")
    text = d.result.text()
    assert "3 pending proposals written." in text
    assert "Warning: 3 pending proposals written as plain objects: the yolo format cannot mark them" in text
    lines = [ln for t in (tmp_path / "all" / "labels" / "train").glob("*.txt") for ln in t.read_text().split("\n")]
    assert len([ln for ln in lines if ln]) == total
    assert d.grab().save(str(tmp_path / "export_dialog_pending.png"))

    d.set_format("coco")
    _export(qtbot, d, tmp_path / "coco")
    assert "3 pending proposals written." in d.result.text() and "Warning" not in d.result.text()
    back = Dataset.load(tmp_path / "coco" / "annotations.json")
    assert pv.count_provenance(back.annotations).pending == 3
