"""The ``studio`` command line. Every subcommand calls the matching function of :mod:`studio.api`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from studio import __version__
from studio.cli_benchmark import add_parsers as add_benchmark
from studio.cli_common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, progress_printer
from studio.cli_engine import add_parsers
from studio.cli_explain import add_parsers as add_explain
from studio.cli_export import add_parsers as add_export
from studio.cli_label import add_parsers as add_label
from studio.cli_project import add_parsers as add_project
from studio.cli_smart import add_parsers as add_smart
from studio.cli_video import add_parsers as add_video
from studio.core.doctor import collect, format_report
from studio.core.errors import DatasetError, StudioError, os_error_message
from studio.core.plugins import format_text, to_dict
from studio.core.text import plural


# ------------------------------------------------------------------------------------ dataset
def cmd_dataset_import(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy
    from studio.core.formats import ImportOptions  # deferred: cv2, numpy

    labels = None
    if a.labels:
        labels = _read_labels(Path(a.labels))
    opts = ImportOptions(
        strict=not a.lenient, default_class=a.default_class, class_attr=a.class_attr, split=a.split, labels=labels
    )
    res = api.dataset_import(a.src, a.output, fmt=a.format, images=a.images, options=opts)
    ds = res.dataset
    print(
        f"wrote {a.output}: {len(ds.images)} images, {len(ds.annotations)} annotations, "
        f"{plural(len(ds.categories), 'class', 'classes')} ({', '.join(ds.class_names)}); images in {res.images_dir}"
    )
    for w in res.warnings[: a.max_warnings]:
        print(f"warning: {w}", file=sys.stderr)
    if len(res.warnings) > a.max_warnings:
        print(f"... {len(res.warnings) - a.max_warnings} more warning(s)", file=sys.stderr)
    return EXIT_OK


def _read_labels(path: Path) -> list[str]:
    """Class names from a labels file, one a line; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError("labels file not found", file=path, item="--labels") from None
    except IsADirectoryError:
        raise DatasetError(
            "is a folder: name the labels file (one class name a line)", file=path, item="--labels"
        ) from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"not UTF-8 text (byte {e.start})", file=path, item="--labels") from None
    labels = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not labels:
        raise DatasetError("holds no class name (one name a line)", file=path, item="--labels")
    return labels


