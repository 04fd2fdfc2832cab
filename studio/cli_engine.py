"""The engine's subcommands: config init, train, eval, predict, dataset preview-aug."""

from __future__ import annotations

import argparse
from functools import partial

from studio.cli_common import progress_printer
from studio.cli_video import add_video_flags, run_videos, video_sources
from studio.core.jobs import CancelToken
from studio.core.training.console import ConsoleReporter

EXIT_OK = 0


def cmd_config_init(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy
    from studio.core.config.init import backbone_note  # deferred: pydantic

    cfg = api.config_init(
        a.train,
        a.output,
        train_images=a.train_images,
        val=a.val,
        val_images=a.val_images,
        arch=a.arch,
        backbone=a.backbone,
    )
    backbone = f" ({cfg.model.backbone} backbone, weights {cfg.model.weights})" if cfg.model.backbone else ""
    print(
        f"wrote {a.output}: {cfg.model.arch}{backbone}, image_size {cfg.data.image_size}, {cfg.train.epochs} epochs, "
        f"batch {cfg.train.batch_size}, {cfg.train.optimizer} lr {cfg.train.lr}"
    )
    if note := backbone_note(cfg):
        print(note)
    return EXIT_OK


def cmd_train(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    resume = a.resume if a.resume != "" else True
    cancel = CancelToken()
    try:
        res = api.train(
            a.cfg,
            overrides=a.set or [],
            work_dir=a.work_dir,
            resume=resume,
            devices=a.devices,
            dist_timeout=a.dist_timeout,
            callbacks=[ConsoleReporter()],
            cancel=cancel,
        )
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    print(f"run folder: {res.run_dir}")
    return EXIT_OK if res.status == "finished" else 130


def cmd_eval(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy
    from studio.core.evaluation.f1 import f1_curves, suggestion_line  # deferred: numpy

    res, out = api.evaluate(a.ckpt, ann=a.ann, images=a.images, out=a.out, device=a.device)
    for k, v in res.metrics.items():
        print(f"{k:14s} {'n/a' if v is None else f'{v:.4f}'}")
    print(suggestion_line(f1_curves(res.evaluation)))
    print(f"report written to {out}")
    return EXIT_OK


def cmd_predict(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    images, sources = video_sources(a)
    videos = partial(api.predict_video, a.ckpt, sources, a.out, score_thr=a.score_thr, device=a.device, show=a.show)
    if not images:
        return run_videos(videos)
    s = api.predict(
        a.ckpt,
        images,
        a.out,
        score_thr=a.score_thr,
        device=a.device,
        to_coco=a.to_coco,
        to_coco_thr=a.to_coco_thr,
    )
    print(s.score_note)
    print(f"{s.detections} detections on {s.images} images; drawn images and {s.results_json.name} in {s.out_dir}")
    if s.coco_json is not None:
        print(
            f"wrote {s.coco_json}: {s.coco_annotations} annotations scoring {a.to_coco_thr:g} or more, "
            "to review in the editor"
        )
    return run_videos(videos) if sources else EXIT_OK


def cmd_preview_aug(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    p = api.preview_augmentations(a.cfg, a.out, n=a.n, seed=a.seed, overrides=a.set or [])
    print(f"wrote {p}")
    return EXIT_OK


def add_parsers(sub, config_sub, dataset_sub) -> None:
    ci = config_sub.add_parser("init", help="write a complete, runnable config for a dataset")
    ci.add_argument("--train", required=True, metavar="ANN", help="training COCO file")
    ci.add_argument("--train-images", metavar="DIR", help="its images (default: recorded at import)")
    ci.add_argument("--val", metavar="ANN", help="validation COCO file")
    ci.add_argument("--val-images", metavar="DIR")
    ci.add_argument(
        "--arch", help="model architecture (default: seg_fast for polygons/masks, else det_fast); see `studio models`"
    )
    ci.add_argument(
        "--backbone",
        help="seg_fast / det_fast backbone: csp (from scratch, the default) or resnet18, resnet34, resnet50, "
        "efficientnet_b0, regnet_y_400mf, regnet_x_400mf (ImageNet weights from the torch hub cache)",
    )
    ci.add_argument("-o", "--output", required=True, metavar="CFG.yaml")
    ci.set_defaults(func=cmd_config_init)

    t = sub.add_parser("train", help="train a config into a run folder (checkpoints, events.jsonl, metrics)")
    t.add_argument("cfg")
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key (repeatable); with --resume, train.epochs=+N trains N more epochs "
        "(without the first run's time limit unless train.time_limit is set too)",
    )
    t.add_argument("--work-dir", help="run folder (default: runs/<config name>, numbered when taken)")
    t.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CKPT",
        help="continue from CKPT (default: last.pt of the run folder); raise train.epochs to extend a finished run",
    )
    t.add_argument("--devices", type=int, default=1, help="processes for DDP (one per GPU; gloo on CPU)")
    t.add_argument(
        "--dist-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="under torchrun (several machines: see docs/gpu.md), how long to wait for the master and the other "
        "processes (default 1800, or STUDIO_DIST_TIMEOUT)",
    )
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="COCO metrics, PR and F1 curves, confusion matrix of a checkpoint")
    e.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    e.add_argument("--ann", help="COCO file to evaluate on (default: the run's val set)")
    e.add_argument("--images", help="its images folder")
    e.add_argument("--out", help="report folder (default: eval-<ann name> beside the checkpoint)")
    e.add_argument("--device", default="auto")
    e.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="predict on images: drawn copies and a COCO results JSON")
    p.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    p.add_argument(
        "images", nargs="*", metavar="INPUT", help="image files, folders, video files (mp4, avi, mkv, webm) or URLs"
    )
    add_video_flags(p)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--score-thr",
        type=float,
        help="minimum score (default: where F1 is highest on the run's val set, from the run's f1_curve.json "
        "when it was written for this checkpoint, else the config's model.score_thr; the choice is printed)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--to-coco",
        metavar="OUT.json",
        help="also write the detections as a COCO annotation file (model-assisted labelling)",
    )
    p.add_argument(
        "--to-coco-thr",
        type=float,
        default=0.5,
        metavar="SCORE",
        help="minimum score of the detections written by --to-coco (default: 0.5)",
    )
    p.set_defaults(func=cmd_predict)

    m = sub.add_parser(
        "models",
        help="list the model zoo, with parameters and GFLOPs (multiply-add = 2 FLOPs) once counted",
    )
    m.add_argument(
        "--flops",
        action="store_true",
        help="count parameters and GFLOPs at each default size (a forward pass each, seconds per model; "
        "kept in ~/.cache/studio/model_complexity.json, so later listings show them at once)",
    )
    m.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="describe this checkpoint (or run folder) instead: architecture, size, classes, parameters, GFLOPs",
    )
    m.set_defaults(func=cmd_models)

    pa = dataset_sub.add_parser("preview-aug", help="a grid of augmented training samples with their shapes drawn")
    pa.add_argument("cfg")
    pa.add_argument("--out", required=True)
    pa.add_argument("-n", type=int, default=16, help="samples")
    pa.add_argument("--seed", type=int, default=0)
    pa.add_argument("--set", action="append", metavar="KEY=VALUE")
    pa.set_defaults(func=cmd_preview_aug)


