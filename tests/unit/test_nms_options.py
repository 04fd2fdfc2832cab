"""The export NMS options: the format table (ranges, defaults, availability), the CLI flags, the models."""

from __future__ import annotations

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.export.formats import ArchInfo, get_format, unavailable, validate_options
from studio.core.models import build_model
from studio.core.models.nms import configure_nms, nms_settings

NMS_OPTIONS = ("nms_iou", "pre_nms_topk")


@pytest.mark.parametrize("fmt", ["onnx", "onnx-e2e", "engine", "openvino"])
def test_every_graph_format_has_both_options_defaulting_to_the_models_own(fmt):
    f = get_format(fmt)
    for name in NMS_OPTIONS:
        assert f.option(name).default is None  # None: what the model (and so `studio predict`) uses


@pytest.mark.parametrize(
    ("options", "item", "words"),
    [
        ({"nms_iou": 1.5}, "nms_iou", "at most 1"),
        ({"nms_iou": 0}, "nms_iou", "at least 0.01"),
        ({"pre_nms_topk": 0}, "pre_nms_topk", "at least 1"),
        ({"pre_nms_topk": 2.5}, "pre_nms_topk", "an integer"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_option(options, item, words):
    with pytest.raises(StudioError) as e:
        validate_options("onnx-e2e", options, device="cpu")
    assert e.value.item == item and words in e.value.message


def test_valid_values_pass_through():
    opts = validate_options("onnx-e2e", {"nms_iou": "0.45", "pre_nms_topk": "300"}, device="cpu")
    assert opts["nms_iou"] == 0.45 and opts["pre_nms_topk"] == 300


def test_a_family_studio_does_not_know_says_why():
    plugin = ArchInfo("my_det", "my_family", "detect")
    why = unavailable("onnx", plugin)
    assert "my_family" in why["nms_iou"] and "pre_nms_topk" in why
    with pytest.raises(StudioError, match="NMS settings"):
        validate_options("onnx", {"nms_iou": 0.5}, arch=plugin, device="cpu")
    assert "nms_iou" not in unavailable("onnx", ArchInfo("seg_fast", "fast", "segment"))


def test_the_cli_flags_come_from_the_table(capsys):
    from studio.cli import main

    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert "--nms-iou X" in out and "--pre-nms-topk N" in out


@pytest.mark.parametrize(
    ("arch", "size", "iou", "topk"),
    [
        ("det_fast", 64, 0.6, 1000),  # FastConfig
        ("fasterrcnn_mobilenet_v3_large_320_fpn", 320, 0.5, 150),  # roi_heads.nms_thresh, rpn pre-NMS (testing)
        ("ssdlite320_mobilenet_v3_large", 320, 0.55, 300),  # nms_thresh, topk_candidates
    ],
)
def test_each_family_reads_and_sets_its_own_attributes(arch, size, iou, topk):
    model = build_model(arch, 2, image_size=size)
    assert nms_settings(model).as_options() == {"nms_iou": pytest.approx(iou), "pre_nms_topk": topk}
    now = configure_nms(model, 0.3, 7)
    assert now.iou == pytest.approx(0.3) and now.pre_nms_topk == 7
    assert configure_nms(model, None, None) == now  # None leaves a setting as it is


def test_a_model_without_the_setting_is_refused():
    with pytest.raises(StudioError) as e:
        configure_nms(torch.nn.Linear(2, 2), iou=0.5)
    assert e.value.item == "nms_iou"
    with pytest.raises(StudioError) as e:
        configure_nms(torch.nn.Linear(2, 2), pre_nms_topk=5)
    assert e.value.item == "pre_nms_topk"


@torch.no_grad()
def test_the_fast_models_postprocessing_follows_the_settings():
    torch.manual_seed(0)
    model = build_model("det_fast", 2, image_size=96, score_thr=0.0, max_detections=1000).eval()
    image = [torch.rand(3, 96, 96)]
    configure_nms(model, iou=1.0, pre_nms_topk=1000)
    loose = len(model(image)[0]["scores"])
    configure_nms(model, iou=0.2)
    tight = len(model(image)[0]["scores"])
    configure_nms(model, iou=1.0, pre_nms_topk=5)
    assert loose > tight > 0 and len(model(image)[0]["scores"]) <= 5