def cmd_dataset_export(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy
    from studio.core.formats import ExportOptions  # deferred: cv2, numpy

    opts = ExportOptions(
        copy_images=not a.no_copy_images, task=a.task, overwrite=a.overwrite, include_pending=a.include_pending
    )
    rep = api.dataset_export_report(a.ann, a.format, a.output, images=a.images, options=opts)
    print(f"exported {a.ann} as {a.format} into {a.output} ({len(rep.written)} file(s) written)")
    if rep.pending_written:
        print(f"{plural(rep.pending_written, 'pending proposal')} written")
    if rep.pending_left_out:
        print(f"{plural(rep.pending_left_out, 'pending proposal')} left out (--include-pending writes them)")
    if rep.images_left_out:
        print(f"{plural(rep.images_left_out, 'image')} not labelled yet left out (--include-pending writes them)")
    for w in rep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return EXIT_OK


def cmd_dataset_check(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    rep = api.dataset_check(a.ann, a.images, deep=a.deep, json_out=a.json, progress=progress_printer(True))
    print(rep.format_text(max_per_kind=a.max_per_kind))
    if a.json:
        print(f"report written to {a.json}")
    return rep.exit_code


def cmd_dataset_stats(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    stats, written = api.dataset_stats(a.ann, a.out)
    print(stats.format_text())
    for p in written:
        print(f"wrote {p}")
    return EXIT_OK


def cmd_dataset_split(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    parts = api.dataset_split(a.ann, a.ratios, a.output, seed=a.seed, names=a.names, overwrite=a.overwrite)
    for name, ds in parts.items():
        print(f"{Path(a.output) / (name + '.json')}: {len(ds.images)} images, {len(ds.annotations)} annotations")
    return EXIT_OK


def cmd_dataset_download(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    dest = api.dataset_download(a.name, a.dest, progress=progress_printer(True))
    print(f"{a.name} is in {dest}")
    return EXIT_OK


def cmd_dataset_demo(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    sizes = {k: v for k, v in (("n_train", a.train), ("n_val", a.val)) if v is not None}
    splits = api.dataset_demo(a.output, seed=a.seed, **sizes)
    for name, s in splits.items():
        print(f"{name}: {s.annotations} (images in {s.images})")
    return EXIT_OK


# ------------------------------------------------------------------------------------ config
def cmd_config_show(a: argparse.Namespace) -> int:
    from studio.core.config import load_config  # deferred: pydantic
    from studio.core.config.loader import to_yaml  # deferred: pydantic

    print(to_yaml(load_config(a.cfg, a.set or [])), end="")
    return EXIT_OK


# ------------------------------------------------------------------------------------ other
def cmd_doctor(a: argparse.Namespace) -> int:
    print(format_report(collect()))
    return EXIT_OK


def cmd_plugins(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    reg = api.plugins(load=not a.no_load)
    if a.json:
        print(json.dumps(to_dict(reg), indent=2))
    else:
        print(format_text(reg))
    return EXIT_PROBLEMS if reg.errors() else EXIT_OK


def cmd_gui(a: argparse.Namespace) -> int:
    try:
        from studio.gui.app import run_app
    except ImportError as e:
        raise StudioError(f"the desktop app cannot start: {e} (run `studio doctor`)") from None
    ann = Path(a.path) if a.path else None
    return run_app(
        ann=ann,
        images=Path(a.images) if a.images else None,
        screenshot_dir=Path(a.screenshot) if a.screenshot else None,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="studio", description="Annotate, convert, train, inspect and export detectors and instance segmenters."
    )
    p.add_argument("--version", action="version", version=f"studio {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("gui", help="open the desktop app (the default command)")
    g.add_argument(
        "path",
        nargs="?",
        help="workspace folder or COCO annotation file to open "
        "(default: the last workspace, or the built-in demo workspace)",
    )
    g.add_argument("--images", help="images folder of that annotation file")
    g.add_argument("--screenshot", metavar="DIR", help="save one PNG per page into DIR and exit")
    g.set_defaults(func=cmd_gui)

    d = sub.add_parser("doctor", help="versions, devices, ONNX Runtime providers, TensorRT, weights folders")
    d.set_defaults(func=cmd_doctor)

    pl = sub.add_parser(
        "plugins", help="list the plugins, what each contributes and any error (exit 1 when one is broken)"
    )
    pl.add_argument("--no-load", action="store_true", help="only read the manifests (import nothing)")
    pl.add_argument("--json", action="store_true", help="print the list as JSON")
    pl.set_defaults(func=cmd_plugins)

    cf = sub.add_parser("config", help="create and show run configurations").add_subparsers(
        dest="config_command", metavar="ACTION", required=True
    )
    cs = cf.add_parser("show", help="print the resolved config (bases merged, overrides applied, defaults filled)")
    cs.add_argument("cfg")
    cs.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a key, e.g. train.epochs=24 (repeatable)"
    )
    cs.set_defaults(func=cmd_config_show)

    ds = sub.add_parser("dataset", help="import, export, check, describe and split datasets").add_subparsers(
        dest="dataset_command", metavar="ACTION", required=True
    )
    from studio.core.formats import export_formats, import_formats  # deferred: cv2, numpy

    i = ds.add_parser("import", help="convert VIA / COCO / labelme / VOC / YOLO into Studio's COCO file")
    i.add_argument("src", help="annotation file or folder")
    i.add_argument("--format", choices=import_formats(), help="source format (detected when omitted)")
    i.add_argument("--images", help="images folder (default: the format's usual place)")
    i.add_argument("-o", "--output", required=True, help="COCO JSON to write")
    i.add_argument("--lenient", action="store_true", help="skip bad items with a warning instead of failing")
    i.add_argument("--default-class", help="VIA: class for regions without a class attribute")
    i.add_argument("--class-attr", help="VIA: region attribute that holds the class name")
    i.add_argument("--split", help="VOC: ImageSets/Main split; YOLO: data.yaml split")
    i.add_argument("--labels", help="text file with one class name per line (labelme's labels.txt)")
    i.add_argument("--max-warnings", type=int, default=20, help=argparse.SUPPRESS)
    i.set_defaults(func=cmd_dataset_import)

    e = ds.add_parser("export", help="write a COCO file as COCO, YOLO, VOC or labelme")
    e.add_argument("ann", help="COCO JSON")
    e.add_argument("--format", required=True, choices=export_formats())
    e.add_argument("--images", help="images folder (default: the one recorded at import)")
    e.add_argument("-o", "--output", required=True, help="output folder")
    e.add_argument("--task", choices=("detect", "segment"), help="YOLO: labels with boxes or polygons")
    e.add_argument(
        "--no-copy-images",
        action="store_true",
        help="refer to the images where they are instead of placing them in the output",
    )
    e.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a previous Studio export in a non-empty output folder (atomically; other folders are refused)",
    )
    e.add_argument(
        "--include-pending",
        action="store_true",
        help="also write the pending model proposals (COCO and labelme keep them marked as pending; "
        "other formats write them as plain objects)",
    )
    e.set_defaults(func=cmd_dataset_export)

    c = ds.add_parser("check", help="report problems; exit 1 on errors, 0 when only warnings")
    c.add_argument("ann")
    c.add_argument("--images", help="images folder (default: the one recorded at import)")
    c.add_argument("--json", metavar="REPORT.json", help="write the full report as JSON")
    c.add_argument("--deep", action="store_true", help="decode every image fully (finds truncated files)")
    c.add_argument("--max-per-kind", type=int, default=10, help="problems listed per kind")
    c.set_defaults(func=cmd_dataset_check)

    s = ds.add_parser(
        "stats", help="per-class counts, annotations by source and status, box size and aspect histograms"
    )
    s.add_argument("ann")
    s.add_argument("--images", help="accepted for symmetry with the other commands")
    s.add_argument("--out", help="folder for the PNG plots and stats.json")
    s.set_defaults(func=cmd_dataset_stats)

    sp = ds.add_parser("split", help="split into train/val(/test), stratified by class")
    sp.add_argument("ann")
    sp.add_argument("--ratios", type=float, nargs="+", required=True)
    sp.add_argument("--names", nargs="+", help="subset names (default: train val test)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument(
        "--overwrite", action="store_true", help="replace subset files that exist already (never the source)"
    )
    sp.add_argument("-o", "--output", required=True)
    sp.set_defaults(func=cmd_dataset_split)

    dl = ds.add_parser("download", help="fetch the public balloon or cat dataset")
    dl.add_argument("name", choices=("balloon", "cat"))
    dl.add_argument("--dest", default="data", help="folder to unpack into (default: ./data)")
    dl.set_defaults(func=cmd_dataset_download)

    dm = ds.add_parser("demo", help="write the built-in synthetic demo dataset")
    dm.add_argument("-o", "--output", required=True)
    dm.add_argument("--train", type=int, help="training images (default 120)")
    dm.add_argument("--val", type=int, help="validation images (default 30)")
    dm.add_argument("--seed", type=int, default=0)
    dm.set_defaults(func=cmd_dataset_demo)

    add_parsers(sub, cf, ds)
    add_project(ds)
    add_smart(ds)
    add_video(ds)
    add_explain(sub)
    add_export(sub)
    add_benchmark(sub)
    add_label(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    try:
        return int(args.func(args) or 0)
    except StudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a read-only folder, a full disk, a file where a folder belongs...: one line, no traceback
        print(f"error: {os_error_message(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
