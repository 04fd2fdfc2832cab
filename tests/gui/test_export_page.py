"""The Export page on a real det_lite checkpoint: availability from the format table, an ONNX export with
its verification report and latency table, and Cancel."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from PySide6.QtCore import QSize
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


def _long_report(out) -> dict:
    """A report as an export writes it, with the long texts that made the page grow: skipped backends' reasons,
    many warnings, a long note and many files."""
    why = (
        "TensorRT is not installed in this environment (pip install tensorrt, and an NVIDIA GPU with a driver that "
        "supports CUDA 12 is needed); the engine format and the TensorRT execution provider are skipped"
    )
    return {
        "format": "onnx",
        "arch": "det_lite",
        "model": "model.onnx",
        "files": [f"file_with_a_rather_long_name_{i}.onnx" for i in range(12)],
        "verified": True,
        "box_match": {
            "images": 4,
            "pytorch_detections": 40,
            "exported_detections": 40,
            "matched": 40,
            "match_rate": 1.0,
            "mean_iou": 1.0,
            "max_score_diff": 1e-6,
            "mean_score_diff": 1e-7,
            "iou_threshold": 0.9,
            "compared": True,
        },
        "metric": "bbox_mAP",
        "map_pytorch": 0.5,
        "map_exported": 0.5,
        "map_delta": 0.0,
        "latency_ms": {"pytorch_cpu": 20.0, "onnxruntime_cpu": 10.0},
        "speedup_vs_pytorch": {"onnxruntime_cpu": 2.0},
        "latency_skipped": {k: f"{why} ({k})" for k in ("pytorch_cuda", "onnxruntime_cuda", "onnxruntime_tensorrt")}
        | {"tensorrt": why * 3},
        "latency_note": "median ms per image of predict (preprocess, forward, post-processing to original pixels; "
        "decoding excluded) after 2 warm-up calls, 10 runs, backends interleaved " * 3,
        "warnings": [f"warning {i}: {why}" for i in range(6)],
    }


def test_a_report_with_long_notes_keeps_the_window_size(qtbot, jobs, tmp_path):
    """Long latency notes went into tall wrapped rows and the window grew past the screen (800 -> 1023 px)."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QMainWindow

    win = QMainWindow()
    qtbot.addWidget(win)
    page = ExportPage(jobs)
    win.setCentralWidget(page)
    win.statusBar().showMessage("status bar")
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    size = win.size()
    out = tmp_path / ("a_long_folder_name_without_any_space_" * 4) / "export"
    result = SimpleNamespace(report=_long_report(out), out_dir=out, model=out / "model.onnx")
    page.checkpoint = tmp_path / "best.pt"
    page._on_exported(result, None)
    qtbot.wait(50)
    assert win.size() == size, (win.size(), size)
    assert win.statusBar().geometry().bottom() < win.height()
    view = page.report_view
    assert view.latency.rowCount() == 6
    for r in range(view.latency.rowCount()):  # one line a row: a long reason is in the note's tooltip
        note = view.latency.item(r, 3)
        assert view.latency.rowHeight(r) == view.latency.verticalHeader().defaultSectionSize()
        assert len(note.text()) <= 60, note.text()
    trt = next(r for r in range(6) if view.latency.item(r, 0).data(0x0100) == "tensorrt")
    assert view.latency.item(trt, 3).toolTip().startswith("TensorRT is not installed")
    win.resize(1280, 700)  # smaller, then back: nothing stays stretched
    qtbot.wait(50)
    assert win.size().height() == 700
    win.resize(1280, 800)
    qtbot.wait(50)
    assert win.size() == size


def test_the_main_window_keeps_its_size_after_a_report(qtbot, make_window, tmp_path):
    """The same in the app's window at 1280x800: the window, its log dock and its status bar stay put."""
    from types import SimpleNamespace

    w = make_window()
    w.resize(1280, 800)
    w.show_page(w.pages.index(w.export_page))
    qtbot.wait(50)
    size = w.size()
    out = tmp_path / ("a_long_folder_name_without_any_space_" * 4) / "export"
    result = SimpleNamespace(report=_long_report(out), out_dir=out, model=out / "model.onnx")
    w.export_page.checkpoint = tmp_path / "best.pt"
    w.export_page._on_exported(result, None)
    qtbot.wait(50)
    assert w.size() == size == QSize(1280, 800), w.size()
    assert w.statusBar().geometry().bottom() < w.height()
    assert w.export_page.report_view.report is not None


def test_no_detections_to_compare_is_not_a_green_match(page, tmp_path):
    """A green "Box match 100.0% · 0 of 0" appeared when neither model detected anything."""
    from studio.core.detections import Detections
    from studio.core.export.report import build_report, summary_lines
    from studio.core.export.verify import box_match

    bm = box_match([Detections.empty(), Detections.empty()], [Detections.empty(), Detections.empty()])
    assert bm.match_rate == 1.0 and not bm.compared
    rep = build_report(
        fmt="onnx",
        arch="det_lite",
        task="detect",
        checkpoint=tmp_path / "best.pt",
        model_file=tmp_path / "model.onnx",
        options={},
        info={},
        files=[tmp_path / "model.onnx"],
        verification={"n_images": 2, "box_match": bm.to_dict()},
        not_verified=None,
        warnings=[],
        timings={},
    )
    assert any("neither PyTorch nor the export detected anything" in w for w in rep["warnings"])
    assert "box match: no detections to compare on 2 images" in summary_lines(rep)
    view = page.report_view
    view.show_report(rep, tmp_path, "")
    text = view.values["box_match"].text()
    assert "No detections to compare" in text and "100.0%" not in text
    from studio.gui.common import palette
    from studio.gui.common.messages import warning_color

    assert warning_color().name() in text and palette.OK.darker(130).name() not in text, "the warning colour, not green"
    old = dict(rep, box_match={k: v for k, v in bm.to_dict().items() if k != "compared"})  # written before the flag
    view.show_report(old, tmp_path, "")
    assert "No detections to compare" in view.values["box_match"].text()


def test_switching_runs_clears_the_verification(page, qtbot, workspace, checkpoint_factory):
    """The verification panel kept the previous run's results when another run was chosen."""
    run = workspace.folder("runs") / "tiny-1"
    page.report_view.show_report(_long_report(run), run, "studio infer x")
    assert page.report_view.report is not None
    other = workspace.folder("runs") / "tiny-0"
    other.mkdir()
    shutil.copy(checkpoint_factory("det_lite", 64), other / "best.pt")
    os.utime(other / "best.pt", (1_000_000, 1_000_000))  # older: listed below tiny-1, not followed
    page.refresh_runs()
    qtbot.waitUntil(lambda: page.run_list.count() == 2, timeout=10_000)
    assert page.run.path == run and page.report_view.report is not None, "a new list keeps the report"
    page.run_list.setCurrentRow(1)
    assert page.run.path == other and page.checkpoint == other / "best.pt"
    view = page.report_view
    assert view.report is None and not view.open_button.isEnabled()
    assert all(v.text() == "–" for v in view.values.values()) and view.latency.rowCount() == 0
    assert "Export a checkpoint" in view.headline.text()
