"""The GPU data path without a GPU: the loader arguments chosen per device, the train-resolution image
cache, and the model speed settings (channels_last, torch.compile's refusals and its state_dict keys)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from studio.core import checkpoint as ckpt_io
from studio.core.config.init import init_config
from studio.core.config.schema import AugmentConfig
from studio.core.data.classes import ClassMap
from studio.core.data.dataset import DetectionDataset, train_long_side, train_size
from studio.core.data.loader import CUDA_PREFETCH, loader_options, make_loader, set_epoch
from studio.core.dataset.model import Dataset
from studio.core.errors import StudioError
from studio.core.geometry import rect_polygon
from studio.core.imageio import imread_rgb
from studio.core.models import accel, build_model
from studio.core.models.accel import (
    compile_model,
    compile_unsupported,
    is_channels_last,
    prepare_for_inference,
    prepare_for_training,
    to_channels_last,
    wants_channels_last,
)
from studio.core.training.ema import ModelEMA
from studio.core.training.trainer import Trainer


def _photo(path: Path, w: int, h: int, rect: tuple[int, int, int, int]) -> Path:
    """A smooth gradient JPEG with a bright rectangle ``rect`` (x0, y0, x1, y1)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 200 // w, yy * 200 // h, (xx + yy) * 100 // (w + h)], -1).astype(np.uint8)
    x0, y0, x1, y1 = rect
    img[y0:y1, x0:x1] = 250
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def _one_image_set(tmp_path: Path, w: int, h: int, rect) -> tuple[Dataset, Path]:
    ds = Dataset()
    cat = ds.add_category("thing")
    _photo(tmp_path / "images" / "a.jpg", w, h, rect)
    im = ds.add_image("a.jpg", w, h)
    ds.add_annotation(im["id"], cat, segmentation=[rect_polygon(*rect)])
    return ds, tmp_path / "images"


def _train_set(ds, images, size=128, cache="ram", aug=None) -> DetectionDataset:
    return DetectionDataset(
        ds,
        images,
        ClassMap.from_dataset(ds),
        size=size,
        letterbox=False,
        train=True,
        augment=aug or AugmentConfig(scale_jitter=(0.75, 1.25)),
        with_masks=True,
        cache=cache,
    )


# ---------------------------------------------------------------------------------------- loader
def test_loader_options_pin_and_prefetch_on_cuda_only():
    assert loader_options("cuda", 4) == {"pin_memory": True, "persistent_workers": True, "prefetch_factor": 4}
    assert loader_options("cpu", 4) == {"pin_memory": False, "persistent_workers": True}  # torch's prefetch
    assert loader_options("cuda", 0) == {"pin_memory": True}  # prefetch and persistence need workers
    assert loader_options("cpu", 2, prefetch_factor=3)["prefetch_factor"] == 3
    with pytest.raises(ValueError, match="device_type"):
        loader_options("tpu", 1)


def test_make_loader_arguments_for_cuda_and_cpu(tmp_path):
    ds, images = _one_image_set(tmp_path, 160, 120, (20, 20, 80, 60))
    data = _train_set(ds, images, size=64)
    cuda = make_loader(data, 1, train=True, workers=2, device_type="cuda", seed=0)
    assert cuda.pin_memory and cuda.persistent_workers and cuda.prefetch_factor == CUDA_PREFETCH
    cpu = make_loader(data, 1, train=True, workers=2, device_type="cpu", seed=0)
    assert not cpu.pin_memory and cpu.persistent_workers and cpu.prefetch_factor == 2
    val = make_loader(data, 1, train=False, workers=1, device_type="cuda")  # eval / predict loaders too
    assert val.pin_memory and val.prefetch_factor == CUDA_PREFETCH
    inline = make_loader(data, 1, train=True, workers=0, device_type="cuda")
    assert inline.pin_memory and not inline.persistent_workers


