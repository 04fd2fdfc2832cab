"""``studio dataset new`` (a dataset from a folder of unlabelled images) and ``studio dataset classes`` (rename, merge
and delete classes across a whole dataset); :func:`add_parsers` adds both to the ``dataset`` subcommands."""

from __future__ import annotations

import argparse
import sys

from studio.cli_common import EXIT_OK, progress_printer
from studio.core.text import plural

MAX_WARNINGS = 20  # unreadable images listed on stderr; the rest are counted


def cmd_dataset_new(a: argparse.Namespace) -> int:
    from studio import api_project  # deferred: cv2, numpy (image headers)

    classes = api_project.read_class_file(a.classes_file) if a.classes_file else _names(a.classes)
    res = api_project.dataset_new(a.images, classes, a.output, overwrite=a.overwrite, progress=progress_printer(True))
    ds = res.dataset
    print(
        f"wrote {res.annotations}: {plural(len(ds.images), 'image')}, no annotations, "
        f"{plural(len(ds.categories), 'class', 'classes')} ({', '.join(ds.class_names)}); images in {res.images_dir}"
    )
    for w in res.warnings[:MAX_WARNINGS]:
        print(f"warning: {w}", file=sys.stderr)
    if len(res.warnings) > MAX_WARNINGS:
        print(f"... {len(res.warnings) - MAX_WARNINGS} more warning(s)", file=sys.stderr)
    if res.skipped:
        print(f"{plural(res.skipped, 'unreadable image')} left out", file=sys.stderr)
    return EXIT_OK


def _names(values: list[str]) -> list[str]:
    """``--classes cat dog`` and ``--classes cat,dog`` both name two classes."""
    return [part.strip() for v in values for part in v.split(",")] if values else []


def cmd_dataset_classes(a: argparse.Namespace) -> int:
    from studio import api_project  # deferred: cv2, numpy (through the dataset model)

    res = api_project.dataset_classes(a.ann, a.output, a.ops or [], overwrite=a.overwrite)
    for line in res.changes:
        print(line)
    ds = res.dataset
    print(
        f"wrote {res.output}: {plural(len(ds.annotations), 'annotation')}, "
        f"{plural(len(ds.categories), 'class', 'classes')} ({', '.join(ds.class_names)})"
    )
    return EXIT_OK


def _pair(kind: str, flag: str):
    """An argparse ``type`` turning ``OLD=NEW`` into ``(kind, OLD, NEW)``; a missing ``=`` names the flag."""

    def parse(text: str) -> tuple[str, str, str]:
        old, sep, new = text.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise argparse.ArgumentTypeError(f"expected {flag} OLD=NEW, got {text!r}")
        return kind, old.strip(), new.strip()

    return parse


def _delete(text: str) -> tuple[str, str]:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected --delete NAME")
    return "delete", text.strip()


def add_parsers(ds: argparse._SubParsersAction) -> None:
    """``dataset new`` and ``dataset classes``, under the ``dataset`` subcommands ``ds``."""
    n = ds.add_parser(
        "new",
        help="start a dataset from a folder of unlabelled images: every image with its size, the classes, no labels",
        description="Write a COCO file listing every image under IMAGES_DIR (sub-folders too) with its real size, "
        "no annotations and the classes in the order given. Unreadable images are left out with a warning.",
    )
    n.add_argument("images", metavar="IMAGES_DIR", help="folder of images (searched recursively)")
    names = n.add_mutually_exclusive_group(required=True)
    names.add_argument("--classes", nargs="+", metavar="NAME", help="class names, in order (ids 1..N)")
    names.add_argument("--classes-file", metavar="FILE", help="text file with one class name a line (labels.txt)")
    n.add_argument("-o", "--output", required=True, metavar="ANN.json", help="COCO JSON to write")
    n.add_argument("--overwrite", action="store_true", help="replace ANN.json when it exists (refused otherwise)")
    n.set_defaults(func=cmd_dataset_new)

    c = ds.add_parser(
        "classes",
        help="rename, merge or delete classes across a dataset (the app's label manager, for scripts)",
        description="Apply the class edits in the order given and write the result to -o. --merge A=B gives every "
        "annotation of A the class B and removes A; --delete removes a class and all its annotations.",
    )
    c.add_argument("ann", metavar="ANN.json")
    c.add_argument("--rename", dest="ops", action="append", type=_pair("rename", "--rename"), metavar="OLD=NEW")
    c.add_argument("--merge", dest="ops", action="append", type=_pair("merge", "--merge"), metavar="A=B")
    c.add_argument("--delete", dest="ops", action="append", type=_delete, metavar="NAME")
    c.add_argument("-o", "--output", required=True, metavar="OUT.json", help="COCO JSON to write")
    c.add_argument(
        "--overwrite", action="store_true", help="replace OUT.json when it exists (ANN.json itself included)"
    )
    c.set_defaults(func=cmd_dataset_classes)


__all__ = ["add_parsers", "cmd_dataset_classes", "cmd_dataset_new"]
