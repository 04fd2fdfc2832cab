"""The engine end to end on the tiny demo set: config init, train, resume, cancel, eval, predict, DDP."""

from __future__ import annotations

import json

import pytest
import torch

from studio import api
from studio.cli import main
from studio.core import checkpoint as ckpt_io
from studio.core.config.loader import load_config
from studio.core.jobs import CancelToken
from studio.core.training.events import EventKind
from studio.core.training.runlog import read_events

TINY = {
    "data": {"image_size": 96, "workers": 0, "augment": {"scale_jitter": [0.9, 1.1]}},
    "train": {"epochs": 2, "batch_size": 2, "device": "cpu", "warmup_iters": 2, "eval_every": 1},
}


@pytest.fixture()
def tiny_cfg(tmp_path, demo):
    """A seg_lite config on 10 train / 4 val demo images at 96 px."""
    from studio.core.config.init import init_config

    init_config(
        demo["train"].annotations,
        tmp_path / "tiny.yaml",
        val_ann=demo["val"].annotations,
        arch="seg_lite",
        overrides=TINY,
    )
    return tmp_path / "tiny.yaml"


def _events(kind, evs):
    return [e for e in evs if e.kind is kind]


def test_config_init_writes_a_runnable_config(tmp_path, demo):
    cfg = api.config_init(demo["train"].annotations, tmp_path / "c.yaml", val=demo["val"].annotations)
    assert cfg.model.arch == "seg_fast"  # the demo has polygons
    text = (tmp_path / "c.yaml").read_text()
    assert "classes" not in text and "num_classes" not in text  # they come from the data
    for key in ("arch:", "weights:", "epochs:", "batch_size:", "device:", "time_limit:", "image_size:"):
        assert key in text
    assert load_config(tmp_path / "c.yaml") == cfg
    assert (
        main(
            [
                "config",
                "init",
                "--train",
                str(demo["train"].annotations),
                "--arch",
                "fasterrcnn_mobilenet_v3_large_320_fpn",
                "-o",
                str(tmp_path / "d.yaml"),
            ]
        )
        == 0
    )
    assert load_config(tmp_path / "d.yaml").model.arch == "fasterrcnn_mobilenet_v3_large_320_fpn"
    assert (
        main(
            [
                "config",
                "init",
                "--train",
                str(demo["train"].annotations),
                "--arch",
                "fasterrcnn_resnet",
                "-o",
                str(tmp_path / "e.yaml"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "e.yaml").exists()


def test_train_two_epochs_then_eval_and_predict(tiny_cfg, tmp_path, capsys):
    evs = []
    res = api.train(tiny_cfg, work_dir=tmp_path / "run", callbacks=[evs.append])
    assert res.status == "finished" and res.reason == "completed" and res.epochs_done == 2
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "events.jsonl",
        "last.pt",
        "best.pt",
        "epoch_2.pt",
        "metrics.json",
        "pr_curves.png",
        "confusion_matrix.png",
    ):
        assert (run / name).is_file(), name
    kinds = [e.kind for e in evs]
    assert kinds[0] is EventKind.STARTED and kinds[-1] is EventKind.FINISHED
    its = _events(EventKind.ITERATION, evs)
    # one event per log point, each covering its iterations: together every iteration of the two epochs
    assert sum(e.iterations for e in its) == 2 * its[0].iters_per_epoch and all(e.loss == e.loss for e in its)
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"} <= set(its[0].losses)
    epochs = _events(EventKind.EPOCH, evs)
    assert (
        [e.epoch for e in epochs] == [1, 2] and "segm_mAP" in epochs[0].metrics and "bbox_mAP_50" in epochs[0].metrics
    )
    assert epochs[0].per_class_ap["segm"].shape == (4,)
    # the log replays the same epochs
    logged = _events(EventKind.EPOCH, list(read_events(run)))
    assert [e.metrics for e in logged] == [e.metrics for e in epochs]
    # a checkpoint alone is enough: config and classes travel with it
    ck = ckpt_io.load(run / "last.pt")
    assert ck.classes.names == ("circle", "square", "star", "triangle") or len(ck.classes.names) == 4
    assert ck.config.model.arch == "seg_lite" and ck.data["finished"] is True
    metrics = json.loads((run / "metrics.json").read_text())
    for k in (
        "bbox_mAP",
        "bbox_mAP_50",
        "bbox_mAP_75",
        "bbox_mAP_s",
        "bbox_mAP_m",
        "bbox_mAP_l",
        "segm_mAP",
        "segm_mAP_l",
    ):
        assert k in metrics

    assert main(["eval", str(run), "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["segm_mAP"] is not None
    out = capsys.readouterr().out
    assert "segm_mAP" in out

    val_images = sorted(p for p in demo_val_images(tiny_cfg).iterdir())
    assert (
        main(
            [
                "predict",
                str(run / "best.pt"),
                str(val_images[0]),
                str(val_images[1].parent),
                "--out",
                str(tmp_path / "pred"),
                "--score-thr",
                "0.0",
            ]
        )
        == 0
    )
    preds = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert preds, "a briefly trained model with threshold 0 predicts something"
    from PIL import Image

    w, h = Image.open(val_images[0]).size
    names = {p["file_name"] for p in preds}
    assert str(val_images[0]) in names
    for p in preds:
        x, y, bw, bh = p["bbox"]
        assert -0.01 <= x <= x + bw <= w + 0.01 and -0.01 <= y <= y + bh <= h + 0.01  # original pixels
        assert isinstance(p["segmentation"]["counts"], str) and p["segmentation"]["size"] == [h, w]
    drawn = sorted(q.name for q in (tmp_path / "pred").glob("*.png")) + sorted(
        q.name for q in (tmp_path / "pred").glob("*.jpg")
    )
    assert len(drawn) == len(val_images) + 1  # the first image twice (file and folder), numbered, not overwritten

    # eval on a set whose classes do not match the checkpoint: refused, naming the difference
    from studio.core.dataset.model import Dataset

    ds = Dataset.load(load_config(tiny_cfg).data.val.ann)
    ds.categories[-1]["name"] = "hexagon"
    ds.save(tmp_path / "other.json")
    assert (
        main(
            ["eval", str(run / "best.pt"), "--ann", str(tmp_path / "other.json"), "--images", str(val_images[0].parent)]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "classes do not match the checkpoint" in err and "hexagon" in err and "other.json" in err


def demo_val_images(cfg_path):
    from studio.core.data.splits import open_split

    return open_split(load_config(cfg_path).data.val, "val").images_dir


def test_resume_reproduces_the_uninterrupted_run(tiny_cfg, tmp_path):
    full = api.train(tiny_cfg, work_dir=tmp_path / "full")
    assert full.epochs_done == 2
    cancel = CancelToken()

    def stop_after_first_epoch(ev):
        if ev.kind is EventKind.EPOCH and ev.epoch == 1:
            cancel.cancel()

    part = api.train(tiny_cfg, work_dir=tmp_path / "part", callbacks=[stop_after_first_epoch], cancel=cancel)
    assert part.status == "cancelled" and part.epochs_done == 1
    resumed = api.train(tiny_cfg, work_dir=tmp_path / "part", resume=True)
    assert resumed.status == "finished" and resumed.epochs_done == 2
    a = ckpt_io.load(tmp_path / "full" / "last.pt")
    b = ckpt_io.load(tmp_path / "part" / "last.pt")
    for k, v in a.data["model"].items():
        assert torch.equal(v, b.data["model"][k]), k
    assert a.data["best_metric"] == b.data["best_metric"]
    # a finished run refuses to resume unless extended, then extends
    with pytest.raises(Exception, match="already finished 2 epochs"):
        api.train(tiny_cfg, work_dir=tmp_path / "full", resume=True)
    ext = api.train(tiny_cfg, overrides=["train.epochs=3"], work_dir=tmp_path / "full", resume=True)
    assert ext.epochs_done == 3


def test_cancel_stops_within_one_iteration_and_leaves_a_valid_checkpoint(tiny_cfg, tmp_path):
    cancel = CancelToken()
    evs = []

    def cb(ev):
        evs.append(ev)
        if ev.kind is EventKind.ITERATION and ev.global_iter >= 2 and not cancel.cancelled:
            cancel.cancel()

    res = api.train(tiny_cfg, work_dir=tmp_path / "run", callbacks=[cb], cancel=cancel)
    assert res.status == "cancelled"
    its = _events(EventKind.ITERATION, evs)
    at = next(e.global_iter for e in its if e.global_iter >= 2)  # the log point where it was cancelled
    assert max(e.global_iter for e in its) == at
    assert evs[-1].kind is EventKind.CANCELLED
    ck = ckpt_io.load(tmp_path / "run" / "last.pt")
    assert ck.data["partial"] is True and ck.epoch == 0
    # and it resumes
    assert api.train(tiny_cfg, work_dir=tmp_path / "run", resume=True).epochs_done == 2


def test_bad_inputs_fail_clearly_and_write_nothing(tiny_cfg, tmp_path, demo, capsys):
    # unknown config key
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_cfg.read_text().replace("epochs: 2", "epochs: 2\n  epochz: 3"))
    assert main(["train", str(bad), "--work-dir", str(tmp_path / "r1")]) == 2
    assert "train.epochz: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "r1").exists()
    # corrupt checkpoint
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["eval", str(tmp_path / "broken.pt")]) == 2
    err = capsys.readouterr().err
    assert "broken.pt" in err and "corrupt" in err
    assert main(["predict", str(tmp_path / "broken.pt"), str(demo["val"].images), "--out", str(tmp_path / "p")]) == 2
    assert not (tmp_path / "p").exists()
    # val set whose classes differ from train: refused before anything is written
    from studio.core.dataset.model import Dataset

    ds = Dataset.load(demo["val"].annotations)
    ds.categories[0]["name"] = "blob"
    ds.save(tmp_path / "val_other.json")
    assert (
        main(
            [
                "train",
                str(tiny_cfg),
                "--set",
                f"data.val.ann={tmp_path / 'val_other.json'}",
                "--set",
                f"data.val.images={demo['val'].images}",
                "--work-dir",
                str(tmp_path / "r2"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "val classes differ from train classes" in err and "blob" in err
    assert not (tmp_path / "r2").exists()


def test_ddp_on_two_cpu_processes_trains_and_evaluates(tiny_cfg, tmp_path):
    evs = []
    res = api.train(
        tiny_cfg, overrides=["train.epochs=1"], work_dir=tmp_path / "ddp", devices=2, callbacks=[evs.append]
    )
    assert res.status == "finished" and res.epochs_done == 1
    started = _events(EventKind.STARTED, evs)
    assert len(started) == 1 and started[0].world_size == 2  # only rank 0 reports
    its = _events(EventKind.ITERATION, evs)
    assert its[-1].iters_per_epoch == 3  # 10 images over 2 ranks, batch 2: 5 images, 3 batches each
    assert "segm_mAP" in res.metrics
    assert (tmp_path / "ddp" / "last.pt").is_file() and (tmp_path / "ddp" / "metrics.json").is_file()
    logged = list(read_events(tmp_path / "ddp"))
    assert sum(e.kind is EventKind.STARTED for e in logged) == 1


def test_time_limit_stops_cleanly_with_an_evaluated_checkpoint(tiny_cfg, tmp_path):
    evs = []
    res = api.train(
        tiny_cfg,
        overrides=["train.time_limit=0.001", "train.epochs=50"],
        work_dir=tmp_path / "t",
        callbacks=[evs.append],
    )
    assert res.reason == "time_limit" and res.epochs_done == 1
    assert len(_events(EventKind.ITERATION, evs)) == 1
    assert "segm_mAP" in _events(EventKind.EPOCH, evs)[0].metrics
    assert ckpt_io.load(tmp_path / "t" / "last.pt").data["finished"] is True


def test_early_stopping_follows_the_val_metric(tiny_cfg, tmp_path, monkeypatch):
    from studio.core.training.trainer import Trainer

    class FakeEval:
        def __init__(self, v):
            self.metrics = {"bbox_mAP": v, "segm_mAP": v}

        def per_class_arrays(self, cmap):
            return {}

        def write_report(self, out, cmap):
            return {}

    scores = {1: 0.3, 2: 0.5, 3: 0.4, 4: 0.45, 5: 0.9}
    monkeypatch.setattr(Trainer, "evaluate", lambda self, epoch: FakeEval(scores[epoch]))
    evs = []
    res = api.train(
        tiny_cfg, overrides=["train.epochs=5", "train.patience=2"], work_dir=tmp_path / "es", callbacks=[evs.append]
    )
    assert res.reason == "early_stopping" and res.epochs_done == 4
    assert res.best_epoch == 2 and res.best_metric == 0.5
    assert [e.is_best for e in _events(EventKind.EPOCH, evs)] == [True, True, False, False]
    assert ckpt_io.load(tmp_path / "es" / "best.pt").epoch == 2


def test_offline_pretrained_weights_fail_before_training(tiny_cfg, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # a fake, empty hub cache
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code = main(
        [
            "train",
            str(tiny_cfg),
            "--set",
            "model.arch=fasterrcnn_mobilenet_v3_large_320_fpn",
            "--set",
            "model.weights=DEFAULT",
            "--set",
            "data.image_size=128",
            "--work-dir",
            str(tmp_path / "w"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "model.weights" in err
    assert "fasterrcnn_mobilenet_v3_large_320_fpn" in err and str(tmp_path / "hub" / "checkpoints") in err
    assert not (tmp_path / "w").exists()


def test_preview_aug_cli_writes_a_grid(tiny_cfg, tmp_path):
    assert main(["dataset", "preview-aug", str(tiny_cfg), "--out", str(tmp_path / "aug"), "-n", "4"]) == 0
    from PIL import Image

    im = Image.open(tmp_path / "aug" / "augment_preview.png")
    assert im.size[0] >= 2 * 96 and im.size[1] >= 2 * 96


@pytest.mark.parametrize(
    "arch",
    [
        "det_lite",
        "ssdlite320_mobilenet_v3_large",
        pytest.param("fasterrcnn_mobilenet_v3_large_320_fpn", marks=pytest.mark.slow),
        pytest.param("retinanet_resnet50_fpn_v2", marks=pytest.mark.slow),
        pytest.param("fcos_resnet50_fpn", marks=pytest.mark.slow),
        pytest.param("ssd300_vgg16", marks=pytest.mark.slow),
        pytest.param("maskrcnn_resnet50_fpn_v2", marks=pytest.mark.slow),
    ],
)
def test_other_architectures_train_evaluate_and_predict(arch, tiny_cfg, tmp_path, demo):
    from studio.core.models import get_arch

    spec = get_arch(arch)
    size = max(96, spec.min_size)
    res = api.train(
        tiny_cfg,
        overrides=[f"model.arch={arch}", "train.epochs=1", f"data.image_size={size}"],
        work_dir=tmp_path / arch,
    )
    assert res.status == "finished"
    assert ("segm_mAP" in res.metrics) == (spec.task == "segment") and "bbox_mAP" in res.metrics
    s = api.predict(tmp_path / arch, [demo["val"].images], tmp_path / "pred", score_thr=0.0)
    assert s.images == 4
    preds = json.loads(s.results_json.read_text())
    assert all(("segmentation" in p) == (spec.task == "segment") for p in preds)
