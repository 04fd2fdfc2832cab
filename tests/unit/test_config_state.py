"""The Config page's state without Qt: opening, YAML <-> form sync, validation per field, the base diff,
presets, the pre-flight plan and when Start is allowed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from studio.core.config.form import ARCH_PATH, field_specs
from studio.gui.config.jobs import PreflightResult
from studio.gui.config.state import INVALID, REUSE, RUN, ConfigState, dump_yaml

ARCHS = [
    SimpleNamespace(name="seg_fast", description="fast segmenter", task="segment", family="fast", cpu_friendly=True),
    SimpleNamespace(name="det_fast", description="fast detector", task="detect", family="fast", cpu_friendly=True),
]


@pytest.fixture(scope="module")
def spec():
    """The form's fields with a two-model zoo (no torch import)."""
    return field_specs(archs=ARCHS)


@pytest.fixture
def cfg_path(tmp_path, demo) -> Path:
    from studio.core.config.init import init_config

    path = tmp_path / "configs" / "demo.yaml"
    path.parent.mkdir()
    init_config(
        demo["train"].annotations,
        path,
        val_ann=demo["val"].annotations,
        arch="seg_fast",
        overrides={"train": {"device": "cpu"}},
    )
    return path


def report(ok: bool = True, has_masks: bool | None = True) -> PreflightResult:
    return PreflightResult(SimpleNamespace(ok=ok), {}, None, None, None, has_masks)


def opened(path: Path, spec=None) -> ConfigState:
    """A state with ``path`` open and parsed, as the page does it (the editor parses the text at once)."""
    st = ConfigState()
    if spec is not None:
        st.set_spec(spec)
    assert st.open(path) is None
    assert st.yaml_parsed(yaml.safe_load(st.text))
    st.set_text(st.text)
    return st


def checked(st: ConfigState, ok: bool = True) -> None:
    """The pre-flight worker's report for the config as it is now."""
    assert st.preflight_plan() == RUN
    st.preflight_done(report(ok), st.config)


def test_nothing_open():
    st = ConfigState()
    assert st.current_path is None and st.own is None and not st.can_start()
    assert st.start_hint(checking=False) == "Open or create a config"
    assert st.yaml_title() == "YAML" and st.save_status() == "" and not st.dirty
    assert not st.form_edited("train.lr", 0.1) and not st.apply_preset("CPU quick") and st.own is None
    assert not st.yaml_parsed({"train": {}}), "no file: a parse changes nothing"
    assert st.save("x") == "no config is open"


def test_open_validate_preflight_then_start(cfg_path, spec):
    st = opened(cfg_path, spec)
    assert st.current_path == cfg_path.resolve() and st.saved_text == cfg_path.read_text()
    assert st.errors == {} and st.config is not None and st.config.train.device == "cpu"
    assert st.display["model"]["arch"] == "seg_fast" and not st.dirty and st.save_status() == "saved"
    assert st.yaml_title() == "YAML — demo.yaml"
    assert not st.can_start() and st.start_hint(checking=True) == "Checking…"
    assert st.preflight_plan() == RUN
    st.preflight_done(report(ok=False), st.config)
    assert not st.can_start() and st.start_hint(checking=False) == "Fix the pre-flight errors"
    st.preflight_done(report(ok=True), st.config)
    assert st.can_start() and st.start_hint(checking=False) == "Saves the config and starts"
    assert st.preflight_plan() == REUSE, "the report on hand is for this very config"
    assert st.start_hint(checking=True) == "Checking…"


def test_an_invalid_value_is_an_error_under_its_field_and_blocks_start(cfg_path, spec):
    st = opened(cfg_path, spec)
    checked(st)
    first = st.preflight
    assert st.form_edited("train.batch_size", "abc")
    assert "batch_size: abc" in st.text and yaml.safe_load(st.text)["train"]["batch_size"] == "abc"
    assert set(st.errors) == {"train.batch_size"} and "valid integer" in st.errors["train.batch_size"]
    assert st.config is None and not st.can_start()
    assert st.invalid_values() == "1 invalid value" and st.banner() is None, "a field shows it"
    assert st.preflight_plan() == INVALID and st.invalid_message() == "Fix the 1 invalid value to check the config"
    assert st.preflight is first, "the last report is kept for when the config is valid again"
    assert st.start_hint(checking=False) == "Fix the invalid values"
    assert st.set_text(st.text) and st.dirty and st.save_status() == "unsaved changes"

    st.form_edited("train.epochs", -3)
    assert st.invalid_values() == "2 invalid values"
    st.form_edited("train.epochs", 7)
    st.form_edited("train.batch_size", 3)
    assert st.errors == {} and st.config.train.batch_size == 3 and st.config.train.epochs == 7
    assert st.preflight_plan() == RUN, "a changed config is checked again"
    assert not st.can_start()


