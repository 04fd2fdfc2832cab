"""Config values out of range, NaN and infinities are refused with a message naming the key and the range."""

from __future__ import annotations

import math

import pytest

from studio.cli import main
from studio.core.config import load_config
from studio.core.config.form import get_path, validate_raw
from studio.core.config.loader import ConfigError
from studio.core.config.schema import Config, _holds_floats

CFG = """
model: {arch: det_fast}
data:
  train: {ann: data/train.json}
train: {epochs: 2}
"""


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_text(CFG)
    return p


def _float_fields(model=Config, prefix="") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = info.annotation
        args = (ann, *getattr(ann, "__args__", ()))
        sub = next((a for a in args if isinstance(a, type) and hasattr(a, "model_fields")), None)
        if sub is not None:
            out += _float_fields(sub, path + ".")
        elif _holds_floats(ann):
            out.append(path)
    return out


def test_every_float_field_is_found():
    fields = _float_fields()
    assert {
        "train.lr",
        "train.momentum",
        "train.weight_decay",
        "train.grad_clip",
        "train.time_limit",
        "train.step_gamma",
        "train.step_milestones",
        "model.score_thr",
        "data.augment.hflip",
        "data.augment.scale_jitter",
    } <= set(fields)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", ".nan", ".inf"])
def test_no_float_field_takes_nan_or_infinity(cfg, bad):
    for path in _float_fields():
        if path == "data.augment.extra.p":  # a list of sections: set one with a bad p
            override, where = f"data.augment.extra=[{{name: grayscale, p: {bad}}}]", "data.augment.extra.0.p: "
        elif path in ("train.step_milestones", "data.augment.scale_jitter"):
            override, where = f"{path}=[0.5, {bad}]", f"{path}: "
        else:
            override, where = f"{path}={bad}", f"{path}: "
        with pytest.raises(ConfigError) as e:
            load_config(cfg, [override])
        msg = str(e.value)
        assert where in msg and ("finite number" in msg or "time_limit must be seconds" in msg), (path, msg)


def test_the_messages_name_the_key_and_the_range(cfg):
    cases = {
        "train.lr=nan": "train.lr: must be a finite number > 0 and <= 10, got nan",
        "train.lr=inf": "train.lr: must be a finite number > 0 and <= 10, got inf",
        "train.lr=0": "train.lr: Input should be greater than 0",
        "train.lr=-0.1": "train.lr: Input should be greater than 0",
        "train.weight_decay=nan": "train.weight_decay: must be a finite number >= 0 and <= 1, got nan",
        "train.momentum=inf": "train.momentum: must be a finite number >= 0 and < 1, got inf",
        "train.grad_clip=nan": "train.grad_clip: must be a finite number >= 0, got nan",
        "train.grad_clip=-1": "train.grad_clip: Input should be greater than or equal to 0",
        "train.time_limit=-5": "train.time_limit: Input should be greater than or equal to 0",
        "train.time_limit=.inf": "train.time_limit: must be a finite number >= 0, got inf",
        "model.score_thr=5": "model.score_thr: Input should be less than or equal to 1",
        "model.score_thr=nan": "model.score_thr: must be a finite number >= 0 and <= 1, got nan",
        "train.step_milestones=[0.5, 2]": (
            "train.step_milestones: step_milestones must be fractions of training between 0 and 1"
        ),
        "data.augment.scale_jitter=[0.5, .inf]": "data.augment.scale_jitter: item 2 must be a finite number, got inf",
    }
    for override, expect in cases.items():
        with pytest.raises(ConfigError) as e:
            load_config(cfg, [override])
        assert expect in str(e.value), (override, str(e.value))
        assert "Value error" not in str(e.value)


def test_good_values_still_load(cfg):
    c = load_config(
        cfg,
        [
            "train.lr=0.02",
            "train.grad_clip=0",
            "train.grad_clip=null",
            "train.time_limit=20m",
            "train.step_milestones=[0.5, 1]",
            "model.score_thr=0",
        ],
    )
    assert c.train.lr == 0.02 and c.train.grad_clip is None and c.train.time_limit == 1200
    assert load_config(cfg, ["train.grad_clip=0"]).train.grad_clip == 0


def test_the_form_shows_the_same_message(cfg):
    import yaml

    raw = yaml.safe_load(CFG)
    raw["train"]["lr"] = math.nan
    cfg_obj, errors = validate_raw(raw)
    assert cfg_obj is None and errors["train.lr"] == "must be a finite number > 0 and <= 10, got nan"
    assert get_path(raw, "train.lr") != get_path(raw, "train.lr")  # nan


@pytest.mark.parametrize(
    "override, expect",
    [
        ("train.lr=nan", "train.lr: must be a finite number > 0 and <= 10, got nan"),
        ("train.lr=-1", "train.lr: Input should be greater than 0"),
        ("model.score_thr=5", "model.score_thr"),
    ],
)
def test_config_show_exits_2_with_the_message(cfg, capsys, override, expect):
    code = main(["config", "show", str(cfg), "--set", override])
    out = capsys.readouterr()
    assert code == 2, out
    assert "Traceback" not in out.err + out.out
    errors = [ln for ln in out.err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and str(cfg) in errors[0] and expect in errors[0], out.err
