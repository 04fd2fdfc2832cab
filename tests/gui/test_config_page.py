"""The Config page: form and YAML in sync both ways, inline validation, presets, the base diff, the
pre-flight panel and Start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt

from studio.core.config.init import init_config
from studio.core.workspace import Workspace

WAIT = 60_000  # the first zoo read imports torch in a worker: seconds on a busy machine


@pytest.fixture
def workspace(tmp_path, demo_master) -> Workspace:
    ws = Workspace.create(tmp_path / "ws", "Test")
    data = ws.folder("datasets") / "demo"
    shutil.copytree(demo_master, data)
    init_config(
        data / "annotations" / "train.json",
        ws.folder("configs") / "demo.yaml",
        val_ann=data / "annotations" / "val.json",
        overrides={"train": {"device": "cpu"}},
    )
    return ws


@pytest.fixture
def page(qtbot, jobs, workspace):
    from studio.gui.config.page import ConfigPage

    p = ConfigPage(jobs)
    p.preflight_timer.setInterval(50)  # the pauses are for people typing; the tests need not wait them out
    p.yaml.timer.setInterval(50)
    qtbot.addWidget(p)
    p.resize(1250, 820)
    p.show()
    p.set_workspace(workspace)
    settle(qtbot, p)
    return p


def settle(qtbot, page) -> None:
    """Wait for the zoo, the YAML debounce and the pre-flight worker."""
    qtbot.waitUntil(lambda: page.form_ready() and not page.yaml.timer.isActive() and not page.busy(), timeout=WAIT)


def retype(qtbot, line, text: str) -> None:
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)


def test_open_shows_the_config_and_start_is_enabled(page, workspace):
    assert page.current_path == (workspace.folder("configs") / "demo.yaml").resolve()
    assert page.picker.currentText() == "demo.yaml"
    assert page.form.text_of("model.arch") == "seg_fast"  # the demo has polygons
    assert page.form.text_of("train.device") == "cpu"
    assert page.yaml.text() == page.current_path.read_text(), "opening rewrites nothing"
    assert not page.is_dirty() and not page.save_button.isEnabled()
    assert page.errors == {} and page.config is not None
    levels = {level for level, _item, _msg in page.preflight_view.rows()}
    assert "error" not in levels and page.start_button.isEnabled()
    assert "Estimated GPU memory" in page.preflight_view.memory.text()


def test_invalid_value_shows_inline_then_fixing_it_enables_start(qtbot, page):
    dirty = []
    page.dirty_changed.connect(dirty.append)
    line = page.form.editor("train.batch_size")
    retype(qtbot, line, "abc")
    assert "valid integer" in page.form.error_text("train.batch_size")
    assert page.form.rows["train.batch_size"].error.isVisible()
    assert not page.start_button.isEnabled() and not page.can_start()
    assert "batch_size: abc" in page.yaml.text(), "the YAML view follows at once"
    assert line.text() == "abc" and line.hasFocus()
    assert "1 invalid value" in page.form_title.text()
    assert dirty == [True] and page.save_button.isEnabled()

    retype(qtbot, line, "0")
    assert "greater than or equal to 1" in page.form.error_text("train.batch_size")
    retype(qtbot, line, "3")
    assert page.form.error_text("train.batch_size") == ""
    assert "batch_size: 3" in page.yaml.text()
    settle(qtbot, page)
    assert page.start_button.isEnabled()
    assert page.config.train.batch_size == 3


def test_yaml_edits_reach_the_form_and_a_syntax_error_keeps_it(qtbot, page):
    text = page.yaml.text()
    assert "epochs: 300" in text
    page.yaml.edit.setPlainText(text.replace("epochs: 300", "epochs: 7").replace("optimizer: adamw", "optimizer: sgd"))
    qtbot.waitUntil(lambda: page.form.text_of("train.epochs") == "7", timeout=5_000)
    assert page.form.text_of("train.optimizer") == "sgd"
    assert page.is_dirty()

    page.yaml.edit.setPlainText(page.yaml.text().replace("train:\n", "train: [\n"))
    qtbot.waitUntil(lambda: page.yaml.error is not None, timeout=5_000)
    assert "line" in page.yaml.error and page.yaml.status.isVisible()
    assert page.form.text_of("train.epochs") == "7", "the form keeps the last valid state"
    assert page.form.isEnabled() and not page.start_button.isEnabled(), "the form stays usable"
    assert page.pending_bar.isVisible() and "last valid version" in page.pending_label.text()
    assert page.preflight_view.rows() == []

    page.yaml.edit.setPlainText(page.yaml.text().replace("train: [\n", "train:\n").replace("epochs: 7", "epochs: 9"))
    qtbot.waitUntil(lambda: page.form.text_of("train.epochs") == "9", timeout=5_000)
    assert page.yaml.error is None and page.form.isEnabled()
    settle(qtbot, page)
    assert page.start_button.isEnabled()


def test_form_edit_rewrites_only_the_changed_line_and_keeps_the_cursor(qtbot, page):
    editor = page.yaml.edit
    lines = page.yaml.text().splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip().startswith("seed:"))
    cursor = editor.textCursor()
    cursor.setPosition(editor.document().findBlockByNumber(row).position() + 4)
    editor.setTextCursor(cursor)
    lr = page.form.editor("train.lr")
    lr.setText("0.006")
    lr.textEdited.emit("0.006")  # one edit, as a paste would make it
    new_lines = page.yaml.text().splitlines()
    assert [i for i, (a, b) in enumerate(zip(lines, new_lines)) if a != b] == [lines.index("  lr: 0.004")]
    assert new_lines[lines.index("  lr: 0.004")] == "  lr: 0.006"
    after = editor.textCursor()
    assert after.blockNumber() == row and after.positionInBlock() == 4
    editor.undo()  # one undo step puts the old value back, and the form follows
    qtbot.waitUntil(lambda: page.form.text_of("train.lr") == "0.004", timeout=5_000)


def test_presets_apply_for_the_datasets_task(qtbot, page):
    page.apply_preset("GPU accurate")
    assert page.form.text_of("model.arch") == "maskrcnn_resnet50_fpn_v2", "polygons: a segmenter"
    assert page.form.text_of("train.amp") == "fp16" and page.form.text_of("train.ema") == "true"
    own = yaml.safe_load(page.yaml.text())
    assert own["model"]["weights"] == "DEFAULT" and own["data"]["image_size"] == 800
    assert own["data"]["val"]["ann"] == "../datasets/demo/annotations/val.json", "paths kept"
    assert page.form.is_highlighted("data.image_size") and page.form.is_highlighted("train.amp")
    settle(qtbot, page)
    import torch

    if not torch.cuda.is_available():  # device auto means the CPU here: fp16 cannot run
        errors = {item: msg for level, item, msg in page.preflight_view.rows() if level == "error"}
        assert "mixed precision needs a CUDA device" in errors["train.amp"]
        assert not page.start_button.isEnabled()

    page.apply_preset("CPU quick")
    assert page.form.text_of("model.arch") == "seg_fast"
    assert page.form.text_of("train.time_limit") == "20m" and page.form.text_of("train.amp") == "none"
    assert page.form.text_of("model.weights") == ""
    settle(qtbot, page)
    assert page.errors == {} and page.config.train.time_limit == 1200
    assert page.start_button.isEnabled()


def test_config_with_base_highlights_its_overrides(qtbot, page, workspace):
    child = workspace.folder("configs") / "exp.yaml"
    base = yaml.safe_load((workspace.folder("configs") / "demo.yaml").read_text())
    epochs, batch = base["train"]["epochs"], base["train"]["batch_size"]
    assert epochs != 80 and base["data"]["image_size"] != 320
    child.write_text(f"_base_: demo.yaml\ntrain:\n  epochs: 80\n  batch_size: {batch}\ndata:\n  image_size: 320\n")
    assert page.open_config(child)
    settle(qtbot, page)
    form = page.form
    assert form.is_highlighted("train.epochs") and form.is_highlighted("data.image_size")
    assert not form.is_highlighted("train.batch_size"), "the same value as the base"
    assert not form.is_highlighted("train.lr") and form.text_of("train.lr") == "0.004", "inherited"
    assert f"Overrides demo.yaml: {epochs}" in form.rows["train.epochs"].label.toolTip()
    assert "based on demo.yaml" in page.yaml_title.text()
    assert form.rows["train.epochs"].reset.isVisibleTo(form) and not form.rows["train.lr"].reset.isVisibleTo(form)
    assert [page.picker.itemText(i) for i in range(page.picker.count())] == ["demo.yaml", "exp.yaml"]

    retype(qtbot, form.editor("train.lr"), "0.001")
    assert form.is_highlighted("train.lr")
    assert yaml.safe_load(page.yaml.text())["train"]["lr"] == 0.001, "a form edit becomes an override"
    form.rows["train.epochs"].reset.click()
    assert form.text_of("train.epochs") == str(epochs) and not form.is_highlighted("train.epochs")
    assert "epochs" not in yaml.safe_load(page.yaml.text())["train"]

    page.yaml.edit.setPlainText(page.yaml.text().replace("_base_: demo.yaml", "_base_: gone.yaml"))
    qtbot.waitUntil(lambda: "_base_" in page.errors, timeout=5_000)
    assert "config file not found" in page.banner.text() and page.banner.isVisible()
    assert not page.start_button.isEnabled()


def test_preflight_lists_a_missing_images_folder(qtbot, page):
    retype(qtbot, page.form.editor("data.train.images"), "no_such_folder")
    settle(qtbot, page)
    rows = page.preflight_view.rows()
    errors = [(item, msg) for level, item, msg in rows if level == "error"]
    assert any(item == "data.train" and "images folder not found" in msg for item, msg in errors), rows
    assert "error" in page.preflight_view.summary.text()
    assert not page.start_button.isEnabled()

    page.form.rows["data.train.images"].line.clear()
    page.form.rows["data.train.images"].line.textEdited.emit("")
    settle(qtbot, page)
    assert page.start_button.isEnabled()
    # no val set: a warning, not an error
    page.form.boxes["data.val"].setChecked(False)
    assert "val:" in page.yaml.text() and yaml.safe_load(page.yaml.text())["data"]["val"] is None
    settle(qtbot, page)
    assert any(level == "warning" and item == "data.val" for level, item, _ in page.preflight_view.rows())
    assert page.start_button.isEnabled()
    page.form.boxes["data.val"].setChecked(True)  # ticking it again brings the set back
    assert yaml.safe_load(page.yaml.text())["data"]["val"]["ann"] == "../datasets/demo/annotations/val.json"


def test_start_saves_and_emits_the_path(qtbot, page):
    retype(qtbot, page.form.editor("train.epochs"), "3")
    settle(qtbot, page)
    assert page.is_dirty()
    with qtbot.waitSignal(page.start_requested, timeout=5_000) as sig:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    path = sig.args[0]
    assert Path(path) == page.current_path
    saved = yaml.safe_load(Path(path).read_text())
    assert saved["train"]["epochs"] == 3
    assert not page.is_dirty() and page.state_label.text() == "saved"
    from studio.core.config.loader import load_config

    assert load_config(path).train.epochs == 3


def test_new_from_dataset_writes_and_opens_a_config(qtbot, page, workspace):
    ann = workspace.folder("datasets") / "demo" / "annotations" / "train.json"
    out = workspace.folder("configs") / "fresh.yaml"
    page.new_from_dataset(ann, None, out)
    qtbot.waitUntil(lambda: page.current_path == out.resolve(), timeout=WAIT)
    settle(qtbot, page)
    assert out.is_file() and page.picker.currentText() == "fresh.yaml"
    assert not page.form.section_enabled("data.val")
    assert any(level == "warning" and item == "data.val" for level, item, _ in page.preflight_view.rows())


def test_another_workspace_replaces_the_open_config(qtbot, page, workspace, tmp_path):
    other = Workspace.create(tmp_path / "other", "Other")
    shutil.copy(workspace.folder("configs") / "demo.yaml", other.folder("configs") / "b.yaml")
    (other.folder("configs") / "a.yaml").write_text("model: {arch: seg_lite}\n")
    page.set_workspace(other)  # shown: its first config opens at once
    assert page.current_path == (other.folder("configs") / "a.yaml").resolve()
    assert [page.picker.itemText(i) for i in range(page.picker.count())] == ["a.yaml", "b.yaml"]
    settle(qtbot, page)
    assert page.errors == {"data": "Field required"}
    assert "data: Field required" in page.banner.text() and page.banner.isVisible(), "no field for a whole section"
    assert not page.start_button.isEnabled()


def test_preflight_report_is_reused_while_only_other_keys_change(qtbot, page):
    first = page.preflight
    retype(qtbot, page.form.editor("train.lr"), "0.005")
    settle(qtbot, page)
    again = page.preflight
    assert again is not first and again.report.train is first.report.train, "no second parse of the data"
    assert again.report.facts is first.report.facts and again.report.budget is not first.report.budget
    assert page.config.data.image_size != 160
    retype(qtbot, page.form.editor("data.image_size"), "160")
    settle(qtbot, page)
    assert page.preflight.report is not first.report
    assert page.preflight.memory.bytes < first.memory.bytes


def _break(qtbot, page) -> str:
    broken = page.yaml.text().replace("train:\n", "train: [\n")
    page.yaml.edit.setPlainText(broken)
    qtbot.waitUntil(lambda: page.yaml.error is not None, timeout=5_000)
    return broken


def test_the_form_stays_usable_and_never_overwrites_the_yaml_being_fixed(qtbot, page):
    page.window().activateWindow()
    page.yaml.edit.setFocus()
    page.yaml.edit.selectAll()  # what made typing replace the whole YAML: the focus stayed there
    broken = _break(qtbot, page)
    line = page.form.editor("train.lr")
    assert page.form.isEnabled() and line.isEnabled()
    qtbot.mouseClick(line, Qt.MouseButton.LeftButton)
    assert line.hasFocus(), "a click in a field takes the focus"
    line.selectAll()
    qtbot.keyClicks(line, "0.0123")
    assert page.yaml.text() == broken, "typing in the form leaves the YAML alone"
    assert page.form.text_of("train.lr") == "0.0123" and page.state.pending == {"train.lr": 0.0123}
    assert "train.lr" in page.pending_label.text() and page.drop_button.isVisible()
    assert page.is_dirty() and not page.start_button.isEnabled()

    # the user fixes the YAML: it takes the form's edit
    page.yaml.edit.setPlainText(broken.replace("train: [\n", "train:\n"))
    qtbot.waitUntil(lambda: page.yaml.error is None, timeout=5_000)
    assert yaml.safe_load(page.yaml.text())["train"]["lr"] == 0.0123
    assert not page.pending_bar.isVisible() and page.state.pending == {}
    settle(qtbot, page)
    assert page.start_button.isEnabled()


def test_the_broken_yaml_can_be_replaced_with_the_form_and_that_undone(qtbot, page):
    broken = _break(qtbot, page)
    retype(qtbot, page.form.editor("train.epochs"), "11")
    assert page.yaml.text() == broken
    qtbot.mouseClick(page.replace_button, Qt.MouseButton.LeftButton)
    assert page.yaml.error is None and yaml.safe_load(page.yaml.text())["train"]["epochs"] == 11
    assert not page.pending_bar.isVisible()
    page.yaml.edit.undo()  # one undo step: the broken text is back
    assert page.yaml.text() == broken
    qtbot.waitUntil(lambda: page.yaml.error is not None, timeout=5_000)
    retype(qtbot, page.form.editor("train.epochs"), "12")
    qtbot.mouseClick(page.drop_button, Qt.MouseButton.LeftButton)
    assert page.state.pending == {} and page.form.text_of("train.epochs") != "12"
    assert page.yaml.text() == broken


def test_a_preset_shows_what_it_changes_and_can_be_undone(qtbot, page):
    original, own = page.yaml.text(), yaml.safe_load(page.yaml.text())
    qtbot.mouseClick(page.preset_buttons["GPU accurate"], Qt.MouseButton.LeftButton)
    d = page.preset_dialog
    assert d is not None and d.isVisible()
    rows = {key: (now, after) for key, now, after in d.rows()}
    assert rows["model.arch"] == ("seg_fast", "maskrcnn_resnet50_fpn_v2")
    assert rows["data.image_size"] == (str(own["data"]["image_size"]), "800")
    assert not any(k.startswith("data.train") for k in rows), "paths kept"
    assert page.yaml.text() == original, "nothing changes before Apply"
    d.reject()
    assert page.yaml.text() == original and page.preset_dialog is None

    qtbot.mouseClick(page.preset_buttons["GPU accurate"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.preset_dialog.apply_button, Qt.MouseButton.LeftButton)
    assert page.form.text_of("model.arch") == "maskrcnn_resnet50_fpn_v2"
    assert page.undo_preset_button.isVisible() and "GPU accurate" in page.preset_note.text()
    qtbot.mouseClick(page.undo_preset_button, Qt.MouseButton.LeftButton)
    assert page.yaml.text() == original and page.own == own, "the file exactly as it was"
    assert page.form.text_of("model.arch") == "seg_fast" and not page.undo_preset_button.isVisible()
    assert not page.is_dirty()

    page.apply_preset("CPU quick")
    retype(qtbot, page.form.editor("train.lr"), "0.003")
    assert not page.undo_preset_button.isVisible(), "edited since: the preset is no longer one step back"


def test_unsaved_changes_offer_save_discard_and_cancel(qtbot, page, workspace, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from studio.gui.config import page as page_module

    other = workspace.folder("configs") / "other.yaml"
    other.write_text(page.current_path.read_text())
    page.refresh_configs()
    asked = []
    buttons = QMessageBox.StandardButton

    def question(parent, title, text, shown, default):
        asked.append(shown)
        return answer[0]

    monkeypatch.setattr(page_module.QMessageBox, "question", question)
    answer = [buttons.Cancel]
    retype(qtbot, page.form.editor("train.epochs"), "5")
    page._on_picked(page.picker.findText("other.yaml"))
    assert asked and asked[-1] == buttons.Save | buttons.Discard | buttons.Cancel
    assert page.current_path.name == "demo.yaml" and page.is_dirty(), "Cancel: nothing happens"
    answer[0] = buttons.Save
    page._on_picked(page.picker.findText("other.yaml"))
    assert page.current_path.name == "other.yaml"
    assert yaml.safe_load((workspace.folder("configs") / "demo.yaml").read_text())["train"]["epochs"] == 5, "saved"
    retype(qtbot, page.form.editor("train.epochs"), "6")
    answer[0] = buttons.Discard
    page._on_picked(page.picker.findText("demo.yaml"))
    assert page.current_path.name == "demo.yaml"
    assert yaml.safe_load(other.read_text())["train"]["epochs"] != 6, "discarded"


def test_the_tooltip_names_one_default_the_one_the_highlight_compares_with(qtbot, page):
    default = yaml.safe_load(page.yaml.text())["train"]["epochs"]  # config init writes the family's default
    retype(qtbot, page.form.editor("train.epochs"), str(default + 1))
    assert page.form.is_highlighted("train.epochs")
    tip = page.form.rows["train.epochs"].label.toolTip()
    assert f"Differs from the default: {default}" in tip
    defaults = [line for line in tip.splitlines() if line.startswith("Default:")]
    assert defaults == [f"Default: {default}"], tip
    assert page.form.editor("train.epochs").placeholderText().startswith(f"default {default}")


def test_edit_commands_undo_the_yaml_and_form_edits(qtbot, page):
    cmds = page.commands()
    assert not cmds["save"].enabled and cmds["select_all"].enabled
    before = page.yaml.text()
    retype(qtbot, page.form.editor("train.epochs"), "4")
    cmds = page.commands()
    assert cmds["save"].enabled and cmds["undo"].enabled
    cmds["undo"].run()
    assert page.yaml.text() == before
    qtbot.waitUntil(lambda: page.form.text_of("train.epochs") == str(yaml.safe_load(before)["train"]["epochs"]))
    assert page.commands()["redo"].enabled
