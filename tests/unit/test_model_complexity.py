"""Parameters and FLOPs (torch's FlopCounterMode, multiply-add = 2): analytic values, the zoo, the cache, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from studio.core import checkpoint as ckpt_io
from studio.core.models import build_model, get_arch
from studio.core.models import complexity as cx


class TwoLayers(nn.Module):
    """A detector-shaped toy (a list of CHW images in): conv 3->8 (3x3, same size), then a linear 8->5 per pixel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, images):
        x = self.conv(images[0][None])  # (1, 8, H, W)
        return self.fc(x.flatten(2).transpose(1, 2))


def test_a_known_net_counts_two_flops_per_multiply_add():
    h = w = 16
    conv = 2 * (3 * 3 * 3) * 8 * h * w  # k*k*Cin multiply-adds per output value, 8*H*W outputs
    fc = 2 * 8 * 5 * h * w
    assert cx.count_flops(TwoLayers(), 16) == conv + fc
    assert cx.count_params(TwoLayers()) == (3 * 3 * 3 * 8 + 8) + (8 * 5 + 5)


def test_seg_fast_at_320_is_plausible_and_scales_with_the_pixels():
    model = build_model("seg_fast", 1, image_size=320)
    c = cx.model_complexity(model, 320)
    assert 2.5e6 < c.params < 4e6  # a ~3 M parameter model
    assert 1.0 < c.gflops < 6.0  # a YOLO-nano-class segmenter at 320 px: a few GFLOPs
    quarter = cx.count_flops(model, 160) / 1e9
    assert quarter == pytest.approx(c.gflops / 4, rel=0.02)  # convolutions: FLOPs follow the pixel count
    assert "M parameters" in c.describe() and "GFLOPs at 320x320" in c.describe()
    assert model.training is True  # built in training mode, counted in eval mode, given back as it was


def test_meta_device_parameters_equal_the_built_model():
    assert cx.arch_params("det_fast") == cx.count_params(build_model("det_fast", cx.ZOO_CLASSES, image_size=320))


def test_the_cache_counts_once_and_survives_a_broken_file(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return cx.Complexity(1234567, 2.5, 320)

    cache = cx.ComplexityCache(tmp_path / "c.json")
    assert cache.peek("seg_fast", 320) is None
    first, hit1 = cache.get("seg_fast", 320, compute)
    again, hit2 = cx.ComplexityCache(tmp_path / "c.json").get("seg_fast", 320, compute)
    assert (hit1, hit2) == (False, True) and first == again and len(calls) == 1
    (tmp_path / "c.json").write_text("{not json")
    _, hit3 = cx.ComplexityCache(tmp_path / "c.json").get("seg_fast", 320, compute)
    assert hit3 is False and len(calls) == 2 and json.loads((tmp_path / "c.json").read_text())


def test_studio_models_lists_counts_only_when_asked(tmp_path, monkeypatch, capsys):
    from studio.cli import main

    monkeypatch.setattr(cx, "default_cache", lambda: cx.ComplexityCache(tmp_path / "cache.json"))
    monkeypatch.setattr(cx, "list_archs", lambda: [get_arch("det_fast")])  # one model: the test stays fast
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "det_fast" in out and "studio models --flops" in out  # nothing counted yet: a hint, no numbers
    assert main(["models", "--flops"]) == 0
    counted = [line for line in capsys.readouterr().out.splitlines() if line.startswith("det_fast")]
    assert "3.01 M" in counted[0]
    assert main(["models"]) == 0  # from the cache now
    assert counted[0] in capsys.readouterr().out


def test_checkpoint_info_has_parameters_and_gflops(checkpoint_factory, capsys):
    from studio.cli import main

    path = checkpoint_factory("det_fast", 96)
    info = ckpt_io.describe(ckpt_io.load(path), complexity=True)
    model = build_model("det_fast", len(info.classes), image_size=96)
    assert info.params == cx.count_params(model)
    model.load_state_dict(ckpt_io.load(path).weights())
    assert info.gflops == pytest.approx(cx.count_flops(model, 96) / 1e9)
    assert ckpt_io.describe(ckpt_io.load(path)).params is None  # not counted unless asked
    assert main(["models", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "GFLOPs at 96x96" in out and "multiply-add = 2 FLOPs" in out


def test_flop_counter_is_torchs():
    assert cx.FlopCounterMode is torch.utils.flop_counter.FlopCounterMode
