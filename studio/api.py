"""Python API matching the ``studio`` command line, one function per subcommand.

Every function returns data (no printing) and raises :class:`studio.core.errors.StudioError` with a
message naming the file and item at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from studio.core.dataset.check import CheckReport, check_dataset
from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir
from studio.core.dataset.split import split_dataset, write_splits
from studio.core.dataset.stats import DatasetStats, compute_stats, save_plots
from studio.core.errors import DatasetError
from studio.core.formats import ExportOptions, ImportOptions, ImportResult, detect_format, export_dataset, import_dataset
from studio.core.jobs import CancelToken, ProgressFn, no_progress

__all__ = [
    "dataset_import", "dataset_export", "dataset_check", "dataset_stats", "dataset_split",
    "dataset_download", "dataset_demo", "images_dir_of",
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
    """Import ``src`` (any supported format, detected when ``fmt`` is None) and write COCO to ``out``."""
    if fmt is None:
        fmt = detect_format(src)
        if fmt is None:
            raise DatasetError("cannot tell the format; pass --format {via,coco,labelme,voc,yolo}", file=src)
    res = import_dataset(fmt, src, images, options)
    info = record_images_dir(res.dataset, res.images_dir, Path(out).parent)
    info["description"] = info.get("description") or f"imported from {Path(src).name} ({fmt})"
    res.dataset.save(out)
    return res


def _load_with_images(ann: str | Path, images: str | Path | None) -> tuple[Dataset, Path | None]:
    ds = Dataset.load(ann)
    return ds, Path(images) if images is not None else images_dir_of(ann, ds)


def dataset_export(ann: str | Path, fmt: str, out_dir: str | Path, images: str | Path | None = None, options: ExportOptions | None = None) -> list[Path]:
    ds, images_dir = _load_with_images(ann, images)
    return export_dataset(fmt, ds, images_dir, out_dir, options)


def dataset_check(
    ann: str | Path, images: str | Path | None = None, deep: bool = False, json_out: str | Path | None = None,
    progress: ProgressFn = no_progress, cancel: CancelToken | None = None,
) -> CheckReport:
    ds, images_dir = _load_with_images(ann, images)
    rep = check_dataset(ds, images_dir, deep=deep, progress=progress, cancel=cancel)
    if json_out is not None:
        from studio.core import atomic

        atomic.write_json(json_out, rep.to_dict())
    return rep


def dataset_stats(ann: str | Path, out_dir: str | Path | None = None) -> tuple[DatasetStats, list[Path]]:
    stats = compute_stats(Dataset.load(ann))
    return stats, (save_plots(stats, out_dir) if out_dir is not None else [])


def dataset_split(ann: str | Path, ratios: Sequence[float], out_dir: str | Path, seed: int = 0, names: Sequence[str] | None = None) -> dict[str, Dataset]:
    ds = Dataset.load(ann)
    images_dir = images_dir_of(ann, ds)
    parts = split_dataset(ds, ratios, seed, names)
    if images_dir is not None:  # keep each part pointing at the same images
        for sub in parts.values():
            record_images_dir(sub, images_dir, out_dir)
    write_splits(parts, out_dir)
    return parts


def dataset_download(name: str, dest: str | Path, progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> Path:
    from studio.core.dataset.download import download

    return download(name, dest, progress=progress, cancel=cancel)


def dataset_demo(out_dir: str | Path, n_train: int = 40, n_val: int = 12, seed: int = 0):
    from studio.core.demo import generate

    return generate(out_dir, n_train=n_train, n_val=n_val, seed=seed)
