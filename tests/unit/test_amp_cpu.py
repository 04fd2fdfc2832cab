"""bf16 mixed precision on the CPU: the same autocast path as CUDA, so dtype and overflow bugs show in CI.

Every zoo architecture takes a bf16 training step with finite losses and gradients and predicts under
bf16; seg_fast trains through the Trainer with train.amp=bf16 and its loss goes down; eval runs under
autocast too; fp16, which needs CUDA, is refused on the CPU with a message that names the way out.
"""

from __future__ import annotations

import math

import pytest
import torch

from studio.core.amp import amp_refusal, autocast
from studio.core.config.init import init_config
from studio.core.config.loader import validate
from studio.core.data.preprocess import Meta
from studio.core.errors import StudioError
from studio.core.inference.predictor import run_batch
from studio.core.models import build_model, get_arch, list_archs
from studio.core.training import trainer as trainer_mod
from studio.core.training.events import IterationEnd
from studio.core.training.trainer import Trainer

K = 3
FAST_ARCHS = ["seg_fast", "det_lite"]  # one of each family in the default suite; every other one is slow
SLOW_ARCHS = [s.name for s in list_archs() if s.name not in FAST_ARCHS]


def _inputs(square: int | None, masks: bool):
    h, w = (square, square) if square else (96, 128)
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, h, w, generator=g) for _ in range(2)]
    targets = []
    for _ in range(2):
        t = {
            "boxes": torch.tensor([[10.0, 20.0, 60.0, 80.0], [30.0, 5.0, 100.0, 50.0]]),
            "labels": torch.tensor([1, K]),
        }
        if masks:
            m = torch.zeros(2, h, w, dtype=torch.uint8)
            m[0, 20:80, 10:60] = 1
            m[1, 5:50, 30:100] = 1
            t["masks"] = m
        targets.append(t)
    return images, targets


def _bf16_step_and_predict(name: str) -> None:
    spec = get_arch(name)
    torch.manual_seed(0)
    model = build_model(name, K, image_size=spec.default_size, score_thr=0.0, max_detections=20)
    square = 300 if name == "ssd300_vgg16" else 128 if spec.square_input else None
    images, targets = _inputs(square, masks=spec.task == "segment")
    convs: list[torch.dtype] = []
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda _m, _i, out: convs.append(out.dtype))
    model.train()
    with autocast(torch.device("cpu"), torch.bfloat16):
        losses = model(images, targets)
    assert convs == [torch.bfloat16], "autocast ran the convolutions in bf16"
    assert losses and all(math.isfinite(float(v.detach())) for v in losses.values()), losses
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad(), autocast(torch.device("cpu"), torch.bfloat16):
        out = model(images)
    assert len(out) == 2 and all(torch.isfinite(d["boxes"].float()).all() for d in out)


@pytest.mark.parametrize("name", FAST_ARCHS)
def test_a_bf16_training_step_on_the_cpu(name):
    _bf16_step_and_predict(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_ARCHS)
def test_a_bf16_training_step_on_the_cpu_every_architecture(name):
    _bf16_step_and_predict(name)


def test_a_bf16_training_step_of_the_plugin_architecture(repo_plugins):
    _bf16_step_and_predict("fcos_mobilenet_v3")


def test_the_fast_models_compute_their_losses_and_boxes_in_float32():
    model = build_model("seg_fast", K, image_size=128, score_thr=0.0)
    images, targets = _inputs(None, masks=True)
    with autocast(torch.device("cpu"), torch.bfloat16):
        losses = model(images, targets)
        model.eval()
        with torch.no_grad():
            out = model(images)
    assert {v.dtype for v in losses.values()} == {torch.float32}
    assert out[0]["boxes"].dtype == torch.float32 and out[0]["masks"].dtype == torch.float32