def test_cuda_loader_gives_the_same_batches_as_the_cpu_one(tmp_path):
    """Pinning changes where a batch lives, never what it holds (the samples stay seeded)."""
    ds, images = _one_image_set(tmp_path, 160, 120, (20, 20, 80, 60))
    data = _train_set(ds, images, size=64, cache="none")

    def batches(device_type):
        loader = make_loader(data, 1, train=True, workers=0, device_type=device_type, seed=3)
        set_epoch(loader, 1)
        with warnings.catch_warnings():  # no accelerator here: torch warns that it does not pin
            warnings.simplefilter("ignore")
            return [(x[0].clone(), t[0]["boxes"].clone()) for x, t in loader]

    for (xa, ba), (xb, bb) in zip(batches("cpu"), batches("cuda"), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ba.as_subclass(torch.Tensor), bb.as_subclass(torch.Tensor))


# ---------------------------------------------------------------------------------------- cache
def test_train_long_side_follows_the_scale_jitter():
    assert train_long_side(512, AugmentConfig(scale_jitter=(0.75, 1.25))) == 640
    assert train_long_side(512, AugmentConfig(scale_jitter=(0.5, 0.9))) == 512  # never below size
    assert train_long_side(320, None) == 320
    assert train_size(2048, 1536, 640) == (640, 480)
    assert train_size(1001, 333, 160) == (160, 53)
    assert train_size(100, 80, 160) == (100, 80)  # smaller images are never enlarged
    assert train_size(100, 80, None) == (100, 80)


def test_cached_image_is_held_at_the_train_resolution_with_annotations_scaled(tmp_path):
    rect = (200, 150, 600, 450)
    ds, images = _one_image_set(tmp_path, 1000, 750, rect)
    data = _train_set(ds, images, size=128)  # scale jitter up to 1.25: longest side 160
    image, scale = data.decoded(0)
    assert image.dtype == np.uint8 and image.shape == (120, 160, 3)
    # 750 rows decode reduced by 4 to ceil(187.5) = 188 rows, the last one covering rows 748-751: 120 / 752
    assert scale == (160 / 1000, 120 / 752)
    # the same pixels as an area resize of the full-resolution image (within JPEG + resize tolerance)
    full = imread_rgb(images / "a.jpg")
    ref = cv2.resize(full, (160, 120), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(image.astype(int) - ref).mean() < 2.0
    raw = data.raw_sample(0)
    np.testing.assert_allclose(raw.boxes[0], np.array(rect) * np.array([*scale, *scale]), atol=1e-4)
    np.testing.assert_allclose(raw.boxes[0], np.array(rect) * 0.16, atol=0.2)  # within 0.2 px of exact
    ys, xs = np.nonzero(raw.masks[0])
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (32, 24, 96, 72)
    bright = np.nonzero(image.min(axis=2) > 240)
    assert abs(bright[1].min() - 32) <= 1 and abs(bright[0].max() + 1 - 72) <= 1
    # RAM: what the cache holds is what its "auto" decision was planned with
    assert data.cache.nbytes == data.estimated_bytes() == 160 * 120 * 3
    assert data.decoded(0)[0] is image  # the second read comes from the cache


def test_cached_and_uncached_samples_are_equal_after_the_resize(tmp_path):
    ds, images = _one_image_set(tmp_path, 1001, 333, (100, 50, 700, 300))
    aug = AugmentConfig(scale_jitter=(0.75, 1.25), mosaic=0.5, copy_paste=0.5, photometric=0.5)
    plain, cached = _train_set(ds, images, 128, "none", aug), _train_set(ds, images, 128, "ram", aug)
    image, scale = cached.decoded(0)  # decoded reduced by 4 to 251 x 84 (libjpeg rounds up), then 160 x 54
    assert image.shape == (54, 160, 3) and scale == (160 / 1004, 54 / 336)  # each axis its own rounding
    for key in [(0, 5), (0, 6), (0, 5)]:
        (xa, ta), (xb, tb) = plain[key], cached[key]
        assert torch.equal(xa, xb) and torch.equal(ta["boxes"], tb["boxes"]) and torch.equal(ta["masks"], tb["masks"])
    assert len(cached.cache) == 1 and len(plain.cache) == 0


def test_small_images_are_kept_at_their_size(tmp_path):
    ds, images = _one_image_set(tmp_path, 120, 90, (10, 10, 50, 40))
    data = _train_set(ds, images, size=128)
    image, scale = data.decoded(0)
    assert image.shape == (90, 120, 3) and scale == (1.0, 1.0)
    np.testing.assert_allclose(data.raw_sample(0).boxes[0], [10, 10, 50, 40])


# ---------------------------------------------------------------------------------------- channels_last
def test_channels_last_default_is_cuda_and_cpu_training_where_measured():
    model = build_model("det_fast", 2, image_size=64)
    assert wants_channels_last(model, "cuda") and wants_channels_last(model, "cuda", training=True)
    assert wants_channels_last(model, "cpu", training=True)  # measured faster (bench/channels_last.py)
    assert not wants_channels_last(model, "cpu")  # CPU inference: not measured faster
    assert not wants_channels_last(build_model("det_lite", 2, image_size=64), "cpu", training=True)  # not measured
    assert not wants_channels_last(model, "mps", training=True)
    assert not wants_channels_last(nn.Linear(3, 3), "cuda")


def test_channels_last_converts_weights_and_inputs_and_keeps_the_outputs():
    torch.manual_seed(0)
    ref = build_model("det_fast", 2, image_size=64).eval()
    model = build_model("det_fast", 2, image_size=64).eval()
    model.load_state_dict(ref.state_dict())
    assert to_channels_last(model) is model and to_channels_last(model) is model  # once
    seen = []
    model.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))  # runs after the conversion
    assert is_channels_last(model) and not is_channels_last(ref)
    images = [torch.rand(3, 64, 48)]
    with torch.no_grad():
        a, b = ref(images)[0], model(images)[0]
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and seen[0].shape[1] == 3
    assert torch.allclose(a["scores"], b["scores"], atol=1e-4) and torch.allclose(a["boxes"], b["boxes"], atol=1e-3)
    assert list(model.state_dict()) == list(ref.state_dict())


