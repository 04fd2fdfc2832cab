"""One model over video sources: the files each one gets, ``--show``, and the per-source summaries.

What ``studio predict`` (a checkpoint) and ``studio infer`` (an exported model) do with video inputs,
once they have loaded their model. Output names: ``<stem>_pred.mp4`` (every frame annotated, at the
source's frame rate) and ``<stem>_pred.jsonl`` (a line per frame) in the output folder; a camera's stem
is ``camera<N>``, a URL's its host and path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from studio.core import atomic
from studio.core.draw import draw_detections
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import safe_join
from studio.core.video.display import Viewer
from studio.core.video.pipeline import FrameResult, VideoModel, VideoSummary, run_video
from studio.core.video.sources import FrameSource, open_source

Source = str | Path | int | FrameSource


def output_pair(out_dir: Path, stem: str, seen: dict[str, int]) -> tuple[Path, Path]:
    """(video, jsonl) of a source: ``<stem>_pred.mp4`` / ``.jsonl``, numbered where two sources share a stem
    (``seen`` counts the stems given so far)."""
    n = seen.get(stem, 0)
    seen[stem] = n + 1
    name = f"{stem}_pred" if n == 0 else f"{stem}_{n}_pred"
    return safe_join(out_dir, f"{name}.mp4", what="video"), safe_join(out_dir, f"{name}.jsonl", what="results")


def predict_sources(
    model: VideoModel,
    sources: Sequence[Source],
    out_dir: str | Path,
    *,
    show: bool = False,
    on_frame: Callable[[FrameResult], Any] | None = None,
    max_frames: int | None = None,
    workers: int = 1,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[VideoSummary]:
    """Each source in turn through :func:`run_video`, writing its annotated video and JSON Lines into
    ``out_dir`` (never over the input: the outputs' names end in ``_pred``).

    ``show``: also a window (StudioError before any work where no display exists); q or Esc in it
    cancels. ``workers``: frames inferred at once (see :func:`run_video`). A source that fails raises its
    VideoError (the videos before it are complete).
    """
    viewer = Viewer() if show else None
    cancel = cancel or CancelToken()
    out_dir = Path(out_dir)
    names = list(model.class_map.names)

    def each(result: FrameResult) -> None:
        if on_frame is not None:
            on_frame(result)
        if viewer is not None and not viewer.show(draw_detections(result.image, result.detections, names)):
            cancel.cancel()

    summaries = []
    seen: dict[str, int] = {}
    try:
        for src in sources:
            source = src if isinstance(src, FrameSource) else open_source(src)
            try:
                atomic.ensure_dir(out_dir)  # once a source opens: a missing camera leaves no folder behind
                video, jsonl = output_pair(out_dir, source.stem, seen)
                summaries.append(
                    run_video(
                        model,
                        source,
                        video_out=video,
                        jsonl_out=jsonl,
                        on_frame=each,
                        max_frames=max_frames,
                        workers=workers,
                        progress=progress,
                        cancel=cancel,
                    )
                )
            finally:
                if not isinstance(src, FrameSource):
                    source.close()
    finally:
        if viewer is not None:
            viewer.close()
    return summaries
