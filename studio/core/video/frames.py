"""Frames of a video into an image folder, ready for ``studio dataset new`` and labelling.

Two ways to pick frames: every N-th frame (``every``), or the first frame of each new shot
(``scene_change``: the frame differs from the one before it by at least that much). Either way a frame
that nearly repeats the last one written is skipped (``min_diff``), so a still camera gives one image,
not a hundred copies.

The difference of two frames is cheap and perceptual: the mean absolute difference of their 32 x 32
grayscale thumbnails (area-averaged), as a share of full scale (0: the same, 1: black against white).
Noise and compression move it by about 0.002-0.005; a small object moving for a few frames by about
0.01; a cut to another shot by 0.1 and more. Hence the defaults: ``min_diff`` 0.01 (a near-duplicate
below it), ``scene_change`` thresholds from about 0.1 (every cut) to 0.3 (only hard cuts).

Files are named ``<video stem>_<frame index, 6 digits>.<ext>`` (the stem reduced to letters, digits,
``-`` and ``_``), written atomically, only inside the folder named; existing files of the same video are
never replaced unless ``overwrite`` is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from studio.core import atomic
from studio.core.errors import StudioError
from studio.core.imageio import save_image
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import plain_name_problem, quoted, safe_join
from studio.core.video.sources import FrameSource, open_source

THUMB = 32  # thumbnail side for the frame difference
DEFAULT_MIN_DIFF = 0.01  # below this a frame is a near-duplicate of the last one written
FRAME_FORMATS = (".jpg", ".png")


@dataclass(frozen=True)
class FramesSummary:
    """What :func:`extract_frames` did: the files written, frames read, and candidates skipped as near-duplicates."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)
    frames_read: int = 0
    duplicates: int = 0


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A 32 x 32 grayscale float32 thumbnail in [0, 1] (area average: noise cancels out)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32) / np.float32(255)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, 0..1."""
    return float(np.abs(a - b).mean())


def safe_stem(name: str) -> str:
    """A video's stem as a plain file-name part: letters, digits, ``-`` and ``_`` (``video`` if none are left)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_") or "video"
    problem = plain_name_problem(stem)
    if problem is not None:  # cannot happen after the substitution; kept as the rule's single check
        raise StudioError(f"video name {quoted(stem)} {problem}")
    return stem


def _check_options(every: int | None, scene_change: float | None, min_diff: float, image_format: str) -> str:
    if (every is None) == (scene_change is None):
        raise StudioError("choose one: --every N (every N-th frame) or --scene-change T (the first frame of each shot)")
    if every is not None and (isinstance(every, bool) or int(every) != every or every < 1):
        raise StudioError(f"--every must be a whole number of frames, 1 or more, got {every}")
    if scene_change is not None and not 0 < scene_change <= 1:
        raise StudioError(f"--scene-change must be above 0 and at most 1, got {scene_change:g}")
    if not 0 <= min_diff <= 1:
        raise StudioError(f"--min-diff must be from 0 to 1, got {min_diff:g}")
    ext = "." + image_format.lower().lstrip(".")
    if ext not in FRAME_FORMATS:
        raise StudioError(f"--format must be one of {', '.join(f[1:] for f in FRAME_FORMATS)}, got {image_format}")
    return ext


def _refuse_existing(out_dir: Path, stem: str, ext: str) -> None:
    if not out_dir.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(stem)}_\d{{6}}{re.escape(ext)}$")
    existing = sorted(p for p in out_dir.iterdir() if pattern.match(p.name))
    if existing:
        raise StudioError(
            f"{len(existing)} frame(s) of this video are there already ({existing[0].name}, ...): "
            "refused, so that nothing is replaced; choose another folder or pass --overwrite",
            file=out_dir,
        )


def extract_frames(
    video: str | Path | FrameSource,
    out_dir: str | Path,
    *,
    every: int | None = None,
    scene_change: float | None = None,
    min_diff: float = DEFAULT_MIN_DIFF,
    image_format: str = "jpg",
    overwrite: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> FramesSummary:
    """Write the chosen frames of ``video`` into ``out_dir`` (see the module's text); returns a FramesSummary.

    A source that fails part way (a truncated file) raises its VideoError after the frames picked
    before it are written. A cancel raises CancelledError; the files written stay.
    """
    ext = _check_options(every, scene_change, min_diff, image_format)
    out_dir = Path(out_dir)
    source = video if isinstance(video, FrameSource) else open_source(video)
    stem = safe_stem(source.stem)
    if not overwrite:
        _refuse_existing(out_dir, stem, ext)
    atomic.ensure_dir(out_dir)
    written: list[Path] = []
    duplicates = 0
    last_kept: np.ndarray | None = None
    previous: np.ndarray | None = None
    total = source.frame_count or 0
    try:
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            frame = source.read()
            if frame is None:
                break
            thumb = thumbnail(frame.image)
            if every is not None:
                candidate = frame.index % every == 0
            else:
                candidate = previous is None or frame_difference(thumb, previous) >= scene_change
            previous = thumb
            if candidate:
                if last_kept is not None and frame_difference(thumb, last_kept) < min_diff:
                    duplicates += 1
                else:
                    target = safe_join(out_dir, f"{stem}_{frame.index:06d}{ext}", what="frame file")
                    written.append(save_image(target, frame.image))
                    last_kept = thumb
            progress(frame.index + 1, total, f"{len(written)} frames written")
    finally:
        if not isinstance(video, FrameSource):
            source.close()
    return FramesSummary(out_dir, written, source.frames_read, duplicates)
