"""Video on the command line: ``studio dataset frames``, and the video part of ``predict`` / ``infer``
(``--camera``, ``--show``, the per-source lines, exit 130 after a cancel with the files kept)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from studio.cli_common import EXIT_OK, progress_printer
from studio.core.errors import StudioError
from studio.core.text import plural

EXIT_CANCELLED = 130  # what `studio` returns for Ctrl-C (cli.main) and a cancelled training


def add_video_flags(parser: argparse.ArgumentParser) -> None:
    """``--camera N`` (repeatable) and ``--show`` of ``predict`` and ``infer``."""
    parser.add_argument(
        "--camera",
        type=int,
        action="append",
        metavar="N",
        help="also run on camera N (0: the first one; repeatable); stop it with Ctrl-C",
    )
    parser.add_argument(
        "--show", action="store_true", help="show the annotated frames of videos and cameras in a window (q quits)"
    )


def video_sources(a: argparse.Namespace) -> tuple[list, list]:
    """(image inputs, video sources: files, URLs, then camera indices); StudioError when there is nothing."""
    from studio.core.video.sources import split_inputs  # deferred: cv2

    images, videos = split_inputs(a.images)
    sources: list = [*videos, *(a.camera or [])]
    if not images and not sources:
        raise StudioError("name images, folders, video files or stream URLs, or a camera with --camera N")
    return images, sources


def run_videos(run: Callable[..., list]) -> int:
    """Call ``run(progress=...)`` (``api.predict_video`` / ``api.infer_video`` bound to their arguments) and print
    one line per source; a cancel (Ctrl-C, q in the window) prints what was kept and returns 130."""
    from studio.core.video.pipeline import VideoCancelled  # deferred: cv2

    try:
        summaries = run(progress=progress_printer(True))
    except VideoCancelled as e:
        print(f"cancelled: {e.summary.describe()}", file=sys.stderr)
        return EXIT_CANCELLED
    if summaries and summaries[0].score_note:
        print(summaries[0].score_note)
    for s in summaries:
        print(s.describe())
    return EXIT_OK


def cmd_dataset_frames(a: argparse.Namespace) -> int:
    from studio import api_video  # deferred: cv2, numpy

    s = api_video.dataset_frames(
        a.video,
        a.output,
        every=a.every,
        scene_change=a.scene_change,
        min_diff=a.min_diff,
        image_format=a.format,
        overwrite=a.overwrite,
        progress=progress_printer(True),
    )
    dups = f", {plural(s.duplicates, 'near-duplicate')} skipped" if s.duplicates else ""
    print(f"wrote {plural(len(s.written), 'frame')} of {s.frames_read} into {s.out_dir}{dups}")
    print(f"next: studio dataset new {s.out_dir} --classes ... -o dataset.json")
    return EXIT_OK


def add_parsers(dataset_sub) -> None:
    f = dataset_sub.add_parser(
        "frames",
        help="extract frames of a video into an image folder (for `dataset new` and labelling)",
        description="Every N-th frame, or the first frame of each shot; a frame nearly the same as the last one "
        "written is skipped. Differences are the mean absolute difference of 32x32 grey thumbnails, 0 to 1.",
    )
    f.add_argument("video", help="video file (mp4, avi, mkv, webm, ...) or stream URL")
    pick = f.add_mutually_exclusive_group(required=True)
    pick.add_argument("--every", type=int, metavar="N", help="every N-th frame (1: all)")
    pick.add_argument(
        "--scene-change",
        type=float,
        metavar="T",
        help="the first frame of each shot: a frame that differs by T or more from the one before "
        "(0.1 finds most cuts, 0.3 only hard ones)",
    )
    f.add_argument(
        "--min-diff",
        type=float,
        default=0.01,
        metavar="D",
        help="skip a frame that differs by less than D from the last one written (default 0.01; 0 keeps all)",
    )
    f.add_argument("--format", default="jpg", choices=("jpg", "png"), help="image format (default jpg)")
    f.add_argument("--overwrite", action="store_true", help="replace frames of this video already in the folder")
    f.add_argument("-o", "--output", required=True, metavar="DIR", help="image folder to write into")
    f.set_defaults(func=cmd_dataset_frames)
