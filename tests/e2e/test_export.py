"""Export end to end on the demo set: ONNX and end-to-end ONNX of seg_lite / det_lite, verified, then `studio infer`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.cli_export import main as export_main
from studio.core.errors import StudioError
from studio.core.export.jobs import export_checkpoint
from studio.core.export.runtime import load_exported
from studio.core.geometry import iou_matrix
from studio.core.imageio import imread_rgb, list_images

REPORT_KEYS = {"map_pytorch", "map_exported", "map_delta", "latency_ms", "box_match", "format", "options", "warnings"}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread (PyTorch, and ONNX Runtime, which gets as many): on a shared 2-core machine
    two threads each spin-wait for the other and a forward pass takes ten times longer."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _export(ckpt, fmt, out, demo, n_verify=4, **options):
    return export_checkpoint(
        ckpt,
        fmt,
        options,
        out,
        verify_ann=demo["val"].annotations,
        verify_images=demo["val"].images,
        n_verify=n_verify,
        latency_runs=2,
    )


def _by_file(results: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in results:
        out.setdefault(Path(r["file_name"]).name, []).append(r)
    return out


def _xyxy(rs: list[dict]) -> np.ndarray:
    return np.array(
        [[r["bbox"][0], r["bbox"][1], r["bbox"][0] + r["bbox"][2], r["bbox"][1] + r["bbox"][3]] for r in rs]
    ).reshape(-1, 4)


@pytest.fixture(scope="module")
def seg_export(trained_checkpoint, demo, tmp_path_factory):
    """seg_lite (trained 3 epochs) exported to plain ONNX with dynamic size: what `studio predict` runs, exactly."""
    return _export(trained_checkpoint, "onnx", tmp_path_factory.mktemp("seg") / "export", demo, dynamic=True)


def test_seg_lite_onnx_export_verifies_itself(seg_export):
    r = seg_export
    names = {p.name for p in r.files}
    assert {"model.onnx", "infer.py", "README.md", "export_report.json"} <= names
    assert all(p.is_file() for p in r.files)
    report = json.loads(r.report_path.read_text())
    assert REPORT_KEYS <= set(report)
    assert report["metric"] == "segm_mAP" and report["verified"] is True
    assert abs(report["map_delta"]) <= 0.002
    assert report["map_pytorch"] == pytest.approx(report["map_exported"], abs=0.002)
    assert {"pytorch_cpu", "onnxruntime_cpu"} <= set(report["latency_ms"])
    assert all(v > 0 for v in report["latency_ms"].values())
    assert "onnxruntime_cuda" in report["latency_skipped"] and "tensorrt" in report["latency_skipped"]
    bm = report["box_match"]
    assert bm["images"] == 4 and bm["match_rate"] >= 0.99, bm
    assert bm["max_score_diff"] is None or bm["max_score_diff"] < 1e-3
    readme = (r.out_dir / "README.md").read_text()
    assert "## Input" in readme and "## Outputs" in readme and "masks" in readme and "segm_mAP" in readme


def test_infer_writes_what_predict_writes(seg_export, trained_checkpoint, demo, tmp_path, capsys):
    from studio import api

    images = demo["val"].images
    assert export_main(["infer", str(seg_export.model), str(images), "--out", str(tmp_path / "infer")]) == 0
    assert "detections on 4 images" in capsys.readouterr().out
    api.predict(trained_checkpoint, [images], tmp_path / "predict")
    got = json.loads((tmp_path / "infer" / "predictions.json").read_text())
    ref = json.loads((tmp_path / "predict" / "predictions.json").read_text())
    assert sorted(p.name for p in (tmp_path / "infer").iterdir()) == sorted(
        p.name for p in (tmp_path / "predict").iterdir()
    )
    assert len(got) == len(ref) > 0
    assert {tuple(sorted(r)) for r in got} == {tuple(sorted(r)) for r in ref}  # same keys, segmentation included
    g, f = _by_file(got), _by_file(ref)
    assert g.keys() == f.keys()
    for name in f:
        iou = iou_matrix(_xyxy(f[name]), _xyxy(g[name]))
        assert len(f[name]) == len(g[name]) and (iou.max(axis=1) >= 0.9).all(), name
        assert sorted(r["category_id"] for r in f[name]) == sorted(r["category_id"] for r in g[name])


def test_infer_runs_without_torch_and_the_standalone_script_agrees(seg_export, demo, tmp_path):
    first = list_images(demo["val"].images)[0]
    code = (
        "import sys, json\n"
        "from studio.core.export.jobs import infer_images\n"
        f"s = infer_images({str(seg_export.model)!r}, [{str(first)!r}], {str(tmp_path / 'o')!r})\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]\n"
        "print(s.detections)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n = int(out.stdout.strip().splitlines()[-1])
    script = subprocess.run(
        [sys.executable, str(seg_export.out_dir / "infer.py"), str(first), "--draw", str(tmp_path / "drawn")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert script.returncode == 0, script.stderr
    line = json.loads(script.stdout.strip().splitlines()[0])
    assert line["file"] == str(first) and len(line["detections"]) == n
    ours = json.loads((tmp_path / "o" / "predictions.json").read_text())
    theirs = [[d["box"][0], d["box"][1], d["box"][2], d["box"][3]] for d in line["detections"]]
    if n:
        assert (iou_matrix(_xyxy(ours), np.array(theirs)).max(axis=1) >= 0.99).all()
        assert all("mask_area" in d for d in line["detections"])
    assert (tmp_path / "drawn" / first.name).is_file()


def test_det_lite_end_to_end_dynamic_batch(checkpoint_factory, demo, tmp_path):
    ckpt = checkpoint_factory("det_lite")
    r = _export(ckpt, "onnx-e2e", tmp_path / "e2e", demo, n_verify=2, dynamic=True, max_det=30)
    report = r.report
    assert REPORT_KEYS <= set(report) and report["metric"] == "bbox_mAP"
    model = load_exported(r.model)
    assert model.info.batch is None and model.backend.input_shape[0] is None  # any batch size
    outs = {o.name: o.shape for o in model.backend.session.get_outputs()}
    assert list(outs) == ["num_dets", "boxes", "scores", "labels"] and outs["boxes"][1:] == [30, 4]
    imgs = [imread_rgb(p) for p in list_images(demo["val"].images)[:3]]
    x = np.stack([model._prepare(im)[0] for im in imgs])
    raw = model.backend.run(x)  # one run, three images
    assert raw["num_dets"].shape == (3, 1) and raw["boxes"].shape == (3, 30, 4)
    together = model.predict(imgs)
    for im, dets in zip(imgs, together):
        alone = model.predict([im])[0]
        np.testing.assert_allclose(alone.boxes, dets.boxes, atol=1e-4)
        np.testing.assert_array_equal(alone.labels, dets.labels)


def test_seg_lite_end_to_end_static_batch_pads_short_batches(checkpoint_factory, demo, tmp_path):
    r = _export(checkpoint_factory("seg_lite"), "onnx-e2e", tmp_path / "e2e", demo, n_verify=1, batch=2, max_det=10)
    model = load_exported(r.model)
    assert model.info.batch == 2 and model.backend.input_shape == (2, 3, 96, 96)
    outs = {o.name: o.shape for o in model.backend.session.get_outputs()}
    assert outs["masks"] == [2, 10, 28, 28] and outs["num_dets"] == [2, 1]
    im = imread_rgb(list_images(demo["val"].images)[0])
    (dets,) = model.predict([im])  # one image through a batch-2 graph
    assert dets.masks is not None and dets.masks.shape[1:] == im.shape[:2] and len(dets) <= 10


def test_an_image_without_detections(checkpoint_factory, demo, tmp_path):
    """A graph whose threshold nothing reaches: empty outputs, an empty results file, the image still drawn."""
    for fmt in ("onnx", "onnx-e2e"):
        r = _export(checkpoint_factory("seg_lite"), fmt, tmp_path / fmt, demo, n_verify=1, score_thr=1.0, max_det=5)
        assert r.report["box_match"]["pytorch_detections"] == 0 and r.report["box_match"]["match_rate"] == 1.0
        first = list_images(demo["val"].images)[0]
        assert export_main(["infer", str(r.model), str(first), "--out", str(tmp_path / f"o-{fmt}")]) == 0
        assert json.loads((tmp_path / f"o-{fmt}" / "predictions.json").read_text()) == []
        assert (tmp_path / f"o-{fmt}" / first.name).is_file()


def test_refusals_say_why_before_any_work(checkpoint_factory, tmp_path, capsys):
    ckpt = checkpoint_factory("det_lite")
    cases = [
        (["--format", "engine"], "NVIDIA GPU"),
        (["--format", "onnx", "--batch", "4"], "one image at a time"),
        (["--format", "onnx", "--half"], "needs a GPU"),
        (["--format", "onnx-e2e", "--dynamic", "--batch", "2"], "dynamic export takes any batch"),
        (["--format", "onnx", "--opset", "9"], "at least 11"),
        (["--format", "onnx", "--max-det", "many"], "expected an integer"),
    ]
    for args, why in cases:
        out = tmp_path / "never"
        assert export_main(["export", str(ckpt), *args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and why in err, (args, err)
        assert not out.exists()
    from studio.core.export.jobs import infer_images

    with pytest.raises(StudioError, match="no such image"):
        infer_images(tmp_path / "m.onnx", [tmp_path / "nope.jpg"], tmp_path / "o")


def test_infer_refuses_a_foreign_onnx_file(tmp_path, demo):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "foreign.onnx"))
    with pytest.raises(StudioError, match="no Studio metadata"):
        load_exported(tmp_path / "foreign.onnx")


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch,size",
    [
        ("fasterrcnn_mobilenet_v3_large_320_fpn", 160),
        ("maskrcnn_resnet50_fpn", 128),
        ("retinanet_resnet50_fpn", 128),
        ("fcos_resnet50_fpn", 128),
        ("ssdlite320_mobilenet_v3_large", 160),
    ],
)
def test_torchvision_detectors_export(checkpoint_factory, demo, tmp_path, arch, size):
    # random weights with BatchNorm calibrated, so that scores differ (SSDlite's otherwise all equal 0.2: ties that
    # PyTorch and ONNX Runtime break differently); RetinaNet's prior keeps every random score near 0.01
    ckpt = checkpoint_factory(arch, size, calibrate_bn=True)
    thr = 0.005 if arch.startswith("retinanet") else None
    r = _export(ckpt, "onnx-e2e", tmp_path / arch, demo, n_verify=2, dynamic=True, score_thr=thr)
    assert REPORT_KEYS <= set(r.report)
    assert r.report["map_delta"] is not None and abs(r.report["map_delta"]) <= 0.002
    match = r.report["box_match"]
    assert match["pytorch_detections"] > 0 and match["match_rate"] >= 0.9, match
