"""The model zoo: registry, building every architecture, the no-resize transform, fine-tuning setup."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torchvision.models import detection as tvd
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import box_iou
from torchvision.ops.misc import FrozenBatchNorm2d

from studio.core.models import (
    ArchSpec,
    LiteConfig,
    ModelError,
    NoResizeTransform,
    build_lite,
    build_model,
    default_arch,
    get_arch,
    list_archs,
    register_arch,
    zoo,
)
from studio.core.models.hub import weights_enum
from studio.core.models.transform import uses_no_resize

K = 3  # object classes in every test model

TORCHVISION = [
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
]
FAST = ["det_lite", "seg_lite", "det_fast", "seg_fast", "ssdlite320_mobilenet_v3_large", "fcos_resnet50_fpn"]
SLOW = [n for n in TORCHVISION if n not in FAST]


# ------------------------------------------------------------------ registry


def test_registry_holds_every_architecture_with_sane_specs():
    names = [s.name for s in list_archs()]
    assert sorted(names) == sorted(TORCHVISION + ["seg_lite", "det_lite", "seg_fast", "det_fast"])
    assert {s.name for s in list_archs("segment")} == {
        "maskrcnn_resnet50_fpn",
        "maskrcnn_resnet50_fpn_v2",
        "seg_lite",
        "seg_fast",
    }
    for spec in list_archs():
        assert spec.description and "\n" not in spec.description
        assert spec.default_size >= spec.min_size
        if spec.tv_weights is not None:  # names a real enum whose DEFAULT is COCO-trained
            assert len(weights_enum(spec.tv_weights).DEFAULT.meta["categories"]) == 91
    assert [s.name for s in list_archs() if s.square_input] == ["ssd300_vgg16", "ssdlite320_mobilenet_v3_large"]
    lite = get_arch("seg_lite")
    assert (lite.family, lite.default_size, lite.cpu_friendly, lite.tv_weights) == ("lite", 320, True, None)
    assert default_arch(has_masks=True) == "seg_fast" and default_arch(has_masks=False) == "det_fast"


def test_unknown_arch_names_close_matches_and_the_list():
    with pytest.raises(ModelError) as e:
        get_arch("fasterrcnn_resnet50_fp")
    msg = str(e.value)
    assert "unknown architecture 'fasterrcnn_resnet50_fp'" in msg
    assert "did you mean fasterrcnn_resnet50_fpn" in msg
    assert "seg_lite" in msg and "ssd300_vgg16" in msg  # the full list
    with pytest.raises(ModelError, match="known architectures") as e:
        get_arch("zzz")
    assert "did you mean" not in str(e.value)


def test_register_arch_adds_a_plugin_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    plugin = replace(get_arch("det_lite"), name="my_det", description="a plugin detector")
    register_arch(plugin)
    assert get_arch("my_det") is plugin
    assert list_archs()[-1] is plugin
    with pytest.raises(ModelError, match="already registered"):
        register_arch(replace(plugin, description="again"))
    with pytest.raises(ModelError, match="already registered"):
        register_arch(replace(get_arch("seg_lite")))
    model = build_model("my_det", K, image_size=320)
    assert model.studio_arch == "my_det" and model.studio_task == "detect"


def test_spec_validates_its_fields():
    base = get_arch("det_lite")
    with pytest.raises(ValueError, match="task"):
        replace(base, task="classify")
    with pytest.raises(ValueError, match="size_divisible"):
        replace(base, size_divisible=0)


def test_spec_fields_after_the_name_are_keyword_only():
    base = get_arch("det_lite")
    fields = ("detect", "lite", "a detector", 320, False, True, None, base.builder)
    with pytest.raises(TypeError):
        ArchSpec("positional", *fields)
    spec = ArchSpec(
        "keywords",
        task="detect",
        family="lite",
        description="a detector",
        default_size=320,
        square_input=False,
        cpu_friendly=True,
        tv_weights=None,
        builder=base.builder,
    )
    assert spec == replace(base, name="keywords", description="a detector")


def test_build_model_refuses_no_classes_and_too_small_images():
    with pytest.raises(ModelError, match="at least one object class"):
        build_model("det_lite", 0, image_size=320)
    with pytest.raises(ModelError, match="at least 268 px") as e:
        build_model("ssd300_vgg16", K, image_size=256)
    assert e.value.item == "data.image_size"


# ------------------------------------------------------------- every architecture


def _inputs(spec: ArchSpec, masks: bool):
    """Two images with two objects each; labels use 1 and K (the largest label must train)."""
    h, w = (300, 300) if spec.name == "ssd300_vgg16" else (128, 128) if spec.square_input else (96, 128)
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, h, w, generator=g) for _ in range(2)]
    targets = []
    for _ in range(2):
        t = {
            "boxes": torch.tensor([[10.0, 20.0, 60.0, 80.0], [30.0, 5.0, 100.0, 50.0]]),
            "labels": torch.tensor([1, K]),
        }
        if masks:
            m = torch.zeros(2, h, w, dtype=torch.uint8)
            m[0, 20:80, 10:60] = 1
            m[1, 5:50, 30:100] = 1
            t["masks"] = m
        targets.append(t)
    return images, targets


def _train_and_eval(name: str, backward: bool = False) -> None:
    spec = get_arch(name)
    torch.manual_seed(0)
    model = build_model(name, K, image_size=spec.default_size, score_thr=0.0, max_detections=20)
    assert (model.studio_arch, model.studio_task, model.num_classes) == (name, spec.task, K)
    assert uses_no_resize(model) and model.transform.size_divisible == spec.size_divisible
    assert model.studio_weights is None
    images, targets = _inputs(spec, masks=spec.task == "segment")

    model.train()
    losses = model(images, targets)
    assert losses and all(math.isfinite(v.item()) for v in losses.values()), losses
    if spec.task == "segment":
        assert "loss_mask" in losses
    if backward:
        sum(losses.values()).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)

    model.eval()
    with torch.no_grad():
        out = model(images)
    h, w = images[0].shape[-2:]
    assert len(out) == 2
    for det in out:
        n = det["boxes"].shape[0]
        assert n <= 20 and det["scores"].shape == (n,) and det["labels"].shape == (n,)
        if n:
            assert det["labels"].min() >= 1 and det["labels"].max() <= K
            b = det["boxes"]
            assert b[:, 0].min() >= 0 and b[:, 1].min() >= 0 and b[:, 2].max() <= w and b[:, 3].max() <= h
        if spec.task == "segment":
            assert det["masks"].shape == (n, 1, h, w)
            if n:
                assert 0 <= det["masks"].min() and det["masks"].max() <= 1


@pytest.mark.parametrize("name", FAST)
def test_cheap_arch_trains_and_predicts_in_input_coordinates(name):
    _train_and_eval(name, backward=name.endswith(("_lite", "_fast")))


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_heavy_arch_trains_and_predicts_in_input_coordinates(name):
    _train_and_eval(name)


@pytest.mark.parametrize(
    "name", ["fcos_resnet50_fpn", "retinanet_resnet50_fpn", "ssdlite320_mobilenet_v3_large", "det_lite"]
)
def test_every_family_gets_k_plus_one_classes(name):
    model = build_model(name, K, image_size=get_arch(name).default_size)
    head = getattr(model, "head", None)
    if head is None:  # R-CNN
        assert model.roi_heads.box_predictor.cls_score.out_features == K + 1
    elif hasattr(head.classification_head, "num_classes"):  # RetinaNet / FCOS one-hot their labels
        assert head.classification_head.num_classes == K + 1
    else:  # SSD
        assert head.classification_head.num_columns == K + 1


# ------------------------------------------------------------------- transform


def _backbone_input_shape(model, images):
    seen = []
    hook = model.backbone.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape)))
    with torch.no_grad():
        out = model(images)
    hook.remove()
    return seen[0], out


def test_model_sees_its_input_unresized_and_padded_to_the_stride():
    model = build_model("det_lite", K, image_size=320).eval()
    images = [torch.rand(3, 90, 120), torch.rand(3, 100, 70)]
    shape, _ = _backbone_input_shape(model, images)
    assert shape == (2, 3, 128, 128)  # max (100, 120) padded to multiples of 32, not resized
    ssd = build_model("ssdlite320_mobilenet_v3_large", K, image_size=320).eval()
    shape, _ = _backbone_input_shape(ssd, [torch.rand(3, 128, 128)])
    assert shape == (1, 3, 128, 128)  # not the stock fixed 320 x 320
    assert ssd.transform.image_mean == [0.5, 0.5, 0.5] and ssd.transform.image_std == [0.5, 0.5, 0.5]


def test_predictions_equal_the_stock_transform_when_it_would_not_resize():
    """Stock transform with min/max size equal to the input keeps the pixels: same predictions, same coordinates."""
    torch.manual_seed(0)
    model = build_model("seg_lite", K, image_size=320, score_thr=0.0).eval()
    images = [torch.rand(3, 96, 128), torch.rand(3, 96, 128)]
    ours_shape, ours = _backbone_input_shape(model, images)
    model.transform = GeneralizedRCNNTransform(96, 128, model.transform.image_mean, model.transform.image_std).eval()
    stock_shape, stock = _backbone_input_shape(model, images)
    assert ours_shape == stock_shape == (2, 3, 96, 128)
    for a, b in zip(ours, stock):
        assert a["boxes"].shape[0] > 0
        torch.testing.assert_close(a["boxes"], b["boxes"])
        torch.testing.assert_close(a["scores"], b["scores"])
        torch.testing.assert_close(a["masks"], b["masks"])


def test_postprocess_keeps_coordinates_pastes_masks_and_drops_background():
    t = NoResizeTransform([0.0] * 3, [1.0] * 3).eval()
    result = [
        {
            "boxes": torch.tensor([[16.0, 8.0, 48.0, 40.0], [0.0, 0.0, 10.0, 10.0]]),
            "scores": torch.tensor([0.9, 0.8]),
            "labels": torch.tensor([2, 0]),
            "masks": torch.ones(2, 1, 28, 28),
        }
    ]
    out = t.postprocess(result, [(64, 96)], [(64, 96)])[0]
    torch.testing.assert_close(out["boxes"], torch.tensor([[16.0, 8.0, 48.0, 40.0]]))
    assert out["labels"].tolist() == [2] and out["scores"].tolist() == [pytest.approx(0.9)]
    m = out["masks"]
    assert m.shape == (1, 1, 64, 96)
    inside = m[0, 0] > 0.5
    ys, xs = torch.nonzero(inside, as_tuple=True)
    extent = (xs.min().item(), xs.max().item() + 1, ys.min().item(), ys.max().item() + 1)
    # the box, give or take the 1-pixel padding torchvision's paste_masks_in_image adds around RoI masks
    assert all(abs(a - b) <= 1 for a, b in zip(extent, (16, 48, 8, 40))), extent
    t.train()
    assert t.postprocess(result, [(64, 96)], [(64, 96)]) is result  # training: untouched


def test_transform_normalises_and_never_resizes_targets():
    t = NoResizeTransform([0.5] * 3, [0.25] * 3, size_divisible=32).train()
    img = torch.full((3, 40, 50), 0.75)
    target = {
        "boxes": torch.tensor([[1.0, 2.0, 30.0, 20.0]]),
        "labels": torch.tensor([1]),
        "masks": torch.ones(1, 40, 50, dtype=torch.uint8),
    }
    batch, targets = t([img], [target])
    assert batch.tensors.shape == (1, 3, 64, 64) and batch.image_sizes == [(40, 50)]
    assert torch.allclose(batch.tensors[0, :, :40, :50], torch.ones(3, 40, 50))
    assert batch.tensors[0, :, 40:, :].abs().sum() == 0
    assert torch.equal(targets[0]["boxes"], target["boxes"]) and targets[0]["masks"].shape == (1, 40, 50)


# ---------------------------------------------------------------- lite models


def test_lite_config_is_parameterisable_and_validated():
    cfg = LiteConfig(fpn_channels=64, box_head_convs=2, mask_head_convs=1, mask_head_channels=32, rpn_post_nms_test=50)
    model = build_lite(2, masks=True, config=cfg)
    assert model.backbone.out_channels == 64
    assert model.rpn._post_nms_top_n["testing"] == 50
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert len(model.roi_heads.mask_head) == 1
    default = build_lite(2, masks=False)
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in default.parameters())
    assert default.roi_heads.mask_roi_pool is None
    with pytest.raises(ValueError, match="anchor_sizes"):
        LiteConfig(return_blocks=(12, 16))
    with pytest.raises(ValueError, match="blocks 0..16"):
        build_lite(2, masks=False, config=LiteConfig(return_blocks=(6, 12, 17)))


def test_lite_batchnorm_trains_from_scratch():
    model = build_model("seg_lite", K, image_size=320)
    bns = [m for m in model.backbone.body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.1 for m in bns)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
    # levels at strides 8, 16, 32 and the max-pool level
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 320, 320))
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(40, 40), (20, 20), (10, 10), (5, 5)]


# ------------------------------------------------------------ fine-tuning setup


def _structure(model):
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    kinds = sorted((n, type(m).__name__) for n, m in model.named_modules() if "BatchNorm" in type(m).__name__)
    return frozen, kinds


def _torchvision_pretrained(name: str, fn, hub_dir):
    """torchvision's own build *with* weights, from a fake file in a temporary hub cache (no download)."""
    spec = get_arch(name)
    w = weights_enum(spec.tv_weights).DEFAULT
    ckpt = hub_dir / "checkpoints" / w.url.rsplit("/", 1)[-1]
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fn(weights=None, weights_backbone=None, num_classes=91).state_dict(), ckpt)
    return fn(weights=w)


