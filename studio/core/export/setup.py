"""What every export starts with, built-in format or plugin's: :func:`prepare_export`.

The checkpoint is read, its architecture and config found, the options checked against the format table for
this device with ``score_thr`` / ``max_det`` resolved from the checkpoint, the verification images picked and
the output folder named; :meth:`ExportSetup.load` then gives the CPU predictor at those thresholds and the
verification images read. :func:`studio.core.export.jobs.export_checkpoint` (the built-in formats) and
:func:`studio.core.export.plugin_export.run_plugin_export` (a plugin's) both go through it, and both return
an :class:`ExportResult`.

Light at import (no torch): ``studio infer`` imports the export jobs on machines without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.errors import StudioError
from studio.core.export.formats import ArchInfo, ExportFormat, validate_options
from studio.core.export.report import summary_lines

if TYPE_CHECKING:  # types only: these import torch (or pydantic), and this module stays light
    from studio.core.checkpoint import Checkpoint
    from studio.core.config.schema import Config
    from studio.core.models.spec import ArchSpec

DEFAULT_VERIFY_IMAGES = 20


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    model: Path  # the file to deploy: model.onnx, or model.engine
    files: tuple[Path, ...]
    report_path: Path
    report: dict = field(repr=False)

    @property
    def warnings(self) -> list[str]:
        return list(self.report.get("warnings", []))

    def summary(self) -> list[str]:
        return summary_lines(self.report)


def detect_device() -> str:
    """ "gpu" when PyTorch sees a CUDA device, else "cpu": the ``device`` :func:`formats.unavailable` takes."""
    import torch  # deferred: torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def default_out_dir(ckpt_path: Path, fmt: str) -> Path:
    return ckpt_path.parent / f"export-{fmt}"


def resolved_thresholds(opts: Mapping[str, Any], cfg: Config) -> dict:
    """``opts`` with ``score_thr`` / ``max_det`` left at None taken from the checkpoint's config."""
    opts = dict(opts)
    if opts.get("score_thr") is None:
        opts["score_thr"] = float(cfg.model.score_thr)
    if opts.get("max_det") is None:
        opts["max_det"] = int(cfg.model.max_detections)
    return opts


