"""The Export page's NMS options (typed with real key events) and the checkpoint's complexity line."""

from __future__ import annotations

import os
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.gui.export.page import ExportPage


@pytest.fixture
def page(qtbot, jobs, tmp_path, demo, checkpoint_factory):
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "t")
    run = ws.folder("runs") / "tiny-1"
    run.mkdir()
    shutil.copy(checkpoint_factory("det_fast", 64), run / "best.pt")
    init_config(
        demo["train"].annotations,
        run / "config.yaml",
        val_ann=demo["val"].annotations,
        arch="det_fast",
        overrides={"data": {"image_size": 64, "workers": 0}, "train": {"device": "cpu"}},
    )
    p = ExportPage(jobs)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    p.set_workspace(ws)
    qtbot.waitUntil(lambda: p.info is not None, timeout=30_000)
    yield p
    p.stop_and_wait()


def _type(qtbot, editor, text: str) -> None:
    qtbot.mouseClick(editor, Qt.MouseButton.LeftButton)
    editor.selectAll()
    QTest.keyClick(editor, Qt.Key.Key_Backspace)
    QTest.keyClicks(editor, text)


def test_checkpoint_info_shows_parameters_and_gflops(page):
    text = page.ckpt_info.text()
    assert "M parameters" in text and "GFLOPs at 64x64" in text
    if os.environ.get("STUDIO_SCREENSHOTS"):
        page.grab().save(os.path.join(os.environ["STUDIO_SCREENSHOTS"], "export_nms.png"))


def test_nms_fields_are_typed_checked_and_exported_with(page, qtbot):
    page.select_format("onnx-e2e")
    iou, topk = page.options.rows["nms_iou"], page.options.rows["pre_nms_topk"]
    assert iou.editor.isEnabled() and iou.editor.placeholderText() == "default"  # the model's own
    assert page.options.values()["nms_iou"] is None
    _type(qtbot, iou.editor, "0.45")
    _type(qtbot, topk.editor, "300")
    assert page.options.values()["nms_iou"] == 0.45 and page.options.values()["pre_nms_topk"] == 300
    assert page.export_button.isEnabled()
    _type(qtbot, iou.editor, "1.5")
    assert "at most 1" in iou.note.text() and not page.export_button.isEnabled()
    _type(qtbot, iou.editor, "0.45")
    _type(qtbot, topk.editor, "0")
    assert "at least 1" in topk.note.text() and not page.export_button.isEnabled()
    _type(qtbot, topk.editor, "50")
    assert page.export_button.isEnabled()
    page.select_format("onnx")  # the same options there: what was typed carries over
    assert page.options.values()["nms_iou"] == 0.45 and page.options.values()["pre_nms_topk"] == 50
