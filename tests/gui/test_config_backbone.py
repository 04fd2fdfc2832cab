"""The Config page offers the fast models' backbone fields (generated from the schema): picking a backbone
with the keyboard writes it to the YAML, and the pre-flight checks it against the architecture."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.core.config.init import init_config
from studio.core.workspace import Workspace

WAIT = 60_000  # the first zoo read imports torch in a worker


@pytest.fixture
def page(qtbot, jobs, tmp_path, demo_master):
    from studio.gui.config.page import ConfigPage

    ws = Workspace.create(tmp_path / "ws", "Test")
    data = ws.folder("datasets") / "demo"
    shutil.copytree(demo_master, data)
    init_config(
        data / "annotations" / "train.json", ws.folder("configs") / "demo.yaml", overrides={"train": {"device": "cpu"}}
    )
    p = ConfigPage(jobs)
    p.preflight_timer.setInterval(50)
    p.yaml.timer.setInterval(50)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    p.set_workspace(ws)
    settle(qtbot, p)
    return p


def settle(qtbot, page) -> None:
    qtbot.waitUntil(lambda: page.form_ready() and not page.yaml.timer.isActive() and not page.busy(), timeout=WAIT)


def test_the_backbone_fields_are_offered_and_picking_one_reaches_the_yaml(qtbot, page, tmp_path):
    combo = page.form.editor("model.backbone")
    choices = [combo.itemText(i) for i in range(combo.count())]
    assert choices[:2] == ["csp", "resnet18"] and "regnet_y_400mf" in choices
    freeze = page.form.editor("model.freeze_backbone")
    assert [freeze.itemText(i) for i in range(freeze.count())] == ["none", "1", "2", "3", "4", "all"]
    assert page.form.editor("train.backbone_lr") is not None
    assert combo.currentIndex() == -1 and "csp for seg_fast" in combo.placeholderText()
    page.grab().save(str(tmp_path / "config_default.png"))

    page.form.rows["model.backbone"].editor.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down)  # nothing chosen -> csp
    QTest.keyClick(combo, Qt.Key.Key_Down)  # -> resnet18
    settle(qtbot, page)
    assert "backbone: resnet18" in page.yaml.text()
    QTest.keyClick(freeze, Qt.Key.Key_Down)  # none -> 1
    QTest.keyClick(freeze, Qt.Key.Key_Down)  # -> 2
    settle(qtbot, page)
    assert "freeze_backbone: 2" in page.yaml.text()
    assert page.errors == {} and page.config.model.backbone == "resnet18" and page.config.model.freeze_backbone == 2
    page.grab().save(str(tmp_path / "config_backbone.png"))
