"""Image decoding for training, with JPEG DCT-domain downscaling.

Training images are resized to ``image_size`` (512 by default) right after decoding, so decoding a
2048 px photo at full resolution wastes most of the work. libjpeg can decode straight to 1/2, 1/4 or
1/8 of the size (OpenCV's ``IMREAD_REDUCED_COLOR_*``), which skips most of the inverse DCT and colour
conversion: about 2-3x faster on the balloon photos. :func:`decode_rgb` picks the largest reduction
that still leaves at least ``target_long_side`` pixels on the longest side, so nothing is upsampled
later, and returns the factor so callers divide annotation coordinates by it.

EXIF orientation: COCO sizes are the upright (displayed) sizes, as
:func:`studio.core.imageio.read_image_size` reports them. ``cv2.imdecode`` applies the EXIF
orientation for the full and the reduced modes alike (checked in the tests), so the decoded array is
upright too and annotations need no rotation.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from studio.core.errors import DatasetError

REDUCTIONS = (8, 4, 2)
#: ``studio predict`` / ``studio infer`` decode an image reduced only above this many pixels (16 MP: a
#: 12 MP phone photo is decoded, and drawn, in full; a 6000 x 4000 or 8000 x 8000 one is not).
BIG_IMAGE_PIXELS = 16_000_000
_REDUCED_FLAG = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
# SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def reduction_for(long_side: int, target_long_side: int | None) -> int:
    """Largest factor in (8, 4, 2) with ``ceil(long_side / f) >= target_long_side``, else 1."""
    if not target_long_side or long_side <= 0:
        return 1
    for f in REDUCTIONS:
        if math.ceil(long_side / f) >= target_long_side:
            return f
    return 1


def reduced_size(width: int, height: int, factor: int) -> tuple[int, int]:
    """``(w, h)`` of an image decoded with ``factor`` (libjpeg rounds up)."""
    return -(-int(width) // factor), -(-int(height) // factor)


def is_jpeg(buf: np.ndarray | bytes) -> bool:
    return len(buf) >= 3 and bytes(buf[:3]) == b"\xff\xd8\xff"


def jpeg_size(buf: np.ndarray | bytes) -> tuple[int, int] | None:
    """``(w, h)`` stored in a JPEG's frame header (before EXIF orientation), or None if not found.

    Walks the marker segments up to the first SOF (skipping EXIF and thumbnails), without decoding.
    """
    data = memoryview(buf)
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        seg_len = (data[i + 2] << 8) | data[i + 3]
        if marker in _SOF:
            if i + 9 > n:
                return None
            h = (data[i + 5] << 8) | data[i + 6]
            w = (data[i + 7] << 8) | data[i + 8]
            return (w, h) if w and h else None
        i += 2 + seg_len
    return None


def decode_rgb(path: str | Path, target_long_side: int | None = None) -> tuple[np.ndarray, int]:
    """Decode ``path`` to an upright RGB uint8 ``HxWx3`` array and the reduction factor applied.

    With ``target_long_side``, JPEGs are decoded reduced by 2, 4 or 8 (the largest that keeps the
    longest side >= ``target_long_side``); other formats are decoded in full and then shrunk by the
    same integer factor with area interpolation, so the caller sees one convention for every file.
    Annotation coordinates map to the result by dividing by the factor.
    Raises :class:`DatasetError` naming the file when it is missing or cannot be decoded.
    """
    img, factor, _ = _decode(Path(path), target_long_side, 0)
    return img, factor


def decode_for_model(
    path: str | Path, input_size: int, min_pixels: int | None = None
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Decode an image for a model whose input's longest side is ``input_size``: ``(rgb, factor, (width, height))``.

    An image of more than ``min_pixels`` pixels (default :data:`BIG_IMAGE_PIXELS`) is decoded as
    :func:`decode_rgb` does with ``target_long_side=input_size``: reduced by the largest of 8, 4, 2
    that keeps its longest side >= ``input_size``, so the model sees the same detail. An 8000 x 8000
    JPEG for a 640 px model decodes to 1000 x 1000 (3 MB instead of 192 MB). Smaller images are
    decoded in full (factor 1), as :func:`studio.core.imageio.imread_rgb` does.

    ``(width, height)`` is the file's upright size, read from the JPEG header or the full decode (no
    PIL: its decompression-bomb check refuses the very images this is for). A pixel ``(x, y)`` of
    the result covers the file's pixels ``[x * factor, (x + 1) * factor)``: coordinates map back by
    multiplying by ``factor`` and clipping to the size.
    """
    limit = BIG_IMAGE_PIXELS if min_pixels is None else min_pixels
    return _decode(Path(path), input_size, limit)


def _decode(path: Path, target_long_side: int | None, min_pixels: int) -> tuple[np.ndarray, int, tuple[int, int]]:
    """:func:`decode_rgb`, reducing only images of more than ``min_pixels``; also the file's upright ``(w, h)``."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode: also non-ASCII paths on Windows
    except FileNotFoundError:
        raise DatasetError("image file not found", file=path) from None
    except OSError as e:
        raise DatasetError(f"cannot read image: {e.strerror or e}", file=path) from None
    factor = 1
    jpeg = is_jpeg(buf)
    size = jpeg_size(buf) if jpeg else None  # before EXIF orientation
    if target_long_side and size is not None and size[0] * size[1] > min_pixels:
        factor = reduction_for(max(size), target_long_side)
    flag = _REDUCED_FLAG.get(factor, cv2.IMREAD_COLOR)
    img = cv2.imdecode(buf, flag) if buf.size else None
    if img is None:
        raise DatasetError("unreadable image (decoding failed)", file=path)
    h, w = img.shape[:2]
    full = (w, h)
    if factor > 1:  # the file's upright size: the header's, turned as the decoder turned the image
        assert size is not None
        if reduced_size(size[0], size[1], factor) == (w, h):
            full = size
        elif reduced_size(size[1], size[0], factor) == (w, h):
            full = (size[1], size[0])
        else:  # header and decoder disagree: decode in full
            img, factor = cv2.imdecode(buf, cv2.IMREAD_COLOR), 1
            full = (img.shape[1], img.shape[0])
    if target_long_side and factor == 1 and not jpeg and w * h > min_pixels:
        factor = reduction_for(max(h, w), target_long_side)
        if factor > 1:
            img = cv2.resize(img, reduced_size(w, h, factor), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), factor, full
