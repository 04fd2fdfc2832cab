"""Pretrained torchvision backbones for seg_fast / det_fast: loading ImageNet weights from the hub cache,
frozen stages, the lower backbone learning rate, the offline message, export and feature maps.

No download is possible here: the tests save torchvision state dicts into a temporary hub cache under the
file names torchvision gives them.
"""

from __future__ import annotations

from typing import get_args
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torchvision import models as tvm

from studio.core.config.schema import BackboneName, Config, ModelConfig, TrainConfig
from studio.core.data.classes import ClassMap
from studio.core.explain.jobs import featmap_job
from studio.core.export.report import box_compared
from studio.core.inference.predictor import Predictor
from studio.core.models import ModelError, WeightsError, build_model, check_weights, get_arch, hub
from studio.core.models.fast.backbones import BACKBONES, NUM_STAGES, backbone_choices
from studio.core.training.optim import build_optimizer
from studio.core.training.schedule import LRSchedule

RESNET18_FILE = "resnet18-f37072fd.pth"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty torch hub cache of its own (TORCH_HOME), where no download can succeed."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def offline(*args, **kwargs):
        raise URLError("no network in the test")

    monkeypatch.setattr(hub, "urlopen", offline)
    folder = hub.checkpoints_dir()
    assert folder == tmp_path / "torch_home" / "hub" / "checkpoints"
    return folder


@pytest.fixture
def resnet18_file(hub_cache):
    """A resnet18 ImageNet-classifier state dict (random, seeded) saved where torchvision caches it."""
    torch.manual_seed(123)
    sd = tvm.resnet18().state_dict()
    hub_cache.mkdir(parents=True)
    torch.save(sd, hub_cache / RESNET18_FILE)
    return sd


def random_batch(n: int = 2, size: int = 64, masks: bool = True):
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    targets = []
    for _ in range(n):
        boxes = torch.tensor([[8.0, 10.0, 40.0, 50.0], [30.0, 5.0, 60.0, 30.0]])
        t = {"boxes": boxes, "labels": torch.tensor([1, 2])}
        if masks:
            m = torch.zeros(2, size, size, dtype=torch.uint8)
            for i, b in enumerate(boxes.long().tolist()):
                m[i, b[1] : b[3], b[0] : b[2]] = 1
            t["masks"] = m
        targets.append(t)
    return images, targets


# ---------------------------------------------------------------------------------- the choices
def test_the_schema_offers_exactly_the_zoos_backbones():
    names = [name for name, _ in backbone_choices()]
    assert list(get_args(BackboneName)) == names
    assert names[0] == "csp" and set(names[1:]) == set(BACKBONES)
    assert get_arch("seg_fast").backbones == get_arch("det_fast").backbones == backbone_choices()
    assert ModelConfig(arch="seg_fast").backbone is None
    assert ModelConfig(arch="seg_fast", freeze_backbone="2").freeze_backbone == 2
    with pytest.raises(ValueError, match="freeze_backbone"):
        ModelConfig(arch="seg_fast", freeze_backbone=7)
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(arch="seg_fast", backbone="vgg16")


