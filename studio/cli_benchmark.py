"""``studio benchmark``: one checkpoint on every backend here (studio.core.export.benchmark), printed as a table."""

from __future__ import annotations

import argparse

from studio import api_export
from studio.cli_common import EXIT_OK, progress_printer
from studio.core.export.benchmark import BENCH_FORMATS, DEFAULT_FORMATS, DEFAULT_RUNS, JSON_NAME, MARKDOWN_NAME
from studio.core.export.setup import DEFAULT_VERIFY_IMAGES


def cmd_benchmark(a: argparse.Namespace) -> int:
    res = api_export.benchmark(
        a.ckpt,
        a.formats,
        out=a.out,
        images=a.images,
        ann=a.ann,
        n_images=a.n_images,
        runs=a.runs,
        score_thr=a.score_thr,
        threads=a.threads,
        progress=progress_printer(True),
    )
    for line in res.lines():
        print(line)
    print(f"written: {res.markdown} and {res.json.name}")
    return EXIT_OK


def add_parsers(sub) -> None:
    b = sub.add_parser(
        "benchmark",
        help="one table of format x file size x mAP x median latency x FPS, on every backend here",
        description=(
            "Exports the checkpoint to each format, then runs PyTorch eager and every exported model on the same "
            "images: mAP (and its difference from PyTorch), box match with PyTorch, median latency and FPS, "
            "the backends interleaved. A backend missing here (no GPU, a package not installed) is a row with "
            f"the reason. Writes {MARKDOWN_NAME}, {JSON_NAME} and the exports (exports/FORMAT) into OUT."
        ),
    )
    b.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    b.add_argument(
        "--formats",
        nargs="+",
        choices=BENCH_FORMATS,
        default=None,
        metavar="FORMAT",
        help=f"any of {', '.join(BENCH_FORMATS)} (default: {' '.join(DEFAULT_FORMATS)})",
    )
    b.add_argument(
        "--images",
        metavar="DIR",
        help="images to measure on (default: the checkpoint's val set); the val images folder keeps its annotations, "
        "another folder gives latency without mAP unless --ann names its COCO file",
    )
    b.add_argument("--ann", metavar="ANN", help="COCO file of the images (mAP)")
    b.add_argument(
        "-o", "--out", metavar="OUT", help="output folder (default: benchmark beside the checkpoint)", default=None
    )
    b.add_argument(
        "--n-images",
        type=int,
        default=DEFAULT_VERIFY_IMAGES,
        metavar="N",
        help=f"images for mAP (default {DEFAULT_VERIFY_IMAGES})",
    )
    b.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, metavar="N", help=f"timed runs per backend (default {DEFAULT_RUNS})"
    )
    b.add_argument("--score-thr", type=float, default=None, help="score threshold (default: the checkpoint's)")
    b.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="intra-op threads of every CPU backend (default: PyTorch's; 1 gives steadier figures on a busy machine)",
    )
    b.set_defaults(func=cmd_benchmark)
