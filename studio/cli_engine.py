"""The engine's subcommands: config init, train, eval, predict, dataset preview-aug."""

from __future__ import annotations

import argparse

from studio.core.jobs import CancelToken
from studio.core.training.console import ConsoleReporter

EXIT_OK = 0


def cmd_config_init(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    cfg = api.config_init(
        a.train, a.output, train_images=a.train_images, val=a.val, val_images=a.val_images, arch=a.arch
    )
    print(
        f"wrote {a.output}: {cfg.model.arch}, image_size {cfg.data.image_size}, {cfg.train.epochs} epochs, "
        f"batch {cfg.train.batch_size}, {cfg.train.optimizer} lr {cfg.train.lr}"
    )
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

    res, out = api.evaluate(a.ckpt, ann=a.ann, images=a.images, out=a.out, device=a.device)
    for k, v in res.metrics.items():
        print(f"{k:14s} {'n/a' if v is None else f'{v:.4f}'}")
    print(f"report written to {out}")
    return EXIT_OK


def cmd_predict(a: argparse.Namespace) -> int:
    from studio import api  # deferred: cv2, numpy

    s = api.predict(
        a.ckpt,
        a.images,
        a.out,
        score_thr=a.score_thr,
        device=a.device,
        to_coco=a.to_coco,
        to_coco_thr=a.to_coco_thr,
    )
    print(f"{s.detections} detections on {s.images} images; drawn images and {s.results_json.name} in {s.out_dir}")
    if s.coco_json is not None:
        print(
            f"wrote {s.coco_json}: {s.coco_annotations} annotations scoring {a.to_coco_thr:g} or more, "
            "to review in the editor"
        )
    return EXIT_OK


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
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="COCO metrics, PR curves and confusion matrix of a checkpoint")
    e.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    e.add_argument("--ann", help="COCO file to evaluate on (default: the run's val set)")
    e.add_argument("--images", help="its images folder")
    e.add_argument("--out", help="report folder (default: eval-<ann name> beside the checkpoint)")
    e.add_argument("--device", default="auto")
    e.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="predict on images: drawn copies and a COCO results JSON")
    p.add_argument("ckpt", metavar="CKPT_OR_RUN_DIR")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True)
    p.add_argument("--score-thr", type=float, help="minimum score (default: the config's model.score_thr)")
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

    m = sub.add_parser("models", help="list the model zoo")
    m.set_defaults(func=cmd_models)

    pa = dataset_sub.add_parser("preview-aug", help="a grid of augmented training samples with their shapes drawn")
    pa.add_argument("cfg")
    pa.add_argument("--out", required=True)
    pa.add_argument("-n", type=int, default=16, help="samples")
    pa.add_argument("--seed", type=int, default=0)
    pa.add_argument("--set", action="append", metavar="KEY=VALUE")
    pa.set_defaults(func=cmd_preview_aug)


def cmd_models(a: argparse.Namespace) -> int:
    from studio.core.models import list_archs  # deferred: torch, torchvision

    for s in list_archs():
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
        print(f"{s.name:36s} {flags:42s} {s.description}")
    return EXIT_OK
