"""Plugins in the app: Help > Plugins…, a plugin panel docked in the main window, broken plugins reported at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDockWidget

from studio.core import plugins

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


@pytest.fixture
def plugin_places(tmp_path):
    """The repository's plugins plus a broken manifest and a panel whose factory raises."""
    more = tmp_path / "more"
    (more / "bad_toml").mkdir(parents=True)
    (more / "bad_toml" / "studio-plugin.toml").write_text('name = "bad-toml"\nversion = 1.0.0\n')
    (more / "boom_panel").mkdir()
    (more / "boom_panel" / "studio-plugin.toml").write_text(
        'name = "boom"\nversion = "0.1"\ndescription = "a panel that fails"\n'
        '[[panels]]\nname = "boom"\ntitle = "Boom"\nobject = ".panel:make"\n'
    )
    (more / "boom_panel" / "panel.py").write_text("def make(context):\n    raise RuntimeError('no widget today')\n")
    plugins.configure([PLUGINS_DIR, more], repo=False, user=False, entry_points=False, env_paths=False)
    yield more
    plugins.reset()


def test_plugins_dialog_panel_and_start_report(qtbot, make_window, small_demo, plugin_places):
    ann, images = small_demo
    w = make_window(ann, images)
    reg = plugins.registry()
    # the plugin panel: a hidden dock with a toggle in View > Plugin panels, following the open dataset
    dock = w.findChild(QDockWidget, "plugin_panel:dataset-summary:dataset_summary")
    assert dock is not None and dock.windowTitle() == "Dataset summary" and not dock.isVisible()
    assert dock in w.plugin_docks and len(w.plugin_docks) == 1
    toggle = dock.toggleViewAction()
    menu = next(a.menu() for a in w.view_menu.actions() if a.menu() is not None and a.text() == "Plugin &panels")
    assert toggle in menu.actions()
    panel = dock.widget()
    assert panel.summary.text() == ""  # hidden: the open dataset is not counted yet
    toggle.trigger()
    assert dock.isVisible()
    qtbot.waitUntil(lambda: panel.summary.text().startswith("8 images"), timeout=5_000)
    assert panel.table.rowCount() == len(w.data_page.loaded.dataset.categories)
    assert sum(int(panel.table.item(r, 1).text()) for r in range(panel.table.rowCount())) == len(
        w.data_page.loaded.dataset.annotations
    )
    # the broken ones: in the log and the status bar, and the window is up anyway
    boom = reg.find("panels", "boom")
    assert boom.state == "failed" and "building the panel failed: RuntimeError: no widget today" in boom.error
    log_text = w.log_panel.plain_text()
    assert "broken TOML" in log_text and "no widget today" in log_text
    assert log_text.count("no widget today") == 1 and log_text.count("broken TOML") == 1  # each problem once
    assert "Plugin problem (bad_toml, boom): see Help > Plugins" in w.statusBar().currentMessage()
    # the Inspect page offers the plugins' CAM methods by their titles
    combo = w.inspect_page.cam.method
    assert [combo.itemText(i) for i in range(combo.count())][-2:] == ["XGrad-CAM", "LayerCAM"]

    # Help > Plugins…
    assert w.plugins_action.text() == "&Plugins…"
    w.plugins_action.trigger()
    d = w._plugins_dialog
    qtbot.waitUntil(d.isVisible, timeout=5_000)
    tops = [d.tree.topLevelItem(i) for i in range(d.tree.topLevelItemCount())]
    assert (
        len(tops) == 8
        and d.header.text().startswith("8 plugins: ")
        and d.header.text().endswith("1 with errors, 1 broken")
    )
    by = {t.text(0).split()[0]: t for t in tops}
    assert by["bad_toml"].text(2) == "broken" and by["bad_toml"].child(0).text(0).startswith("error: ")
    assert "broken TOML" in by["bad_toml"].child(0).text(0)
    assert by["boom"].text(2) == "errors"
    cvat = by["cvat"]
    assert cvat.text(1) == "dataset format" and cvat.child(0).text(1) == "dataset format"
    assert d.tree.currentItem() is not None and "error" in d.details.toPlainText()  # the first problem is selected
    d.tree.setCurrentItem(by["fcos-mobilenet"].child(0))
    assert "model architecture 'fcos_mobilenet_v3' of plugin fcos-mobilenet" in d.details.toPlainText()
    # Check all imports everything in a worker: every repository plugin loads
    d.check_button.click()
    qtbot.waitUntil(lambda: d.check_button.isEnabled(), timeout=60_000)
    tops = {
        d.tree.topLevelItem(i).text(0).split()[0]: d.tree.topLevelItem(i) for i in range(d.tree.topLevelItemCount())
    }
    for name in ("cvat", "fcos-mobilenet", "augment-extras", "cam-extras", "torch-weights", "dataset-summary"):
        assert tops[name].text(2) == "loaded", name
    assert d.header.text() == "8 plugins: 6 loaded, 1 with errors, 1 broken"
    d.close()


