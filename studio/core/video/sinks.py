"""Where a video run's results go: the annotated video and the per-frame JSON Lines, both written aside.

Each file is written inside a temporary sibling folder and moved into place when it is closed, so the
target never holds half a file; closing after a cancel or a failure still moves what was written (the
frames done are kept, and the video is playable: the container is finalised by the release). A video
of no frame is not kept (it would not play).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import orjson

from studio.core import atomic
from studio.core.errors import StudioError

VIDEO_FOURCC = "mp4v"  # MPEG-4 Part 2 in .mp4: encodes with the FFmpeg inside every OpenCV wheel


class _Aside:
    """A temporary sibling folder of ``dest`` holding the file while it is written."""

    def __init__(self, dest: Path):
        self.dest = Path(dest)
        self.folder = atomic.make_temp_dir(self.dest)
        self.path = self.folder / ("part" + self.dest.suffix)

    def commit(self) -> None:
        try:
            with atomic.naming(self.dest, self.path):
                os.replace(self.path, self.dest)
        finally:
            self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class VideoWriter:
    """An RGB frame at a time into an ``.mp4`` at ``fps``; the frame size is fixed by the first frame."""

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise StudioError("the annotated video is written as .mp4", file=self.path)
        self.fps = float(fps)
        self._aside: _Aside | None = None
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if self._writer is None:
            self._open(w, h)
        if (w, h) != self._size:  # a stream that changes resolution: keep the first size
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def _open(self, w: int, h: int) -> None:
        self._aside = _Aside(self.path)
        self._size = (w, h)
        self._writer = cv2.VideoWriter(str(self._aside.path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), self.fps, (w, h))
        if not self._writer.isOpened():
            self._aside.discard()
            raise StudioError(f"OpenCV cannot write {VIDEO_FOURCC} video here ({w}x{h})", file=self.path)

    def close(self) -> Path | None:
        """Finish the file and move it into place; returns its path, or None when no frame was written."""
        if self._writer is None or self._aside is None:
            return None
        self._writer.release()
        self._writer = None
        if self.frames == 0:
            self._aside.discard()
            return None
        self._aside.commit()
        return self.path


class JsonlWriter:
    """One JSON object a line, flushed as written; moved into place on :meth:`close`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._aside = _Aside(self.path)
        self._f: IO[bytes] | None = open(self._aside.path, "wb")  # noqa: SIM115 - closed in close()
        self.lines = 0

    def write(self, obj: dict) -> None:
        assert self._f is not None
        self._f.write(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        self.lines += 1

    def close(self) -> Path:
        if self._f is not None:
            with contextlib.suppress(OSError):
                self._f.flush()
                os.fsync(self._f.fileno())
            self._f.close()
            self._f = None
            self._aside.commit()
        return self.path


def count_frames(path: str | Path) -> int:
    """Frames a video file really holds, by decoding it (0 when it does not open): checks a written video."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    n = 0
    try:
        while cap.isOpened():
            ok, _ = cap.read()
            if not ok:
                break
            n += 1
    finally:
        cap.release()
    return n
