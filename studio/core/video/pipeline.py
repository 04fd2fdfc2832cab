"""Decode, infer and encode a video in a pipeline: a reader thread, the model, a writer thread.

The three stages overlap: while the model runs on frame k, the reader decodes frame k+1 and the writer
draws and encodes frame k-1 (OpenCV releases the GIL while it decodes, resizes and encodes, and so do
ONNX Runtime and torch while they compute). Bounded queues (``QUEUE_FRAMES``) keep memory flat when one
stage is slower than the others.

The model runs in ``workers`` threads (1 by default); ``on_frame`` runs in the thread that calls
:func:`run_video` and gets every :class:`FrameResult` (index, timestamp, RGB image, detections,
throughput), in frame order, as soon as it is known: the app's Preview shows live predictions and FPS
from it. A cancel (the token, or Ctrl-C in that thread)
and a failure of the source both stop the reader, let the writer finish the frames already inferred,
and close the files, so the video plays and the JSON Lines hold the same frames; then
:class:`VideoCancelled` or :class:`studio.core.video.sources.VideoError` is raised, carrying the
:class:`VideoSummary` of what was written.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.detections import Detections
from studio.core.draw import draw_detections
from studio.core.errors import CancelledError
from studio.core.evaluation.results import to_coco_results
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.video.sinks import JsonlWriter, VideoWriter
from studio.core.video.sources import FrameSource, VideoError

QUEUE_FRAMES = 4  # frames waiting between two stages
FPS_WINDOW = 30  # the FPS a frame reports is over the last this many frames (what a live view shows)
_END = object()


class VideoModel(Protocol):
    """What the pipeline needs of a model: a Predictor (checkpoint) and an ExportedModel both are one."""

    class_map: ClassMap

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


@dataclass(frozen=True)
class FrameResult:
    """One frame's outcome, as ``on_frame`` gets it; ``fps`` is the throughput over the last ``FPS_WINDOW``
    frames (frames per second)."""

    index: int
    timestamp: float
    image: np.ndarray  # RGB uint8, the source's pixels
    detections: Detections  # in the frame's pixels
    fps: float


@dataclass(frozen=True)
class VideoSummary:
    """What a run wrote: frames, detections, throughput, and the files (None when not asked for)."""

    source: str
    frames: int
    detections: int
    seconds: float
    video: Path | None
    jsonl: Path | None
    status: str = "finished"  # finished | cancelled | failed
    score_note: str = ""  # the score threshold used and why (set by the front end that chose it)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        files = [str(p) for p in (self.video, self.jsonl) if p is not None]
        where = f"; wrote {' and '.join(files)}" if files else ""
        return (
            f"{self.source}: {self.detections} detections on {self.frames} frames, {self.fps:.1f} FPS "
            f"({self.status}){where}"
        )


class VideoCancelled(CancelledError):
    """The run was cancelled; ``summary`` tells what was written (the files are closed and playable)."""

    def __init__(self, summary: VideoSummary):
        super().__init__(f"cancelled after {summary.frames} frames")
        self.summary = summary


def frame_record(result: FrameResult, class_map: ClassMap) -> dict:
    """One JSON Lines record: the frame, its time, and its detections as COCO results (bbox xywh, score,
    category_id, segmentation RLE for masks) in the frame's pixels."""
    h, w = result.image.shape[:2]
    image = {"id": result.index, "file_name": "", "width": w, "height": h}
    dets = []
    for r in to_coco_results(result.detections, image, class_map):
        r.pop("image_id", None)
        r.pop("file_name", None)
        dets.append(r)
    return {"frame": result.index, "timestamp": round(result.timestamp, 4), "width": w, "height": h, "detections": dets}


class _Writer(threading.Thread):
    """Draws each result onto its frame, encodes it, and writes its JSON Lines record."""

    def __init__(self, video: VideoWriter | None, jsonl: JsonlWriter | None, class_map: ClassMap, draw: bool):
        super().__init__(name="video-writer", daemon=True)
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.video, self.jsonl, self.class_map, self.draw = video, jsonl, class_map, draw
        self.error: BaseException | None = None
        self.written = 0

    def run(self) -> None:
        names = list(self.class_map.names)
        while True:
            item = self.q.get()
            if item is _END:
                return
            if self.error is not None:
                continue  # drain after a failure so that the producer never blocks
            try:
                if self.video is not None:
                    img = draw_detections(item.image, item.detections, names) if self.draw else item.image
                    self.video.write(img)
                if self.jsonl is not None:
                    self.jsonl.write(frame_record(item, self.class_map))
                self.written += 1
            except BaseException as e:  # a full disk: stop writing, the run stops at the next frame
                self.error = e