def test_yaml_edits_replace_the_own_dict_and_a_syntax_error_blocks_start(cfg_path, spec):
    st = opened(cfg_path, spec)
    checked(st)
    typed = st.text.replace("epochs: 300", "epochs: 7")
    assert st.set_text(typed) and st.dirty
    assert st.yaml_parsed(yaml.safe_load(typed))
    assert st.config.train.epochs == 7 and st.display["train"]["epochs"] == 7
    assert st.text == typed, "a YAML edit is never rewritten (comments survive)"

    st.yaml_invalid("YAML error at line 3, column 1: ...")
    assert not st.can_start() and st.start_hint(checking=False) == "Fix the YAML error"
    assert st.config.train.epochs == 7, "the last valid state stays"


def _broken(cfg_path, spec) -> tuple[ConfigState, str]:
    """A state whose text was edited (epochs 7) and then broken; returns it and the broken text."""
    st = opened(cfg_path, spec)
    fixed = st.text.replace("epochs: 300", "epochs: 7")
    st.set_text(fixed)
    st.yaml_parsed(yaml.safe_load(fixed))
    broken = fixed.replace("train:\n", "train: [\n")
    st.set_text(broken)
    st.yaml_invalid("YAML error at line 3, column 1: ...")
    return st, broken


def test_form_edits_while_the_yaml_is_broken_wait_and_are_merged_once_it_parses(cfg_path, spec):
    st, broken = _broken(cfg_path, spec)
    assert st.form_edited("train.epochs", 8) and st.form_edited("train.lr", 0.01)
    assert st.text == broken and st.yaml_error is not None, "typing in the form never replaces the YAML"
    assert st.pending == {"train.epochs": 8, "train.lr": 0.01}
    assert st.config.train.epochs == 8 and st.display["train"]["lr"] == 0.01, "the form validates its edits"
    assert "2 form changes (train.epochs, train.lr) wait for the YAML" in st.pending_note()
    assert not st.can_start()
    st.set_text(broken)
    assert st.dirty
    # the user fixes the YAML (and changes the batch there): the YAML takes the waiting edits
    assert "batch_size: 2\n" in broken
    fixed = broken.replace("train: [\n", "train:\n").replace("batch_size: 2\n", "batch_size: 6\n")
    st.set_text(fixed)
    assert st.yaml_parsed(yaml.safe_load(fixed))
    assert st.pending == {} and st.yaml_error is None
    own = yaml.safe_load(st.text)
    assert own["train"]["epochs"] == 8 and own["train"]["lr"] == 0.01 and own["train"]["batch_size"] == 6


def test_the_broken_yaml_can_be_replaced_by_the_form_or_the_form_edits_dropped(cfg_path, spec):
    st, broken = _broken(cfg_path, spec)
    assert not st.drop_pending(), "nothing waits"
    st.form_edited("train.epochs", 9)
    st.reset_key("train.seed")
    assert "train.seed" in st.pending
    assert st.drop_pending() and st.pending == {}
    assert st.config.train.epochs == 7 and st.own["train"]["seed"] is not None, "the last valid values"
    assert st.text == broken and st.yaml_error is not None

    st.form_edited("train.epochs", 9)
    assert st.replace_yaml_with_form()
    assert st.yaml_error is None and st.pending == {}
    assert st.text == dump_yaml(st.own) and yaml.safe_load(st.text)["train"]["epochs"] == 9
    assert not st.replace_yaml_with_form(), "the YAML parses: nothing to replace"


