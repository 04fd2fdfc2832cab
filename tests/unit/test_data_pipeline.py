"""Training data pipeline: decoding, cache, DetectionDataset items, loaders, augmentation preview."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from studio.core.config.schema import AugmentConfig, Config
from studio.core.data.cache import ImageCache, cache_fits
from studio.core.data.classes import ClassMap
from studio.core.data.dataset import DetectionDataset, sample_seed
from studio.core.data.decode import decode_rgb, jpeg_size, reduction_for
from studio.core.data.loader import SeededSampler, collate, make_loader, set_epoch
from studio.core.data.preprocess import preprocess
from studio.core.data.preview import PREVIEW_NAME, preview_augmentations
from studio.core.dataset.model import Dataset
from studio.core.errors import CancelledError, StudioError
from studio.core.geometry import rect_polygon
from studio.core.imageio import imread_rgb, read_image_size
from studio.core.jobs import CancelToken


def _write(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _rect_set(tmp_path: Path, sizes=((128, 96), (96, 128), (112, 80))) -> tuple[Dataset, Path]:
    """JPEGs of the given (w, h), each with a white rectangle annotated as a polygon and one box-only object."""
    ds = Dataset()
    cat = ds.add_category("thing")
    other = ds.add_category("other")
    for i, (w, h) in enumerate(sizes):
        img = np.full((h, w, 3), 40, np.uint8)
        x0, y0, x1, y1 = w // 4, h // 4, w // 2, h // 2
        img[y0:y1, x0:x1] = 230
        _write(tmp_path / "images" / f"im{i}.jpg", img)
        im = ds.add_image(f"im{i}.jpg", w, h)
        ds.add_annotation(im["id"], cat, segmentation=[rect_polygon(x0, y0, x1, y1)])
        ds.add_annotation(im["id"], other, bbox=[w * 0.6, h * 0.6, w * 0.2, h * 0.2])
    return ds, tmp_path / "images"


# ---------------------------------------------------------------------------------------- decode
def test_reduction_for_keeps_the_target_long_side():
    assert reduction_for(2048, 640) == 2  # 1024 >= 640, 512 is not
    assert reduction_for(2048, 512) == 4
    assert reduction_for(2048, 256) == 8
    assert reduction_for(1024, 640) == 1
    assert reduction_for(1001, 126) == 8  # libjpeg rounds up: ceil(1001 / 8) = 126
    assert reduction_for(1001, 127) == 4 and reduction_for(1000, 126) == 4
    assert reduction_for(2048, None) == 1


def test_decode_reduced_jpeg_factor_and_size(tmp_path):
    p = _write(tmp_path / "a.jpg", _noise(300, 401))
    assert jpeg_size(np.fromfile(p, np.uint8)) == (401, 300)
    full, f1 = decode_rgb(p)
    assert f1 == 1 and full.shape == (300, 401, 3) and full.dtype == np.uint8
    small, f4 = decode_rgb(p, target_long_side=100)
    assert f4 == 4 and small.shape == (75, 101, 3)  # libjpeg rounds up
    mid, f2 = decode_rgb(p, target_long_side=102)
    assert f2 == 2 and mid.shape == (150, 201, 3)
    # the reduced decode is the same picture: compare with an area downscale of the full decode
    ref = cv2.resize(full, (101, 75), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(small.astype(int) - ref).mean() < 25  # noise image: only coarse agreement expected
    assert decode_rgb(p, target_long_side=5000)[1] == 1


def test_decode_is_rgb_and_upright_with_exif_orientation(tmp_path):
    from PIL import Image

    arr = np.zeros((200, 301, 3), np.uint8)
    arr[:60, :100] = (255, 0, 0)  # red block top-left of the stored pixels
    exif = Image.Image().getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    p = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(p, exif=exif.tobytes(), quality=95)
    assert read_image_size(p) == (200, 301)  # the upright size COCO files record
    for target, factor in ((None, 1), (100, 2)):
        img, f = decode_rgb(p, target)
        assert f == factor
        assert img.shape[:2] == (-(-301 // f), -(-200 // f))  # upright: height 301, width 200
        h, w = img.shape[:2]
        # rotated clockwise: the block is now at the top-right, and it is red in RGB order
        assert img[h // 10, w - 1 - w // 10, 0] > 200 and img[h // 10, w - 1 - w // 10, 2] < 60
        assert img[h - 1 - h // 10, w // 10].max() < 60


def test_decode_png_shrinks_by_the_same_rule(tmp_path):
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), _noise(300, 400))
    img, f = decode_rgb(p, target_long_side=100)
    assert f == 4 and img.shape == (75, 100, 3)


def test_decode_errors_name_the_file(tmp_path):
    with pytest.raises(StudioError, match="missing.jpg.*not found"):
        decode_rgb(tmp_path / "missing.jpg")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(StudioError, match="broken.jpg.*unreadable"):
        decode_rgb(bad, 64)


# ---------------------------------------------------------------------------------------- cache
def test_cache_modes_and_budget():
    assert cache_fits(100, holders=2, available=1000) and not cache_fits(200, holders=2, available=1000)
    assert not cache_fits(1, available=0)
    on = ImageCache("auto", estimated_bytes=100, available=1000)
    assert on.enabled
    assert not on.plan(holders=4, available=1000)  # 4 worker copies no longer fit in 25%
    assert not ImageCache("none", 1).enabled
    assert ImageCache("ram", 10**15, available=1).enabled
    with pytest.raises(ValueError):
        ImageCache("disk")
    c = ImageCache("ram")
    c.put(1, (np.zeros(10, np.uint8), 1))
    assert c.get(1)[1] == 1 and c.nbytes == 10 and "on" in c.describe()
    clone = pickle.loads(pickle.dumps(c))
    assert clone.enabled and len(clone) == 0 and len(c) == 1  # workers start empty


# ---------------------------------------------------------------------------------------- dataset
def test_train_items_shapes_types_and_annotation_scaling(tmp_path):
    ds = Dataset()
    cat = ds.add_category("thing")
    img = np.full((384, 512, 3), 30, np.uint8)
    img[80:240, 100:300] = 220
    _write(tmp_path / "big.jpg", img)
    im = ds.add_image("big.jpg", 512, 384)
    ds.add_annotation(im["id"], cat, segmentation=[rect_polygon(100, 80, 300, 240)])
    data = DetectionDataset(
        ds,
        tmp_path,
        ClassMap.from_dataset(ds),
        size=64,
        letterbox=False,
        train=True,
        augment=None,
        with_masks=True,
        cache="none",
    )
    raw = data.raw_sample(0)
    assert data.decoded(0)[1] == (0.125, 0.125) and raw.image.shape == (48, 64, 3)  # 512 / 8 = 64 >= size 64
    np.testing.assert_allclose(raw.boxes[0], [12.5, 10, 37.5, 30])
    ys, xs = np.nonzero(raw.masks[0])
    assert abs(xs.min() - 12.5) <= 1 and abs(xs.max() + 1 - 37.5) <= 1 and abs(ys.min() - 10) <= 1
    bright = np.nonzero(raw.image[..., 0] > 128)
    assert abs(bright[1].min() - xs.min()) <= 1 and abs(bright[0].max() - ys.max()) <= 1

    image, target = data[0]
    assert image.dtype == torch.float32 and image.shape == (3, 64, 64) and 0 <= image.min() and image.max() <= 1
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape == (1, 4)
    assert target["boxes"].format.value == "XYXY"
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == [1]
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (1, 64, 64)
    assert target["image_id"] == im["id"]


def test_labels_follow_the_class_map_crowd_is_left_out_and_empty_images_work(tmp_path):
    ds = Dataset()
    a, b = ds.add_category("a"), ds.add_category("b")
    for i in range(2):
        _write(tmp_path / f"{i}.jpg", _noise(64, 80, i))
    im0 = ds.add_image("0.jpg", 80, 64)
    ds.add_image("1.jpg", 80, 64)  # no annotations at all
    ds.add_annotation(im0["id"], b, bbox=[10, 10, 30, 20])
    ds.add_annotation(im0["id"], a, bbox=[5, 30, 40, 20], iscrowd=1)
    cm = ClassMap.from_names(["b", "a"], cat_ids=[b, a])
    data = DetectionDataset(ds, tmp_path, cm, size=64, letterbox=True, train=True, augment=None, with_masks=True)
    _, t0 = data[0]
    assert t0["labels"].tolist() == [1]  # category b is label 1 in this class map; the crowd one is gone
    assert t0["masks"].shape[0] == 1
    img1, t1 = data[1]
    assert img1.shape == (3, 64, 64)
    assert t1["boxes"].shape == (0, 4) and t1["labels"].shape == (0,) and t1["masks"].shape == (0, 64, 64)


def test_box_only_annotation_gets_its_filled_box_as_mask(tmp_path):
    ds, images = _rect_set(tmp_path, sizes=((96, 64),))
    data = DetectionDataset(
        ds, images, ClassMap.from_dataset(ds), size=96, letterbox=True, train=True, augment=None, with_masks=True
    )
    raw = data.raw_sample(0)
    box_only = raw.masks[1]
    x0, y0, x1, y1 = raw.boxes[1]
    assert box_only[int(y0) + 1 : int(y1) - 1, int(x0) + 1 : int(x1) - 1].all()
    assert box_only.sum() == pytest.approx((x1 - x0) * (y1 - y0), rel=0.15)


def test_unknown_category_names_the_annotation(tmp_path):
    ds, images = _rect_set(tmp_path, sizes=((64, 64),))
    with pytest.raises(StudioError, match="annotation 2.*category id 2"):
        DetectionDataset(ds, images, ClassMap.from_names(["thing"]), size=64, letterbox=True, train=True)


def test_missing_image_error_names_file_and_image_id(tmp_path):
    ds, images = _rect_set(tmp_path)
    (images / "im1.jpg").unlink()
    (images / "im2.jpg").unlink()
    data = DetectionDataset(ds, images, ClassMap.from_dataset(ds), size=64, letterbox=True, train=True)
    with pytest.raises(StudioError) as e:
        data.validate()
    msg = str(e.value)
    assert "im1.jpg" in msg and "image id 2" in msg and "1 more" in msg
    with pytest.raises(StudioError, match=r"im1\.jpg: image id 2: image file not found"):
        data[1]
    DetectionDataset(ds.subset([1]), images, ClassMap.from_dataset(ds), size=64, letterbox=True, train=True).validate()


@pytest.mark.parametrize("letterbox", [False, True])
def test_val_items_equal_preprocess_exactly(tmp_path, letterbox):
    ds, images = _rect_set(tmp_path, sizes=((150, 100), (60, 90)))  # a downscale and an upscale
    for cache in ("none", "ram"):
        data = DetectionDataset(
            ds, images, ClassMap.from_dataset(ds), size=64, letterbox=letterbox, train=False, cache=cache
        )
        for i, im in enumerate(ds.images):
            want, meta = preprocess(imread_rgb(images / im["file_name"]), 64, letterbox)
            for _ in range(2):  # second pass: from the cache when on
                x, info = data[i]
                assert x.dtype == torch.float32 and np.array_equal(x.numpy(), want)
                assert info == {"image_id": im["id"], "meta": meta}
        assert len(data.cache) == (2 if cache == "ram" else 0)


def test_cached_and_uncached_train_items_are_identical(tmp_path):
    ds, images = _rect_set(tmp_path)
    aug = AugmentConfig(mosaic=0.5, copy_paste=0.5)
    kw = dict(size=64, letterbox=False, train=True, augment=aug, with_masks=True)
    plain = DetectionDataset(ds, images, ClassMap.from_dataset(ds), cache="none", **kw)
    cached = DetectionDataset(ds, images, ClassMap.from_dataset(ds), cache="ram", **kw)
    for key in [(0, 11), (1, 12), (2, 13), (0, 11)]:
        a, b = plain[key], cached[key]
        assert (
            torch.equal(a[0], b[0])
            and torch.equal(a[1]["boxes"], b[1]["boxes"])
            and torch.equal(a[1]["masks"], b[1]["masks"])
        )
    assert len(cached.cache) == 3 and len(plain.cache) == 0


# ---------------------------------------------------------------------------------------- loader
def _batches(loader, epochs=(0, 1)):
    out = []
    for e in epochs:
        set_epoch(loader, e)
        for images, targets in loader:
            out.append(
                ([t["image_id"] for t in targets], [im.clone() for im in images], [t["boxes"].clone() for t in targets])
            )
    return out


def _same(a, b) -> bool:
    return all(
        ia == ib and all(torch.equal(x, y) for x, y in zip(xa, xb)) and all(torch.equal(x, y) for x, y in zip(ba, bb))
        for (ia, xa, ba), (ib, xb, bb) in zip(a, b, strict=True)
    )


def test_loader_collates_lists_and_is_repeatable_with_a_seed(tmp_path):
    ds, images = _rect_set(tmp_path, sizes=((64, 48), (48, 64), (56, 40), (40, 40), (64, 32)))
    data = DetectionDataset(
        ds,
        images,
        ClassMap.from_dataset(ds),
        size=48,
        letterbox=False,
        train=True,
        augment=AugmentConfig(photometric=1.0),
        with_masks=True,
    )
    loader = make_loader(data, 2, train=True, workers=0, device_type="cpu", seed=5)
    assert not loader.pin_memory and loader.num_workers == 0
    images_b, targets_b = next(iter(loader))
    assert isinstance(images_b, list) and isinstance(targets_b, list) and len(images_b) == 2
    assert images_b[0].shape == (3, 48, 48) and set(targets_b[0]) == {"boxes", "labels", "masks", "image_id"}

    first = _batches(loader)
    again = _batches(make_loader(data, 2, train=True, workers=0, seed=5))
    assert _same(first, again)
    assert sorted(i for ids, _, _ in first[:3] for i in ids) == [1, 2, 3, 4, 5]  # epoch 0 sees every image once
    assert [ids for ids, _, _ in first[:3]] != [ids for ids, _, _ in first[3:]]  # epoch 1: another order
    other = _batches(make_loader(data, 2, train=True, workers=0, seed=6))
    assert not _same(first, other)

    val = make_loader(
        DetectionDataset(ds, images, ClassMap.from_dataset(ds), size=48, letterbox=False, train=False),
        2,
        train=False,
        workers=0,
    )
    assert [t["image_id"] for _, ts in val for t in ts] == [1, 2, 3, 4, 5]
    assert collate([]) == ([], [])


def test_loader_with_workers_gives_the_same_batches_as_without(tmp_path):
    ds, images = _rect_set(tmp_path, sizes=((64, 48), (48, 64), (56, 40), (40, 40)))
    data = DetectionDataset(
        ds,
        images,
        ClassMap.from_dataset(ds),
        size=48,
        letterbox=False,
        train=True,
        augment=AugmentConfig(mosaic=0.5, copy_paste=0.5),
        with_masks=True,
        cache="auto",
    )
    in_process = _batches(make_loader(data, 2, train=True, workers=0, seed=1))
    loader = make_loader(data, 2, train=True, workers=2, seed=1)
    assert loader.persistent_workers
    assert _same(in_process, _batches(loader))


def test_distributed_sampler_shards_and_reshuffles_per_epoch():
    items = list(range(7))
    shards = [SeededSampler(items, shuffle=True, seed=3, distributed=True, num_replicas=2, rank=r) for r in (0, 1)]
    got = [list(s) for s in shards]
    idx = [[i for i, _ in g] for g in got]
    assert len(idx[0]) == len(idx[1]) == 4 and set(idx[0]) | set(idx[1]) == set(items)
    seeds = {i: s for g in got for i, s in g}
    assert all(seeds[i] == sample_seed(3, 0, i) for i in items)  # seeds do not depend on the rank
    shards[0].set_epoch(1)
    assert [i for i, _ in shards[0]] != idx[0] or [i for i, _ in shards[1]] != idx[1]


# ---------------------------------------------------------------------------------------- preview
def test_preview_writes_a_grid_png(demo, tmp_path):
    cfg = Config.model_validate(
        {
            "model": {"arch": "maskrcnn_resnet50_fpn"},
            "data": {"train": {"ann": str(demo["train"].annotations)}, "image_size": 96, "augment": {"mosaic": 0.5}},
        }
    )
    calls = []
    out = preview_augmentations(cfg, tmp_path / "out", n=5, seed=2, progress=lambda d, t, m="": calls.append((d, t)))
    assert out == tmp_path / "out" / PREVIEW_NAME
    grid = cv2.imread(str(out))
    assert grid.shape == (2 * 96 + 3 * 4, 3 * 96 + 4 * 4, 3)  # 5 tiles on a 3 x 2 grid
    assert grid[4:100, 4:100].std() > 10  # a picture, not an empty tile
    assert calls[-1] == (5, 5) and len(calls) == 5
    assert sorted(p.name for p in out.parent.iterdir()) == [PREVIEW_NAME]  # no temporary left behind

    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        preview_augmentations(cfg, tmp_path / "cancelled", n=3, cancel=token)
    assert not (tmp_path / "cancelled" / PREVIEW_NAME).exists()