def test_without_plugins_the_dialog_says_where_it_looked(qtbot, make_window):
    w = make_window()
    assert w.plugin_docks == []
    d = w.plugins_dialog()
    qtbot.waitUntil(d.isVisible, timeout=5_000)
    assert d.tree.topLevelItemCount() == 0
    assert "turned off (STUDIO_PLUGINS=0)" in d.places.text() and "No plugins found" in d.details.toPlainText()
    d.close()


def test_export_page_offers_and_runs_a_plugin_format(qtbot, jobs, tmp_path, demo, checkpoint_factory, repo_plugins):
    import json
    import shutil

    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace
    from studio.gui.export.page import ExportPage

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
    page = ExportPage(jobs)
    qtbot.addWidget(page)
    page.latency_runs = 2
    page.show()
    page.set_workspace(ws)
    qtbot.waitUntil(lambda: page.info is not None, timeout=30_000)
    page.n_verify.setValue(2)
    items = [page.format_list.item(i).text() for i in range(page.format_list.count())]
    assert len(items) == 5 and items[4].startswith("PyTorch weights")
    page.select_format("torch-weights")
    assert list(page.options.rows) == ["fp16_weights"] and page.export_button.isEnabled()
    out = page.out_field.path()
    assert out.name == "tiny-1-torch-weights"
    assert page.export()
    qtbot.waitUntil(lambda: not page.running, timeout=60_000)
    assert "Exported to" in page.status.text(), page.status.text()
    rep = json.loads((out / "export_report.json").read_text())
    assert rep["format"] == "torch-weights" and (out / "model.pt").is_file()
    view = page.report_view
    assert "100.0%" in view.values["box_match"].text() and view.open_button.isEnabled()
    assert not view.copy_button.isEnabled()  # `studio infer` runs ONNX and engines only
    page.stop_and_wait()


def test_config_page_types_plugin_augmentations_and_preflight_checks_them(
    qtbot, jobs, tmp_path, demo_master, repo_plugins
):
    import shutil

    import yaml

    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace
    from studio.gui.config.page import ConfigPage

    ws = Workspace.create(tmp_path / "ws", "Test")
    data = ws.folder("datasets") / "demo"
    shutil.copytree(demo_master, data)
    init_config(
        data / "annotations" / "train.json",
        ws.folder("configs") / "demo.yaml",
        arch="fcos_mobilenet_v3",
        val_ann=data / "annotations" / "val.json",
        overrides={"train": {"device": "cpu"}},
    )
    page = ConfigPage(jobs)
    page.preflight_timer.setInterval(50)
    page.yaml.timer.setInterval(50)
    qtbot.addWidget(page)
    page.show()
    page.set_workspace(ws)

    def settle():
        qtbot.waitUntil(
            lambda: page.form_ready() and not page.yaml.timer.isActive() and not page.busy(), timeout=60_000
        )

    settle()
    assert page.form.text_of("model.arch") == "fcos_mobilenet_v3"  # the plugin's architecture, from the zoo
    assert page.start_button.isEnabled()
    line = page.form.editor("data.augment.extra")
    line.setFocus()
    qtbot.keyClicks(line, "[{name: cutout, p: 0.5, params: {holes: 0}}]")
    assert yaml.safe_load(page.yaml.text())["data"]["augment"]["extra"] == [
        {"name": "cutout", "p": 0.5, "params": {"holes": 0}}
    ]
    settle()
    errors = [(item, msg) for level, item, msg in page.preflight_view.rows() if level == "error"]
    assert errors == [("data.augment.extra[0].params", "augmentation 'cutout': holes must be at least 1, got 0")], (
        errors
    )
    assert not page.start_button.isEnabled()
    line.selectAll()
    qtbot.keyClicks(line, "[{name: cutout, p: 0.5, params: {holes: 2}}]")
    settle()
    assert page.start_button.isEnabled() and page.config.data.augment.extra[0].params == {"holes": 2}
