"""seg_fast, the default segmenter, through every feature: config init, train (CLI), eval, predict,
export + verify, CAM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio import api_explain
from studio.cli import main
from studio.core.config.loader import load_config
from studio.core.export.jobs import export_checkpoint
from studio.core.export.runtime import load_exported
from studio.core.imageio import imread_rgb, list_images
from studio.core.training.events import EventKind
from studio.core.training.runlog import read_events


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(tmp_path_factory, demo):
    """`studio config init` (default architecture) then `studio train` for 4 epochs at 96 px."""
    folder = tmp_path_factory.mktemp("fast")
    cfg = folder / "cfg.yaml"
    assert (
        main(
            [
                "config",
                "init",
                "--train",
                str(demo["train"].annotations),
                "--val",
                str(demo["val"].annotations),
                "-o",
                str(cfg),
            ]
        )
        == 0
    )
    c = load_config(cfg)
    assert c.model.arch == "seg_fast"  # the demo has polygons: the default segmenter
    assert (c.train.optimizer, c.train.ema) == ("adamw", True)  # the fast family's recipe
    assert (c.train.batch_size, c.data.image_size) == (2, 192), "derived: a quarter of 10 small images, 192 px"
    over = [
        "data.image_size=96",
        "data.workers=0",
        "train.epochs=4",
        "train.batch_size=4",
        "train.device=cpu",
        "train.warmup_iters=3",
        "train.eval_every=2",
        "train.eval_interval=null",
    ]
    assert main(["train", str(cfg), "--work-dir", str(folder / "run"), *[a for o in over for a in ("--set", o)]]) == 0
    return folder / "run"


def test_trains_with_its_loss_terms_and_evaluates(run):
    evs = list(read_events(run))
    its = [e for e in evs if e.kind is EventKind.ITERATION]
    assert set(its[0].losses) == {"loss_cls", "loss_box", "loss_dfl", "loss_mask"}
    assert all(np.isfinite(e.loss) for e in its)
    first = np.mean([e.loss for e in its[:3]])
    last = np.mean([e.loss for e in its[-3:]])
    assert last < first  # it learns
    epochs = [e for e in evs if e.kind is EventKind.EPOCH]
    assert [bool(e.metrics) for e in epochs] == [False, True, False, True]  # eval_every=2
    assert "segm_mAP" in epochs[1].metrics and epochs[1].per_class_ap["segm"].shape == (4,)
    assert evs[-1].kind is EventKind.FINISHED


def test_eval_and_predict_from_the_cli(run, demo, tmp_path):
    assert main(["eval", str(run), "--out", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["segm_mAP"] is not None and metrics["bbox_mAP"] is not None
    images = list_images(demo["val"].images)[:2]
    assert (
        main(
            ["predict", str(run / "last.pt"), *map(str, images), "--out", str(tmp_path / "pred"), "--score-thr", "0.01"]
        )
        == 0
    )
    results = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert results and all("segmentation" in r for r in results)


@pytest.mark.parametrize("fmt,options", [("onnx", {"dynamic": True}), ("onnx-e2e", {"dynamic": True, "max_det": 20})])
def test_exports_and_verifies_itself(run, demo, tmp_path, fmt, options):
    r = export_checkpoint(
        run / "last.pt",
        fmt,
        dict(options, score_thr=0.01),
        tmp_path / fmt,
        verify_ann=demo["val"].annotations,
        verify_images=demo["val"].images,
        n_verify=3,
        latency_runs=2,
    )
    report = json.loads(r.report_path.read_text())
    assert report["verified"] is True and report["metric"] == "segm_mAP"
    assert abs(report["map_delta"]) <= 0.002, report
    bm = report["box_match"]
    assert bm["pytorch_detections"] > 0 and bm["match_rate"] >= 0.99, bm
    model = load_exported(r.model)
    im = imread_rgb(list_images(demo["val"].images)[0])
    (dets,) = model.predict([im])
    assert dets.masks is not None and dets.masks.shape[1:] == im.shape[:2]


def test_cam_and_feature_maps(run, demo, tmp_path):
    image = list_images(demo["val"].images)[0]
    res = api_explain.cam(run / "last.pt", image, tmp_path / "cam", method="gradcam", max_boxes=2, score_thr=0.01)
    h, w = imread_rgb(image).shape[:2]
    assert res.cam.combined.shape == (h, w) and np.isfinite(res.cam.combined).all()
    assert res.cam.targets and all(t.map.shape == (h, w) for t in res.cam.targets)
    fm = api_explain.featmap(run / "last.pt", image, tmp_path / "fm", layers="neck")
    assert len(fm.maps) == 3 and len(fm.files) == 3  # the three neck levels
    assert all(f.maps.shape == (1, h, w) and np.isfinite(f.maps).all() for f in fm.maps)
    assert [f.layer for f in fm.maps] == ["neck:0", "neck:1", "neck:2"]
