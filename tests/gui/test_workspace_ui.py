"""Workspaces in the app: open one, remember it, first start on the demo workspace with a welcome bar."""

from __future__ import annotations

import shutil

from studio.core.workspace import Workspace, recent_workspaces


def wait_ready(qtbot, window, timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: window.data_page.state in ("ready", "failed") and window.jobs.is_idle(), timeout=timeout)
    assert window.data_page.state == "ready", window.data_page.header.counts.text()


def _workspace_with(tmp_path, small_demo) -> Workspace:
    ann, images = small_demo
    ws = Workspace.create(tmp_path / "proj")
    dest = ws.folder("datasets") / "shapes"
    shutil.copytree(ann.parents[1], dest)
    return ws


def test_open_workspace_opens_its_last_dataset_and_is_remembered(qtbot, make_window, tmp_path, small_demo):
    ws = _workspace_with(tmp_path, small_demo)
    w = make_window()
    w.open_workspace(ws.root)
    wait_ready(qtbot, w)
    assert w.data_page.loaded.annotations.name in ("train.json", "val.json")
    assert w.windowTitle().endswith("proj — Studio")
    assert recent_workspaces()[0] == ws.root
    assert w.welcome.isVisible() and w.steps.primary() == "create_config", "a dataset, no config: the next step"
    # the dataset opened is remembered as the workspace's last one
    assert Workspace.open(ws.root).last_dataset_path() == w.data_page.loaded.annotations.resolve()


def test_broken_workspace_is_reported_not_fatal(qtbot, make_window, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "studio-project.json").write_text("{oops")
    w = make_window()
    failures = []
    w.workspace_ui.failed.connect(failures.append)
    w.open_workspace(tmp_path / "bad")
    assert failures and "broken JSON" in failures[0] and "studio-project.json" in failures[0]
    assert "broken JSON" in w.log_panel.plain_text()


def test_first_start_offers_the_demo_workspace(qtbot, make_window, tmp_path):
    w = make_window()
    w.workspace_ui.open_demo(tmp_path / "demo-ws")  # the window's demo action, on a private folder
    w._welcome_pending = True
    wait_ready(qtbot, w, timeout=60_000)
    assert w.welcome.isVisible() and "demo workspace" in w.welcome.text.text()
    assert w.welcome.labels() == ["Train on the demo", "Label images", "Import your data…", "New workspace…"]
    assert w.steps.primary() == "train"
    assert w.data_page.loaded.annotations.name == "train.json"
    assert w.workspace_ui.current.name == "Demo"
    assert [p.name for p in w.workspace_ui.current.configs()] == ["demo.yaml"]
    w.grab().save(str(tmp_path / "welcome.png"))


def test_file_menu_dialogs_follow_the_data_state(qtbot, make_window, tmp_path, small_demo):
    ws = _workspace_with(tmp_path, small_demo)
    w = make_window()
    assert not w.export_action.isEnabled() and not w.split_action.isEnabled()
    w.open_workspace(ws.root)
    wait_ready(qtbot, w)
    assert w.export_action.isEnabled() and w.split_action.isEnabled()
    wiz = w.import_dialog()
    assert wiz.isVisible()
    wiz.close()
    for d in (w.export_dialog(), w.split_dialog()):
        assert d is not None and d.isVisible()
        d.close()
