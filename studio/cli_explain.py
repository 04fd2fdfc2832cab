"""``studio featmap`` and ``studio cam``: look inside a trained model on one image."""

from __future__ import annotations

import argparse

from studio import api_explain
from studio.cli_common import EXIT_OK
from studio.core.errors import StudioError
from studio.core.explain.methods import methods  # the table's names: imports no torch


def _need_out(a: argparse.Namespace) -> None:
    """``featmap`` needs ``--out`` unless it only lists the layers."""
    if not a.out:
        raise StudioError("--out DIR is required (where the PNGs go)", item=a.command)


def cmd_featmap(a: argparse.Namespace) -> int:
    if a.list_layers:
        print(api_explain.model_layers(a.ckpt, a.image, device=a.device).format_text())
        return EXIT_OK
    _need_out(a)
    res = api_explain.featmap(
        a.ckpt, a.image, a.out, layers=a.layers, reduction=a.reduction, topk=a.topk, alpha=a.alpha, device=a.device
    )
    for fm, path in zip(res.maps, res.files):
        what = f"top {len(fm.channels)} channels" if fm.reduction == "topk" else fm.reduction
        print(f"{fm.layer:28s} {fm.shape[0]}x{fm.shape[1]}x{fm.shape[2]:<4d} {what:14s} -> {path}")
    print(f"{len(res.files)} feature map image(s) in {a.out} ({res.seconds:.1f}s)")
    return EXIT_OK


def cmd_cam(a: argparse.Namespace) -> int:
    res = api_explain.cam(
        a.ckpt,
        a.image,
        a.out,
        method=a.method,
        layer=a.layer,
        box_index=a.box_index,
        class_name=a.class_name,
        max_boxes=a.max_boxes,
        use_iou=a.iou,
        score_thr=a.score_thr,
        alpha=a.alpha,
        device=a.device,
    )
    print(f"{a.method} on {', '.join(res.cam.layers)}")
    for s in res.stats():
        what = f"box {s['detection']}" if s["kind"] == "box" and s["detection"] is not None else s["kind"]
        mass = "n/a (empty map)" if s["mass_in_box"] is None else f"{100 * s['mass_in_box']:.1f}%"
        ratio = f" ({s['ratio']:.1f}x)" if s["ratio"] is not None else ""
        print(
            f"target {s['target']}: {what} {s['class']} {s['score']:.3f}: CAM mass in box {mass} "
            f"vs box area {100 * s['area_share']:.1f}% of the image{ratio}"
        )
    print(f"{len(res.files)} file(s) in {a.out} ({res.seconds:.1f}s)")
    return EXIT_OK


def add_parsers(sub) -> None:
    """Add ``featmap`` and ``cam`` to the ``studio`` subcommands."""
    f = _explain_parser(sub, "featmap", "feature maps of chosen layers over an image (PNG overlays)")
    f.add_argument(
        "--layers",
        nargs="+",
        metavar="NAME",
        help="module names (NAME or NAME:KEY) or shortcuts: backbone, neck (fpn), stageN, levelN "
        "(default: neck, the outputs the heads see); see --list-layers",
    )
    f.add_argument(
        "--reduction",
        choices=("squeeze_mean", "select_max"),
        default="squeeze_mean",
        help="one map per layer: the channel mean, or the channel with the largest activation sum",
    )
    f.add_argument("--topk", type=int, default=0, metavar="K", help="instead, a grid of the K strongest channels")
    _output_args(f, "folder for the PNGs", required=False)
    f.add_argument(
        "--list-layers",
        action="store_true",
        help="print the layers with their output shapes and the shortcuts, then exit",
    )
    f.set_defaults(func=cmd_featmap)

    c = _explain_parser(sub, "cam", "class activation maps (Grad-CAM, Grad-CAM++, EigenCAM) of predicted boxes")
    c.add_argument(
        "--method",
        choices=methods(),
        default="gradcam",
        help="CAM method (plugins may add more: `studio plugins`)",
    )
    c.add_argument(
        "--layer",
        action="append",
        metavar="NAME",
        help="layer to explain (repeatable; default: neck, all its levels, or for eigencam its finest level); "
        "same names as featmap --layers",
    )
    c.add_argument(
        "--box-index",
        type=int,
        action="append",
        metavar="I",
        help="explain detection I (0 = best score; repeatable; default: the --max-boxes best)",
    )
    c.add_argument(
        "--class", dest="class_name", metavar="NAME", help="explain a class (all its detections) instead of boxes"
    )
    c.add_argument("--max-boxes", type=int, default=5, metavar="N", help="boxes explained when no --box-index is given")
    c.add_argument(
        "--iou", action="store_true", help="target score x IoU with the re-predicted box (box regression counts too)"
    )
    c.add_argument(
        "--score-thr",
        type=float,
        metavar="SCORE",
        help="minimum detection score (default: the config's model.score_thr)",
    )
    _output_args(c, "folder for the PNGs and the statistics JSON", required=True)
    c.set_defaults(func=cmd_cam)


def _explain_parser(sub, name: str, text: str) -> argparse.ArgumentParser:
    """The ``featmap`` or ``cam`` subcommand with what both start with: the checkpoint and the image."""
    p = sub.add_parser(name, help=text)
    p.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    p.add_argument("image")
    return p


def _output_args(p: argparse.ArgumentParser, out_help: str, required: bool) -> None:
    """The overlay's opacity, the output folder and the device, as ``featmap`` and ``cam`` take them."""
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the heat map over the image (0..1)")
    p.add_argument("--out", metavar="DIR", required=required, help=out_help)
    p.add_argument("--device", default="auto")
