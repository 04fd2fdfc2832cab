"""The OpenVINO export format: converted from the ONNX export, run through the same runtime interface, verified.

The default suite converts a tiny hand-made ONNX graph (input-dependent scores, fixed boxes) with Studio's
metadata, so the conversion, the metadata round trip, ``load_exported`` / ``studio infer`` on a ``.xml`` and the
refusals are checked in a second; the full export of a zoo model with its verification is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from studio.cli_export import main as export_main
from studio.core.errors import StudioError
from studio.core.export import formats
from studio.core.export.formats import FORMAT_KEY, unavailable, validate_options
from studio.core.export.runtime import load_exported
from studio.core.geometry import iou_matrix
from studio.core.imageio import imread_rgb, list_images

pytest.importorskip("openvino", reason="OpenVINO is an optional extra: pip install 'studio[openvino]'")

CLASSES = {"cat_ids": [1, 2, 3], "names": ["disc", "square", "star"]}


def _tiny_onnx(path, with_meta: bool = True):
    """images (1, 3, H, W) -> boxes (3, 4) fixed, scores (3) = the mean of each channel, labels (3) = 1, 2, 3."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    boxes = numpy_helper.from_array(np.array([[2, 2, 20, 20], [10, 4, 30, 28], [0, 0, 8, 8]], np.float32), "b")
    labels = numpy_helper.from_array(np.array([1, 2, 3], np.int64), "l")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["scores"], axes=[0, 2, 3], keepdims=0),
        helper.make_node("Identity", ["b"], ["boxes"]),
        helper.make_node("Identity", ["l"], ["labels"]),
    ]
    g = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [3, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [3]),
        ],
        initializer=[boxes, labels],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_meta:
        meta = {
            "format": "onnx",
            "arch": "det_lite",
            "task": "detect",
            "classes": CLASSES,
            "image_size": 64,
            "letterbox": False,
            "static_size": False,
            "batch": 1,
            "score_thr": 0.0,
            "max_det": 3,
        }
        model.metadata_props.add(key="studio", value=json.dumps(meta))
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_ir(tmp_path):
    from studio.core.export.openvino_export import convert_to_openvino

    onnx_path = _tiny_onnx(tmp_path / "model.onnx")
    files = convert_to_openvino(onnx_path, tmp_path / "model.xml", _meta_of(onnx_path))
    return onnx_path, files


def _meta_of(onnx_path):
    import onnx

    return json.loads({p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}["studio"])


def _image(h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_the_ir_runs_through_the_same_runtime_and_agrees_with_onnx_runtime(tiny_ir):
    onnx_path, (xml, bin_) = tiny_ir
    assert xml.name == "model.xml" and bin_.is_file()
    ov = load_exported(xml, threads=1)
    ort = load_exported(onnx_path, threads=1)
    assert (
        ov.name == "openvino_cpu" and ov.info.format == "openvino" and ov.class_map.names == ("disc", "square", "star")
    )
    assert ov.backend.input_shape == (1, 3, None, None)
    for seed in range(3):
        im = _image(seed=seed)
        (a,), (b,) = ov.predict([im]), ort.predict([im])
        assert len(a) == 3
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)  # fp32 on the CPU, not bf16
        np.testing.assert_array_equal(a.labels, b.labels)


