"""Feature maps and layer discovery on every architecture of the zoo (random weights, tiny inputs)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import torch

from studio.core import draw
from studio.core.data.classes import ClassMap
from studio.core.data.preprocess import preprocess
from studio.core.errors import StudioError
from studio.core.explain.capture import LayerRef, to_image
from studio.core.explain.featmap import reduce_channels
from studio.core.explain.jobs import featmap_job, featmap_picture, model_input, safe_name
from studio.core.explain.layers import inspect_layers
from studio.core.inference.predictor import Predictor
from studio.core.models import build_model, get_arch, list_archs

# Heavy on 2 CPU cores (ResNet-50 R-CNNs at 1000 proposals, VGG16 SSD at 300 px): run with -m slow.
SLOW_ARCHS = {
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn_v2",
    "ssd300_vgg16",
}
ARCHS = [pytest.param(s.name, marks=pytest.mark.slow) if s.name in SLOW_ARCHS else s.name for s in list_archs()]


def make_predictor(arch: str, seed: int = 0) -> Predictor:
    """A random-weight model at its smallest test size; score threshold 0 so every arch has detections."""
    spec = get_arch(arch)
    size = max(96, spec.min_size)
    torch.manual_seed(seed)
    model = build_model(arch, 2, image_size=size)
    return Predictor(
        model,
        ClassMap.from_names(["ball", "cube"]),
        size=size,
        letterbox=spec.square_input,
        device=torch.device("cpu"),
        task=spec.task,
        score_thr=0.0,
        max_detections=10,
    )


@pytest.fixture(scope="module")
def det() -> Predictor:
    return make_predictor("det_lite")


def sample_image(h: int = 72, w: int = 112) -> np.ndarray:
    """Non-square (so resizing and padding are exercised) with one bright square."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    img[20:50, 60:95] = 230
    return img


@pytest.mark.parametrize("arch", ARCHS)
def test_feature_maps_of_every_arch_are_finite_and_image_sized(arch):
    pred = make_predictor(arch)
    img = sample_image()
    res = featmap_job(pred, img, ["backbone", "neck"], topk=2)
    shortcuts = res.layers.shortcuts
    assert shortcuts["backbone"] and shortcuts["neck"] and shortcuts["fpn"] == shortcuts["neck"]
    assert [m.layer for m in res.maps] == shortcuts["backbone"] + shortcuts["neck"]
    for fm in res.maps:
        assert fm.reduction == "topk" and len(fm.channels) == 2
        assert fm.maps.shape == (2, 72, 112) and fm.maps.dtype == np.float32
        assert np.isfinite(fm.maps).all()
    # the neck levels go from fine to coarse (a stride-2 pyramid, whatever the family)
    widths = [fm.shape[2] for fm in res.maps[len(shortcuts["backbone"]) :]]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    assert res.files == []


def test_shortcuts_are_found_from_structure_not_names(det):
    """R-CNN: backbone = the body's stages (named by the module that outputs each), neck = the FPN's
    outputs; SSD has no FPN: its feature extractor's maps are both."""
    x, _ = model_input(det, sample_image())
    layers = inspect_layers(det.model, x)
    assert layers.shortcuts["backbone"] == ["backbone.body.6", "backbone.body.12", "backbone.body.16"]
    assert layers.shortcuts["neck"] == ["backbone.fpn:0", "backbone.fpn:1", "backbone.fpn:2", "backbone.fpn:pool"]
    assert layers.shortcuts["stage2"] == ["backbone.body.12"] and layers.shortcuts["level4"] == ["backbone.fpn:pool"]
    assert layers.default == ["neck"]
    assert layers.batch_hw == (64, 96)  # 112x72 -> 96x62 at 96 px, padded to a multiple of 32

    ssd = make_predictor("ssdlite320_mobilenet_v3_large")
    x, _ = model_input(ssd, sample_image())
    s = inspect_layers(ssd.model, x)
    assert s.shortcuts["neck"] == [f"backbone:{i}" for i in range(6)]
    assert s.shortcuts["backbone"][:2] == ["backbone.features.0", "backbone.features.1"]
    assert len(s.shortcuts["backbone"]) == 6


def test_module_tree_lists_types_and_probe_shapes(det):
    pred = det
    x, _ = model_input(pred, sample_image())
    layers = inspect_layers(pred.model, x)
    tree = layers.tree
    assert tree.name == "" and tree.type == "FasterRCNN"
    assert [c.name for c in tree.children] == ["transform", "backbone", "rpn", "roi_heads"]
    fpn = layers.node("backbone.fpn")
    assert fpn.type == "FeaturePyramidNetwork" and fpn.calls == 1
    assert dict(fpn.outputs)["0"] == (1, 96, 8, 12)  # MobileNetV3 block 6: stride 8 of the 64x96 batch
    conv = layers.node("backbone.body.0.0")
    assert conv.type == "Conv2d" and conv.spatial and conv.params > 0
    assert "backbone.body.12" in layers.spatial_layers()
    assert "roi_heads.box_predictor.cls_score" not in layers.spatial_layers()  # Linear: nothing to draw
    as_json = orjson.loads(orjson.dumps(layers.to_dict()))
    assert as_json["shortcuts"]["backbone"] == layers.shortcuts["backbone"]
    text = layers.format_text()
    assert "backbone.fpn (FeaturePyramidNetwork)" in text and "neck: backbone.fpn:0" in text


