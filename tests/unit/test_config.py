import pytest
import yaml

from studio.cli import main
from studio.core.config import load_config, merge, parse_override, save_config
from studio.core.config.loader import ConfigError

BASE = """
model: {arch: fasterrcnn_resnet50_fpn_v2, weights: null}
data:
  train: {ann: data/train.json}
  val: {ann: data/val.json, images: data/images}
  image_size: 640
train: {epochs: 12, lr: 0.02, optimizer: sgd}
"""


@pytest.fixture
def cfg_dir(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    sub = tmp_path / "exp"
    sub.mkdir()
    (sub / "cfg.yaml").write_text(
        "_base_: ../base.yaml\ntrain: {epochs: 24, optimizer: adamw, lr: 0.001}\ndata: {image_size: 320}\n"
    )
    return tmp_path


def test_base_merged_key_by_key_with_paths_relative_to_their_file(cfg_dir):
    c = load_config(cfg_dir / "exp" / "cfg.yaml")
    assert (c.train.epochs, c.train.optimizer, c.train.lr) == (24, "adamw", 0.001)
    assert c.data.image_size == 320 and c.model.arch == "fasterrcnn_resnet50_fpn_v2"
    assert c.data.train.ann == str(cfg_dir / "data" / "train.json")
    assert c.data.val.images == str(cfg_dir / "data" / "images")
    assert c.train.batch_size == 2  # schema default


def test_overrides_parse_yaml_values(cfg_dir):
    c = load_config(
        cfg_dir / "exp" / "cfg.yaml",
        ["train.batch_size=8", "train.time_limit=1.5h", "train.step_milestones=[0.5, 0.9]", "model.weights=DEFAULT"],
    )
    assert c.train.batch_size == 8 and c.train.time_limit == 5400.0
    assert c.train.step_milestones == [0.5, 0.9] and c.model.weights == "DEFAULT"
    assert parse_override("a.b=") == (["a", "b"], None)
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.epochs")


@pytest.mark.parametrize(
    "text,expect",
    [
        ("_base_: base.yaml\ntrain: {epoch: 3}\n", "train.epoch: unknown key"),
        ("_base_: base.yaml\ntrain: {lr: fast}\n", "train.lr: Input should be a valid number"),
        ("_base_: base.yaml\ntrain: {device: gpu}\n", "device must be auto, cpu, cuda or cuda:N"),
        ("_base_: base.yaml\ntrain: {device: cpu, amp: fp16}\n", "needs a CUDA device"),
        ("_base_: base.yaml\ntrain: {time_limit: soon}\n", "time_limit must be seconds"),
        ("model: {arch: x\n", "broken YAML at line"),
        ("_base_: missing.yaml\n", "config file not found"),
        ("_base_: c.yaml\n", "_base_ cycle"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("train: {epochs: 3}\n", "model: Field required"),
    ],
)
def test_bad_configs_name_file_and_key(cfg_dir, text, expect):
    p = cfg_dir / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert expect in str(e.value)
    assert "c.yaml" in str(e.value) or "missing.yaml" in str(e.value)


def test_save_and_reload_is_identical(cfg_dir, tmp_path):
    c = load_config(cfg_dir / "exp" / "cfg.yaml")
    save_config(c, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == c
    assert "_base_" not in (tmp_path / "resolved.yaml").read_text()


def test_merge_replaces_lists_and_merges_dicts():
    assert merge({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}}) == {"a": {"x": 1, "y": [3]}, "b": 1}


def test_cli_config_show(cfg_dir, capsys):
    assert main(["config", "show", str(cfg_dir / "exp" / "cfg.yaml"), "--set", "train.epochs=5"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["train"]["epochs"] == 5 and shown["train"]["optimizer"] == "adamw"
    assert main(["config", "show", str(cfg_dir / "exp" / "cfg.yaml"), "--set", "train.nope=1"]) == 2
    assert "train.nope: unknown key" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ renamed keys
OLD_NAME = """
model: {arch: det_fast, score_threshold: 0.3}
data:
  train: {ann: data/train.json}
"""


def test_a_config_with_the_old_score_threshold_key_loads_and_is_written_with_score_thr(tmp_path, capsys):
    old = tmp_path / "old.yaml"
    old.write_text(OLD_NAME)
    c = load_config(old)
    assert c.model.score_thr == 0.3
    assert load_config(old, ["model.score_threshold=0.4"]).model.score_thr == 0.4  # the old name in --set too
    assert load_config(old, ["model.score_thr=0.45"]).model.score_thr == 0.45
    save_config(c, tmp_path / "new.yaml")
    written = yaml.safe_load((tmp_path / "new.yaml").read_text())["model"]
    assert written["score_thr"] == 0.3 and "score_threshold" not in written
    assert main(["config", "show", str(old)]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)["model"]
    assert shown["score_thr"] == 0.3 and "score_threshold" not in shown
    # a base and its child spelling the key differently: one key, the child's value wins
    (tmp_path / "child_new.yaml").write_text("_base_: old.yaml\nmodel: {score_thr: 0.5}\n")
    assert load_config(tmp_path / "child_new.yaml").model.score_thr == 0.5
    (tmp_path / "child_old.yaml").write_text("_base_: new.yaml\nmodel: {score_threshold: 0.6}\n")
    assert load_config(tmp_path / "child_old.yaml").model.score_thr == 0.6


def test_both_names_of_a_renamed_key_in_one_file_are_refused(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(OLD_NAME.replace("score_threshold: 0.3", "score_threshold: 0.3, score_thr: 0.2"))
    with pytest.raises(ConfigError) as e:
        load_config(both)
    assert "both.yaml" in str(e.value) and "score_threshold is the old name of score_thr: keep one" in str(e.value)


def test_the_old_key_is_checked_like_the_new_one(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(OLD_NAME.replace("score_threshold: 0.3", "score_threshold: 3"))
    with pytest.raises(ConfigError, match="model.score_thr: Input should be less than or equal to 1"):
        load_config(bad)
