"""``studio label auto | accept | next``: model-in-the-loop labelling from the command line;
:func:`add_parsers` adds the ``label`` command."""

from __future__ import annotations

import argparse
import sys

from studio.cli_common import EXIT_OK, progress_printer
from studio.core.text import plural

MAX_WARNINGS = 10  # skipped images listed on stderr; the rest are counted


def _warn(warnings: list[str]) -> None:
    for w in warnings[:MAX_WARNINGS]:
        print(f"warning: {w}", file=sys.stderr)
    if len(warnings) > MAX_WARNINGS:
        print(f"... {plural(len(warnings) - MAX_WARNINGS, 'more warning')}", file=sys.stderr)


def cmd_label_auto(a: argparse.Namespace) -> int:
    from studio import api_label  # deferred: cv2, numpy

    res = api_label.label_auto(
        a.model,
        a.ann,
        a.output,
        images=a.images,
        all_images=a.all_images,
        score_thr=a.score_thr,
        device=a.device,
        progress=progress_printer(True),
    )
    print(f"wrote {a.output}: {res.text()} ({res.checkpoint}) in {res.seconds:.1f} s")
    if res.hint():
        print(f"note: {res.hint()}", file=sys.stderr)
    _warn(res.warnings)
    return EXIT_OK


def cmd_label_accept(a: argparse.Namespace) -> int:
    from studio import api_label  # deferred: cv2, numpy

    res = api_label.label_accept(a.ann, a.output, min_score=a.min_score, reject_below=a.reject_below)
    parts = [f"{plural(res.accepted, 'proposal')} accepted"]
    if a.reject_below is not None:
        parts.append(f"{res.rejected} rejected")
    parts.append(f"{res.left_pending} still pending")
    print(f"wrote {a.output}: {', '.join(parts)}")
    return EXIT_OK


def cmd_label_next(a: argparse.Namespace) -> int:
    from studio import api_label  # deferred: cv2, numpy

    rep = api_label.label_next_report(
        a.model, a.ann, k=a.k, images=a.images, device=a.device, progress=progress_printer(True)
    )
    for r in rep.ranked:
        print(f"{r.file_name}\t{r.score:.3f}\t{r.reason()}")
    print(
        f"{plural(len(rep.ranked), 'image')} of {rep.candidates} unlabelled "
        f"({rep.labelled} labelled; decision threshold {rep.threshold:.3g})",
        file=sys.stderr,
    )
    _warn(rep.warnings)
    return EXIT_OK


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a score from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a score from 0 to 1, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def add_parsers(sub) -> None:
    """Add ``label`` and its actions to ``sub``, the top-level subcommands."""
    lb = sub.add_parser(
        "label", help="model in the loop: auto-label with a model, accept proposals, pick what to label next"
    ).add_subparsers(dest="label_command", metavar="ACTION", required=True)

    au = lb.add_parser(
        "auto",
        help="add a model's detections as pending proposals (to images without accepted annotations)",
        description="Runs a checkpoint, a run folder or an exported ONNX model (the runtime of `studio infer`) over "
        "the images of a COCO file and adds its detections scoring --score-thr or more as pending proposals "
        "(source: model, status: pending, score, checkpoint): polygons from masks, else boxes. Pending proposals "
        "never train and never count as ground truth until accepted. Running it again replaces the earlier "
        "pending model proposals of the images it processes. The input file is only replaced when -o names it.",
    )
    au.add_argument("model", metavar="CKPT_OR_MODEL", help="checkpoint (.pt), run folder, or exported .onnx model")
    au.add_argument("ann", help="COCO JSON")
    au.add_argument("--images", help="images folder (default: the one recorded at import)")
    which = au.add_mutually_exclusive_group()
    which.add_argument(
        "--images-only-unlabelled",
        dest="all_images",
        action="store_false",
        help="only images without accepted annotations (the default)",
    )
    which.add_argument("--all-images", dest="all_images", action="store_true", help="every image of the file")
    au.add_argument("--score-thr", type=_score, default=0.5, metavar="T", help="lowest score proposed (default 0.5)")
    au.add_argument("--device", default="auto", help="auto, cpu, cuda (ONNX: cpu or gpu)")
    au.add_argument("-o", "--output", required=True, help="COCO JSON to write (may be the input file itself)")
    au.set_defaults(func=cmd_label_auto, all_images=False)

    ac = lb.add_parser(
        "accept",
        help="accept pending proposals scoring at least --min-score",
        description="Accepts every pending proposal scoring --min-score or more (status: accepted; source and "
        "score are kept, so provenance is never lost); with --reject-below, removes the pending ones scoring "
        "under it. The input file is only replaced when -o names it.",
    )
    ac.add_argument("ann", help="COCO JSON")
    ac.add_argument("--min-score", type=_score, required=True, metavar="T")
    ac.add_argument("--reject-below", type=_score, metavar="R", help="remove pending proposals scoring under R")
    ac.add_argument("-o", "--output", required=True, help="COCO JSON to write (may be the input file itself)")
    ac.set_defaults(func=cmd_label_accept)

    nx = lb.add_parser(
        "next",
        help="the unlabelled images worth labelling next, best first",
        description="Ranks the images without accepted annotations by the model's uncertainty (scores near the "
        "decision threshold, disagreement between the image and its mirror image) balanced with diversity "
        "(distance in the model's feature space to what is labelled or already picked), and prints the best K, "
        "one per line: file name, a tab, the figure, a tab, its parts.",
    )
    nx.add_argument("ann", help="COCO JSON")
    nx.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (.pt) or run folder")
    nx.add_argument("-k", type=_count, default=10, metavar="K", help="how many images (default 10)")
    nx.add_argument("--images", help="images folder (default: the one recorded at import)")
    nx.add_argument("--device", default="auto")
    nx.set_defaults(func=cmd_label_next)