def test_named_layer_equals_its_shortcut_and_reductions(det):
    pred = det
    img = sample_image()
    res = featmap_job(pred, img, ["stage2", "backbone.body.12", "backbone.fpn:1"], reduction="select_max")
    by_stage, by_name, one_key = res.maps
    assert by_stage.layer == by_name.layer == "backbone.body.12"
    np.testing.assert_array_equal(by_stage.maps, by_name.maps)
    assert len(by_stage.channels) == 1 and one_key.layer == "backbone.fpn:1"
    mean = featmap_job(pred, img, "backbone.body.12").maps[0]
    assert mean.reduction == "squeeze_mean" and mean.channels == () and mean.maps.shape == (1, 72, 112)


def test_reduce_channels():
    act = torch.zeros(4, 2, 3)
    act[1] = 1.0
    act[2] = 5.0
    act[2, 0, 0] = -20.0  # sum 5 * 6 - 25 = 5: below channel 1's 6
    act[3] = 2.0  # sum 12: the largest
    grids, ch, used = reduce_channels(act, "squeeze_mean")
    assert used == "squeeze_mean" and ch == () and grids.shape == (1, 2, 3)
    np.testing.assert_allclose(grids[0], act.mean(0).numpy())
    grids, ch, used = reduce_channels(act, "select_max")
    assert ch == (3,) and used == "select_max"
    grids, ch, used = reduce_channels(act, "squeeze_mean", topk=3)
    assert used == "topk" and ch == (3, 1, 2) and grids.shape == (3, 2, 3)
    assert reduce_channels(act, topk=10)[0].shape[0] == 4  # capped at C
    with pytest.raises(StudioError, match="unknown channel reduction"):
        reduce_channels(act, "squeeze_max")


def test_layer_errors_name_the_layer(det):
    pred = det
    img = sample_image()
    with pytest.raises(StudioError, match=r"backbone\.bdy.*did you mean backbone\.body"):
        featmap_job(pred, img, ["backbone.bdy"])
    with pytest.raises(StudioError, match=r"stage9.*there are 3 stages"):
        featmap_job(pred, img, ["stage9"])
    with pytest.raises(StudioError, match=r"backbone\.fpn:7.*no output '7'.*0, 1, 2, pool"):
        featmap_job(pred, img, ["backbone.fpn:7"])
    with pytest.raises(StudioError, match=r"cls_score.*no 4-D feature map"):
        featmap_job(pred, img, ["roi_heads.box_predictor.cls_score"])
    with pytest.raises(StudioError, match=r"box_roi_pool.*per region"):
        featmap_job(pred, img, ["roi_heads.box_roi_pool"])


def test_maps_cover_the_image_not_the_padding():
    """A grid whose top half is hot, over a letterboxed input whose top half is the image: all hot."""
    img = np.zeros((50, 100, 3), np.uint8)
    _, meta = preprocess(img, 64, letterbox=True)
    assert (meta.resized_h, meta.resized_w) == (32, 64)
    grid = np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)
    out = to_image(grid, (64, 64), meta)
    assert out.shape == (50, 100)
    # the padded half never shows: without the crop the last rows would be near 0
    assert out[0].min() == pytest.approx(1.0) and out[-1].min() > 0.45


def test_overlay_and_saved_pictures(tmp_path, det):
    img = sample_image()
    m = np.zeros((72, 112), np.float32)
    m[20:50, 60:95] = 3.0
    hot = draw.blend(img, m, alpha=1.0)
    assert hot.shape == (72, 112, 3) and hot.dtype == np.uint8
    assert hot[30, 70, 0] > 100 > hot[30, 70, 2] and hot[5, 5, 2] > 100 > hot[5, 5, 0]  # jet: peak red, zero blue
    np.testing.assert_array_equal(draw.blend(img, m, alpha=0.0), img)
    np.testing.assert_array_equal(draw.normalise(np.full((3, 3), 7.0)), np.zeros((3, 3)))
    assert np.isfinite(draw.normalise(np.array([[np.nan, 1.0], [2.0, np.inf]]))).all()
    with pytest.raises(StudioError, match="alpha"):
        draw.blend(img, m, alpha=1.5)
    res = featmap_job(det, img, ["backbone.body.12"], topk=4, out_dir=tmp_path, alpha=0.4)
    (png,) = res.files
    assert png.name == "image_featmap_00_backbone.body.12.png" and png.is_file()
    pic = featmap_picture(img, res.maps[0])
    assert pic.shape == (2 * 72 + 4, 2 * 112 + 4, 3)  # 4 channels in a 2x2 grid
    assert safe_name("backbone.fpn:pool") == "backbone.fpn-pool"
    assert str(LayerRef.parse(" backbone.fpn : 0 ")) == "backbone.fpn:0"