def test_a_base_config_merges_highlights_and_resets(cfg_path, spec):
    child = cfg_path.parent / "exp.yaml"
    base_batch = yaml.safe_load(cfg_path.read_text())["train"]["batch_size"]
    child.write_text(f"_base_: demo.yaml\ntrain:\n  epochs: 80\n  batch_size: {base_batch}\ndata:\n  image_size: 288\n")
    st = opened(child, spec)
    assert st.errors == {} and st.config.train.epochs == 80 and st.config.train.lr == 0.004, "inherited lr"
    assert st.yaml_title() == "YAML — exp.yaml, based on demo.yaml"
    differing = st.diff.differing()
    assert "train.epochs" in differing and "data.image_size" in differing
    assert "train.batch_size" not in differing, "the same value as the base"
    assert "Overrides demo.yaml: 300" in st.diff.describe("train.epochs")

    assert st.form_edited("train.lr", 0.001)
    assert yaml.safe_load(st.text)["train"]["lr"] == 0.001 and "train.lr" in st.diff.differing()
    assert st.reset_key("train.epochs") and st.display["train"]["epochs"] == 300
    assert "epochs" not in yaml.safe_load(st.text)["train"] and "train.epochs" not in st.diff.differing()
    assert not st.reset_key("train.epochs"), "nothing left to reset"

    diff = st.diff
    broken = st.text.replace("_base_: demo.yaml", "_base_: gone.yaml")
    st.set_text(broken)
    st.yaml_parsed(yaml.safe_load(broken))
    assert "_base_" in st.errors and "config file not found" in st.errors["_base_"]
    assert st.config is None and st.diff is diff, "no base to compare with: the diff shown stays"
    assert "<br>_base_: " in st.banner() and "gone.yaml: config file not found" in st.banner()
    assert st.yaml_title().endswith("based on gone.yaml")


def test_a_changed_base_file_is_read_again(cfg_path, spec):
    child = cfg_path.parent / "exp.yaml"
    child.write_text("_base_: demo.yaml\ntrain:\n  epochs: 80\n")
    st = opened(child, spec)
    assert st.config.train.lr == 0.004
    base = yaml.safe_load(cfg_path.read_text())
    base["train"]["lr"] = 0.003
    cfg_path.write_text(dump_yaml(base))
    st.form_edited("train.epochs", 81)
    assert st.config.train.lr == 0.003


def test_errors_without_a_field_go_to_the_banner(tmp_path, spec):
    path = tmp_path / "a.yaml"
    path.write_text("model: {arch: seg_fast}\n")
    st = ConfigState()
    assert st.open(path) is None
    st.yaml_parsed(yaml.safe_load(path.read_text()))
    assert st.errors == {"data": "Field required"}
    assert st.banner() == "data: Field required", "no field for a whole section (the form is not built yet)"
    st.set_spec(spec)
    assert st.unplaced_errors() == {"data": "Field required"}
    st.form_edited("train.lr", "x")
    assert "train.lr" in st.errors and "train.lr" not in st.unplaced_errors()
    assert ConfigState().unplaced_errors() == {}


def test_presets_follow_the_datasets_task(cfg_path, spec):
    st = opened(cfg_path, spec)
    assert st.has_masks(), "no report yet: the architecture's task (seg_fast segments)"
    st.apply_preset("GPU accurate")
    own = yaml.safe_load(st.text)
    assert own["model"]["arch"] == "maskrcnn_resnet50_fpn_v2" and own["data"]["image_size"] == 800
    assert own["data"]["val"]["ann"].endswith("val.json"), "paths kept"
    assert st.preset == "GPU accurate" and st.preset_note().startswith("Applied “GPU accurate”: ResNet-50")
    assert st.set_text(st.text) and st.dirty

    st.preflight_done(report(has_masks=False), st.config)  # the training set has boxes only
    assert not st.has_masks()
    st.apply_preset("CPU quick")
    assert st.display["model"]["arch"] == "det_fast" and st.config.train.time_limit == 1200


def test_the_arch_choice_decides_the_task_without_a_report(cfg_path, spec):
    st = opened(cfg_path, spec)
    st.form_edited(ARCH_PATH, "det_fast")
    assert st.arch_choice().task == "detect" and not st.has_masks()
    st.preflight_done(report(has_masks=None), st.config)  # the report could not read the set
    assert not st.has_masks()
    no_arch = replace(spec, fields=tuple(f for f in spec.fields if f.path != ARCH_PATH))
    st.set_spec(no_arch)
    assert st.arch_choice() is None and not st.has_masks()


def test_preflight_failures_and_cancellations(cfg_path, spec):
    st = opened(cfg_path, spec)
    checked(st)
    assert not st.preflight_failed("cancelled") and st.can_start(), "a cancelled check changes nothing"
    assert st.preflight_failed("boom") and st.preflight is None and not st.can_start()
    assert st.preflight_plan() == RUN


def test_save_writes_the_text_and_clears_dirty(cfg_path, spec):
    st = opened(cfg_path, spec)
    st.form_edited("train.epochs", 3)
    st.set_text(st.text)
    assert st.dirty
    assert st.save(st.text) is None
    assert yaml.safe_load(cfg_path.read_text())["train"]["epochs"] == 3
    assert st.set_text(st.text) and not st.dirty and st.save_status() == "saved"

    st.current_path = cfg_path / "demo.yaml"  # a file is in the way of the folder
    assert "cannot save" in st.save("x: 1\n") and st.saved_text != "x: 1\n"


