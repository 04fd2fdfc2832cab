"""The export format table, option checks and reasons, and the torch-free pieces: batch Loop, mask paste,
matching, runner."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from studio.core.data.preprocess import preprocess
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.export import formats
from studio.core.export.formats import FORMAT_KEY, FORMATS, ArchInfo, get_format, unavailable, validate_options

LITE = ArchInfo("seg_lite", "lite", "segment")
SSD = ArchInfo("ssd300_vgg16", "ssd", "detect", square_input=True)


# ------------------------------------------------------------------------------------ the table
def test_the_table_lists_four_formats_with_typed_options():
    assert list(FORMATS) == ["onnx", "onnx-e2e", "engine", "openvino"]
    assert [f.device for f in FORMATS.values()] == ["cpu", "cpu", "gpu", "cpu"]
    for f in FORMATS.values():
        assert len(set(f.option_names)) == len(f.option_names)
        for o in f.options:
            assert o.type in ("bool", "int", "float", "shape", "str") and o.help
            assert o.check(o.default) == o.default  # every default passes its own check
    table = formats.describe_table()
    json.dumps(table)  # plain data for any front end
    assert {"opset", "dynamic", "half", "simplify"} <= {o["name"] for o in table[0]["options"]}
    assert {"int8", "workspace", "min_shape", "opt_shape", "max_shape", "calib_images"} <= {
        o["name"] for o in table[2]["options"]
    }


def test_option_values_are_converted_and_checked():
    onnx = get_format("onnx")
    assert onnx.option("opset").check("13") == 13
    assert onnx.option("dynamic").check("yes") is True
    assert get_format("engine").option("min_shape").check("2x64x96") == (2, 64, 96)
    for name, bad, why in (
        ("opset", 10, "at least 11"),
        ("opset", 99, "at most 20"),
        ("opset", "x", "an integer"),
        ("score_thr", 1.5, "at most 1"),
        ("dynamic", "maybe", "true or false"),
    ):
        with pytest.raises(StudioError, match=why) as e:
            onnx.option(name).check(bad)
        assert e.value.item == name
    with pytest.raises(StudioError, match="shape"):
        get_format("engine").option("max_shape").check("4x320")
    with pytest.raises(StudioError, match="unknown export format 'tflite'"):
        get_format("tflite")


def test_validate_options_fills_defaults_and_refuses_with_reasons():
    opts = validate_options("onnx-e2e", {"opset": "16", "batch": 4}, LITE, "cpu")
    assert opts["opset"] == 16 and opts["batch"] == 4 and opts["dynamic"] is False and opts["score_thr"] is None
    with pytest.raises(StudioError, match="has no option 'int8'"):
        validate_options("onnx", {"int8": True}, LITE)
    with pytest.raises(StudioError, match="one image at a time") as e:
        validate_options("onnx", {"batch": 2}, LITE)
    assert e.value.item == "batch"
    with pytest.raises(StudioError, match="needs a GPU"):
        validate_options("onnx", {"half": True}, LITE, "cpu")
    with pytest.raises(StudioError, match="dynamic export takes any batch"):
        validate_options("onnx-e2e", {"dynamic": True, "batch": 2}, LITE)
    with pytest.raises(StudioError, match="square"):
        validate_options("onnx", {"dynamic": True}, SSD)
    assert validate_options("onnx-e2e", {"dynamic": True}, SSD)["dynamic"] is True  # batches still make sense
    # options left at their defaults are never refused
    assert validate_options("onnx", {"half": False}, LITE, "cpu")["half"] is False


def test_engine_needs_a_gpu_and_tensorrt_and_says_how_to_get_them(monkeypatch):
    why = unavailable("engine", LITE, {}, "cpu")
    assert "NVIDIA GPU" in why[FORMAT_KEY]
    monkeypatch.setattr(formats, "_module_present", lambda name: False)
    assert "pip install" in unavailable("engine", LITE, {}, "gpu")[FORMAT_KEY]
    with pytest.raises(StudioError, match="cannot export to TensorRT engine: TensorRT is not installed"):
        validate_options("engine", {}, LITE, "gpu")
    monkeypatch.setattr(formats, "_module_present", lambda name: True)
    monkeypatch.setattr(formats, "_trt_major", lambda: 10)
    assert FORMAT_KEY not in unavailable("engine", LITE, {}, "gpu")
    reasons = unavailable("engine", LITE, {"dynamic": False}, "gpu")
    assert "dynamic" in reasons["opt_shape"] and "int8" in reasons["calib_images"]
    opts = validate_options(
        "engine", {"dynamic": True, "min_shape": "1x64x64", "max_shape": "4x320x320", "half": True}, LITE, "gpu"
    )
    assert opts["min_shape"] == (1, 64, 64) and opts["half"] is True
    with pytest.raises(StudioError, match="min <= opt <= max"):
        validate_options(
            "engine",
            {"dynamic": True, "min_shape": "1x320x320", "opt_shape": "1x96x96", "max_shape": "1x320x320"},
            LITE,
            "gpu",
        )
    monkeypatch.setattr(formats, "_trt_major", lambda: 11)
    monkeypatch.setattr(formats, "_module_present", lambda name: name != "modelopt")
    assert "nvidia-modelopt" in unavailable("engine", LITE, {"int8": True}, "gpu")["int8"]


def test_cli_flags_come_from_the_table():
    from studio.cli_export import add_parsers, options_from_args

    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers(dest="command"))
    a = p.parse_args(
        ["export", "ck.pt", "--format", "engine", "--half", "--workspace", "2", "--max-shape", "4x320x320"]
    )
    assert options_from_args(a) == {"half": True, "workspace": "2", "max_shape": "4x320x320"}  # unset flags stay unset
    every = {o.flag for f in FORMATS.values() for o in f.options}
    help_text = p._subparsers._group_actions[0].choices["export"].format_help()
    assert all(flag in help_text for flag in every)
    with pytest.raises(SystemExit):
        p.parse_args(["export", "ck.pt", "--format", "tflite"])


# ------------------------------------------------------------------------------------ torch-free runtime
def test_the_runtime_imports_no_torch():
    code = (
        "import sys\n"
        "import studio.core.export.runtime, studio.core.export.postprocess, studio.core.export.trt_runtime\n"
        "import studio.core.export.tensorrt_build, studio.core.export.readme, studio.core.export.formats\n"
        "from studio.core.export.jobs import infer_images\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'torchvision')))\n"
        "assert not bad, bad[:5]\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_mask_paste_is_torchvisions():
    torch = pytest.importorskip("torch")
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    from studio.core.export.postprocess import paste_masks

    rng = np.random.default_rng(0)
    masks = rng.random((40, 1, 28, 28)).astype(np.float32)
    xy = rng.uniform(0, 90, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.3, 60, (40, 2))], 1).astype(np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, 128)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, 96)
    ref = paste_masks_in_image(torch.from_numpy(masks), torch.from_numpy(boxes), (96, 128)).numpy()[:, 0]
    got = paste_masks(masks, boxes, 96, 128)
    assert got.shape == ref.shape and np.abs(ref - got).max() < 1e-4
    assert ((ref > 0.5) == (got > 0.5)).all()
    assert paste_masks(masks[:0], boxes[:0], 96, 128).shape == (0, 96, 128)


def test_to_detections_sorts_and_maps_back_to_the_image():
    from studio.core.export.postprocess import to_detections

    img = np.zeros((60, 120, 3), np.uint8)
    _, meta = preprocess(img, 64, letterbox=False)  # 120x60 -> 64x32, padded to 64x32
    boxes = np.array([[0, 0, 32, 16], [32, 16, 64, 32]], np.float32)
    d = to_detections(
        boxes, np.array([0.2, 0.9], np.float32), np.array([1, 2]), np.ones((2, 1, 28, 28), np.float32), meta, True
    )
    assert list(d.scores) == pytest.approx([0.9, 0.2]) and list(d.labels) == [2, 1]
    np.testing.assert_allclose(d.boxes[0], [60, 30, 120, 60], atol=1)
    assert d.masks.shape == (2, 60, 120) and d.masks[0, 45, 90] and not d.masks[0, 5, 5]
    empty = to_detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0), None, meta, True)
    assert len(empty) == 0 and empty.masks.shape == (0, 60, 120)


def test_box_matching_pairs_same_class_boxes_best_score_first():
    from studio.core.export.verify import box_match, match_pairs
    from studio.core.geometry import iou_matrix

    a = Detections(
        np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 0, 60, 0]], np.float32),
        np.array([0.9, 0.8, 0.1], np.float32),
        np.array([1, 2, 1]),
    )
    b = Detections(
        np.array([[0, 0, 10, 10.5], [20, 20, 30, 30], [50, 0, 60, 0]], np.float32),
        np.array([0.9, 0.7, 0.1], np.float32),
        np.array([1, 1, 1]),
    )
    assert iou_matrix(a.boxes, b.boxes)[2, 2] == 1.0  # two coinciding zero-area boxes agree
    pairs = match_pairs(a, b)
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (2, 2)]  # box 1 has the wrong class on the other side
    m = box_match([a, Detections.empty()], [b, Detections.empty()])
    assert (m.matched, m.pytorch_detections, m.exported_detections) == (2, 3, 3)
    assert m.match_rate == pytest.approx(2 / 3) and m.max_score_diff == pytest.approx(0.0)
    assert box_match([Detections.empty()], [Detections.empty()]).match_rate == 1.0


def test_loop_over_batch_runs_a_single_image_graph_on_any_batch():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from studio.core.export.e2e import loop_over_batch

    # a toy "detector" on (1, 3, H, W): num_dets (1, 1) = mean * 10, boxes (1, 2, 4) = the image's max, plus a weight
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [2.0])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "w"], ["m2"]),
        helper.make_node("Cast", ["m2"], ["n0"], to=TensorProto.INT32),
        helper.make_node("Reshape", ["n0", "shape11"], ["num_dets"]),
        helper.make_node("ReduceMax", ["images"], ["mx"], keepdims=0),
        helper.make_node("Expand", ["mx", "shape124"], ["boxes"]),
    ]
    shapes = [
        helper.make_tensor("shape11", TensorProto.INT64, [2], [1, 1]),
        helper.make_tensor("shape124", TensorProto.INT64, [3], [1, 2, 4]),
    ]
    g = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [
            helper.make_tensor_value_info("num_dets", TensorProto.INT32, [1, 1]),
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 4]),
        ],
        initializer=[w, *shapes],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.add(key="studio", value="{}")
    looped = loop_over_batch(model)
    assert [d.dim_param for d in looped.graph.input[0].type.tensor_type.shape.dim][:1] == ["batch"]
    assert looped.metadata_props[0].key == "studio"
    sess = ort.InferenceSession(looped.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.stack([np.full((3, 4, 5), v, np.float32) for v in (1.0, 2.0, 3.5)])
    nd, bx = sess.run(None, {"images": x})
    assert nd.shape == (3, 1) and list(nd[:, 0]) == [2, 4, 7]
    assert bx.shape == (3, 2, 4) and list(bx[:, 0, 0]) == [1.0, 2.0, 3.5]
    assert sess.run(None, {"images": x[:1]})[1].shape == (1, 2, 4)
    onnx.checker.check_model(looped)


class _FakeBackend:
    """Padded outputs with one box per image at a fixed place; records the batches it was given."""

    name = "fake"

    def __init__(self, batch):
        self.calls = []
        self.batch = batch

    def run(self, x):
        self.calls.append(x.shape)
        b = x.shape[0]
        boxes = np.zeros((b, 3, 4), np.float32)
        boxes[:, 0] = [8, 8, 24, 24]
        return {
            "num_dets": np.ones((b, 1), np.int32),
            "boxes": boxes,
            "scores": np.full((b, 3), 0.5, np.float32),
            "labels": np.ones((b, 3), np.int32),
        }


def _model(batch, static=True, size=32):
    from studio.core.export.runtime import ExportedModel, ModelInfo

    info = ModelInfo(
        "onnx-e2e", "det_lite", "detect", {"cat_ids": [7], "names": ["thing"]}, size, False, static, batch, 0.05, 3
    )
    backend = _FakeBackend(batch)
    return ExportedModel(backend, info), backend


def test_the_runner_batches_same_shaped_images_and_fills_static_batches():
    m, backend = _model(batch=4)
    imgs = [np.zeros((32, 32, 3), np.uint8)] * 5
    dets = m.predict(imgs)
    assert backend.calls == [(4, 3, 32, 32), (4, 3, 32, 32)]  # 4, then 1 padded to the static batch of 4
    assert len(dets) == 5 and all(len(d) == 1 for d in dets) and m.class_map.cat_ids == (7,)
    m, backend = _model(batch=None, static=False, size=64)
    square, wide = np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)
    m.predict([square, square, wide, square])
    assert backend.calls == [(2, 3, 64, 64), (1, 3, 32, 64), (1, 3, 64, 64)]  # never padded to a common size
    m, _ = _model(batch=1)
    assert m.score_thr == 0.05 and len(m.predict(imgs[:1])[0]) == 1
    from studio.core.export.runtime import ExportedModel

    higher = ExportedModel(m.backend, m.info, score_thr=0.6)
    assert higher.score_thr == 0.6 and len(higher.predict(imgs[:1])[0]) == 0
    assert ExportedModel(m.backend, m.info, score_thr=0.01).score_thr == 0.05  # never below the graph's


def test_report_has_the_required_keys_even_unverified(tmp_path):
    from pathlib import Path

    from studio.core.export.report import build_report, summary_lines, write_report

    rep = build_report(
        fmt="onnx",
        arch="det_lite",
        task="detect",
        checkpoint=Path("c.pt"),
        model_file=Path("model.onnx"),
        options={"opset": 17},
        info={},
        files=[Path("model.onnx")],
        verification=None,
        not_verified="no val set",
        warnings=[],
        timings={"export": 1.0},
    )
    assert {"map_pytorch", "map_exported", "map_delta", "latency_ms"} <= set(rep) and rep["verified"] is False
    assert any("not verified: no val set" in w for w in rep["warnings"])
    path = write_report(tmp_path, rep)
    assert json.loads(path.read_text())["format"] == "onnx"
    v = {
        "n_images": 2,
        "box_match": {
            "images": 2,
            "pytorch_detections": 10,
            "exported_detections": 10,
            "matched": 5,
            "match_rate": 0.5,
            "mean_iou": 0.99,
            "max_score_diff": 0.01,
            "mean_score_diff": 0.0,
            "iou_threshold": 0.9,
        },
        "metric": "bbox_mAP",
        "map_pytorch": 0.5,
        "map_exported": 0.45,
        "map_delta": -0.05,
        "latency_ms": {"pytorch_cpu": 20.0, "onnxruntime_cpu": 10.0},
        "speedup_vs_pytorch": {"onnxruntime_cpu": 2.0},
    }
    rep = build_report(
        fmt="onnx",
        arch="det_lite",
        task="detect",
        checkpoint=Path("c.pt"),
        model_file=Path("model.onnx"),
        options={},
        info={},
        files=[],
        verification=v,
        not_verified=None,
        warnings=[],
        timings={},
    )
    text = "\n".join(summary_lines(rep))
    assert "onnxruntime_cpu 10.0 (2.00x)" in text and "-0.0500" in text
    assert len(rep["warnings"]) == 2  # the poor match and the mAP difference are both called out
