"""What the Preview page runs in workers: plain Python over ``studio.core`` (no Qt).

The model is loaded once (a checkpoint, a run folder, or an exported ``.onnx`` / OpenVINO ``.xml`` /
TensorRT engine) and kept by the page; images, folders, videos and cameras then reuse it. It keeps every
detection scoring at least :data:`LOW_SCORE`, so the page's score slider filters what is shown without
running the model again.

A video, stream or camera plays through the core pipeline (:func:`studio.core.video.pipeline.run_video`):
decoding overlaps the model, and each frame's result reaches the page through ``on_frame``. Pause holds
the model thread in ``on_frame`` (the reader then waits on its bounded queue); Stop is the worker's cancel,
after which the source is closed here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.export.runtime import load_exported
from studio.core.imageio import imread_rgb, list_images
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.labelling.auto import load_model
from studio.core.video.pipeline import FrameResult, VideoModel, VideoSummary, run_video
from studio.core.video.sources import CameraSource, FrameSource, VideoError

LOW_SCORE = 0.01  # the model keeps every detection at or above this; the slider hides the rest
EXPORTED_SUFFIXES = (".onnx", ".xml", ".engine", ".plan", ".trt")
CAMERA_INDICES = range(4)  # the cameras "Find cameras" tries
PAUSE_POLL_S = 0.05
RATE_WINDOW = 30  # frames the FPS is measured over

Opener = Callable[[], FrameSource]
CameraOpener = Callable[[int], FrameSource]


@dataclass(frozen=True)
class PreviewModel:
    """A loaded model and what the page says about it."""

    path: Path
    model: VideoModel
    kind: str  # "checkpoint", "ONNX", "OpenVINO", "TensorRT"

    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_map.names)

    def describe(self) -> str:
        return f"{self.path.name} ({self.kind}, {len(self.class_names)} classes)"


def model_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".onnx": "ONNX", ".xml": "OpenVINO"}.get(
        suffix, "TensorRT" if suffix in EXPORTED_SUFFIXES else "checkpoint"
    )


def load_preview_model(
    path: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> PreviewModel:
    """Load ``path`` keeping detections down to :data:`LOW_SCORE`; errors name the file."""
    path = Path(path)
    progress(0, 0, f"loading {path.name}")
    if path.suffix.lower() == ".xml":  # OpenVINO: load_model knows the ONNX / TensorRT suffixes only
        model: Any = load_exported(path, device="cpu", score_thr=LOW_SCORE)
    else:
        model = load_model(path, device="auto", score_thr=LOW_SCORE)
    return PreviewModel(path, model, model_kind(path))


@dataclass(frozen=True)
class ImageResult:
    """One still image and its detections by the model at ``model`` (``seconds``: the model's time on it)."""

    path: Path
    model: Path
    image: np.ndarray
    detections: Detections
    seconds: float


def folder_images(
    folder: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> list[Path]:
    """The images of ``folder`` and its sub-folders, sorted; StudioError naming the folder when it has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StudioError("no such folder", file=folder)
    progress(0, 0, f"listing {folder.name}")
    found = list_images(folder)
    if not found:
        raise StudioError("no images in this folder (jpg, png, bmp, tif, webp; sub-folders too)", file=folder)
    return found


def predict_image(
    model: PreviewModel, path: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> ImageResult:
    """Decode ``path`` and run the model on it; DatasetError naming the file when it does not decode."""
    path = Path(path)
    image = imread_rgb(path)
    if cancel is not None:
        cancel.raise_if_cancelled()
    t0 = time.perf_counter()
    dets = model.model.predict([image])[0]
    return ImageResult(path, model.path, image, dets, time.perf_counter() - t0)


def find_cameras(
    opener: CameraOpener = CameraSource,
    indices: Iterable[int] = CAMERA_INDICES,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[int]:
    """The camera indices that open (each is closed again at once)."""
    found = []
    indices = list(indices)
    for k, i in enumerate(indices):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(k, len(indices), f"trying camera {i}")
        try:
            opener(i).close()
        except VideoError:
            continue
        found.append(i)
    return found


class RateMeter:
    """Frames per second over the last :data:`RATE_WINDOW` frames: what the model keeps up with now (the
    pipeline's own figure averages since the start, pauses included)."""

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=RATE_WINDOW)

    def tick(self) -> float:
        self._times.append(time.perf_counter())
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self._times.clear()


def play_source(
    model: PreviewModel,
    opener: Opener,
    on_frame: Callable[[FrameResult, float], Any],
    paused: threading.Event,
    *,
    held: threading.Event | None = None,
    video_out: str | Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> VideoSummary:
    """Open the source, run the model on its frames until it ends, fails or the token cancels, then close it.

    ``on_frame(result, fps)`` gets each frame in the model's thread. ``paused`` set: the model thread waits
    after the frame just delivered, with ``held`` set while it waits. ``video_out``: also write the annotated
    video there (closed and playable after a stop). Raises VideoError naming the source, or VideoCancelled
    (a CancelledError) after a stop.
    """
    source = opener()
    meter = RateMeter()

    def each(result: FrameResult) -> None:
        on_frame(result, meter.tick())
        if paused.is_set():
            if held is not None:
                held.set()
            while paused.is_set() and not (cancel is not None and cancel.cancelled):
                time.sleep(PAUSE_POLL_S)
            if held is not None:
                held.clear()
            meter.reset()  # the pause is not the model's time

    try:
        return run_video(model.model, source, video_out=video_out, on_frame=each, progress=progress, cancel=cancel)
    finally:
        source.close()