def test_prepare_for_training_converts_the_model_and_its_ema_on_cuda():
    """The device is only read for its type: a CUDA device object works without a GPU."""
    model = build_model("det_fast", 2, image_size=64)
    ema = ModelEMA(model)
    said = []
    assert prepare_for_training(model, torch.device("cuda"), ema_module=ema.module, log=said.append) is model
    assert is_channels_last(model) and is_channels_last(ema.module) and "channels_last" in said[0]
    ema.update(model)  # the EMA keeps working across the formats
    assert is_channels_last(ema.module)
    assert is_channels_last(prepare_for_training(build_model("det_fast", 2, image_size=64), torch.device("cpu")))
    assert not is_channels_last(prepare_for_training(build_model("det_lite", 2, image_size=64), torch.device("cpu")))
    assert is_channels_last(prepare_for_inference(build_model("det_fast", 2, image_size=64), torch.device("cuda")))
    assert not is_channels_last(prepare_for_inference(build_model("det_fast", 2, image_size=64), torch.device("cpu")))


# ---------------------------------------------------------------------------------------- torch.compile
def test_compile_is_refused_with_a_reason_naming_train_compile(monkeypatch):
    assert "Windows" in compile_unsupported("cuda", platform="win32")
    assert "mps" in compile_unsupported("mps", platform="linux")
    monkeypatch.setattr(accel.shutil, "which", lambda name: None)
    assert "C++ compiler" in compile_unsupported("cpu", platform="linux")
    assert compile_unsupported("cuda", platform="linux") is None  # the GPU path needs no host compiler
    with pytest.raises(StudioError) as e:
        compile_model(build_model("det_fast", 2, image_size=64), "cpu")
    assert e.value.item == "train.compile" and "set train.compile=false" in str(e.value)