def _bf16_seg_fast_losses(demo, tmp_path, monkeypatch, epochs: int) -> list[float]:
    """The loss of every iteration of ``epochs`` epochs (5 iterations each) of seg_fast trained with bf16."""
    cfg = init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="seg_fast",
        overrides={
            "data": {"image_size": 64, "workers": 0, "cache": "ram", "augment": {"hflip": 0.0}},
            "train": {"batch_size": 2, "device": "cpu", "amp": "bf16", "epochs": epochs, "warmup_iters": 2},
        },
    )
    tr = Trainer(cfg, tmp_path / "run")
    tr.setup()
    tr._started = True
    assert tr.amp_dtype is torch.bfloat16 and not tr.scaler.is_enabled()
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 0.0)  # an event per iteration: every loss seen
    events: list[IterationEnd] = []
    tr.callbacks = [events.append]
    convs: list[torch.dtype] = []
    tr.model.backbone.stem.register_forward_hook(lambda _m, _i, out: convs.append(out.dtype))
    batches = list(tr.train_loader)
    for epoch in range(1, epochs + 1):
        tr.train_epoch(epoch, batches=batches)
    losses = [e.loss for e in events]
    assert len(losses) == epochs * len(batches) and all(math.isfinite(v) for v in losses)
    assert set(convs) == {torch.bfloat16}, "the model ran under bf16 autocast"
    return losses


def test_bf16_training_of_seg_fast_on_the_demo_set_gives_finite_falling_losses(demo, tmp_path, monkeypatch):
    losses = _bf16_seg_fast_losses(demo, tmp_path, monkeypatch, epochs=2)
    assert sum(losses[-3:]) < sum(losses[:3]), losses


@pytest.mark.slow
def test_bf16_training_of_seg_fast_on_the_demo_set_lowers_the_loss_over_30_steps(demo, tmp_path, monkeypatch):
    losses = _bf16_seg_fast_losses(demo, tmp_path, monkeypatch, epochs=6)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert len(losses) >= 30 and last < 0.85 * first, (first, last)


def test_eval_runs_under_autocast_on_the_cpu():
    model = build_model("det_fast", K, image_size=128, score_thr=0.0)
    seen: list[bool] = []
    model.register_forward_pre_hook(lambda _m, _a: seen.append(torch.is_autocast_enabled("cpu")))
    images, _ = _inputs(None, masks=False)
    metas = [Meta(96, 128, 1.0, 96, 128, 96, 128)] * 2
    cpu = torch.device("cpu")
    bf16 = run_batch(model, images, metas, cpu, False, torch.bfloat16)
    fp32 = run_batch(model, images, metas, cpu, False, None)
    assert seen == [True, False]
    assert len(bf16) == len(fp32) == 2 and bf16[0].boxes.dtype == fp32[0].boxes.dtype == "float32"


def test_bf16_is_accepted_on_the_cpu_and_fp16_refused_with_the_way_out(demo, tmp_path):
    base = {"model": {"arch": "seg_fast"}, "data": {"train": {"ann": str(demo["train"].annotations)}}}
    assert validate({**base, "train": {"device": "cpu", "amp": "bf16"}}).train.amp == "bf16"
    with pytest.raises(StudioError, match=r"train.amp=fp16 needs a CUDA device.*bf16 works on the CPU"):
        validate({**base, "train": {"device": "cpu", "amp": "fp16"}})
    assert amp_refusal("bf16", "cpu") is None and amp_refusal("fp16", "cuda") is None
    assert "set train.amp=bf16" in amp_refusal("fp16", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="device auto is a GPU here")
def test_fp16_with_device_auto_on_a_cpu_machine_is_refused_at_setup(demo, tmp_path):
    cfg = init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="seg_fast",
        overrides={"data": {"image_size": 64, "workers": 0}, "train": {"device": "auto", "amp": "fp16"}},
    )
    with pytest.raises(StudioError) as e:
        Trainer(cfg, tmp_path / "run").setup()
    assert "train.amp: fp16 mixed precision needs a CUDA device; this run would use cpu" in str(e.value)
    assert "train.amp=bf16" in str(e.value) and not (tmp_path / "run").exists()
