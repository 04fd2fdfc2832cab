"""Recipes that follow the data and the budget: derive(), the schedule's warm-up share, the evaluation cadence,
and the pre-flight budget warnings."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from studio.core.config.loader import validate
from studio.core.config.recipes import SHARES, TARGET_ITERS, DataFacts, derive
from studio.core.demo import generate
from studio.core.training.budget import MIN_STEPS_SCRATCH, images_per_s, plan
from studio.core.training.preflight import preflight
from studio.core.training.schedule import LRSchedule
from studio.core.training.trainer import Trainer

DEMO = DataFacts(images=40, instances=180, long_side=320, has_masks=True)
BALLOON = DataFacts(images=61, instances=255, long_side=1024, has_masks=True)
BIG = DataFacts(images=5000, instances=40000, long_side=1280, has_masks=False)


def test_derive_sizes_the_recipe_to_the_data_device_and_budget():
    demo = derive("fast", DEMO, device="cpu")
    assert demo["data"]["image_size"] == 192 and demo["train"]["batch_size"] == 4
    assert demo["data"]["augment"] == {"mosaic": 0.0, "photometric": 0.0, "scale_jitter": [0.9, 1.1]}
    assert demo["train"]["lr"] == 0.004 and "lr" not in derive("fast", BALLOON, device="cpu")["train"]
    assert demo["train"]["warmup_fraction"] == SHARES["warmup_fraction"]
    assert demo["train"]["eval_interval"] == SHARES["eval_interval"]
    per_epoch = 40 // 4
    assert demo["train"]["epochs"] == min(300, -(-TARGET_ITERS // per_epoch)), "about TARGET_ITERS steps, capped"
    short = derive("fast", DEMO, device="cpu", time_limit=180)
    assert short["train"]["epochs"] == 1000 and short["data"]["image_size"] == 192, "the time ends the run"
    assert derive("fast", DEMO, device="cpu", time_limit="20m")["train"]["epochs"] == 1000
    balloon = derive("fast", BALLOON, device="cpu", time_limit=1200)
    assert balloon["data"]["image_size"] == 320 and balloon["train"]["batch_size"] == 8
    assert balloon["data"]["augment"] == {"mosaic": 0.5, "scale_jitter": [0.75, 1.25]}, "the recipe measured there"
    big = derive("fast", BIG, device="cpu")
    assert big["train"]["batch_size"] == 8 and big["train"]["epochs"] == 30, "at least 30 epochs on a big set"
    assert big["data"]["augment"]["mosaic"] < balloon["data"]["augment"]["mosaic"], "lighter augmentation"
    gpu = derive("fast", BIG, device="cuda")
    assert gpu["data"]["image_size"] == 640 and gpu["train"]["batch_size"] == 16
    tiny = derive("fast", DataFacts(images=6, instances=6, long_side=200, has_masks=False), device="cpu")
    assert tiny["train"]["batch_size"] == 1, "an epoch keeps a few steps"
    rcnn = derive("mask_rcnn", BALLOON, device="cuda")
    assert rcnn == {"train": dict(SHARES), "data": {}}, "the big models keep their family's size and batch"


def test_warmup_fraction_is_a_share_of_the_run_in_iterations_or_time():
    s = LRSchedule(total_iters=1000, warmup_iters=100, kind="cosine", warmup_fraction=0.05)
    assert s.factor(0) < 0.01 and s.factor(25) == pytest.approx(s.factor(0) + (1 - s.factor(0)) * 0.5, rel=0.01)
    assert s.factor(50) == pytest.approx(s.factor(49) + (1 - s.factor(0)) / 50, rel=0.05)
    assert s.factor(60) < 1.0 and s.factor(60) > 0.99, "past the warm-up: the cosine"
    timed = LRSchedule(total_iters=10**6, warmup_iters=100, kind="cosine", time_limit=200.0, warmup_fraction=0.05)
    assert timed.progress(10, elapsed=5.0) == pytest.approx(0.025)
    assert timed.factor(10, elapsed=5.0) < 0.6, "warming up at 2.5 % of the time"
    assert timed.factor(10, elapsed=20.0) > 0.9, "10 s of 200 is past a 5 % warm-up, whatever the iteration"
    fixed = LRSchedule(total_iters=1000, warmup_iters=100, kind="cosine")
    assert fixed.factor(50) < 0.6 and fixed.factor(100) > 0.97, "past 100 iterations: the cosine at 10 %"


def _evaluations(eval_every: int, eval_interval: float | None, epochs: int, per_epoch: int, iters: int) -> list[int]:
    """The epochs Trainer.evaluate_now picks when ``iters`` iterations end the run (a time limit)."""
    cfg = SimpleNamespace(train=SimpleNamespace(eval_every=eval_every, eval_interval=eval_interval, epochs=epochs))
    t = SimpleNamespace(cfg=cfg, _evaluated_at=0.0, progress=0.0)
    last = math.ceil(iters / per_epoch)
    picked = []
    for epoch in range(1, last + 1):
        t.progress = min(1.0, epoch * per_epoch / iters)
        if Trainer.evaluate_now(t, epoch, final=epoch == last):
            t._evaluated_at = t.progress
            picked.append(epoch)
    return picked


def test_evaluation_every_share_of_the_run_and_at_the_end():
    assert _evaluations(1000, 0.1, 1000, 10, 1000) == list(range(10, 101, 10)), "10 evaluations in 100 epochs"
    assert _evaluations(1000, None, 1000, 10, 1000) == [100], "eval_every alone: only the last"
    assert _evaluations(1, 0.1, 1000, 10, 1000) == list(range(10, 101, 10)), "eval_interval replaces eval_every"
    assert _evaluations(3, None, 9, 10, 90) == [3, 6, 9]
    assert _evaluations(1000, 0.1, 1000, 100, 350) == [1, 2, 3, 4], "short runs: every epoch"
    # the pre-flight's count follows the same rule
    raw = {
        "model": {"arch": "seg_fast"},
        "data": {"train": {"ann": "t.json"}, "val": {"ann": "v.json"}, "image_size": 320},
        "train": {"epochs": 1000, "batch_size": 4, "eval_every": 1000, "eval_interval": 0.1, "time_limit": 100},
    }
    cfg = validate(raw)
    b = plan(cfg, 40, device="cpu", threads=2)
    iters = b.iters
    assert b.time_limited and iters == int(100 * images_per_s("seg_fast", 320, "cpu", 2) / 4)
    assert b.evals == len(_evaluations(1000, 0.1, 1000, 10, iters)) and b.first_eval_epoch is not None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("demo") / "demo", n_train=40, n_val=12)


def _cfg(demo, **train):
    raw = {
        "model": {"arch": "seg_fast"},
        "data": {"train": {"ann": str(demo["train"].annotations)}, "val": {"ann": str(demo["val"].annotations)}},
        "train": {"device": "cpu", **train},
    }
    raw["data"]["image_size"] = 320
    return validate(raw)


def _warnings(rep) -> dict[str, str]:
    return {f.item: f.message for f in rep.findings if f.level == "warning"}


def test_preflight_warns_about_a_recipe_that_cannot_work_in_its_budget(demo):
    # the old recipe on the demo: 100 warm-up iterations, evaluation every 10 epochs, 3 minutes
    old = preflight(_cfg(demo, batch_size=8, epochs=300, warmup_iters=100, eval_every=10, time_limit=60))
    w = _warnings(old)
    assert old.budget is not None and old.budget.time_limited and old.facts.images == 40
    assert "warm-up (100 iterations)" in w["train.warmup_iters"]
    assert "train.warmup_fraction=0.03" in w["train.warmup_iters"]
    assert "too few to learn much" in w["train.time_limit"]
    assert "only 3 validations in the run" in w["train.eval_every"], "epochs 10, 20 and the last (about 25)"
    four = preflight(_cfg(demo, batch_size=8, epochs=4, eval_every=10))
    assert "no validation before the end of the run" in _warnings(four)["train.eval_every"]
    # the derived recipe: none of these
    new = preflight(_cfg(demo, batch_size=4, epochs=1000, warmup_fraction=0.03, eval_interval=0.1, time_limit=600))
    assert not {"train.warmup_iters", "train.time_limit", "train.eval_every"} & set(_warnings(new))
    assert new.budget.iters >= MIN_STEPS_SCRATCH and new.budget.evals >= 5
    infos = [f.message for f in new.findings if f.item == "train.epochs"]
    assert infos and "the time limit ends it" in infos[0] and "images/s (estimated)" in infos[0]
    # few epochs without a time limit: the count is exact
    short = preflight(_cfg(demo, batch_size=4, epochs=3, warmup_fraction=0.03))
    assert short.budget.iters == 30 and "about 30 optimiser steps" in _warnings(short)["train.epochs"]


def test_no_speed_estimate_means_no_time_based_guess(demo):
    raw = {
        "model": {"arch": "maskrcnn_resnet50_fpn"},
        "data": {"train": {"ann": "t.json"}, "val": {"ann": "v.json"}, "image_size": 640},
        "train": {"epochs": 24, "batch_size": 2, "time_limit": 600, "warmup_fraction": 0.03},
    }
    b = plan(validate(raw), 61, device="cpu")
    assert b.images_per_s is None and b.iters is None and b.warmup_iters is None and b.evals is None
    assert plan(validate(raw), 61, device="cuda").images_per_s is None, "nothing measured on a GPU"
    del raw["train"]["time_limit"]
    exact = plan(validate(raw), 61, device="cuda")
    assert exact.iters == 24 * 31 and exact.warmup_iters == pytest.approx(0.03 * 24 * 31)


def test_a_reused_report_makes_its_budget_findings_again(demo):
    first = preflight(_cfg(demo, batch_size=8, epochs=4, eval_every=10))
    assert "train.eval_every" in _warnings(first) and "train.epochs" in _warnings(first)
    again = first.replan(_cfg(demo, batch_size=4, epochs=1000, warmup_fraction=0.03, eval_interval=0.1))
    assert not {"train.eval_every", "train.epochs", "train.warmup_iters"} & set(_warnings(again))
    assert again.budget.iters_per_epoch == 10 and again.class_map is first.class_map
    kept = [f for f in first.findings if f.topic != "budget"]
    assert kept and all(f in again.findings for f in kept), "what read the files stays"
    assert first.budget.iters == 20, "the first report is left as it was"


def test_another_backbone_has_no_speed_estimate_and_its_own_parameter_count():
    """The CPU speed was measured with the default csp backbone: resnet50 is ~7x its multiply-adds, so its
    time-based guess is unknown rather than wrong; the memory estimate counts the backbone built and the
    stages frozen."""
    from studio.core.training.memory import estimate_gpu_memory

    def cfg(**model):
        return validate(
            {
                "model": {"arch": "seg_fast", **model},
                "data": {"train": {"ann": "t.json"}, "val": {"ann": "v.json"}, "image_size": 320},
                "train": {"epochs": 1000, "batch_size": 4, "time_limit": 100},
            }
        )

    assert plan(cfg(), 40, device="cpu").images_per_s is not None
    assert plan(cfg(backbone="csp"), 40, device="cpu").images_per_s is not None
    b = plan(cfg(backbone="resnet50"), 40, device="cpu")
    assert b.images_per_s is None and b.iters is None
    csp, r50 = estimate_gpu_memory(cfg()), estimate_gpu_memory(cfg(backbone="resnet50"))
    assert r50.params > csp.params + 20e6 and "resnet50 not measured" in r50.basis  # ResNet-50's 23.5 M
    frozen = estimate_gpu_memory(cfg(backbone="resnet50", freeze_backbone="all"))
    assert frozen.params == r50.params and frozen.trainable < r50.trainable - 20e6
    assert frozen.detail["gradients"] < r50.detail["gradients"]