def test_a_compiler_failure_at_the_first_call_names_train_compile(monkeypatch):
    class InductorError(RuntimeError):
        pass

    InductorError.__module__ = "torch._inductor.exc"

    raising = [InductorError("C++ compile error\n" + "x" * 2000)]

    def failing_compile(fn, *args, **kwargs):
        def call(*a, **kw):
            raise raising[0]

        return call

    monkeypatch.setattr(accel.torch, "compile", failing_compile)
    monkeypatch.setattr(accel, "compile_unsupported", lambda device_type: None)
    model = compile_model(build_model("det_fast", 2, image_size=64).eval(), "cpu")
    assert model.studio_compiled == ["backbone", "neck"]
    with pytest.raises(StudioError) as e:
        model([torch.rand(3, 64, 64)])
    msg = str(e.value)
    assert e.value.item == "train.compile" and "det_fast's backbone" in msg and "InductorError" in msg
    assert len(msg) < 500
    raising[0] = ValueError("the model's own error")
    with pytest.raises(ValueError, match="own error"):  # not a compiler error: passed on unchanged
        model([torch.rand(3, 64, 64)])
    assert compile_model(nn.Sequential(nn.Conv2d(3, 3, 1)), "cpu").studio_compiled == ["model"]  # no backbone


def test_compiled_model_keeps_its_state_dict_keys():
    model = build_model("det_fast", 2, image_size=64)
    keys = list(model.state_dict())
    if compile_unsupported("cpu") is not None:
        pytest.skip(f"torch.compile unsupported here: {compile_unsupported('cpu')}")
    compiled = compile_model(model, "cpu")  # compiles lazily: nothing runs yet
    assert compiled is model and list(compiled.state_dict()) == keys
    assert not any("_orig_mod" in k for k in keys)


def _config(demo, tmp_path, **train):
    return init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="seg_fast",
        overrides={
            "data": {"image_size": 64, "workers": 0, "cache": "none"},
            "train": {"batch_size": 2, "device": "cpu", "epochs": 1, "warmup_iters": 1, **train},
        },
    )


def test_trainer_refuses_compile_where_unsupported(demo, tmp_path, monkeypatch):
    monkeypatch.setattr(accel.sys, "platform", "win32")
    cfg = _config(demo, tmp_path, compile=True)
    assert not _config(demo, tmp_path).train.compile  # off by default
    with pytest.raises(StudioError) as e:
        Trainer(cfg, tmp_path / "run").setup()
    assert e.value.item == "train.compile" and "Windows" in str(e.value)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # Inductor compiles the backbone and neck in C++: 7 minutes on a busy 2-core CPU
def test_compiled_training_of_seg_fast_saves_plain_keys_and_keeps_the_ema(demo, tmp_path):
    """Two iterations of seg_fast with train.compile on this CPU (minutes: the backbone and neck compile),
    or the clear refusal where this machine cannot compile."""
    cfg = _config(demo, tmp_path, compile=True, ema=True, batch_size=5)  # 10 demo images: 2 iterations
    why = compile_unsupported("cpu")
    if why is not None:
        with pytest.raises(StudioError, match="train.compile"):
            Trainer(cfg, tmp_path / "run").run()
        return
    result = Trainer(cfg, tmp_path / "run").run()
    assert result.status == "finished"
    ck = ckpt_io.load(tmp_path / "run" / "last.pt").data
    assert ck["global_iter"] == 2
    for part in ("model", "ema"):
        assert ck[part] and not any("_orig_mod" in k for k in ck[part]), part
    fresh = build_model("seg_fast", len(ck["classes"]["names"]), image_size=64)
    fresh.load_state_dict(ck["model"])  # loads into the plain, uncompiled model
    assert list(ck["ema"]) == list(ck["model"])
    conv = next(k for k, v in ck["model"].items() if v.dim() == 4)  # the EMA followed the trained weights
    assert torch.isfinite(ck["ema"][conv]).all() and not torch.equal(ck["ema"][conv], ck["model"][conv])
