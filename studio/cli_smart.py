"""``studio dataset box2mask``: a polygon for every box-only annotation (GrabCut, no downloaded weights);
:func:`add_parsers` adds it to the ``dataset`` subcommands."""

from __future__ import annotations

import argparse
import sys

from studio.cli_common import EXIT_OK, progress_printer
from studio.core.text import plural

MAX_WARNINGS = 10  # failures listed on stderr; the rest are counted
TOLERANCE = 1.0  # pixels; the same default as studio.core.smart.box2mask.TOLERANCE (that module loads cv2)


def cmd_dataset_box2mask(a: argparse.Namespace) -> int:
    from studio import api_smart  # deferred: cv2, numpy

    res = api_smart.dataset_box2mask(
        a.ann,
        a.output,
        images=a.images,
        method=a.method,
        redo_all=a.all,
        refit_boxes=a.refit_boxes,
        tolerance=a.tolerance,
        progress=progress_printer(True),
    )
    print(f"wrote {a.output}: {res.summary()} in {res.seconds:.1f} s")
    for w in res.warnings[:MAX_WARNINGS]:
        print(f"warning: {w}", file=sys.stderr)
    if len(res.warnings) > MAX_WARNINGS:
        print(f"... {plural(len(res.warnings) - MAX_WARNINGS, 'more warning')}", file=sys.stderr)
    return EXIT_OK


def _pixels(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of pixels >= 0, got {text!r}")
    return value


def add_parsers(ds) -> None:
    """Add ``box2mask`` to ``ds``, the ``studio dataset`` subcommands."""
    b = ds.add_parser(
        "box2mask",
        help="give box-only annotations a polygon (GrabCut on a crop around each box; no downloads)",
        description="Each box-only annotation (no segmentation, or just its box's corners) gets the polygon "
        "GrabCut finds in its box. Ids and classes are kept, and boxes too unless --refit-boxes. Annotations "
        "whose image is missing or where GrabCut finds nothing stay boxes, with a warning. The input file is "
        "never changed.",
    )
    b.add_argument("ann", help="COCO JSON")
    b.add_argument("--images", help="images folder (default: the one recorded at import)")
    b.add_argument("-o", "--output", required=True, help="COCO JSON to write (not the input)")
    b.add_argument("--method", default="grabcut", choices=("grabcut",), help="how to find the object (default grabcut)")
    b.add_argument("--all", action="store_true", help="redo every annotation, also those that have a mask already")
    b.add_argument("--refit-boxes", action="store_true", help="replace each converted box by the polygon's tight box")
    b.add_argument(
        "--tolerance",
        type=_pixels,
        default=TOLERANCE,
        metavar="PX",
        help=f"polygon simplification in pixels (default {TOLERANCE:g}; 0 keeps every pixel corner)",
    )
    b.set_defaults(func=cmd_dataset_box2mask)