def cmd_models(a: argparse.Namespace) -> int:
    from studio.core.models.complexity import format_params, zoo_complexity  # deferred: torch, torchvision

    if a.checkpoint:
        return _describe_checkpoint(a.checkpoint)
    rows = zoo_complexity(compute=a.flops, progress=progress_printer(a.flops))
    print(f"{'architecture':36s} {'params':>8s} {'GFLOPs':>7s}  {'task, size':42s} description")
    for s, c in rows:
        params = format_params(c.params) if c else "-"
        gflops = f"{c.gflops:.2f}" if c and c.gflops is not None else "-"
        flags = ", ".join(
            x
            for x in (
                s.task,
                f"{s.default_size}px",
                "CPU-friendly" if s.cpu_friendly else "",
                "COCO weights" if s.tv_weights else "",
            )
            if x
        )
        print(f"{s.name:36s} {params:>8s} {gflops:>7s}  {flags:42s} {s.description}")
        if s.backbones:
            pretrained = ", ".join(b for b, w in s.backbones if w)
            print(f"{'':36s} model.backbone: {s.backbones[0][0]} (default), ImageNet weights: {pretrained}")
    if not a.flops and any(c is None for _, c in rows):
        print("params / GFLOPs at the default size (multiply-add = 2 FLOPs): `studio models --flops` counts them")
    return EXIT_OK


def _describe_checkpoint(path: str) -> int:
    """``studio models --checkpoint CKPT``: what the checkpoint holds and its complexity at its input size."""
    from studio.core import checkpoint as ckpt_io  # deferred: torch

    for line in ckpt_io.describe(ckpt_io.load(ckpt_io.resolve(path)), complexity=True).lines():
        print(line)
    return EXIT_OK
