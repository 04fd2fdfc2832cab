"""Python API matching the ``studio`` command line, one function per subcommand.

Every function returns data (no printing) and raises :class:`studio.core.errors.StudioError` with a
message naming the file and item at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from studio.core import atomic
from studio.core.dataset.check import CheckReport, check_dataset
from studio.core.dataset.download import download
from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir
from studio.core.dataset.split import (
    check_names,
    check_ratios,
    default_names,
    split_dataset,
    split_targets,
    write_splits,
)
from studio.core.dataset.stats import DatasetStats, compute_stats, save_plots
from studio.core.demo import N_TRAIN, N_VAL, generate
from studio.core.errors import DatasetError
from studio.core.formats import (
    ExportOptions,
    ExportReport,
    ImportOptions,
    ImportResult,
    detect_format,
    export_dataset,
    export_dataset_report,
    import_dataset,
    import_formats,
)
from studio.core.inference.jobs import evaluate_checkpoint, predict_images
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.plugin_check import load_everything
from studio.core.plugins import registry

__all__ = [
    "dataset_import",
    "dataset_export",
    "dataset_export_report",
    "dataset_check",
    "dataset_stats",
    "dataset_split",
    "dataset_download",
    "dataset_demo",
    "dataset_new",
    "dataset_classes",
    "dataset_box2mask",
    "label_auto",
    "label_accept",
    "label_next",
    "retrain",
    "images_dir_of",
    "config_init",
    "train",
    "evaluate",
    "predict",
    "predict_video",
    "infer_video",
    "video_run",
    "dataset_frames",
    "preview_augmentations",
    "featmap",
    "cam",
    "export",
    "export_formats",
    "infer",
    "benchmark",
    "plugins",
]


def images_dir_of(ann: str | Path, ds: Dataset | None = None) -> Path | None:
    """The images folder recorded by ``studio dataset import`` in the file's ``info.images_dir``."""
    return recorded_images_dir(ann, ds if ds is not None else Dataset.load(ann))


def dataset_import(
    src: str | Path,
    out: str | Path,
    fmt: str | None = None,
    images: str | Path | None = None,
    options: ImportOptions | None = None,
) -> ImportResult:
    """Import ``src`` (any supported format, detected when ``fmt`` is None) and write COCO to ``out``.

    ``out`` may replace an earlier COCO file, never the source or another format's file.
    """
    check_import_output(src, out)
    if fmt is None:
        fmt = detect_format(src)
        if fmt is None:
            raise DatasetError(f"cannot tell the format; pass --format {{{','.join(import_formats())}}}", file=src)
    res = import_dataset(fmt, src, images, options)
    info = record_images_dir(res.dataset, res.images_dir, Path(out).parent)
    info["description"] = info.get("description") or f"imported from {Path(src).name} ({fmt})"
    res.dataset.save(out)
    return res


def check_import_output(src: str | Path, out: str | Path) -> None:
    """Refuse an import output that is the source itself, a folder, or an existing file that is not COCO
    (a VIA or labelme source of this or another import)."""
    src, out = Path(src), Path(out)
    if out.is_dir():
        raise DatasetError("is a folder: name the COCO file to write (-o ANN.json)", file=out)
    if not out.exists():
        return
    if src.exists() and out.resolve() == src.resolve():
        raise DatasetError(
            "is the file being imported: the import would replace its own source; choose another -o", file=out
        )
    try:
        Dataset.load(out)
    except DatasetError:
        raise DatasetError(
            "exists and is not a COCO annotation file (a source of another format?): it is not "
            "replaced; choose another -o",
            file=out,
        ) from None


def _load_with_images(ann: str | Path, images: str | Path | None) -> tuple[Dataset, Path | None]:
    ds = Dataset.load(ann)
    return ds, Path(images) if images is not None else images_dir_of(ann, ds)


def dataset_export(
    ann: str | Path,
    fmt: str,
    out_dir: str | Path,
    images: str | Path | None = None,
    options: ExportOptions | None = None,
) -> list[Path]:
    """The files written (warnings go to the log); :func:`dataset_export_report` returns them instead."""
    ds, images_dir = _load_with_images(ann, images)
    return export_dataset(fmt, ds, images_dir, out_dir, options)


def dataset_export_report(
    ann: str | Path,
    fmt: str,
    out_dir: str | Path,
    images: str | Path | None = None,
    options: ExportOptions | None = None,
) -> ExportReport:
    """``studio dataset export``: the files written, the pending proposals written or left out
    (``options.include_pending``), and the warnings to show."""
    ds, images_dir = _load_with_images(ann, images)
    return export_dataset_report(fmt, ds, images_dir, out_dir, options)


