"""Where frames come from: a video file, a camera, a stream URL, or a fake camera for tests.

Every source has the same interface (:class:`FrameSource`): ``read()`` gives the next :class:`Frame`
(RGB uint8) or None at the end, and raises :class:`VideoError` naming the source and the frame index
when the source fails: a file that does not open (corrupt, unsupported codec), a file that stops before
the frame count its header announces (truncated), a camera that cannot be opened or stops delivering
frames (unplugged). A live source (camera, stream without a length) never ends on its own: a failed
read is always an error there.

:class:`FakeCamera` is a video file behind the camera interface: live, no length, timestamps from the
clock, and a failed read at the file's end is "the camera disappeared", so tests and the app's Preview
can exercise the camera path without a camera.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from studio.core.errors import StudioError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv")
_URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)
DEFAULT_LIVE_FPS = 30.0  # what a camera or stream that reports no frame rate is written at
OPEN_TIMEOUT_MS = 10_000  # a stream URL that does not answer within this is an error, not a hang
# A file may announce a frame count slightly off its real one (containers estimate it from the duration);
# a file that stops earlier than this share of it is reported as truncated.
TRUNCATED_SHARE = 0.95


class VideoError(StudioError):
    """A video source failed: it does not open, a frame does not decode, a camera went away.

    Raised by a pipeline run, it carries ``summary`` (:class:`studio.core.video.pipeline.VideoSummary`):
    what was written before the failure."""

    summary: Any = None


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index from 0, its time in seconds from the start, the RGB uint8 pixels."""

    index: int
    timestamp: float
    image: np.ndarray


def is_stream_url(text: str) -> bool:
    """True for an rtsp / rtmp / http(s) / udp / tcp URL."""
    return bool(_URL.match(str(text)))


def is_video_path(path: str | Path) -> bool:
    """True when the name ends like a video file (``.mp4``, ``.avi``, ``.mkv``, ``.webm``, ...)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def split_inputs(inputs: list[str | Path]) -> tuple[list[str | Path], list[str]]:
    """Inputs of ``predict`` / ``infer`` -> (image files and folders, video files and stream URLs)."""
    images: list[str | Path] = []
    videos: list[str] = []
    for item in inputs:
        text = str(item)
        if is_stream_url(text) or is_video_path(text):
            videos.append(text)
        else:
            images.append(item)
    return images, videos


def _rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FrameSource:
    """An opened source of frames; use as a context manager or call :meth:`close`.

    ``name`` is what messages and output files are named after, ``fps`` the frame rate to write at,
    ``frame_count`` the number of frames when known (a file), None for a live source.
    """

    name: str
    live: bool = False

    def __init__(self, cap: cv2.VideoCapture, name: str):
        self._cap = cap
        self.name = name
        self._next = 0
        self._t0: float | None = None
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.5 <= fps <= 1000 else DEFAULT_LIVE_FPS
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = n if n > 0 and not self.live else None
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)

    @property
    def stem(self) -> str:
        """A file-name-friendly form of ``name`` (letters, digits, ``-`` and ``_``)."""
        if is_stream_url(self.name):  # the last part of the URL's path (rtsp://cam/live/front -> front), else its host
            url = urlsplit(self.name)
            base = PurePosixPath(url.path).stem or url.hostname or "stream"
        else:
            base = Path(self.name).stem
        return re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_") or "video"

    def read(self) -> Frame | None:
        """The next frame, or None at the end of a file; VideoError when the source fails."""
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._ended()
            return None
        i = self._next
        self._next += 1
        return Frame(i, self._timestamp(i), _rgb(bgr))

    def _timestamp(self, i: int) -> float:
        if not self.live:
            return i / self.fps
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        return now - self._t0

    def _ended(self) -> None:
        """A read gave no frame: the end of a file, or a failure (raise VideoError)."""
        done = self._next
        if self.live:
            if done == 0:
                raise VideoError("delivered no frame", file=self.name)
            raise VideoError(f"stopped delivering frames after frame {done - 1} (disconnected?)", file=self.name)
        if done == 0:
            raise VideoError("no frame could be decoded (corrupt file or unsupported codec)", file=self.name)
        if self.frame_count and done < self.frame_count * TRUNCATED_SHARE:
            raise VideoError(
                f"decoding stopped at frame {done} of the {self.frame_count} its header announces "
                "(truncated or corrupt file)",
                file=self.name,
                item=f"frame {done}",
            )

    @property
    def frames_read(self) -> int:
        return self._next

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """A video file (any container and codec FFmpeg in OpenCV decodes)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise VideoError("video file not found", file=path)
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise VideoError("cannot open the video (corrupt file or unsupported container / codec)", file=path)
        super().__init__(cap, str(path))


class StreamSource(FrameSource):
    """An rtsp / http(s) / ... stream; one with a known length (a video file over http) ends like a file."""

    def __init__(self, url: str):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            raise VideoError("cannot open the stream (unreachable, refused, or an unsupported codec)", file=url)
        self.live = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) <= 0
        super().__init__(cap, url)


class CameraSource(FrameSource):
    """A camera by its index (0 is the first one)."""

    live = True

    def __init__(self, index: int):
        cap = cv2.VideoCapture(int(index))
        if not cap.isOpened():
            cap.release()
            raise VideoError("cannot be opened: no such camera, or another program is using it", file=f"camera {index}")
        super().__init__(cap, f"camera {index}")

    @property
    def stem(self) -> str:
        return self.name.replace(" ", "")


class FakeCamera(FrameSource):
    """A video file behind the camera interface (tests, demos): live, no length, clock timestamps.

    ``realtime``: deliver frames no faster than the file's frame rate, as a camera would. ``loop``:
    start again at the end instead of "disconnecting" (a Preview that runs until stopped).
    """

    live = True

    def __init__(self, path: str | Path, *, index: int = 0, realtime: bool = False, loop: bool = False):
        path = Path(path)
        if not path.is_file():
            raise VideoError("cannot be opened: no such camera, or another program is using it", file=f"camera {index}")
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise VideoError("cannot be opened: no such camera, or another program is using it", file=f"camera {index}")
        super().__init__(cap, f"camera {index}")
        self._realtime = realtime
        self._loop = loop
        self._due: float | None = None

    @property
    def stem(self) -> str:
        return self.name.replace(" ", "")

    def read(self) -> Frame | None:
        if self._realtime:
            now = time.monotonic()
            if self._due is not None and now < self._due:
                time.sleep(self._due - now)
            self._due = max(now, self._due or now) + 1.0 / self.fps
        ok, bgr = self._cap.read()
        if (not ok or bgr is None) and self._loop and self._next:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._ended()
            return None
        i = self._next
        self._next += 1
        return Frame(i, self._timestamp(i), _rgb(bgr))


def open_source(source: str | Path | int) -> FrameSource:
    """A camera index (an int, or a string of digits), a stream URL or a video file -> an opened source."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return CameraSource(int(source))
    if is_stream_url(str(source)):
        return StreamSource(str(source))
    return VideoFileSource(source)
