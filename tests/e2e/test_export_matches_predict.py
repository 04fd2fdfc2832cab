"""One preprocessing: the default (static) export reproduces `studio predict` box for box, and the NMS options
reach both the graph and the PyTorch side it is verified against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core import checkpoint as ckpt_io
from studio.core.export.jobs import export_checkpoint
from studio.core.export.runtime import load_exported
from studio.core.export.verify import box_match
from studio.core.imageio import imread_rgb, list_images, save_image
from studio.core.inference.predictor import Predictor
from studio.core.models.nms import nms_settings


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: see tests/e2e/test_export.py
    yield
    torch.set_num_threads(before)


SIZE = 128  # the demo's 320x240 images, cut to 320x160: 128x64 inputs, stride-padded 128x64, square 128x128


def _non_square(demo) -> list[np.ndarray]:
    """The val images cut to 2:1, so that stride padding and square padding differ."""
    return [np.ascontiguousarray(imread_rgb(p)[:160]) for p in list_images(demo["val"].images)]


@pytest.fixture(scope="module")
def wide_images(demo, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wide")
    for k, im in enumerate(_non_square(demo)):
        save_image(folder / f"wide_{k}.png", im)
    return folder


@pytest.fixture(scope="module")
def ckpt(checkpoint_factory) -> Path:
    """seg_lite, random weights with calibrated BatchNorm (distinct scores), trained without letterbox."""
    return checkpoint_factory("seg_lite", SIZE, calibrate_bn=True)


def _export(ckpt, fmt, out, images, **options):
    return export_checkpoint(ckpt, fmt, options, out, verify_images=images, n_verify=4, latency_runs=1)


def test_predict_pads_to_the_square_whatever_the_config_says(ckpt, demo):
    ck = ckpt_io.load(ckpt)
    assert ck.config.data.letterbox is False  # trained with images at random offsets
    pred = Predictor.from_checkpoint(ck, device="cpu", score_thr=0.001)
    assert pred.letterbox is True
    wide = _non_square(demo)[0]
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))
    together = pred.predict([wide, tall])  # one batch: no image is padded for its neighbour's sake
    alone = [pred.predict([wide])[0], pred.predict([tall])[0]]
    for a, b in zip(together, alone):
        assert len(a) > 0
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_the_default_static_export_matches_predict_without_a_warning(ckpt, demo, wide_images, tmp_path):
    r = _export(ckpt, "onnx", tmp_path / "onnx", wide_images, score_thr=0.001, max_det=50)
    assert r.report["options"]["dynamic"] is False and r.report["model_info"]["letterbox"] is True
    bm = r.report["box_match"]
    assert bm["pytorch_detections"] > 100 and bm["match_rate"] == 1.0
    assert r.warnings == []
    model = load_exported(r.model)
    pred = Predictor.from_checkpoint(ckpt, device="cpu", score_thr=0.001, max_detections=50)
    images = _non_square(demo)
    got = [model.predict([im])[0] for im in images]
    assert box_match([pred.predict([im])[0] for im in images], got).match_rate == 1.0
    pred.letterbox = False  # what predict did before: padding to a multiple of 32 only
    assert box_match([pred.predict([im])[0] for im in images], got).match_rate < 0.5


@pytest.mark.slow  # an export and its verification: about 5 s of CPU (test_nms_options.py covers the wiring)
def test_nms_options_reach_the_graph_and_the_verification(ckpt, demo, wide_images, tmp_path):
    pred = Predictor.from_checkpoint(ckpt, device="cpu", score_thr=0.001, max_detections=100)
    assert nms_settings(pred.model).as_options() == {"nms_iou": 0.5, "pre_nms_topk": 300}  # seg_lite's own
    by_default = sum(len(pred.predict([im])[0]) for im in _non_square(demo))
    r = _export(
        ckpt, "onnx-e2e", tmp_path / "tight", wide_images, score_thr=0.001, max_det=100, nms_iou=0.2, pre_nms_topk=5
    )
    assert r.report["options"]["nms_iou"] == pytest.approx(0.2) and r.report["options"]["pre_nms_topk"] == 5
    assert load_exported(r.model).info.max_det == 100 and r.report["model_info"]["nms_iou"] == pytest.approx(0.2)
    bm = r.report["box_match"]
    # PyTorch was run with the same settings: fewer detections than by default, on both sides alike
    assert bm["match_rate"] == 1.0 and 0 < bm["pytorch_detections"] < by_default
    assert r.warnings == []


def test_a_mismatch_still_warns(tmp_path):
    """The check that replaced the input-shape warning: 98.5 % of boxes matched is a real difference now."""
    from studio.core.export.report import build_report

    def report(matched: int) -> dict:
        bm = {"images": 13, "pytorch_detections": 200, "exported_detections": 200, "matched": matched}
        bm |= {"match_rate": matched / 200, "iou_threshold": 0.9, "compared": True}
        return build_report(
            fmt="onnx",
            arch="seg_fast",
            task="segment",
            checkpoint=tmp_path / "best.pt",
            model_file=tmp_path / "model.onnx",
            options={},
            info={},
            files=[],
            verification={"box_match": bm},
            not_verified=None,
            warnings=[],
            timings={},
        )

    assert report(200)["warnings"] == [] and report(199)["warnings"] == []
    assert "only 197 of 200 detections agree" in report(197)["warnings"][0]