def dataset_check(
    ann: str | Path,
    images: str | Path | None = None,
    deep: bool = False,
    json_out: str | Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CheckReport:
    ds, images_dir = _load_with_images(ann, images)
    rep = check_dataset(ds, images_dir, deep=deep, progress=progress, cancel=cancel)
    if json_out is not None:
        atomic.write_json(json_out, rep.to_dict())
    return rep


def dataset_stats(ann: str | Path, out_dir: str | Path | None = None) -> tuple[DatasetStats, list[Path]]:
    stats = compute_stats(Dataset.load(ann))
    return stats, (save_plots(stats, out_dir) if out_dir is not None else [])


def dataset_split(
    ann: str | Path,
    ratios: Sequence[float],
    out_dir: str | Path,
    seed: int = 0,
    names: Sequence[str] | None = None,
    *,
    overwrite: bool = False,
    images: str | Path | None = None,
) -> dict[str, Dataset]:
    """Split ``ann`` into ``OUT/NAME.json`` files. Each subset records the images folder: the one the file
    recorded, else ``images``. Existing subset files are replaced only with ``overwrite``; the source never."""
    check_ratios(ratios)
    names = check_names(names, len(ratios)) if names else default_names(len(ratios))
    split_targets(names, out_dir, overwrite=overwrite, source=ann)  # refuse before the work
    ds, images_dir = _load_with_images(ann, None)
    images_dir = images_dir if images_dir is not None else (Path(images) if images is not None else None)
    parts = split_dataset(ds, ratios, seed, names)
    if images_dir is not None:  # keep each part pointing at the same images
        for sub in parts.values():
            record_images_dir(sub, images_dir, out_dir)
    write_splits(parts, out_dir, overwrite=overwrite, source=ann)
    return parts


def dataset_download(
    name: str, dest: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> Path:
    return download(name, dest, progress=progress, cancel=cancel)


def dataset_demo(out_dir: str | Path, n_train: int = N_TRAIN, n_val: int = N_VAL, seed: int = 0):
    return generate(out_dir, n_train=n_train, n_val=n_val, seed=seed)


# ------------------------------------------------------------------------------------ engine
def config_init(
    train: str | Path,
    out: str | Path,
    *,
    train_images=None,
    val=None,
    val_images=None,
    arch: str | None = None,
    backbone: str | None = None,
):
    """``studio config init``: write a runnable config for ``train`` (and ``val``); returns the Config.
    ``backbone``: a backbone choice of the fast models (resnet18...), written with ``weights: DEFAULT``."""
    from studio.core.config.init import init_config  # deferred: pydantic

    return init_config(
        train, out, train_images=train_images, val_ann=val, val_images=val_images, arch=arch, backbone=backbone
    )


def train(
    cfg,
    *,
    overrides: Sequence[str] = (),
    work_dir=None,
    resume=None,
    devices: int = 1,
    callbacks=(),
    cancel: CancelToken | None = None,
    dist_timeout: float | None = None,
):
    """``studio train``: ``cfg`` is a YAML path or a Config; ``resume`` True (last.pt of the run) or a path.
    Under torchrun each process trains as its rank; ``dist_timeout`` (seconds) bounds the wait for the others."""
    from studio.core.training.runs import train_job  # deferred: pydantic

    return train_job(
        cfg,
        overrides=overrides,
        work_dir=work_dir,
        resume=resume,
        devices=devices,
        callbacks=callbacks,
        cancel=cancel,
        dist_timeout=dist_timeout,
    )


def evaluate(
    ckpt,
    *,
    ann=None,
    images=None,
    out=None,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """``studio eval``: returns (ValResult, report folder)."""
    return evaluate_checkpoint(ckpt, ann=ann, images=images, out=out, device=device, progress=progress, cancel=cancel)


def predict(
    ckpt,
    images: Sequence[str | Path],
    out,
    *,
    score_thr: float | None = None,
    device: str = "auto",
    to_coco: str | Path | None = None,
    to_coco_thr: float = 0.5,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """``studio predict``: drawn images and predictions.json in ``out``; returns a PredictSummary.

    ``score_thr`` None: the run's F1-optimal threshold for this checkpoint, else the config's (the summary's
    ``score_note`` says which; :mod:`studio.core.inference.score_default`).
    ``to_coco``: also an annotation file of the detections scoring ``to_coco_thr`` or more
    (model-assisted labelling).
    """
    return predict_images(
        ckpt,
        images,
        out,
        score_thr=score_thr,
        device=device,
        to_coco=to_coco,
        to_coco_thr=to_coco_thr,
        progress=progress,
        cancel=cancel,
    )


def preview_augmentations(cfg, out, *, n: int = 16, seed: int = 0, overrides: Sequence[str] = ()) -> Path:
    """``studio dataset preview-aug``: a grid PNG of augmented training samples."""
    from studio.core.config.loader import load_config  # deferred: pydantic
    from studio.core.data.preview import preview_augmentations as _preview  # deferred: pydantic, torch, torchvision

    config = load_config(cfg, overrides) if not hasattr(cfg, "model_dump") else cfg
    return _preview(config, out, n=n, seed=seed)


def plugins(load: bool = True):
    """``studio plugins``: the plugin registry (``.plugins``: each with its status, contributions and errors;
    ``.errors()``), with every contribution imported and checked unless ``load`` is False."""
    return load_everything() if load else registry()


# explanation (studio featmap, studio cam), export (studio export, studio infer), new projects and class edits
# (studio dataset new / classes), the smart tools (studio dataset box2mask) and model-in-the-loop labelling
# (studio label auto / accept / next, retrain) live in their own modules
from studio.api_explain import cam, featmap  # noqa: E402
from studio.api_export import benchmark, export, export_formats, infer  # noqa: E402
from studio.api_label import label_accept, label_auto, label_next, retrain  # noqa: E402
from studio.api_project import dataset_classes, dataset_new  # noqa: E402
from studio.api_smart import dataset_box2mask  # noqa: E402
from studio.api_video import dataset_frames, infer_video, predict_video, video_run  # noqa: E402
