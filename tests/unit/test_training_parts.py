"""Trainer building blocks: events and their log, the lr schedule, checkpoints, EMA, run folders."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from studio.core import checkpoint as ckpt_io
from studio.core.config.schema import Config
from studio.core.errors import StudioError
from studio.core.training.ema import ModelEMA
from studio.core.training.events import (
    CheckpointSaved,
    EpochEnd,
    IterationEnd,
    RunFailed,
    RunStarted,
)
from studio.core.training.runlog import RunLog, read_events
from studio.core.training.runs import new_run_dir, resolve_run
from studio.core.training.schedule import FLOOR, LRSchedule


def test_events_round_trip_through_the_jsonl_log(tmp_path):
    evs = [
        RunStarted(str(tmp_path), "seg_lite", "segment", ("a", "b"), 0, 3, 5, 2, "cpu", 1, False, "segm_mAP"),
        IterationEnd(1, 5, 5, 5, {"loss_box": 0.5, "loss_mask": float("nan")}, 1.5, 1e-3, 4.0, 2.0, 10.0),
        EpochEnd(
            1,
            3,
            {"loss_box": 0.5},
            {"bbox_mAP": 0.25, "bbox_mAP_s": None},
            {"bbox": np.array([0.5, np.nan])},
            0.25,
            0.25,
            1,
            True,
            2.0,
            2.0,
        ),
        CheckpointSaved(1, str(tmp_path / "last.pt"), "last"),
        RunFailed("boom", "Traceback...", 1, True),
    ]
    log = RunLog(tmp_path, iter_interval_s=0)
    for e in evs:
        log(e)
    log.close()
    # a torn last line (killed mid-write) is skipped
    with open(tmp_path / "events.jsonl", "ab") as f:
        f.write(b'{"kind": "iteration", "t"')
    back = list(read_events(tmp_path))
    assert [e.kind for e in back] == [e.kind for e in evs]
    assert back[0].classes == ("a", "b")
    assert back[1].losses["loss_mask"] is None  # NaN -> null
    np.testing.assert_array_equal(np.isnan(back[2].per_class_ap["bbox"]), [False, True])
    assert back[2].metrics == {"bbox_mAP": 0.25, "bbox_mAP_s": None}
    assert back[4] == evs[4]


def test_iteration_events_are_thinned_in_the_log_but_epoch_ends_kept(tmp_path):
    log = RunLog(tmp_path, iter_interval_s=3600)
    for i in range(1, 11):
        log(IterationEnd(1, i, i, 10, {"l": 1.0}, 1.0, 0.1, 1.0, 0.0, 0.0))
    log.close()
    its = [e.iteration for e in read_events(tmp_path)]
    assert its == [1, 10]


def test_schedule_warmup_cosine_step_and_time_budget():
    s = LRSchedule("cosine", total_iters=100, warmup_iters=10)
    assert s.factor(0) == pytest.approx(0.001)
    assert s.factor(10) == pytest.approx(1 - (1 - FLOOR) * (1 - math.cos(math.pi * 0.1)) / 2)
    assert s.factor(100) == pytest.approx(FLOOR)
    f = [s.factor(i) for i in range(10, 101)]
    assert all(a >= b for a, b in zip(f, f[1:]))  # monotone decay after warm-up
    st = LRSchedule("step", total_iters=100, milestones=(0.5, 0.75), gamma=0.1)
    assert [st.factor(i) for i in (0, 49, 50, 75)] == pytest.approx([1, 1, 0.1, 0.01])
    # with a time budget, elapsed time drives the decay even when iterations lag
    tb = LRSchedule("cosine", total_iters=10_000, time_limit=60)
    assert tb.factor(10, elapsed=60) == pytest.approx(FLOOR)
    # extending a finished run: a short cosine from 0.1x, no jump to the peak
    ex = LRSchedule("cosine", total_iters=150, extend_from=100)
    assert ex.factor(100) == pytest.approx(0.1) and ex.factor(150) == pytest.approx(FLOOR)


def test_checkpoint_save_load_and_rng(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    state = ckpt_io.rng_state()
    a = (torch.rand(2), np.random.rand(2))
    payload = {
        "arch": "x",
        "classes": {"cat_ids": [1], "names": ["a"]},
        "config": {},
        "model": {"w": torch.ones(2)},
        "rng": state,
    }
    p = ckpt_io.save(tmp_path / "c.pt", payload)
    ck = ckpt_io.load(p)
    assert ck.arch == "x" and ck.classes.names == ("a",) and ck.weights()["w"].sum() == 2
    ckpt_io.set_rng_state(ck.data["rng"])
    b = (torch.rand(2), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "not a readable checkpoint"),
        (b"garbage" * 100, "not a readable checkpoint"),
        (None, "not a Studio checkpoint"),
    ],
)
def test_corrupt_or_foreign_checkpoints_are_named(tmp_path, content, words):
    p = tmp_path / "bad.pt"
    if content is None:
        torch.save({"w": torch.zeros(1)}, p)
    else:
        p.write_bytes(content)
    with pytest.raises(ckpt_io.CheckpointError) as e:
        ckpt_io.load(p)
    assert words in str(e.value) and "bad.pt" in str(e.value)


def test_truncated_checkpoint(tmp_path):
    p = ckpt_io.save(
        tmp_path / "c.pt",
        {"arch": "x", "classes": {"cat_ids": [1], "names": ["a"]}, "config": {}, "model": {"w": torch.ones(1000)}},
    )
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt_io.CheckpointError, match="truncated or corrupt"):
        ckpt_io.load(p)
    with pytest.raises(ckpt_io.CheckpointError, match="not found"):
        ckpt_io.load(tmp_path / "nope.pt")


RUN_CONFIG = {"model": {"arch": "det_fast"}, "data": {"train": {"ann": "train.json"}, "image_size": 320}}


def _with_config(path, config, **more):
    payload = {"arch": "det_fast", "classes": {"cat_ids": [1], "names": ["a"]}, "config": config, **more}
    return ckpt_io.save(path, {**payload, "model": {"w": torch.ones(1)}})


def test_checkpoint_config_is_validated_once_and_described(tmp_path):
    p = _with_config(tmp_path / "c.pt", RUN_CONFIG, task="detect", epoch=3, best_metric=0.5, metric_name="bbox_mAP")
    ck = ckpt_io.load(p)
    assert isinstance(ck.config, Config) and ck.config is ck.config  # validated once, then kept
    assert ck.config.data.image_size == 320 and ck.config.model.score_thr == 0.05 and ck.raw_config == RUN_CONFIG
    info = ckpt_io.describe(ck)
    assert info == ckpt_io.CheckpointInfo(
        path=p,
        arch="det_fast",
        task="detect",
        classes=("a",),
        epoch=3,
        best_metric=0.5,
        metric_name="bbox_mAP",
        image_size=320,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.epoch = 4


def test_an_old_checkpoint_with_score_threshold_still_loads(tmp_path, checkpoint_factory):
    from studio.core.inference.predictor import Predictor

    old = {**RUN_CONFIG, "model": {"arch": "det_fast", "score_threshold": 0.25}}
    ck = ckpt_io.load(_with_config(tmp_path / "old.pt", old))
    assert ck.config.model.score_thr == 0.25
    assert ck.config.model_dump()["model"]["score_thr"] == 0.25  # written back under the new name
    # a real model, its config as an older Studio saved it
    data = dict(ckpt_io.load(checkpoint_factory("det_lite", 64)).data)
    model = {("score_threshold" if k == "score_thr" else k): v for k, v in data["config"]["model"].items()}
    data["config"] = {**data["config"], "model": {**model, "score_threshold": 0.25}}
    p = ckpt_io.save(tmp_path / "older.pt", {k: v for k, v in data.items() if k not in ("format", "version")})
    assert "score_thr" not in ckpt_io.load(p).raw_config["model"]
    assert Predictor.from_checkpoint(p, device="cpu").score_thr == 0.25


@pytest.mark.parametrize(
    "config, first",
    [
        ({**RUN_CONFIG, "model": {"arch": "det_fast", "nms_thr": 0.5}}, "model.nms_thr: unknown key"),
        ({**RUN_CONFIG, "data": {"train": {"ann": "t.json"}, "image_size": "big"}}, "data.image_size: Input should"),
        ({"model": {"arch": "det_fast"}}, "data: Field required"),
    ],
)
def test_a_checkpoint_whose_config_no_longer_validates_names_the_file_and_the_key(tmp_path, config, first):
    from studio.core.inference.predictor import Predictor

    p = _with_config(tmp_path / "hand_edited.pt", config)
    ck = ckpt_io.load(p)  # loads: resuming and copying never read the config
    with pytest.raises(ckpt_io.CheckpointError) as e:
        _ = ck.config
    msg = str(e.value)
    assert msg.startswith(f"{p}: its config does not validate") and first in msg
    assert "validation error" not in msg and "pydantic" not in msg  # one line, not pydantic's report
    for use in (lambda: ckpt_io.describe(ckpt_io.load(p)), lambda: Predictor.from_checkpoint(p)):
        with pytest.raises(ckpt_io.CheckpointError, match="hand_edited.pt: its config does not validate"):
            use()


def test_ema_follows_weights_and_ramps():
    m = torch.nn.Linear(2, 1)
    ema = ModelEMA(m, decay=0.9, ramp=1.0)
    with torch.no_grad():
        m.weight.fill_(1.0)
    for _ in range(120):
        ema.update(m)
    assert torch.allclose(ema.module.weight, torch.ones_like(m.weight), atol=1e-3)
    assert ema.current_decay() == pytest.approx(0.9, abs=1e-6)


def test_run_folders_never_overwrite_and_resume_finds_last(tmp_path):
    root = tmp_path / "runs"
    (root / "exp").mkdir(parents=True)
    (root / "exp" / "last.pt").write_bytes(b"x")
    assert new_run_dir("exp", root) == root / "exp-2"
    assert new_run_dir("fresh", root) == root / "fresh"
    run, ck = resolve_run("cfg/exp.yaml", root / "exp", True)
    assert ck == root / "exp" / "last.pt"
    with pytest.raises(StudioError, match="nothing to resume"):
        resolve_run("cfg/other.yaml", root / "other", True)
    run, ck = resolve_run("cfg/exp.yaml", None, root / "exp")
    assert run == root / "exp" and ck.name == "last.pt"


def test_a_mask_model_that_predicts_nothing_still_reports_segm_metrics(demo):
    from studio.core.data.classes import ClassMap
    from studio.core.data.dataset import DetectionDataset
    from studio.core.dataset.model import Dataset
    from studio.core.inference.val import evaluate_model

    class Silent(torch.nn.Module):
        studio_task = "segment"

        def forward(self, images):
            return [
                {
                    "boxes": torch.zeros(0, 4),
                    "scores": torch.zeros(0),
                    "labels": torch.zeros(0, dtype=torch.int64),
                    "masks": torch.zeros(0, 1, *im.shape[-2:]),
                }
                for im in images
            ]

    gt = Dataset.load(demo["val"].annotations)
    cmap = ClassMap.from_dataset(gt)
    val = DetectionDataset(
        gt, demo["val"].images, cmap, size=64, letterbox=False, train=False, with_masks=True, cache="none"
    )
    res = evaluate_model(Silent(), val, gt, cmap, device=torch.device("cpu"))
    assert res.metrics["segm_mAP"] == 0.0 and res.metrics["bbox_mAP"] == 0.0
    assert set(res.per_class_arrays(cmap)) == {"bbox", "segm"}
