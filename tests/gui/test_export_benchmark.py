"""The Export page's Benchmark tab on a real det_lite checkpoint: a click runs the benchmark in a worker and the
table shows a row per format and backend, the missing backends greyed with their reason; Cancel leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core.export.benchmark import JSON_NAME, MARKDOWN_NAME
from studio.gui.export.page import ExportPage


@pytest.fixture
def workspace(tmp_path, demo, checkpoint_factory):
    """A workspace with one run: best.pt of a random det_lite at 64 px, config.yaml naming the val set."""
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "t")
    run = ws.folder("runs") / "tiny-1"
    run.mkdir()
    shutil.copy(checkpoint_factory("det_lite", 64), run / "best.pt")
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
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads spin-wait for each other on a shared 2-core machine
    p = ExportPage(jobs)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    p.benchmark.runs = 2
    p.set_workspace(workspace)
    qtbot.waitUntil(lambda: p.info is not None, timeout=30_000)
    p.n_verify.setValue(2)
    p.right_tabs.setCurrentWidget(p.benchmark)
    yield p
    p.stop_and_wait()
    torch.set_num_threads(before)


def _tick_only(page, *names: str) -> None:
    for name, box in page.benchmark.checks.items():
        if box.isChecked() != (name in names):
            box.click()


def test_benchmark_shows_a_row_per_format_and_the_reasons(page, workspace, qtbot, tmp_path):
    panel = page.benchmark
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.table.rowCount() == 0
    _tick_only(page, "pytorch", "engine")  # no export to make: fast (the CLI's slow test measures every format)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.running and not page.export_button.isEnabled()  # one heavy job at a time
    assert "benchmark is running" in page.export_button.toolTip()
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)
    assert "Written" in panel.status.text(), panel.status.text()
    rows = panel.row_texts()
    assert list(rows) == [("pytorch", "pytorch_cpu"), ("pytorch", "pytorch_cuda"), ("engine", "tensorrt")]
    cpu = rows[("pytorch", "pytorch_cpu")]
    assert len(cpu) == 7 and float(cpu[5]) > 0 and float(cpu[6]) > 0  # ms and FPS
    assert cpu[0] == "PyTorch eager (CPU)" and cpu[3] == "+0.0000" and cpu[4] == "100.0%"
    engine = rows[("engine", "tensorrt")]
    assert len(engine) == 2 and "NVIDIA GPU" in engine[1]  # the reason, spanning the measures
    assert "NVIDIA GPU" in panel.table.item(2, 1).toolTip()
    out = workspace.folder("exports") / "tiny-1-benchmark"
    assert (out / MARKDOWN_NAME).is_file() and json.loads((out / JSON_NAME).read_text())["arch"] == "det_lite"
    assert page.export_button.isEnabled() and panel.open_button.isEnabled()
    if os.environ.get("STUDIO_SCREENSHOTS"):
        page.grab().save(str(Path(os.environ["STUDIO_SCREENSHOTS"]) / "export_benchmark.png"))


def test_cancel_leaves_no_benchmark_folder(page, workspace, qtbot):
    panel = page.benchmark
    _tick_only(page, "pytorch", "onnx")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)
    assert "cancelled" in panel.status.text()
    assert not (workspace.folder("exports") / "tiny-1-benchmark").exists()
    assert panel.table.rowCount() == 0 and panel.run_button.isEnabled()


def test_nothing_ticked_or_an_export_running_says_why(page, qtbot):
    panel = page.benchmark
    _tick_only(page)
    assert not panel.run_button.isEnabled() and "tick at least one" in panel.run_button.toolTip()
    _tick_only(page, "onnx")
    assert panel.run_button.isEnabled()
    page.worker = object()  # as while an export runs
    page._update()
    assert not panel.run_button.isEnabled() and "export is running" in panel.run_button.toolTip()
    page.worker = None
    page._update()
    assert panel.run_button.isEnabled()
