"""Which val set a checkpoint is scored on: one rule for `studio eval`, the Inspect page and export verification."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio.core.errors import StudioError
from studio.core.inference.val_set import val_ref, val_split


def _cfg(val):
    return SimpleNamespace(data=SimpleNamespace(val=val))


def test_the_given_file_else_the_configs_val_set():
    cfg = _cfg(SimpleNamespace(ann="cfg/val.json", images="cfg/images"))
    given = val_ref(cfg, "mine.json")
    assert (given.ann, given.images) == ("mine.json", None)  # the config's images folder goes with its own file
    assert val_ref(cfg, "mine.json", "imgs").images == "imgs"
    own = val_ref(cfg)
    assert (own.ann, own.images) == ("cfg/val.json", "cfg/images")
    assert val_ref(cfg, images="elsewhere").images == "elsewhere"  # the same file, its images somewhere else
    assert val_ref(_cfg(None)) is None and val_ref(None) is None


def test_no_val_set_says_what_the_caller_says(tmp_path):
    ck = SimpleNamespace(config=_cfg(None))  # a checkpoint whose config names no val set
    with pytest.raises(StudioError, match="name one with --ann") as e:
        val_split(ck, tmp_path / "best.pt", no_val_set="no val set; name one with --ann")
    assert e.value.file == str(tmp_path / "best.pt")
    with pytest.raises(StudioError, match="eval annotation file not found"):
        val_split(ck, tmp_path / "best.pt", tmp_path / "gone.json", no_val_set="-", name="eval")