def jsonable(opts: Mapping[str, Any]) -> dict:
    """The options as the report writes them (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()}


# ------------------------------------------------------------------------------------ verification set
@dataclass
class VerifySet:
    """The images an export is verified (and int8-calibrated) on; ``gt`` None for a plain folder."""

    items: list[tuple[Any, str, Path]]  # (image id, name, path)
    gt: Any = None  # Dataset
    class_map: Any = None  # ClassMap onto gt's category ids
    why_none: str | None = None

    @property
    def paths(self) -> list[Path]:
        return [p for _, _, p in self.items]


def verification_set(cfg, ck_classes, ann=None, images=None, n: int = DEFAULT_VERIFY_IMAGES) -> VerifySet:
    """Val images with annotations where possible: ``ann`` (+ ``images``), else the checkpoint's val set
    (in ``images`` when given and it holds the val files), else ``images`` as a plain folder."""
    from studio.core.data.splits import open_split  # deferred: numpy, pydantic
    from studio.core.dataset.model import image_path  # deferred: numpy
    from studio.core.imageio import list_images  # deferred: cv2, numpy
    from studio.core.inference.val_set import eval_class_map, val_ref  # deferred: numpy, pydantic

    if n <= 0:
        return VerifySet([], why_none="verification was turned off (n_verify=0)")
    ref = val_ref(cfg, ann, images)
    if ref is not None:
        try:
            split = open_split(ref, "verify")
        except StudioError:
            if ann is not None or images is None:
                raise
            split = None
        if split is not None:
            ims = split.dataset.images[:n]
            items = [(im["id"], im["file_name"], image_path(split.images_dir, im)) for im in ims]
            if ann is not None or all(p.is_file() for _, _, p in items):
                return VerifySet(items, split.dataset, eval_class_map(ck_classes, split.dataset, split.ann))
    if images is not None:
        folder = Path(images)
        if not folder.is_dir():
            raise StudioError("verification images folder not found", file=folder, item="verify_images")
        paths = list_images(folder)[:n]
        if not paths:
            raise StudioError("no images in the verification folder", file=folder, item="verify_images")
        return VerifySet([(None, p.name, p) for p in paths])
    return VerifySet(
        [],
        why_none="the checkpoint's config names no val set; pass --verify-ann ANN (and --verify-images DIR) "
        "or --verify-images DIR",
    )


# ------------------------------------------------------------------------------------ the setup
@dataclass
class ExportSetup:
    """An export about to run: everything decided before any model is loaded."""

    fmt: ExportFormat
    checkpoint: Path  # the checkpoint file (a run folder resolved to its best, else last)
    ck: Checkpoint
    spec: ArchSpec  # the zoo's entry of the checkpoint's architecture
    config: Config  # the run's config (ck.config)
    device: str  # "cpu" or "gpu": what the options were checked for
    options: dict  # the format's options, checked, with score_thr and max_det resolved
    vset: VerifySet
    out_dir: Path

    def load(self) -> tuple[Any, list[tuple[Any, str, Any]]]:
        """The CPU predictor at the export's thresholds, and the verification images read (id, name, RGB)."""
        from studio.core.imageio import imread_rgb  # deferred: cv2, numpy
        from studio.core.inference.predictor import Predictor  # deferred: cv2, numpy, torch
        from studio.core.models.nms import configure_nms  # deferred: torch

        predictor = Predictor.from_checkpoint(
            self.ck,
            device="cpu",
            score_thr=self.options["score_thr"],
            max_detections=self.options["max_det"],
            batch_size=1,
        )
        if "nms_iou" in self.options or "pre_nms_topk" in self.options:
            # the export's NMS on the predictor's model: the graph is traced from it and verified against it
            nms = configure_nms(predictor.model, self.options.get("nms_iou"), self.options.get("pre_nms_topk"))
            self.options.update(nms.as_options())  # the report and the metadata say what was used
        return predictor, [(iid, name, imread_rgb(p)) for iid, name, p in self.vset.items]


def prepare_export(
    fmt: ExportFormat,
    ckpt: str | Path,
    options: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    verify_ann: str | Path | None = None,
    verify_images: str | Path | None = None,
    n_verify: int = DEFAULT_VERIFY_IMAGES,
    device: str | None = None,
) -> ExportSetup:
    """Read the checkpoint (or run folder) ``ckpt`` and decide the export to ``fmt``: options checked for
    ``device`` (default: what is visible) with the checkpoint's thresholds, the ``n_verify`` verification images
    (``verify_ann`` / ``verify_images``, default the checkpoint's val set) and the output folder (default
    ``export-FORMAT`` beside the checkpoint). Raises StudioError before any model is built."""
    from studio.core import checkpoint as ckpt_io  # deferred: numpy, pydantic, torch
    from studio.core.inference.score_default import suggested_score_thr  # deferred: numpy
    from studio.core.models import get_arch  # deferred: torch, torchvision

    path = ckpt_io.resolve(ckpt)
    ck = ckpt_io.load(path)
    spec = get_arch(ck.arch)
    cfg = ck.config
    device = device or detect_device()
    opts = resolved_thresholds(
        validate_options(fmt, options, ArchInfo(spec.name, spec.family, spec.task, spec.square_input), device), cfg
    )
    # where F1 is highest on the run's val set: recorded in the model's metadata as `studio infer`'s default
    opts["suggested_score_thr"] = suggested_score_thr(ck)
    vset = verification_set(cfg, ck.classes, verify_ann, verify_images, n_verify)
    out = Path(out_dir) if out_dir is not None else default_out_dir(path, fmt.name)
    return ExportSetup(fmt, path, ck, spec, cfg, device, opts, vset, out)
