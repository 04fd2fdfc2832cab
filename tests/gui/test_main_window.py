"""The main window shell (menus, the shortcut table, the Edit menu, next steps, closing) and run_app."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

from studio.core.dataset.model import usual_images_dir


def test_window_shell_pages_shortcuts_device(qtbot, make_window, small_demo):
    ann, images = small_demo
    w = make_window(ann, images)
    assert [p.title for p in w.pages] == ["Data", "Config", "Train", "Inspect", "Preview", "Export"]
    assert w.page_list.count() == len(w.pages) == w.stack.count()
    assert w.current_page() is w.data_page
    assert w.open_action.shortcut() == QKeySequence("Ctrl+O")
    assert w.quit_action.shortcut() == QKeySequence("Ctrl+Q")
    page_shortcuts = [a.shortcut().toString() for a in w.pages_menu.actions()]
    assert page_shortcuts == ["Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4", "Ctrl+5", "Ctrl+6"]
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


def test_send_to_editor_opens_the_val_file_and_adds_the_shapes(qtbot, make_window, small_demo, monkeypatch):
    from PySide6.QtCore import SIGNAL
    from PySide6.QtWidgets import QMessageBox

    from studio.core.dataset.model import Dataset
    from studio.gui.inspect.jobs import EditorProposals, Proposal

    train, images = small_demo
    root = train.parent.parent
    val, val_images = root / "annotations" / "val.json", root / "images" / "val"
    w = make_window(train, images)  # the Data page shows the training set, not the val set predicted on
    vds = Dataset.load(val)
    iid, cat, n = vds.images[0]["id"], vds.categories[0]["id"], len(vds.annotations)
    box = EditorProposals(val, val_images, iid, vds.images[0]["file_name"], (Proposal(iid, cat, None, [2, 2, 20, 20]),))
    w.inspect_page.predictions.send_to_editor.emit(box)
    qtbot.waitUntil(lambda: w.data_page.loaded is not None and w.data_page.loaded.annotations == val, timeout=20000)
    qtbot.waitUntil(lambda: len(w.data_page.loaded.dataset.annotations) == n + 1, timeout=20000)
    ds = w.data_page.loaded.dataset
    assert ds.annotations[-1]["bbox"] == [2.0, 2.0, 20.0, 20.0] and w.current_page() is w.data_page
    assert w.data_page.editor.dirty() and w.data_page.viewer.image["id"] == iid
    assert (ds.annotations[-1]["source"], ds.annotations[-1]["status"]) == ("model", "accepted")
    assert "score" not in ds.annotations[-1], "no score given: none written"
    shape = Proposal(iid, cat, [5, 5, 30, 5, 30, 30, 5, 30], [5, 5, 25, 25], score=0.9, checkpoint="best.pt")
    poly = EditorProposals(val, val_images, iid, "", (shape,))
    w.inspect_page.predictions.send_to_editor.emit(poly)  # the file is open: added at once
    assert len(ds.annotations) == n + 2 and len(ds.annotations[-1]["segmentation"][0]) == 8
    prov = {k: ds.annotations[-1][k] for k in ("source", "status", "score", "checkpoint")}
    assert prov == {"source": "model", "status": "accepted", "score": 0.9, "checkpoint": "best.pt"}
    # another file, unsaved edits, the user cancels: nothing opened, nothing added, no link left behind
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    links = w.data_page.receivers(SIGNAL("state_changed(QString)"))
    w.inspect_page.predictions.send_to_editor.emit(
        EditorProposals(train, images, 1, "", (Proposal(1, 1, None, [1, 1, 5, 5]),))
    )
    assert w.data_page.loaded.annotations == val and len(ds.annotations) == n + 2
    assert w.data_page.receivers(SIGNAL("state_changed(QString)")) == links
    w.data_page.editor.undo()
    w.data_page.editor.undo()
    assert len(ds.annotations) == n
    w.data_page.editor.discard_changes()


# ---------------------------------------------------------------------------------------------- shortcuts
def test_every_shortcut_is_bound_from_the_one_table_and_listed_in_help(qtbot, make_window):
    import re

    from PySide6.QtGui import QAction, QShortcut

    from studio.gui.common.commands import SHORTCUT_ID, qt_keys
    from studio.gui.editor import tools
    from studio.gui.shortcuts import ACTION, KEY, SHORTCUTS, shortcut

    w = make_window()
    bound_ids = set()
    for act in w.findChildren(QAction):
        keys = [k.toString() for k in act.shortcuts()]
        if not keys:
            continue
        sid = act.property(SHORTCUT_ID)
        assert sid, f"{act.text()!r} has {keys} but not from the table"
        assert set(keys) <= {QKeySequence(k).toString() for k in shortcut(sid).keys}, (act.text(), keys)
        bound_ids.add(sid)
    assert w.findChildren(QShortcut) == []
    action_rows = {s.id for s in SHORTCUTS if s.kind == ACTION}
    assert action_rows <= bound_ids, f"rows of the table nothing binds: {action_rows - bound_ids}"
    # the editing tools read their keys from the table too
    assert tools.DELETE_KEYS == qt_keys("editor.delete") and tools.ENTER_KEYS == qt_keys("editor.finish")
    assert tools.CANCEL_KEYS == qt_keys("editor.cancel") and tools.BACK_KEYS == qt_keys("editor.back")
    assert {s.id for s in SHORTCUTS if s.kind == KEY} == {
        "editor.delete",
        "editor.nudge",
        "editor.pan",
        "editor.back",
        "editor.finish",
        "editor.cancel",
    }
    # no key sequence is made anywhere else in the GUI's source
    gui = Path(__file__).resolve().parents[2] / "studio" / "gui"
    allowed = {gui / "common" / "commands.py", gui / "common" / "shortcuts_dialog.py"}
    pattern = re.compile(r"QKeySequence\(|QShortcut\(|setShortcuts?\(|StandardKey\.|Qt\.Key\.Key_")
    offenders = [
        f"{p.relative_to(gui)}:{n}"
        for p in gui.rglob("*.py")
        if p not in allowed
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []

    w.shortcuts_action.trigger()
    dialog = w._shortcuts_dialog
    listed = dialog.listed_ids()
    assert dialog.isVisible() and sorted(listed) == sorted(s.id for s in SHORTCUTS) and len(listed) == len(SHORTCUTS)
    assert w.shortcuts_action.shortcut() == QKeySequence("F1")
    dialog.close()


def test_edit_menu_follows_and_drives_the_current_page(qtbot, make_window, small_demo):
    from PySide6.QtWidgets import QLineEdit

    ann, images = small_demo
    w = make_window(ann, images)
    acts = w.commands.actions
    assert [a.text() for a in w.edit_menu.actions() if not a.isSeparator()][:2] == ["Undo", "Redo"]
    assert not acts["undo"].isEnabled() and not acts["redo"].isEnabled() and not acts["delete"].isEnabled()
    editor = w.data_page.editor
    n = len(editor.ds.categories)
    editor.add_class("kite")
    assert acts["undo"].isEnabled() and acts["undo"].text() == "Undo add class"
    assert acts["save"].isEnabled()
    acts["undo"].trigger()
    assert len(editor.ds.categories) == n and acts["redo"].isEnabled() and not acts["undo"].isEnabled()
    acts["redo"].trigger()
    assert len(editor.ds.categories) == n + 1
    # the keys reach the page through the window
    w.data_page.viewer.view.setFocus()
    qtbot.keyClick(w.data_page.viewer.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(editor.ds.categories) == n
    editor.redo()

    w.show_page(w.pages.index(w.train_page))
    assert not any(acts[c].isEnabled() for c in ("save", "undo", "redo", "delete")), "the Train page has none"

    w.show_page(w.pages.index(w.data_page))
    box = w.data_page.images.findChild(QLineEdit)  # the image list's search box
    w.activateWindow()
    box.setFocus()
    qtbot.keyClicks(box, "abc")
    assert box.hasFocus() and acts["undo"].isEnabled() and acts["select_all"].isEnabled()
    acts["select_all"].trigger()
    assert box.selectedText() == "abc"
    acts["undo"].trigger()
    assert box.text() == "" and len(editor.ds.categories) == n + 1, "the box undid its typing, not the editor"
    editor.undo()  # nothing unsaved: the window closes without asking


# ---------------------------------------------------------------------------------------------- next steps
def _workspace(tmp_path, small_demo, dataset: bool = True, config: bool = False):
    import shutil

    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ann, _images = small_demo
    ws = Workspace.create(tmp_path / "proj", "Proj")
    if dataset:
        shutil.copytree(ann.parents[1], ws.folder("datasets") / "shapes")
    if config:
        data = ws.folder("datasets") / "shapes" / "annotations"
        init_config(data / "train.json", ws.folder("configs") / "shapes.yaml", val_ann=data / "val.json")
    return ws


def _wait_idle(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w.jobs.is_idle() and not w.data_page.busy(), timeout=30_000)


def test_next_steps_follow_what_the_workspace_has(qtbot, make_window, tmp_path, small_demo, monkeypatch):
    ws = _workspace(tmp_path, small_demo, dataset=False)
    w = make_window()
    w.open_workspace(ws.root)
    _wait_idle(qtbot, w)
    assert w.welcome.isVisible() and "has no dataset yet" in w.welcome.text.text()
    assert w.steps.primary() == "import" and w.welcome.labels()[0] == "Import your data…"
    opened = []
    monkeypatch.setattr(w, "import_dialog", lambda: opened.append("wizard"))
    w.welcome.buttons["Import your data…"].click()
    assert opened == ["wizard"]

    ws2 = _workspace(tmp_path / "2", small_demo, dataset=True)
    w.open_workspace(ws2.root)
    _wait_idle(qtbot, w)
    assert w.steps.primary() == "create_config" and "a training config for" in w.welcome.text.text()
    w.welcome.buttons["Create config…"].click()
    d = w.new_config_dialog
    assert d.isVisible() and Path(d.train.currentText()).name == w.data_page.loaded.annotations.name
    d.accept()
    qtbot.waitUntil(lambda: w.config_page.current_path is not None and not w.config_page.busy(), timeout=60_000)
    assert w.current_page() is w.config_page and w.config_page.current_path.parent == ws2.folder("configs")
    qtbot.waitUntil(lambda: w.steps.primary() == "train", timeout=5_000)
    assert w.welcome.isVisible() and "Ready to train" in w.welcome.text.text()

    w.welcome.buttons["Label images"].click()
    assert w.current_page() is w.data_page and w.data_page.editor.state.tool == "polygon"
    w.welcome.close_button.click()
    assert not w.welcome.isVisible()
    w._refresh_steps()
    assert not w.welcome.isVisible(), "hidden for this workspace"


def test_train_step_starts_once_the_preflight_passes(qtbot, make_window, tmp_path, small_demo, monkeypatch):
    ws = _workspace(tmp_path, small_demo, dataset=True, config=True)
    w = make_window()
    w._welcome_pending = True  # as on a first start, on a workspace that is complete: the bar offers Train
    w.open_workspace(ws.root)
    _wait_idle(qtbot, w)
    started = []
    monkeypatch.setattr(w.train_page, "start", started.append)
    w._welcome = True
    w._refresh_steps()
    w.run_step("train")
    assert w.current_page() is w.config_page
    qtbot.waitUntil(lambda: bool(started), timeout=90_000)
    assert Path(started[0]) == (ws.folder("configs") / "shapes.yaml").resolve()


def test_an_import_offers_a_config_for_the_new_dataset(qtbot, make_window, tmp_path, small_demo):
    import yaml

    from studio import api

    ws = _workspace(tmp_path, small_demo, dataset=True, config=True)
    w = make_window()
    w.open_workspace(ws.root)
    _wait_idle(qtbot, w)
    # the two splits of "kites" imported into the workspace, as the wizard writes them (images stay in place)
    shapes = ws.folder("datasets") / "shapes"
    train, val = ws.folder("datasets") / "kites_train.json", ws.folder("datasets") / "kites_val.json"
    for split, out in (("train", train), ("val", val)):
        api.dataset_import(shapes / "annotations" / f"{split}.json", out, fmt="coco", images=shapes / "images" / split)
    wizard = w.import_dialog()
    wizard.imported.emit(val)
    wizard.close()
    _wait_idle(qtbot, w)
    assert w.welcome.isVisible() and "Imported kites_val.json" in w.welcome.text.text()
    assert "shapes.yaml trains on other data" in w.welcome.text.text()
    w.welcome.buttons["Create config…"].click()
    d = w.new_config_dialog
    assert Path(d.train.currentText()) == train and Path(d.val.currentText()) == val, "both splits proposed"
    d.accept()
    qtbot.waitUntil(lambda: w.config_page.current_path is not None and "kites" in w.config_page.current_path.name)
    own = yaml.safe_load(w.config_page.current_path.read_text())
    assert own["data"]["train"]["ann"].endswith("kites_train.json")
    assert own["data"]["val"]["ann"].endswith("kites_val.json")


# ---------------------------------------------------------------------------------------------- recovery
def _journal_left_by_a_crash(ann: Path) -> None:
    """What a crash leaves: an edit in the recovery journal, never saved."""
    from studio.core.dataset.model import Dataset
    from studio.gui.editor.state import EditorState

    st = EditorState()
    st.open(Dataset.load(ann), ann, lambda info: False)
    st.add_class("kite")
    st.close()  # dirty: the journal stays


def _window_on(qtbot, make_window, root: Path, asked: list, answer: bool = True):
    w = make_window()
    w.data_page.recovery_ask = lambda info: asked.append(info) or answer
    w.open_workspace(root)
    qtbot.waitUntil(lambda: w.data_page.state == "ready" and w.jobs.is_idle(), timeout=30_000)
    return w


def test_a_clean_quit_leaves_no_recovery_prompt(qtbot, make_window, tmp_path, small_demo):
    from studio.core.dataset.recovery import recovery_path

    ws = _workspace(tmp_path, small_demo)
    asked: list = []
    w = _window_on(qtbot, make_window, ws.root, asked)
    ann = w.data_page.loaded.annotations
    w.data_page.editor.add_class("kite")
    assert recovery_path(ann).is_file()
    w.data_page.editor.undo()
    w.quit_action.trigger()
    assert not w.isVisible() and not recovery_path(ann).exists(), "closing went through the editor's close"
    _window_on(qtbot, make_window, ws.root, asked)
    assert asked == []


def test_recovered_edits_then_saved_or_undone_are_not_offered_again(qtbot, make_window, tmp_path, small_demo):
    from studio.core.dataset.model import Dataset

    ws = _workspace(tmp_path, small_demo)
    asked: list = []
    first = _window_on(qtbot, make_window, ws.root, [])
    ann = first.data_page.loaded.annotations
    first.quit_action.trigger()
    for finish in ("undo", "save"):
        _journal_left_by_a_crash(ann)
        w = _window_on(qtbot, make_window, ws.root, asked)
        assert len(asked) == 1 and w.data_page.editor.dirty(), "Yes replays the edit"
        if finish == "undo":
            w.data_page.editor.undo()
        else:
            assert w.data_page.editor.save(block=True)
        w.quit_action.trigger()
        assert not w.isVisible()
        asked.clear()
        _window_on(qtbot, make_window, ws.root, asked).quit_action.trigger()
        assert asked == [], f"after {finish}: no prompt"
    assert "kite" in [c["name"] for c in Dataset.load(ann).categories], "the recovered edit was saved"


def test_the_app_names_missing_display_libraries_before_qt_starts():
    from studio.core.doctor import Check
    from studio.gui.app import display_libraries_warning

    missing = Check("display libs", "missing libxcb-cursor.so.0: ...; sudo apt-get install -y libxcb-cursor0", ok=False)
    fine = Check("display libs", "installed")
    x11 = {"DISPLAY": ":0"}
    msg = display_libraries_warning(x11, "linux", lambda: missing)
    assert msg.startswith("studio: missing libxcb-cursor.so.0") and "apt-get install -y libxcb-cursor0" in msg
    assert display_libraries_warning(x11, "linux", lambda: fine) is None
    never = lambda: pytest.fail("not asked")  # noqa: E731
    assert display_libraries_warning({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", never) is None
    assert display_libraries_warning({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", never) is None
    assert display_libraries_warning({}, "linux", never) is None, "no display: screenshots or offscreen"
    assert display_libraries_warning(x11, "darwin", never) is None
    assert display_libraries_warning({"QT_QPA_PLATFORM": "xcb"}, "linux", lambda: missing) is not None
