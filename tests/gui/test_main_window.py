"""The main window shell and run_app's screenshot mode."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence

from studio.core.dataset.model import usual_images_dir


def test_window_shell_pages_shortcuts_device(qtbot, make_window, small_demo):
    ann, images = small_demo
    w = make_window(ann, images)
    assert [p.title for p in w.pages] == ["Data", "Config", "Train", "Inspect", "Export"]
    assert w.page_list.count() == len(w.pages) == w.stack.count()
    assert w.current_page() is w.data_page
    assert w.open_action.shortcut() == QKeySequence("Ctrl+O")
    assert w.quit_action.shortcut() == QKeySequence("Ctrl+Q")
    page_shortcuts = [a.shortcut().toString() for a in w.pages_menu.actions()]
    assert page_shortcuts == ["Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4", "Ctrl+5"]
    assert w.windowTitle() == "train.json — Studio"
    qtbot.waitUntil(lambda: w.device is not None, timeout=30_000)
    assert w.device_label.text() == f"Device: {w.device}"
    assert w.device.startswith(("CPU", "Apple")) or "GiB" in w.device
    assert "loaded train.json: 8 image(s)" in w.log_panel.plain_text()
    assert w.job_status.label.text() == "Ready"


def test_job_progress_shows_in_the_status_bar(qtbot, make_window, small_demo):
    ann, images = small_demo
    w = make_window()
    w.open_dataset(ann, images)
    assert w.job_status.label.text().startswith("Loading train.json")
    assert w.job_status.cancel_button.isVisibleTo(w)
    qtbot.waitUntil(lambda: w.data_page.state == "ready", timeout=20_000)
    qtbot.waitUntil(lambda: w.job_status.label.text() == "Ready", timeout=5_000)


def test_geometry_and_dock_state_are_saved_and_restored(qtbot):
    from studio.gui.main_window import DEFAULT_SIZE, MainWindow

    QSettings().clear()
    a = MainWindow(persist=True)
    qtbot.addWidget(a)
    a.show()
    a.resize(1250, 777)
    a.log_action.trigger()  # hide the log dock
    qtbot.waitUntil(lambda: a.size().width() == 1250 and not a.log_panel.isVisible())
    a.close()
    assert QSettings().value("window/geometry") is not None
    b = MainWindow(persist=True)
    qtbot.addWidget(b)
    b.show()
    # the offscreen screen is 800x800, so restoreGeometry clamps the width to the window's minimum
    assert b.size() != DEFAULT_SIZE
    assert abs(b.height() - 777) <= 4 and b.width() <= 1250
    assert not b.log_panel.isVisible() and not b.log_action.isChecked()
    b.close()
    QSettings().clear()


def test_usual_images_dir(tmp_path):
    (tmp_path / "annotations").mkdir()
    ann = tmp_path / "annotations" / "train.json"
    assert usual_images_dir(ann) == tmp_path / "annotations"
    (tmp_path / "images").mkdir()
    assert usual_images_dir(ann) == tmp_path / "images"
    (tmp_path / "images" / "train").mkdir()
    assert usual_images_dir(ann) == tmp_path / "images" / "train"


def test_run_app_screenshots(qapp, tmp_path, small_demo):
    from studio.gui.app import run_app

    ann, images = small_demo
    out = tmp_path / "shots"
    assert run_app(ann, images, screenshot_dir=out) == 0
    for name in ("data.png", "main_window.png"):
        from PySide6.QtGui import QImage

        img = QImage(str(out / name))
        assert not img.isNull() and img.width() > 600, name
    assert QImage(str(out / "main_window.png")).width() == 1400


def test_run_app_opens_the_demo_workspace_when_nothing_is_given(qapp, tmp_path, monkeypatch):
    import studio.core.workspace as workspace
    from studio.gui.app import run_app

    monkeypatch.setattr(workspace, "default_demo_workspace", lambda: tmp_path / "demo-ws")
    out = tmp_path / "shots"
    assert run_app(screenshot_dir=out) == 0
    assert workspace.is_workspace(tmp_path / "demo-ws")
    assert (tmp_path / "demo-ws" / "configs" / "demo.yaml").is_file()
    assert (out / "data.png").is_file() and (out / "main_window.png").is_file()
    # a workspace folder given on the command line opens that workspace
    assert run_app(tmp_path / "demo-ws", screenshot_dir=tmp_path / "shots2") == 0


def test_run_app_screenshot_of_a_broken_file_returns_1(qapp, tmp_path):
    from studio.gui.app import run_app

    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert run_app(Path(bad), tmp_path, screenshot_dir=tmp_path / "shots") == 1
    assert (tmp_path / "shots" / "data.png").is_file()


def test_detect_device_names_the_gpu_or_cpu(monkeypatch):
    import sys
    import types

    from studio.gui.common.device import detect_device

    def fake_torch(cuda: bool, n: int = 1):
        props = types.SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=80 * 2**30)
        cuda_mod = types.SimpleNamespace(
            is_available=lambda: cuda, device_count=lambda: n, get_device_properties=lambda i: props
        )
        mps = types.SimpleNamespace(is_available=lambda: False)
        return types.SimpleNamespace(cuda=cuda_mod, backends=types.SimpleNamespace(mps=mps))

    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    assert detect_device() == "NVIDIA H100 80GB HBM3 (80 GiB)"
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True, n=2))
    assert detect_device() == "NVIDIA H100 80GB HBM3 (80 GiB) ×2"
    monkeypatch.setitem(sys.modules, "torch", fake_torch(False))
    assert detect_device() == "CPU"
    monkeypatch.setitem(sys.modules, "torch", None)  # import fails
    assert detect_device().startswith("CPU (PyTorch unavailable")


def test_closing_during_jobs_leaves_no_thread_and_no_late_signal(qtbot, small_demo):
    from PySide6.QtCore import QCoreApplication, QEvent

    from studio.gui.main_window import MainWindow

    ann, images = small_demo
    for _ in range(3):
        w = MainWindow(persist=False)
        w.show()
        w.open_dataset(ann, images)  # load (and then check, decode) still running at close
        qtbot.wait(5)
        w.close()
        assert w.jobs.is_idle() or all(not x.running for x in w.jobs.running())
        w.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        qtbot.wait(50)  # an exception in a late slot would fail this test (pytest-qt)


def test_open_without_images_uses_the_recorded_folder(qtbot, make_window, small_demo, tmp_path):
    from studio import api

    ann, images = small_demo
    imported = tmp_path / "elsewhere" / "imported.json"
    api.dataset_import(ann, imported, fmt="coco", images=images)  # records info.images_dir
    w = make_window(imported, None)
    page = w.data_page
    qtbot.waitUntil(lambda: page.loaded is not None and page.check is not None, timeout=15000)
    assert page.loaded.images_dir == Path(images).resolve()
    assert "missing_image" not in page.check.report.by_kind()


def test_device_is_detected_in_a_child_process_once(monkeypatch):
    import subprocess

    import studio.gui.common.device as device

    device._cache.clear()
    runs = []
    real = subprocess.run

    def counting(*a, **k):
        runs.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(device.subprocess, "run", counting)
    first = device.detect_device_in_subprocess()
    assert first == "CPU" or "GiB" in first or first == "Apple MPS"
    assert device.detect_device_in_subprocess() == first and len(runs) == 1
    device._cache.clear()
    monkeypatch.setattr(
        device.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a[0], 1, "", "ImportError: no torch")
    )
    assert device.detect_device_in_subprocess() == "CPU (device detection failed: ImportError: no torch)"
    device._cache.clear()


def test_a_prediction_sent_from_inspect_becomes_an_undoable_edit(qtbot, make_window, small_demo, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    ann, images = small_demo
    w = make_window(ann, images)
    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: told.append(a[2]))
    w.inspect_page.predictions.val_ann = None
    w.inspect_page.annotation_proposed.emit(1, 1, [2, 2, 20, 20])
    assert told and "Open the val annotation file" in told[0]
    w.inspect_page.predictions.val_ann = ann
    ds = w.data_page.loaded.dataset
    n = len(ds.annotations)
    image_id = ds.images[0]["id"]
    cat = ds.categories[0]["id"]
    w.inspect_page.annotation_proposed.emit(image_id, cat, [2, 2, 20, 20])
    assert len(ds.annotations) == n + 1 and ds.annotations[-1]["bbox"] == [2.0, 2.0, 20.0, 20.0]
    assert w.data_page.editor.dirty and w.current_page() is w.data_page
    w.inspect_page.annotation_proposed.emit(image_id, cat, [5, 5, 30, 5, 30, 30, 5, 30])
    assert len(ds.annotations[-1]["segmentation"][0]) == 8
    w.data_page.editor.undo()
    w.data_page.editor.undo()
    assert len(ds.annotations) == n
