"""The Export page on a real det_lite checkpoint: availability from the format table, an ONNX export with
its verification report and latency table, and Cancel."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtGui import QGuiApplication

from studio.core.export.report import REPORT_NAME
from studio.gui.export.page import ExportPage


@pytest.fixture
def workspace(tmp_path, demo, checkpoint_factory):
    """A workspace with one run folder: best.pt / last.pt of a random det_lite at 64 px, config.yaml naming
    the val set."""
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "t")
    run = ws.folder("runs") / "tiny-1"
    run.mkdir()
    ck = checkpoint_factory("det_lite", 64)
    shutil.copy(ck, run / "best.pt")
    shutil.copy(ck, run / "last.pt")
    init_config(
        demo["train"].annotations,
        run / "config.yaml",
        val_ann=demo["val"].annotations,
        arch="det_lite",
        overrides={"data": {"image_size": 64, "workers": 0}, "train": {"device": "cpu"}},
    )
    return ws


@pytest.fixture
def page(qtbot, jobs, workspace):
    p = ExportPage(jobs)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    p.latency_runs = 2
    p.set_workspace(workspace)
    qtbot.waitUntil(lambda: p.info is not None, timeout=30_000)
    p.n_verify.setValue(2)
    yield p
    p.stop_and_wait()


def test_run_checkpoint_and_defaults(page, workspace, demo, qtbot):
    run = workspace.folder("runs") / "tiny-1"
    assert page.run_list.count() == 1 and page.run.path == run
    assert [page.ckpt_combo.itemText(i) for i in range(page.ckpt_combo.count())] == ["best.pt", "last.pt"]
    assert page.checkpoint == run / "best.pt"
    assert "det_lite" in page.ckpt_info.text() and "4 classes" in page.ckpt_info.text()
    assert page.verify_ann.path() == demo["val"].annotations.resolve()  # the run config's val set
    assert page.out_field.path() == workspace.folder("exports") / "tiny-1-onnx"
    assert page.export_button.isEnabled() and not page.cancel_button.isEnabled()
    page.select_format("onnx-e2e")
    assert page.out_field.path().name == "tiny-1-onnx-e2e"  # follows the format while not edited
    page.select_checkpoint(run / "last.pt")
    assert page.ckpt_combo.currentText() == "last.pt" and page.info is None
    qtbot.waitUntil(lambda: page.info is not None, timeout=30_000)
    assert page.out_field.path().name == "tiny-1-last-onnx-e2e"


def test_unavailable_format_and_options_are_greyed(page):
    assert "GPU" in page.format_reason("engine") and page.format_reason("onnx") == ""
    engine = page.format_list.item(2)
    assert "not available" in engine.text() and "GPU" in engine.toolTip()
    page.select_format("engine")
    assert not page.export_button.isEnabled() and "GPU" in page.export_button.toolTip()
    assert page.format_note.isVisibleTo(page) and "GPU" in page.format_note.text()
    assert not page.options.isEnabled()

    page.select_format("onnx")
    half = page.options.rows["half"]
    assert "GPU" in page.options.reason("half")
    assert not half.editor.isEnabled() and "fp16 needs a GPU" in half.editor.toolTip()
    assert half.note.isVisibleTo(page) and "GPU" in half.note.text()
    assert page.options.rows["opset"].editor.isEnabled() and page.options.reason("opset") == ""

    page.select_format("onnx-e2e")  # one choice rules out another: a dynamic export takes any batch size
    assert page.options.reason("batch") == ""
    page.options.set_value("dynamic", True)
    assert "dynamic" in page.options.reason("batch") and not page.options.rows["batch"].editor.isEnabled()
    page.options.set_value("opset", "99")  # out of range: shown under the field, export refused
    assert "at most" in page.options.rows["opset"].note.text() and not page.export_button.isEnabled()
    page.options.set_value("opset", "17")
    assert page.export_button.isEnabled()


def test_onnx_export_shows_report_and_latency(page, qtbot):
    out = page.out_field.path()
    assert page.export()
    assert page.running and page.cancel_button.isEnabled() and not page.export_button.isEnabled()
    qtbot.waitUntil(lambda: not page.running, timeout=60_000)
    assert "Exported to" in page.status.text(), page.status.text()
    rep = json.loads((out / REPORT_NAME).read_text())
    view = page.report_view
    assert view.report["map_delta"] == rep["map_delta"] and rep["map_pytorch"] is not None
    for key in ("map_pytorch", "map_exported"):
        assert f"{rep[key]:.4f}" in view.values[key].text()
    assert f"{rep['map_delta']:+.4f}" in view.values["map_delta"].text()
    assert "100.0%" in view.values["box_match"].text()  # same weights, same graph: every box pairs
    rows = view.latency_rows()
    assert float(rows["pytorch_cpu"]) > 0 and float(rows["onnxruntime_cpu"]) > 0
    assert rows["tensorrt"] == "–"  # not measured, with its reason in the row
    assert view.open_button.isEnabled() and view.copy_button.isEnabled()
    view.copy_command()
    assert QGuiApplication.clipboard().text().startswith(f"studio infer {out / 'model.onnx'}")
    assert page.export_button.isEnabled() and not page.cancel_button.isEnabled()


def test_cancel_leaves_no_export(page, qtbot):
    out = page.out_field.path()
    assert page.export()
    page.cancel()
    qtbot.waitUntil(lambda: not page.running, timeout=60_000)
    assert "cancelled" in page.status.text()
    assert not (out / "model.onnx").exists() and page.report_view.report is None
    assert page.export_button.isEnabled()
