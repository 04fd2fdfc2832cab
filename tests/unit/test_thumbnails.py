"""The on-disk thumbnail cache: hits, misses, invalidation, broken images, pruning."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

from studio.core import thumbnails
from studio.core.errors import StudioError
from studio.core.thumbnails import ThumbnailCache, default_cache_dir, fit_size


def _jpg(path, w, h, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
    assert cv2.imwrite(str(path), img)
    return path


def _files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_miss_then_hit_gives_the_same_small_jpeg(tmp_path):
    img = _jpg(tmp_path / "a.jpg", 400, 300)
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    first = cache.get_or_make(img)
    assert (cache.misses, cache.hits) == (1, 0)
    assert first.is_file() and first.read_bytes()[:3] == b"\xff\xd8\xff"
    thumb = cv2.imread(str(first))
    assert thumb.shape[:2] == (48, 64)  # fits 64 x 64, keeps 4:3
    data = first.read_bytes()
    assert cache.get_or_make(img) == first
    assert (cache.misses, cache.hits) == (1, 1)
    assert first.read_bytes() == data  # a hit never rewrites the entry
    assert _files(tmp_path / "cache") == [first]  # no temporary file left behind


def test_load_returns_rgb_pixels_and_reads_back_from_the_cache(tmp_path):
    img = tmp_path / "red.png"
    bgr = np.zeros((90, 120, 3), np.uint8)
    bgr[:, :, 2] = 220  # red in BGR
    cv2.imwrite(str(img), bgr)
    cache = ThumbnailCache(tmp_path / "cache", size=60)
    made = cache.load(img)
    again = cache.load(img)
    assert made.shape == again.shape == (45, 60, 3)
    assert made.dtype == np.uint8
    assert made[..., 0].mean() > 200 and made[..., 2].mean() < 30  # RGB order, not BGR
    assert np.abs(made.astype(int) - again.astype(int)).max() < 12  # JPEG round trip
    assert (cache.misses, cache.hits) == (1, 1)


def test_a_changed_file_is_a_miss(tmp_path):
    img = _jpg(tmp_path / "a.jpg", 200, 100)
    cache = ThumbnailCache(tmp_path / "cache", size=50)
    old = cache.get_or_make(img)
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    new = cache.get_or_make(img)
    assert new != old and cache.misses == 2
    assert cache.get_or_make(img) == new and cache.hits == 1
    _jpg(img, 100, 200, seed=3)  # rewritten in place: another size and time
    portrait = cache.get_or_make(img)
    assert portrait not in (old, new)
    assert cv2.imread(str(portrait)).shape[:2] == (50, 25)


def test_the_key_depends_on_the_thumbnail_size(tmp_path):
    img = _jpg(tmp_path / "a.jpg", 200, 100)
    a = ThumbnailCache(tmp_path / "cache", size=50).get_or_make(img)
    b = ThumbnailCache(tmp_path / "cache", size=80).get_or_make(img)
    assert a != b
    assert cv2.imread(str(b)).shape[:2] == (40, 80)


def test_large_jpegs_use_a_reduced_decode(tmp_path, monkeypatch):
    img = _jpg(tmp_path / "big.jpg", 1024, 768)
    factors = []
    real = thumbnails.decode_rgb

    def spy(path, target_long_side=None):
        rgb, f = real(path, target_long_side)
        factors.append((f, rgb.shape[:2]))
        return rgb, f

    monkeypatch.setattr(thumbnails, "decode_rgb", spy)
    out = ThumbnailCache(tmp_path / "cache", size=160).load(img)
    assert factors == [(4, (192, 256))]  # libjpeg decoded 1/4 scale, not 1024 x 768
    assert out.shape == (120, 160, 3)


def test_small_images_are_not_enlarged():
    assert fit_size(64, 48, 160) == (64, 48)
    assert fit_size(1000, 10, 160) == (160, 2)
    assert fit_size(3, 5000, 160) == (1, 160)


def test_broken_and_missing_images_raise_errors_naming_the_file(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", size=64)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with pytest.raises(StudioError) as e:
        cache.get_or_make(broken)
    assert "broken.jpg" in str(e.value) and "unreadable" in str(e.value)
    with pytest.raises(StudioError) as e:
        cache.load(tmp_path / "gone.png")
    assert "gone.png" in str(e.value) and "not found" in str(e.value)
    assert not (tmp_path / "cache").exists() or _files(tmp_path / "cache") == []


def test_a_corrupt_cache_entry_is_made_again(tmp_path):
    img = _jpg(tmp_path / "a.jpg", 120, 120)
    cache = ThumbnailCache(tmp_path / "cache", size=40)
    entry = cache.get_or_make(img)
    entry.write_bytes(b"garbage")
    assert cache.load(img).shape == (40, 40, 3)
    assert cv2.imread(str(entry)) is not None


def test_prune_removes_the_least_recently_used_first(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", size=48)
    entries = [cache.get_or_make(_jpg(tmp_path / f"{i}.jpg", 96, 96, seed=i)) for i in range(5)]
    now = time.time()
    for age, e in zip((50, 40, 30, 20, 10), entries):  # entry 0 is the oldest
        os.utime(e, (now - age, now - age))
    cache.get_or_make(tmp_path / "0.jpg")  # a hit makes it the most recent
    sizes = [e.stat().st_size for e in entries]
    budget = sum(sizes) - sizes[1] - sizes[2] + 1
    stale = tmp_path / "cache" / "ab" / ".x.jpg.123.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")
    os.utime(stale, (now - 7200, now - 7200))
    assert cache.prune(budget) == 2
    assert [e.exists() for e in entries] == [True, False, False, True, True]
    assert not stale.exists()
    assert cache.total_bytes() <= budget
    assert cache.prune(0) == 3 and cache.total_bytes() == 0
    assert ThumbnailCache(tmp_path / "nothing-here").prune(0) == 0


def test_default_folder_is_the_user_cache():
    d = default_cache_dir()
    assert d.name == "thumbnails" and "studio" in d.parts
    assert ThumbnailCache().cache_dir == d
