"""``studio export`` and ``studio infer``; the export flags come from the format table (studio.core.export.formats)."""

from __future__ import annotations

import argparse
import sys
from functools import partial

from studio import api_export
from studio.cli_common import EXIT_OK, EXIT_USAGE, progress_printer
from studio.cli_video import add_video_flags, run_videos, video_sources
from studio.core.errors import StudioError
from studio.core.export.formats import FORMATS
from studio.core.export.setup import DEFAULT_VERIFY_IMAGES


def _option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option of any format (their help says which formats take them); values are checked by the table."""
    helps: dict[str, dict[str, str]] = {}  # option -> {format: its help there}
    specs = {}
    for f in FORMATS.values():
        for o in f.options:
            helps.setdefault(o.name, {})[f.name] = o.help
            specs.setdefault(o.name, o)
    for name, o in specs.items():
        by_fmt = helps[name]
        if len(set(by_fmt.values())) > 1:
            text = "; ".join(f"{fmt}: {h}" for fmt, h in by_fmt.items())
        else:
            text = o.help + ("" if len(by_fmt) == len(FORMATS) else f" [{', '.join(by_fmt)}]")
        if o.type == "bool":
            parser.add_argument(o.flag, dest=f"opt_{name}", action="store_true", default=None, help=text)
        else:
            metavar = {"int": "N", "float": "X", "shape": "BxHxW"}.get(o.type, "VALUE")
            default = "" if o.default is None else f" (default {o.default})"
            parser.add_argument(o.flag, dest=f"opt_{name}", metavar=metavar, default=None, help=text + default)


def options_from_args(a: argparse.Namespace) -> dict:
    """The export options the user gave (flags left out are not passed: the format's defaults apply)."""
    return {k[4:]: v for k, v in vars(a).items() if k.startswith("opt_") and v is not None}


def cmd_export(a: argparse.Namespace) -> int:
    res = api_export.export(
        a.ckpt,
        a.format,
        out=a.out,
        verify_ann=a.verify_ann,
        verify_images=a.verify_images,
        n_verify=0 if a.no_verify else a.n_verify,
        progress=progress_printer(True),
        **options_from_args(a),
    )
    for line in res.summary():
        print(line)
    print(f"exported into {res.out_dir}; report: {res.report_path.name}")
    return EXIT_OK


def cmd_infer(a: argparse.Namespace) -> int:
    from studio import api_video  # deferred: cv2

    images, sources = video_sources(a)
    videos = partial(
        api_video.infer_video, a.model, sources, a.out, score_thr=a.score_thr, device=a.device, show=a.show
    )
    if not images:
        return run_videos(videos)
    s = api_export.infer(
        a.model, images, a.out, score_thr=a.score_thr, device=a.device, progress=progress_printer(True)
    )
    print(s.score_note)
    print(f"{s.detections} detections on {s.images} images; drawn images and {s.results_json.name} in {s.out_dir}")
    return run_videos(videos) if sources else EXIT_OK


def add_parsers(sub) -> None:
    formats = "; ".join(f"{f.name}: {f.title} ({f.device.upper()})" for f in FORMATS.values())
    e = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX, end-to-end ONNX, a TensorRT engine or OpenVINO, verified against PyTorch",
        description=f"Formats: {formats}. Writes the model, infer.py, README.md and export_report.json.",
    )
    e.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    e.add_argument("--format", required=True, choices=list(FORMATS), help="what to export to")
    e.add_argument("--out", help="output folder (default: export-FORMAT beside the checkpoint)")
    e.add_argument("--verify-ann", metavar="ANN", help="COCO file to verify on (default: the checkpoint's val set)")
    e.add_argument(
        "--verify-images", metavar="DIR", help="its images; alone: a folder of images (box match and latency, no mAP)"
    )
    e.add_argument(
        "--n-verify",
        type=int,
        default=DEFAULT_VERIFY_IMAGES,
        metavar="N",
        help=f"verification images (default {DEFAULT_VERIFY_IMAGES})",
    )
    e.add_argument("--no-verify", action="store_true", help="skip the verification")
    _option_flags(e)
    e.set_defaults(func=cmd_export)

    i = sub.add_parser(
        "infer",
        help="run an exported model (.onnx, .xml or .engine) on images without PyTorch: drawn copies and a COCO "
        "results JSON",
    )
    i.add_argument(
        "model", metavar="MODEL", help="model.onnx, model.xml (OpenVINO) or model.engine written by `studio export`"
    )
    i.add_argument(
        "images", nargs="*", metavar="INPUT", help="image files, folders, video files (mp4, avi, mkv, webm) or URLs"
    )
    add_video_flags(i)
    i.add_argument("--out", required=True)
    i.add_argument(
        "--score-thr",
        type=float,
        help="minimum score (default: where F1 was highest on the run's val set when the export recorded it, else "
        "the lowest the model was exported with, which this can only raise; the choice is printed)",
    )
    i.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "gpu", "tensorrt"),
        help="ONNX Runtime execution provider for .onnx models (gpu: CUDA, tensorrt: TensorRT EP); "
        "OpenVINO device for .xml models (gpu: an Intel GPU)",
    )
    i.set_defaults(func=cmd_infer)


def main(argv=None) -> int:
    """Run ``export`` / ``infer`` on their own (what ``studio`` does once it registers these parsers)."""
    p = argparse.ArgumentParser(prog="studio")
    add_parsers(p.add_subparsers(dest="command", metavar="COMMAND", required=True))
    a = p.parse_args(argv)
    try:
        return int(a.func(a) or 0)
    except StudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
