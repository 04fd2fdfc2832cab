"""Thumbnails on disk, so a 10,000-image grid decodes each photo once, not on every visit.

An entry's name hashes the image's absolute path, its modification time (ns), its byte size and the
thumbnail size: editing or replacing a photo changes the key, so a stale thumbnail is never shown and
no invalidation pass is needed (the old entry just ages out through :meth:`ThumbnailCache.prune`).

Making one decodes through :func:`studio.core.data.decode.decode_rgb`, which asks libjpeg for a 1/2,
1/4 or 1/8 scale decode when the photo is much larger than the thumbnail (a 2048 px JPEG decodes to
256 px directly, several times faster than a full decode), then shrinks with area interpolation and
writes a JPEG through :func:`studio.core.atomic.atomic_path`, so a reader never sees half a file.
Hits touch the entry's mtime, which makes "oldest mtime" mean "least recently used" for pruning.

Thread-safe: several threads may make thumbnails at once (two racing on one image both write the same
bytes and the last ``os.replace`` wins). Qt-free: the GUI wraps the pixels into a QImage itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np

from studio.core import atomic
from studio.core.data.decode import decode_rgb
from studio.core.environment import user_cache_dir
from studio.core.errors import DatasetError

log = logging.getLogger("studio.thumbnails")

DEFAULT_SIZE = 160
JPEG_QUALITY = 85
STALE_TEMP_S = 3600  # temporary files older than this are leftovers of a crash; prune removes them


def default_cache_dir() -> Path:
    """The per-user cache folder: ``<user cache dir>/studio/thumbnails``."""
    return user_cache_dir() / "thumbnails"


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """``(w, h)`` of ``width x height`` shrunk to fit ``size x size`` (never enlarged, at least 1 px)."""
    scale = min(1.0, size / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


class ThumbnailCache:
    """``get_or_make(path)`` gives the cached JPEG of an image; ``load(path)`` its RGB pixels."""

    def __init__(self, cache_dir: str | Path | None = None, size: int = DEFAULT_SIZE, quality: int = JPEG_QUALITY):
        if size < 8:
            raise ValueError(f"thumbnail size must be at least 8 px, got {size}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.size = int(size)
        self.quality = int(quality)
        self.hits = 0  # counters for tests and benchmarks (approximate under threads)
        self.misses = 0

    # ------------------------------------------------------------------ keys
    def key(self, path: str | Path) -> str:
        """The entry name for ``path`` as it is now on disk; a missing file raises DatasetError naming it."""
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DatasetError("image file not found", file=path) from None
        except OSError as e:
            raise DatasetError(f"cannot read image: {e.strerror or e}", file=path) from None
        raw = f"{path}\0{st.st_mtime_ns}\0{st.st_size}\0{self.size}".encode("utf-8", "surrogatepass")
        return hashlib.sha1(raw).hexdigest()

    def entry_path(self, key: str) -> Path:
        """Two-level layout (``ab/abcdef....jpg``) keeps folders small for large datasets."""
        return self.cache_dir / key[:2] / f"{key}.jpg"

    # ------------------------------------------------------------------ making
    def get_or_make(self, path: str | Path) -> Path:
        """The cached thumbnail file of ``path``, made now if missing or stale.

        Raises :class:`DatasetError` naming ``path`` when it is missing or cannot be decoded.
        """
        entry = self.entry_path(self.key(path))
        if _nonempty(entry):
            self._touch(entry)
            self.hits += 1
            return entry
        self._make(path, entry)
        return entry

    def load(self, path: str | Path) -> np.ndarray:
        """The thumbnail's RGB ``HxWx3`` uint8 pixels: read from the cache, or made (and stored) now.

        A fresh thumbnail is returned from memory rather than decoded back from the file just written.
        An unreadable cache entry (a disk error, a foreign file) is made again.
        """
        entry = self.entry_path(self.key(path))
        if _nonempty(entry):
            bgr = cv2.imread(str(entry), cv2.IMREAD_COLOR)
            if bgr is not None:
                self._touch(entry)
                self.hits += 1
                return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            log.warning("unreadable thumbnail %s for %s: making it again", entry, path)
        return self._make(path, entry)

    def _make(self, path: str | Path, entry: Path) -> np.ndarray:
        self.misses += 1
        rgb, _factor = decode_rgb(path, target_long_side=self.size)
        h, w = rgb.shape[:2]
        tw, th = fit_size(w, h, self.size)
        if (tw, th) != (w, h):
            rgb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:  # cannot happen for a uint8 3-channel array; kept so a failure names the file
            raise DatasetError("could not encode the thumbnail", file=path)
        try:
            # atomic_path, not write_bytes: no fsync. A cache entry lost to a power cut is made again,
            # and fsync per thumbnail would cost more than the decode on a spinning disk.
            with atomic.atomic_path(entry) as tmp:
                tmp.write_bytes(buf.tobytes())
        except OSError as e:  # a read-only or full cache still shows the thumbnail, it is just not kept
            log.warning("cannot write thumbnail %s: %s", entry, e)
        return rgb

    @staticmethod
    def _touch(entry: Path) -> None:
        try:
            os.utime(entry)
        except OSError:
            pass

    # ------------------------------------------------------------------ housekeeping
    def total_bytes(self) -> int:
        return sum(size for _t, size, _p in self._entries())

    def prune(self, max_bytes: int) -> int:
        """Remove the least recently used thumbnails until at most ``max_bytes`` remain; returns how many.

        Also removes temporary files left by a crash (older than an hour).
        """
        removed = 0
        now = time.time()
        if self.cache_dir.is_dir():
            for tmp in self.cache_dir.rglob(".*.tmp"):
                try:
                    if now - tmp.stat().st_mtime > STALE_TEMP_S:
                        tmp.unlink()
                except OSError:
                    pass
        entries = sorted(self._entries())
        total = sum(size for _t, size, _p in entries)
        for _t, size, p in entries:
            if total <= max_bytes:
                break
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("cannot remove thumbnail %s: %s", p, e)
                continue
            total -= size
            removed += 1
        return removed

    def _entries(self) -> list[tuple[int, int, Path]]:
        """``(mtime_ns, bytes, path)`` of every entry."""
        out = []
        if not self.cache_dir.is_dir():
            return out
        for p in self.cache_dir.glob("??/*.jpg"):
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((st.st_mtime_ns, st.st_size, p))
        return out


def _nonempty(p: Path) -> bool:
    try:
        return p.stat().st_size > 0
    except OSError:
        return False
