"""Short videos made with code: moving rectangles over a textured background, with cuts where asked.

For tests and ``bench/video.py``, which must not depend on a video file being around. Each shot has its
own background (brightness and texture), so a cut is a real scene change; inside a shot only the
rectangles move, a few pixels a frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from studio.core.errors import StudioError

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


def synthetic_frame(i: int, width: int, height: int, shot: int = 0) -> np.ndarray:
    """Frame ``i`` of shot ``shot``: an RGB uint8 image with two rectangles moving right and down."""
    rng = np.random.default_rng(1000 + shot)
    base = rng.integers(40, 215, 3)
    tex = rng.integers(0, 40, (height // 8 + 1, width // 8 + 1, 1))
    img = (np.kron(tex, np.ones((8, 8, 1)))[:height, :width] + base).clip(0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    s = max(8, min(width, height) // 5)
    x = (10 + 4 * i) % max(1, width - s)
    y = (20 + 3 * i) % max(1, height - s)
    cv2.rectangle(img, (x, y), (x + s, y + s), (230, 40, 40), -1)
    cv2.rectangle(img, (width - x - s, height - y - s), (width - x, height - y), (40, 200, 60), -1)
    return img


def write_video(
    path: str | Path, frames: int, *, width: int = 320, height: int = 240, fps: float = 10.0, cuts: Sequence[int] = ()
) -> Path:
    """Write ``frames`` frames into ``path`` (.mp4 mp4v, .avi MJPG or .mkv XVID); a new shot starts at each
    frame index in ``cuts``. Returns ``path``."""
    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise StudioError(f"synthetic videos are written as {', '.join(CODECS)}", file=path)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not w.isOpened():
        raise StudioError(f"OpenCV cannot write {codec} video here", file=path)
    try:
        for i in range(frames):
            shot = sum(1 for c in cuts if i >= c)
            w.write(cv2.cvtColor(synthetic_frame(i, width, height, shot), cv2.COLOR_RGB2BGR))
    finally:
        w.release()
    return path
