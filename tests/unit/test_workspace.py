"""Workspaces: project file, folders, recent list, the demo workspace."""

from __future__ import annotations

import pytest

from studio.core.workspace import (
    PROJECT_FILE,
    Workspace,
    WorkspaceError,
    ensure_demo_workspace,
    is_workspace,
    recent_workspaces,
    remember_workspace,
)


def test_create_open_and_contents(tmp_path):
    ws = Workspace.create(tmp_path / "proj")
    assert is_workspace(tmp_path / "proj") and ws.name == "proj"
    for sub in ("datasets", "configs", "runs", "exports"):
        assert (tmp_path / "proj" / sub).is_dir()
    (ws.folder("datasets") / "a").mkdir()
    (ws.folder("datasets") / "a" / "train.json").write_text("{}")
    (ws.folder("datasets") / "a" / "train.json.recovery.json").write_text("{}")
    (ws.folder("configs") / "c.yaml").write_text("x: 1")
    run = ws.folder("runs") / "r1"
    run.mkdir()
    (run / "events.jsonl").write_text("")
    (ws.folder("runs") / "empty").mkdir()
    assert [p.name for p in ws.datasets()] == ["train.json"]
    assert [p.name for p in ws.configs()] == ["c.yaml"] and [p.name for p in ws.runs()] == ["r1"]
    ws.set_last_dataset(ws.folder("datasets") / "a" / "train.json")
    back = Workspace.open(tmp_path / "proj")
    assert back.last_dataset_path() == ws.folder("datasets") / "a" / "train.json"
    with pytest.raises(WorkspaceError, match="already a workspace"):
        Workspace.create(tmp_path / "proj")


def test_bad_workspaces_are_named(tmp_path):
    with pytest.raises(WorkspaceError, match="not a Studio workspace"):
        Workspace.open(tmp_path)
    (tmp_path / PROJECT_FILE).write_text("{broken")
    with pytest.raises(WorkspaceError, match="broken JSON") as e:
        Workspace.open(tmp_path)
    assert PROJECT_FILE in str(e.value)


def test_recent_list_newest_first_and_only_existing(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_CONFIG_DIR", str(tmp_path / "cfg"))
    a, b = Workspace.create(tmp_path / "a"), Workspace.create(tmp_path / "b")
    remember_workspace(a.root)
    remember_workspace(b.root)
    remember_workspace(a.root)
    assert recent_workspaces() == [a.root, b.root]
    (b.root / PROJECT_FILE).unlink()
    assert recent_workspaces() == [a.root]


def test_demo_workspace_is_generated_once_and_trainable(tmp_path):
    ws = ensure_demo_workspace(tmp_path / "demo")
    assert ws.last_dataset_path().name == "train.json"
    assert [p.name for p in ws.configs()] == ["demo.yaml"]
    from studio.core.config.loader import load_config

    cfg = load_config(ws.configs()[0])
    assert cfg.model.arch == "seg_fast" and cfg.data.val is not None
    mtime = (ws.root / "datasets" / "demo" / "annotations" / "train.json").stat().st_mtime_ns
    again = ensure_demo_workspace(tmp_path / "demo")
    assert (again.root / "datasets" / "demo" / "annotations" / "train.json").stat().st_mtime_ns == mtime