class _Reader(threading.Thread):
    """Reads frames into a bounded queue until the end, a failure (queued as the exception) or a stop."""

    def __init__(self, source: FrameSource, max_frames: int | None):
        super().__init__(name="video-reader", daemon=True)
        self.source, self.max_frames = source, max_frames
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.stop = threading.Event()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set() and (self.max_frames is None or n < self.max_frames):
                frame = self.source.read()
                if frame is None:
                    break
                n += 1
                if not self._put(frame):
                    return
        except BaseException as e:
            self._put(e)
            return
        self._put(_END)


def run_video(
    model: VideoModel,
    source: FrameSource,
    *,
    video_out: str | Path | None = None,
    jsonl_out: str | Path | None = None,
    draw: bool = True,
    on_frame: Callable[[FrameResult], Any] | None = None,
    max_frames: int | None = None,
    workers: int = 1,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> VideoSummary:
    """Run ``model`` on every frame of ``source``; write the annotated video (at the source's frame rate) and
    the JSON Lines when asked; returns the :class:`VideoSummary`.

    ``workers``: frames inferred at the same time (each in its own thread, results still in frame order);
    more than 1 pays where one frame cannot keep every core busy (a small model on a CPU: give each worker
    one intra-op thread). The model's ``predict`` must be thread-safe then (an ONNX Runtime session is).

    Raises :class:`VideoCancelled` after a cancel or Ctrl-C, :class:`VideoError` when the source fails,
    each once the frames done are written and the files closed. ``source`` is not closed here.
    """
    video = VideoWriter(video_out, source.fps) if video_out is not None else None
    jsonl = JsonlWriter(jsonl_out) if jsonl_out is not None else None
    writer = _Writer(video, jsonl, model.class_map, draw) if (video or jsonl) else None
    reader = _Reader(source, max_frames)
    total = source.frame_count or 0
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    frames = n_det = 0
    recent: deque[float] = deque(maxlen=FPS_WINDOW)  # when the last frames were done: the live FPS
    status, failure = "finished", None
    t0 = time.perf_counter()
    reader.start()
    if writer is not None:
        writer.start()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="video-model")
    pending: deque[tuple[Any, Future]] = deque()  # frames being inferred, oldest first
    ended = False
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                status = "cancelled"
                break
            if writer is not None and writer.error is not None:
                failure, status = writer.error, "failed"
                break
            while not ended and len(pending) < workers:
                try:
                    item = reader.q.get(timeout=0.1 if not pending else 0.0)  # a cancel is seen while a camera waits
                except queue.Empty:
                    break
                if item is _END or isinstance(item, BaseException):
                    ended = True
                    if item is not _END:
                        failure = item
                    break
                pending.append((item, pool.submit(model.predict, [item.image])))
            if not pending:
                if ended:
                    status = "failed" if failure is not None else status
                    break
                continue
            item, future = pending.popleft()
            dets = future.result()[0]  # in frame order, whichever worker finished first
            frames += 1
            n_det += len(dets)
            recent.append(time.perf_counter())
            span = recent[-1] - (recent[0] if len(recent) > 1 else t0)
            rate = (len(recent) - 1 if len(recent) > 1 else 1) / span if span > 0 else 0.0
            result = FrameResult(item.index, item.timestamp, item.image, dets, rate)
            if on_frame is not None:
                on_frame(result)
            if writer is not None:
                writer.q.put(result)
            progress(frames, total, f"{source.name} {result.fps:.1f} FPS")
    except KeyboardInterrupt:
        status = "cancelled"
    finally:
        reader.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # frames still in the model are dropped, not written
        reader.join()
        paths = _close(writer, video, jsonl)
    if writer is not None and writer.error is not None and failure is None:
        failure, status = writer.error, "failed"
    summary = VideoSummary(source.name, frames, n_det, time.perf_counter() - t0, *paths, status=status)
    if status == "cancelled":
        raise VideoCancelled(summary)
    if failure is not None:
        if isinstance(failure, VideoError):
            kept = f"; the {frames} frames before it are kept" + (
                f" in {', '.join(str(p) for p in paths if p)}" if any(paths) else ""
            )
            err = VideoError(failure.message + kept, file=failure.file, item=failure.item)
            err.summary = summary
            raise err from None
        raise failure
    return summary


def _close(
    writer: _Writer | None, video: VideoWriter | None, jsonl: JsonlWriter | None
) -> tuple[Path | None, Path | None]:
    """Let the writer finish what is queued, then close (and move into place) both files."""
    if writer is not None:
        writer.q.put(_END)
        writer.join()
    video_path = video.close() if video is not None else None
    jsonl_path = jsonl.close() if jsonl is not None else None
    return video_path, jsonl_path