def test_open_refuses_an_unreadable_file_and_keeps_the_open_one(cfg_path, spec):
    st = opened(cfg_path, spec)
    why = st.open(cfg_path.parent / "nope.yaml")
    assert "cannot read" in why and st.current_path == cfg_path.resolve() and st.config is not None


def test_close_and_workspace_decisions(cfg_path, spec, tmp_path):
    st = opened(cfg_path, spec)
    checked(st)
    st.form_edited("train.epochs", 5)
    assert st.set_text(st.text) and st.dirty
    other = cfg_path.parent / "other.yaml"
    assert st.config_list([other]) == [other, cfg_path.resolve()], "the open file stays listed"
    assert st.config_list([cfg_path.resolve()]) == [cfg_path.resolve()]
    assert not st.is_outside(tmp_path) and st.is_outside(tmp_path / "elsewhere")
    st.close()
    assert st.current_path is None and st.config is None and st.preflight is None and st.diff is None
    assert st.text == "" and not st.can_start() and not st.is_outside(tmp_path / "elsewhere")
    assert st.set_text("") and not st.dirty, "the dirty flag follows"


def test_a_file_with_the_old_score_threshold_key_edits_as_score_thr(cfg_path, spec):
    text = cfg_path.read_text()
    assert "score_thr: 0.05" in text  # what config init writes now
    cfg_path.write_text(text.replace("score_thr: 0.05", "score_threshold: 0.2"))
    st = opened(cfg_path, spec)
    assert st.errors == {} and st.config.model.score_thr == 0.2
    assert st.display["model"]["score_thr"] == 0.2 and "score_threshold" not in st.own["model"]
    assert list(st.own["model"]).index("score_thr") == list(yaml.safe_load(cfg_path.read_text())["model"]).index(
        "score_threshold"
    )  # in the old key's place
    assert st.form_edited("model.score_thr", 0.3) and st.config.model.score_thr == 0.3
    assert "score_thr: 0.3" in st.text and "score_threshold" not in st.text  # the form writes the new name


def test_a_preset_is_previewed_then_applied_then_undone_exactly(cfg_path, spec):
    st = opened(cfg_path, spec)
    commented = "# my notes\n" + st.text
    st.set_text(commented)
    st.yaml_parsed(yaml.safe_load(commented))
    own_before = yaml.safe_load(commented)
    changes = {c.key: (c.old, c.new) for c in st.preset_preview("GPU accurate")}
    assert changes["model.arch"] == ("seg_fast", "maskrcnn_resnet50_fpn_v2")
    assert changes["data.image_size"][1] == 800 and "data.train.ann" not in changes, "paths kept"
    assert st.own == own_before and st.text == commented, "a preview changes nothing"

    assert st.apply_preset("GPU accurate") and st.can_undo_preset()
    assert st.own["data"]["image_size"] == 800 and "# my notes" not in st.text
    assert st.undo_preset()
    assert st.own == own_before and st.text == commented, "the own dict and the text exactly as before"
    assert st.preset is None and not st.can_undo_preset() and not st.undo_preset()
    assert st.config.model.arch == "seg_fast"


def test_preset_undo_is_offered_only_while_nothing_else_changed(cfg_path, spec):
    st = opened(cfg_path, spec)
    st.apply_preset("CPU quick")
    st.set_text(st.text)
    assert st.can_undo_preset()
    st.form_edited("train.lr", 0.05)
    assert not st.can_undo_preset() and not st.undo_preset()
    assert st.preset == "CPU quick", "the note still names it"
    st.yaml_invalid("YAML error")
    assert not st.apply_preset("GPU balanced"), "no preset over a YAML being fixed"


def test_the_form_default_is_the_one_the_diff_compares_with(cfg_path, spec):
    from studio.core.config.diff import defaults_for
    from studio.core.config.form import schema_defaults

    st = opened(cfg_path, spec)
    family = st.arch_choice().family
    ref = st.reference_defaults()
    assert ref == defaults_for(family)
    st.form_edited("train.epochs", 5)
    assert ref["train"]["epochs"] != schema_defaults()["train"]["epochs"], "the family recipe sets its own"
    assert st.diff.describe("train.epochs") == f"Differs from the default: {ref['train']['epochs']}"
    child = cfg_path.parent / "exp.yaml"
    child.write_text("_base_: demo.yaml\ntrain:\n  epochs: 80\n")
    assert opened(child, spec).reference_defaults() is None, "a base: the diff names the base's values"