def test_studio_infer_runs_an_ir_without_torch(tiny_ir, tmp_path):
    from studio.core.imageio import save_image

    _onnx, (xml, _bin) = tiny_ir
    save_image(tmp_path / "im" / "a.png", _image())
    code = (
        "import sys\n"
        "from studio.cli_export import main\n"
        f"rc = main(['infer', {str(xml)!r}, {str(tmp_path / 'im')!r}, '--out', {str(tmp_path / 'o')!r}])\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert len(results) == 3 and {r["category_id"] for r in results} == {1, 2, 3}
    assert (tmp_path / "o" / "a.png").is_file()


def _empty_if_onnx(path):
    """Boxes, scores and labels gathered with indices from an If whose taken branch is a zero-size constant (as
    torchvision's batched_nms returns when no box passed the threshold): no detection."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def branch(name, values):
        const = helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))
        return helper.make_graph([const], name, [], [helper.make_tensor_value_info(name, TensorProto.INT64, [None])])

    init = [
        numpy_helper.from_array(np.array([[1, 2, 30, 40]], np.float32), "b"),
        numpy_helper.from_array(np.array([0.9], np.float32), "s"),
        numpy_helper.from_array(np.array(-1.0, np.float32), "floor"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Greater", ["mean", "floor"], ["always"]),
        helper.make_node("If", ["always"], ["idx"], then_branch=branch("none", []), else_branch=branch("all", [0])),
        helper.make_node("Gather", ["b", "idx"], ["boxes"], axis=0),
        helper.make_node("Gather", ["s", "idx"], ["scores"], axis=0),
        helper.make_node("Add", ["idx", "one"], ["labels"]),
    ]
    g = helper.make_graph(
        nodes,
        "empty_if",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [None, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [None]),
        ],
        initializer=init,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_no_detection_stays_no_detection(tmp_path):
    """OpenVINO reads a zero-size constant as one element: unrewritten, this graph 'detects' one box of random
    memory; the conversion makes the constant at run time and the IR finds nothing, as ONNX Runtime does."""
    import onnx

    from studio.core.export.openvino_export import convert_to_openvino, runtime_empty_constants

    src = _empty_if_onnx(tmp_path / "empty.onnx")
    assert runtime_empty_constants(onnx.load(str(src)).graph) == 1
    meta = dict(_meta_of(_tiny_onnx(tmp_path / "tiny.onnx")), score_thr=0.0)
    xml, _bin = convert_to_openvino(src, tmp_path / "model.xml", meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.onnx", "model.bin", "model.xml", "tiny.onnx"]
    (dets,) = load_exported(xml, threads=1).predict([_image()])
    assert len(dets) == 0


def test_a_broken_or_foreign_ir_is_refused_with_the_file_named(tiny_ir, tmp_path):
    from studio.core.export.openvino_export import convert_to_openvino

    _onnx, (xml, bin_) = tiny_ir
    with pytest.raises(StudioError, match="no NPU device"):
        load_exported(xml, device="npu")
    bin_.rename(tmp_path / "elsewhere.bin")
    with pytest.raises(StudioError, match="model.bin are missing") as e:
        load_exported(xml)
    assert e.value.file is not None and str(xml) in str(e.value)
    foreign = _tiny_onnx(tmp_path / "foreign.onnx", with_meta=False)
    import openvino

    openvino.save_model(openvino.convert_model(str(foreign)), str(tmp_path / "foreign.xml"))
    with pytest.raises(StudioError, match="no Studio metadata"):
        load_exported(tmp_path / "foreign.xml")
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    with pytest.raises(StudioError, match="OpenVINO cannot convert") as e:
        convert_to_openvino(tmp_path / "bad.onnx", tmp_path / "bad.xml", {})
    assert "bad.onnx" in str(e.value)


def test_without_openvino_the_format_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    real = formats._module_present
    monkeypatch.setattr(formats, "_module_present", lambda name: name != "openvino" and real(name))
    why = unavailable("openvino")[FORMAT_KEY]
    assert "pip install 'studio[openvino]'" in why
    with pytest.raises(StudioError, match="cannot export to OpenVINO"):
        validate_options("openvino", {})
    assert FORMAT_KEY not in unavailable("onnx")


def test_the_table_rules_for_openvino():
    assert validate_options("openvino", {"dynamic": True, "fp16_weights": "true"})["fp16_weights"] is True
    with pytest.raises(StudioError, match="one image at a time"):
        validate_options("openvino", {"batch": 2})
    with pytest.raises(StudioError, match="has no option 'half'|needs a GPU"):
        validate_options("openvino", {"half": True})
    ssd = formats.ArchInfo("ssd300_vgg16", "ssd", "detect", square_input=True)
    assert "square" in unavailable("openvino", ssd)["dynamic"]


def test_doctor_line_names_the_version_and_devices_or_how_to_install(monkeypatch):
    from studio.core.environment import openvino_status

    present, line = openvino_status()  # what `studio doctor` prints on its openvino line
    assert present and line[0].isdigit() and "devices: CPU (" in line
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    assert openvino_status() == (False, "not installed (pip install 'studio[openvino]')")


@pytest.mark.slow
def test_det_fast_openvino_export_verifies_itself_and_infer_agrees(checkpoint_factory, demo, tmp_path):
    import torch

    from studio.core.export.jobs import export_checkpoint

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = export_checkpoint(
            checkpoint_factory("det_fast", 96, calibrate_bn=True),
            "openvino",
            {"dynamic": True, "score_thr": 0.01},
            tmp_path / "ov",
            verify_ann=demo["val"].annotations,
            verify_images=demo["val"].images,
            n_verify=4,
            latency_runs=2,
        )
    finally:
        torch.set_num_threads(before)
    names = {p.name for p in r.files}
    assert {"model.xml", "model.bin", "model.onnx", "infer.py", "README.md", "export_report.json"} <= names
    rep = json.loads(r.report_path.read_text())
    assert rep["format"] == "openvino" and rep["model"] == "model.xml" and rep["verified"]
    assert rep["map_delta"] is not None and abs(rep["map_delta"]) <= 0.002
    bm = rep["box_match"]
    assert bm["pytorch_detections"] > 0 and bm["match_rate"] >= 0.95, bm  # as the ONNX export of det_fast does
    ov, ort = load_exported(r.model, threads=1), load_exported(r.out_dir / "model.onnx", threads=1)
    for p in list_images(demo["val"].images):  # the IR gives what ONNX Runtime gives on its source graph
        (a,), (b,) = ov.predict([imread_rgb(p)]), ort.predict([imread_rgb(p)])
        assert len(a) == len(b) > 0 and (iou_matrix(a.boxes, b.boxes).max(axis=1) >= 0.99).all(), p.name
        np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=1e-4)
    assert {"pytorch_cpu", "openvino_cpu", "onnxruntime_cpu"} <= set(rep["latency_ms"])
    assert "OpenVINO IR" in (r.out_dir / "README.md").read_text()
    assert export_main(["infer", str(r.model), str(demo["val"].images), "--out", str(tmp_path / "o")]) == 0
    assert len(json.loads((tmp_path / "o" / "predictions.json").read_text())) > 0