@pytest.fixture
def hub_dir(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


def _check_finetune_matches_torchvision(name, fn, hub_dir):
    reference = _torchvision_pretrained(name, fn, hub_dir)
    ours = build_model(name, 90, image_size=get_arch(name).default_size, finetune=True)
    assert _structure(ours) == _structure(reference)
    scratch = build_model(name, 90, image_size=get_arch(name).default_size)
    if get_arch(name).finetune_setup is None:  # torchvision builds it the same way with or without weights
        assert _structure(scratch) == _structure(reference)
    else:
        assert _structure(scratch) != _structure(reference)


def test_finetune_setup_matches_torchvision_pretrained_build(hub_dir):
    _check_finetune_matches_torchvision(
        "fasterrcnn_mobilenet_v3_large_320_fpn", tvd.fasterrcnn_mobilenet_v3_large_320_fpn, hub_dir
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "ssd300_vgg16", "ssdlite320_mobilenet_v3_large"]
)
def test_finetune_setup_matches_torchvision_pretrained_build_heavy(name, hub_dir):
    _check_finetune_matches_torchvision(name, getattr(tvd, name), hub_dir)


def test_frozen_batchnorm_checkpoint_loads_strictly_into_a_scratch_build():
    """A model fine-tuned with frozen BN (no batch counters) loads as-is into the plain build the predictor makes."""
    tuned = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", K, image_size=320, finetune=True)
    assert any(isinstance(m, FrozenBatchNorm2d) for m in tuned.modules())
    plain = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", K, image_size=320)
    plain.load_state_dict(tuned.state_dict())  # strict
    x = [torch.rand(3, 96, 128)]
    with torch.no_grad():
        a, b = tuned.eval()(x)[0], plain.eval()(x)[0]
    torch.testing.assert_close(a["boxes"], b["boxes"])


# ---------------------------------------------------------------- learning


@pytest.mark.slow
def test_det_lite_learns_a_box_at_a_known_place():
    """Overfit one image pair: the top detection lands on the drawn rectangle, in input pixels.

    The learning rate decays (cosine) as in real training: trainable BatchNorm's running statistics
    lag behind weights that still move fast, so eval-mode predictions are only reliable once it has.
    """
    torch.manual_seed(0)
    img = torch.full((3, 128, 160), 0.2)
    img[:, 40:90, 70:130] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    target = {"boxes": torch.tensor([[70.0, 40.0, 130.0, 90.0]]), "labels": torch.tensor([2])}
    flipped = {"boxes": torch.tensor([[30.0, 40.0, 90.0, 90.0]]), "labels": torch.tensor([2])}
    model = build_model("det_lite", K, image_size=160)
    steps = 200  # at 100 the top score was 0.32 here (torch 2.14): the box was found, not yet confidently
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(steps):
        losses = model([img, img.flip(-1)], [target, flipped])
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        det = model([img])[0]
    assert det["labels"][0] == 2 and det["scores"][0] > 0.5
    assert box_iou(det["boxes"][:1], target["boxes"]).item() > 0.7