@pytest.mark.parametrize("name", list(BACKBONES))
def test_each_backbone_gives_strides_8_16_32_with_the_declared_channels(name):
    model = build_model("det_fast", 2, image_size=64, backbone=name).eval()
    x = torch.zeros(1, 3, 64, 96)
    with torch.no_grad():
        taps = model.backbone.body(x)
        out = model.backbone(x)
    assert [tuple(t.shape[1:]) for t in taps.values()] == [
        (c, 64 // s, 96 // s) for c, s in zip(BACKBONES[name].channels, (8, 16, 32))
    ]
    assert [t.shape[1] for t in out.values()] == list(model.neck.out_channels) == [64, 128, 256]
    assert len(model.backbone.stages()) == NUM_STAGES


def test_backbone_settings_that_do_not_fit_the_architecture_are_refused():
    with pytest.raises(ModelError, match="no backbone choice") as e:
        build_model("det_lite", 2, image_size=96, backbone="resnet18")
    assert e.value.item == "model.backbone"
    with pytest.raises(ModelError, match="pick one of csp, resnet18") as e:
        build_model("det_fast", 2, image_size=96, backbone="vgg16")
    with pytest.raises(ModelError, match="no backbone stages") as e:
        build_model("det_lite", 2, image_size=96, freeze_backbone="all")
    assert e.value.item == "model.freeze_backbone"
    with pytest.raises(WeightsError, match="pick a model.backbone with ImageNet weights") as e:
        check_weights("seg_fast", "DEFAULT")
    assert "resnet18" in str(e.value)


# ---------------------------------------------------------------------------------- loading
def test_imagenet_weights_load_into_the_backbone_and_the_head_is_new(resnet18_file):
    lines: list[str] = []
    model = build_model("seg_fast", 2, image_size=64, backbone="resnet18", weights="DEFAULT", log=lines.append)
    msd = model.state_dict()
    for k, v in resnet18_file.items():
        if k.startswith("fc."):
            continue
        assert msd[f"backbone.body.{k}"].shape == v.shape, k
        assert torch.equal(msd[f"backbone.body.{k}"], v), k
    report = model.studio_weights
    assert report.key_mapping.startswith("backbone-only")
    assert sorted(report.unexpected) == ["backbone.body.fc.bias", "backbone.body.fc.weight"]
    assert not report.skipped_shape
    new = [k for k in msd if k.startswith(("head.", "neck.", "protos.", "backbone.adapters."))]
    assert new and all(k in report.missing or k.endswith("num_batches_tracked") for k in new)
    assert not any(k.startswith("backbone.body.") for k in report.missing)
    assert "ResNet18_Weights.IMAGENET1K_V1" in str(model.studio_weights.source)
    assert any("loaded" in line for line in lines)
    # the other spellings of the same weights name the same file
    for text in ("IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1", "imagenet1k_v1"):
        assert check_weights("seg_fast", text, backbone="resnet18").path.name == RESNET18_FILE
    with pytest.raises(WeightsError, match="weights of another architecture"):
        check_weights("seg_fast", "ResNet34_Weights.DEFAULT", backbone="resnet18")


def test_a_missing_weights_file_names_the_file_and_the_folder(hub_cache):
    with pytest.raises(WeightsError) as e:
        build_model("det_fast", 2, image_size=64, backbone="resnet18", weights="DEFAULT")
    text = str(e.value)
    assert "not on this computer" in text and "no network in the test" in text
    assert f"save it as {RESNET18_FILE} in {hub_cache}" in text
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in text


def test_the_cli_exits_2_with_the_offline_message(hub_cache, demo, tmp_path, capsys):
    from studio.cli import main
    from studio.core.config.init import init_config

    cfg = tmp_path / "cfg.yaml"
    init_config(
        demo["train"].annotations,
        cfg,
        arch="seg_fast",
        overrides={
            "model": {"backbone": "resnet18", "weights": "DEFAULT"},
            "data": {"image_size": 64, "workers": 0},
            "train": {"device": "cpu", "epochs": 1},
        },
    )
    code = main(["train", str(cfg), "--work-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert RESNET18_FILE in err and str(hub_cache) in err


# ---------------------------------------------------------------------------------- freezing
def _snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def _train_steps(model, steps: int = 2, masks: bool = True) -> None:
    opt = build_optimizer(model, TrainConfig(lr=0.05, warmup_iters=0))
    model.train()
    images, targets = random_batch(masks=masks)
    for _ in range(steps):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize(
    ("backbone", "freeze", "frozen", "trained"),
    [
        (
            "resnet18",
            2,
            ("backbone.body.conv1.", "backbone.body.bn1.", "backbone.body.layer1."),
            "backbone.body.layer2.",
        ),
        ("csp", 1, ("backbone.stem.",), "backbone.stage1."),
        ("efficientnet_b0", "all", ("backbone.body.",), "backbone.adapters."),
    ],
)
def test_frozen_stages_do_not_change_in_training_and_the_others_do(backbone, freeze, frozen, trained):
    torch.manual_seed(0)
    model = build_model("seg_fast", 2, image_size=64, backbone=backbone, freeze_backbone=freeze)
    before = _snapshot(model)
    _train_steps(model)
    after = _snapshot(model)
    frozen_keys = [k for k in before if k.startswith(frozen)]
    trained_keys = [k for k in before if k.startswith(trained)]
    assert frozen_keys and trained_keys
    # parameters and BatchNorm statistics of the frozen stages: unchanged
    assert [k for k in frozen_keys if not torch.equal(before[k], after[k])] == []
    assert any(k.endswith("running_mean") for k in frozen_keys)
    # the next stage, its BatchNorm statistics included, and the head did train
    assert any(not torch.equal(before[k], after[k]) for k in trained_keys if k.endswith("weight"))
    assert any(not torch.equal(before[k], after[k]) for k in trained_keys if k.endswith("running_mean"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("head."))
    named = dict(model.named_parameters())
    assert not any(named[k].requires_grad for k in frozen_keys if k in named)


# ---------------------------------------------------------------------------------- learning rate
def test_a_pretrained_backbone_trains_at_a_tenth_of_the_lr_through_the_schedule(resnet18_file):
    model = build_model("det_fast", 2, image_size=64, backbone="resnet18", weights="DEFAULT", freeze_backbone=1)
    assert model.studio_pretrained_backbone == "backbone.body."
    cfg = TrainConfig(lr=0.02)
    opt = build_optimizer(model, cfg)
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs[0] == pytest.approx(0.02) and lrs[1] == pytest.approx(0.02)
    assert lrs[2:] == [pytest.approx(0.002)] * 2
    body = {id(p) for n, p in model.named_parameters() if n.startswith("backbone.body.") and p.requires_grad}
    in_low = {id(p) for g in opt.param_groups[2:] for p in g["params"]}
    assert in_low == body
    # warm-up and decay scale each group from its own peak: the ratio holds
    schedule = LRSchedule("cosine", total_iters=100, warmup_iters=10)
    for it in (3, 50):
        schedule.apply(opt, lrs, it)
        now = [g["lr"] for g in opt.param_groups]
        assert now[2] / now[0] == pytest.approx(0.1)
    # from scratch (no weights) every parameter trains at the full rate
    scratch = build_model("det_fast", 2, image_size=64, backbone="resnet18")
    assert scratch.studio_pretrained_backbone is None
    assert {g["lr"] for g in build_optimizer(scratch, cfg).param_groups} == {0.02}


# ---------------------------------------------------------------------------------- export and explain
def _checkpoint(path, demo_split, backbone: str, size: int = 64):
    from studio.core import checkpoint as ckpt_io
    from studio.core.config.init import init_config
    from studio.core.dataset.model import Dataset

    cfg = init_config(
        demo_split.annotations,
        path.with_suffix(".yaml"),
        arch="seg_fast",
        overrides={
            "model": {"backbone": backbone, "score_thr": 0.001},
            "data": {"image_size": size, "workers": 0},
            "train": {"device": "cpu"},
        },
    )
    assert isinstance(cfg, Config) and cfg.model.backbone == backbone
    cmap = ClassMap.from_dataset(Dataset.load(demo_split.annotations))
    torch.manual_seed(0)
    model = build_model("seg_fast", cmap.num_classes, image_size=size, backbone=backbone)
    payload = {
        "arch": "seg_fast",
        "task": "segment",
        "classes": cmap.to_dict(),
        "config": cfg.model_dump(mode="json"),
        "model": model.state_dict(),
        "ema": None,
        "epoch": 0,
        "best_metric": None,
        "finished": False,
        "partial": False,
    }
    return ckpt_io.save(path, payload)


def test_a_checkpoint_with_a_torchvision_backbone_predicts_and_shows_its_feature_maps(demo, tmp_path):
    ck = _checkpoint(tmp_path / "r18.pt", demo["train"], "regnet_y_400mf")
    pred = Predictor.from_checkpoint(ck, device="cpu", score_thr=0.0)
    assert pred.model.backbone.name == "regnet_y_400mf"
    img = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    res = featmap_job(pred, img, ["backbone", "neck"], topk=2)
    assert [n.rsplit(".", 1)[-1] for n in res.layers.shortcuts["backbone"]] == ["block2", "block3", "block4"]
    assert all(n.startswith("backbone.body.") for n in res.layers.shortcuts["backbone"])
    assert len(res.layers.shortcuts["neck"]) == 3
    assert all(np.isfinite(fm.maps).all() and fm.maps.shape[1:] == (48, 80) for fm in res.maps)


@pytest.mark.slow
def test_onnx_export_of_a_resnet18_seg_fast_matches_torch(demo, tmp_path):
    pytest.importorskip("onnxruntime")
    from studio import api

    ck = _checkpoint(tmp_path / "r18.pt", demo["train"], "resnet18")
    res = api.export(ck, "onnx", out=tmp_path / "export", n_verify=2, verify_ann=demo["val"].annotations)
    assert res.model.is_file()
    report = res.report
    assert report["verified"] and report["n_verify_images"] == 2
    assert box_compared(report["box_match"]) and report["box_match"]["match_rate"] >= 0.9, report["box_match"]


# ---------------------------------------------------------------------------------- config init
def test_config_init_writes_the_backbone_fields_and_says_where_the_weights_go(hub_cache, demo, tmp_path, capsys):
    import yaml

    from studio.cli import main

    out = tmp_path / "r18.yaml"
    args = ["config", "init", "--train", str(demo["train"].annotations), "-o", str(out)]
    assert main([*args, "--backbone", "resnet18"]) == 0
    printed = capsys.readouterr().out
    model = yaml.safe_load(out.read_text())["model"]
    assert model["backbone"] == "resnet18" and model["weights"] == "DEFAULT" and model["freeze_backbone"] == "none"
    assert "resnet18 backbone" in printed and f"save it as {RESNET18_FILE} in {hub_cache}" in printed
    # the default stays the from-scratch CSP; cached ImageNet weights are suggested
    plain = tmp_path / "plain.yaml"
    hub_cache.mkdir(parents=True)
    torch.save(tvm.resnet18().state_dict(), hub_cache / RESNET18_FILE)
    assert main([*args[:-1], str(plain)]) == 0
    printed = capsys.readouterr().out
    model = yaml.safe_load(plain.read_text())["model"]
    assert model["backbone"] is None and model["weights"] is None
    assert "ImageNet weights of resnet18 are in the torch hub cache: --backbone resnet18" in printed
    assert main([*args, "--backbone", "resnet18", "--arch", "det_lite"]) == 2
    assert "det_lite has no backbone choice" in capsys.readouterr().err


def test_the_preflight_checks_the_backbone_settings(hub_cache, demo, tmp_path):
    from studio.core.config.init import init_config
    from studio.core.training.preflight import preflight

    cfg = init_config(
        demo["train"].annotations, tmp_path / "c.yaml", arch="det_fast", overrides={"train": {"device": "cpu"}}
    )

    def findings(**model) -> dict[str, tuple[str, str]]:
        rep = preflight(cfg.model_copy(update={"model": cfg.model.model_copy(update=model)}))
        keys = ("model.backbone", "model.freeze_backbone", "model.weights")
        return {f.item: (f.level, f.message) for f in rep.findings if f.item in keys}

    assert findings() == {}
    scratch = findings(backbone="resnet18", freeze_backbone=2)
    assert scratch["model.freeze_backbone"][0] == "warning" and "random weights" in scratch["model.freeze_backbone"][1]
    assert scratch["model.backbone"][0] == "info"
    offline = findings(backbone="resnet18", weights="DEFAULT")
    assert offline["model.weights"][0] == "error" and RESNET18_FILE in offline["model.weights"][1]
    wrong = findings(arch="det_lite", backbone="resnet18")
    assert wrong["model.backbone"][0] == "error" and "no backbone choice" in wrong["model.backbone"][1]


@pytest.mark.slow
def test_the_torch_weights_plugin_rebuilds_the_backbone_it_exported(repo_plugins, demo, tmp_path):
    from studio import api

    ck = _checkpoint(tmp_path / "b0.pt", demo["train"], "efficientnet_b0")
    res = api.export(ck, "torch-weights", out=tmp_path / "tw", n_verify=1, verify_ann=demo["val"].annotations)
    saved = torch.load(res.model, map_location="cpu", weights_only=True)
    assert saved["backbone"] == "efficientnet_b0"
    bm = res.report["box_match"]
    assert res.report["verified"] and box_compared(bm) and bm["match_rate"] == 1.0, bm


def test_studio_models_lists_the_backbone_choices(capsys):
    from studio.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    after = lines[next(i for i, line in enumerate(lines) if line.startswith("seg_fast ")) + 1]
    assert "model.backbone: csp (default), ImageNet weights: resnet18, resnet34, resnet50" in after
