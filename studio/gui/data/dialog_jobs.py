"""The jobs the import wizard, the export dialog and the split dialog run in workers: no Qt.

Each is a thin wrapper over :mod:`studio.api` / :mod:`studio.core` that takes the ``progress`` and
``cancel`` keywords of :class:`studio.gui.common.workers.Worker` and returns everything its dialog renders,
already counted (and, for the import preview, already decoded and drawn), so the dialogs only display.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio import api
from studio.core.dataset.check import CheckReport, check_dataset
from studio.core.dataset.model import Dataset, image_path, record_images_dir
from studio.core.dataset.split import split_ids
from studio.core.dataset.summary import ClassStat, summarize
from studio.core.draw import draw_thumbnail
from studio.core.errors import DatasetError, StudioError
from studio.core.formats import (
    ExportOptions,
    ExportReport,
    ImportOptions,
    ImportResult,
    Probe,
    detect_format,
    get_format,
    import_dataset,
)
from studio.core.formats.labelme import read_labels
from studio.core.imageio import imread_rgb
from studio.core.jobs import CancelToken, Progress, no_progress

THUMBNAILS = 5  # images drawn on the preview page (as many as fit the wizard without scrolling)
THUMB_SIZE = 168  # px, longest side
# folder names that say which part of a dataset a file is, not which dataset
_SPLIT_NAMES = frozenset({"train", "training", "val", "valid", "validation", "test", "testing", "trainval"})
# file stems that say nothing about the dataset (the folders do)
_GENERIC_STEMS = frozenset(
    {
        "via_region_data",
        "via_project",
        "via_export_json",
        "annotations",
        "annotation",
        "data",
        "dataset",
        "labels",
        "instances",
        "coco",
        "export",
        "images",
    }
)


def _item_progress(progress: Progress, cancel: CancelToken | None, message: str) -> Progress:
    """An importer/exporter's callback (called as ``(done, total)``) that reports ``message`` and honours
    ``cancel``."""

    def report(done: int, total: int, message_: str = "") -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(done, total, message_ or message)

    return report


# ---------------------------------------------------------------------------------------- naming
def suggested_stem(src: str | Path) -> str:
    """A name for the imported file: ``balloon/train/via_region_data.json`` -> ``balloon_train``.

    Generic file stems (``via_region_data``, ``data``...) and split folders (``train``) say little; the
    first other folder up names the dataset, and the split names seen on the way are appended.
    """
    src = Path(os.path.abspath(src))
    is_file = src.is_file() or (not src.exists() and src.suffix != "")
    splits: list[str] = []
    folder = src
    if is_file:
        low = src.stem.lower()
        if low not in _GENERIC_STEMS and low not in _SPLIT_NAMES:
            return src.stem
        if low in _SPLIT_NAMES:
            splits.append(src.stem)
        folder = src.parent
    for f in [folder, *folder.parents]:
        if not f.name:
            break
        low = f.name.lower()
        if low in _SPLIT_NAMES:
            splits.insert(0, f.name)
        elif low not in _GENERIC_STEMS:
            return "_".join([f.name, *splits])
    return "_".join(splits) or "dataset"


def default_output(src: str | Path, stem: str, datasets_dir: str | Path | None = None) -> Path:
    """Where the wizard proposes to write ``<stem>.json``: in ``datasets_dir`` when given, else in an
    ``annotations`` folder beside the source (beside a source folder, so re-reading it never meets the file)."""
    if datasets_dir is not None:
        return Path(datasets_dir) / f"{stem}.json"
    src = Path(os.path.abspath(src))
    base = src.parent
    folder = base if base.name == "annotations" else base / "annotations"
    out = folder / f"{stem}.json"
    return folder / f"{stem}_coco.json" if out == src else out


# ---------------------------------------------------------------------------------------- source probe
@dataclass(frozen=True)
class SourceInfo:
    """What page 1 of the wizard shows about a source before importing it: its format's
    :class:`~studio.core.formats.common.Probe`, with the format and the suggested name."""

    path: Path
    fmt: str | None  # detected format, None when nothing matched
    summary: str  # "VIA 1.x/2.x JSON export", "labelme folder"...
    name: str = ""  # suggested_stem(path)
    detail: str = ""  # cheap counts: "61 images, 255 regions"
    class_attrs: tuple[str, ...] = ()  # VIA: region attribute keys seen
    default_class: str | None = None  # VIA: the class regions without a class attribute get
    splits: tuple[str, ...] = ()  # VOC / YOLO: splits that exist
    labels_file: Path | None = None  # labelme: the labels.txt the importer will pick up

    @property
    def label(self) -> str:
        if self.fmt is None:
            return f"Not a format Studio recognises ({self.summary}): pick the format below"
        return f"Detected: {self.summary} ({self.name})" + (f" — {self.detail}" if self.detail else "")


def probe_source(src: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None) -> SourceInfo:
    """Detect the format of ``src`` and gather the choices its options offer (attribute keys, splits): the
    format's ``probe`` (see :mod:`studio.core.formats`); a format without one is shown by its name."""
    src = Path(src)
    progress(0, 1, f"detecting the format of {src.name}")
    if not src.exists():
        raise DatasetError("no such file or folder", file=src)
    fmt = detect_format(src)
    if cancel is not None:
        cancel.raise_if_cancelled()
    if fmt is None:
        info = SourceInfo(src, None, "a folder" if src.is_dir() else f"a {src.suffix or 'plain'} file")
    else:
        probe = getattr(get_format(fmt).module, "probe", None)
        p = probe(src) if probe is not None else Probe(fmt.upper())
        info = SourceInfo(src, fmt, **asdict(p))  # the same field names
    progress(1, 1, "detected")
    return replace(info, name=suggested_stem(src))


def format_title(fmt: str) -> str:
    """``"via"`` -> ``"VIA — VGG Image Annotator (VIA) 1.x/2.x JSON: ..."`` for the format combo."""
    return f"{fmt.upper() if len(fmt) <= 4 else fmt} — {get_format(fmt).description}"


# ---------------------------------------------------------------------------------------- import preview
@dataclass(frozen=True)
class ImportRequest:
    """The wizard's page 1 choices; ``labels_file`` is read in the worker."""

    src: Path
    fmt: str
    images: Path | None = None
    strict: bool = True
    default_class: str | None = None
    class_attr: str | None = None
    split: str | None = None
    labels_file: Path | None = None

    def options(self) -> ImportOptions:
        labels = None
        if self.labels_file is not None:
            labels = read_labels(self.labels_file)
        return ImportOptions(
            strict=self.strict,
            default_class=self.default_class,
            class_attr=self.class_attr,
            split=self.split,
            labels=labels,
        )


@dataclass(frozen=True)
class Thumbnail:
    file_name: str
    rgb: np.ndarray  # HxWx3 uint8, shapes drawn
    annotations: int
    note: str = ""  # why the pixels are missing ("image file not found"), else empty


@dataclass
class ImportPreview:
    request: ImportRequest
    result: ImportResult
    class_stats: list[ClassStat]
    report: CheckReport
    thumbnails: list[Thumbnail] = field(default_factory=list)

    @property
    def dataset(self) -> Dataset:
        return self.result.dataset


def preview_import(
    request: ImportRequest, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> ImportPreview:
    """Import into memory (nothing written), check the result against its images, draw a few of them."""
    options = request.options()
    options.progress = _item_progress(progress, cancel, f"reading {request.src.name}")
    res = import_dataset(request.fmt, request.src, request.images, options)
    ds = res.dataset
    if ds.source is None:
        ds.source = request.src
    report = check_dataset(
        ds, res.images_dir, cancel=cancel, progress=lambda d, t, m="": progress(d, t, m or "checking")
    )
    stats, _ = summarize(ds)
    missing = {p.image_id for p in report.problems if p.kind in ("missing_image", "unreadable_image")}
    thumbs = []
    picked = pick_thumbnails(ds, missing)
    for k, im in enumerate(picked):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(k, len(picked), "drawing previews")
        thumbs.append(render_thumbnail(ds, im, res.images_dir))
    return ImportPreview(request, res, stats, report, thumbs)


def pick_thumbnails(ds: Dataset, missing: set, n: int = THUMBNAILS) -> list[dict]:
    """Up to ``n`` images spread over the set: annotated ones whose file is there first."""
    annotated = [im for im in ds.images if ds.anns_for_image(im["id"])]
    ranked = [im for im in annotated if im["id"] not in missing] + [im for im in annotated if im["id"] in missing]
    pool = ranked or ds.images
    present = [im for im in pool if im["id"] not in missing]
    if len(present) >= n:  # spread over the whole set rather than the first n
        return [present[int(i * len(present) / n)] for i in range(n)]
    return pool[:n]


def render_thumbnail(ds: Dataset, im: dict, images_dir: Path | None, size: int = THUMB_SIZE) -> Thumbnail:
    """The image scaled to ``size`` with its shapes filled and outlined in the class colours.

    A missing or unreadable file gives a grey canvas of the recorded size with the shapes still drawn.
    """
    note = ""
    try:
        rgb = imread_rgb(image_path(images_dir, im))
    except StudioError as e:
        rgb, note = None, e.message
    anns = ds.anns_for_image(im["id"])
    canvas = draw_thumbnail(rgb, anns, size, int(im.get("width") or 0), int(im.get("height") or 0))
    return Thumbnail(str(im["file_name"]), canvas, len(anns), note)


def save_import(
    preview: ImportPreview, out: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> Path:
    """Write the previewed import as COCO, recording its images folder as ``studio.api.dataset_import`` does."""
    out = Path(out)
    req = preview.request
    if out.suffix.lower() != ".json":
        raise DatasetError("the output must be a .json file", file=out)
    api.check_import_output(req.src, out)  # never the source itself, nor another format's file
    progress(0, 1, f"writing {out.name}")
    ds = preview.dataset
    info = record_images_dir(ds, preview.result.images_dir, out.parent)
    info["description"] = info.get("description") or f"imported from {req.src.name} ({req.fmt})"
    if cancel is not None:
        cancel.raise_if_cancelled()
    try:
        ds.save(out)
    except OSError as e:
        raise DatasetError(f"cannot write: {e.strerror or e}", file=out) from None
    progress(1, 1, f"wrote {out.name}")
    return out


# ---------------------------------------------------------------------------------------- export
def export_dataset_job(
    ann: str | Path,
    fmt: str,
    out_dir: str | Path,
    images: str | Path | None = None,
    copy_images: bool = True,
    task: str | None = None,
    overwrite: bool = False,
    include_pending: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ExportReport:
    """``studio dataset export`` with progress and cancel: the files written, the pending proposals written or
    left out, the warnings."""
    opts = ExportOptions(
        copy_images=copy_images,
        task=task,
        overwrite=overwrite,
        include_pending=include_pending,
        progress=_item_progress(progress, cancel, f"exporting as {fmt}"),
    )
    progress(0, 0, f"reading {Path(ann).name}")
    return api.dataset_export_report(ann, fmt, out_dir, images=images, options=opts)


# ---------------------------------------------------------------------------------------- split
@dataclass
class SplitPreview:
    dataset: Dataset  # kept by the dialog so the next preview skips the parse
    names: list[str]
    images: list[int]  # per subset
    annotations: list[int]  # per subset
    classes: list[tuple[Any, str, list[int]]]  # (category id, name, instances per subset)


def preview_split(
    source: str | Path | Dataset,
    ratios: Sequence[float],
    names: Sequence[str],
    seed: int = 0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> SplitPreview:
    """The counts :func:`write_split` will produce (same ids: ``split_ids`` is deterministic for a seed)."""
    if isinstance(source, Dataset):
        ds = source
    else:
        progress(0, 2, f"reading {Path(source).name}")
        ds = Dataset.load(source)
    if cancel is not None:
        cancel.raise_if_cancelled()
    progress(1, 2, "splitting")
    parts = split_ids(ds, ratios, seed)
    n_anns, per_class = [], []
    for ids in parts:
        anns = [a for i in ids for a in ds.anns_for_image(i)]
        n_anns.append(len(anns))
        per_class.append(Counter(a["category_id"] for a in anns))
    classes = [(c["id"], c["name"], [pc.get(c["id"], 0) for pc in per_class]) for c in ds.categories]
    progress(2, 2, "split preview ready")
    return SplitPreview(ds, list(names), [len(p) for p in parts], n_anns, classes)


def write_split(
    ann: str | Path,
    ratios: Sequence[float],
    names: Sequence[str],
    out_dir: str | Path,
    seed: int = 0,
    images_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[tuple[Path, int, int]]:
    """Write the subsets with ``studio.api.dataset_split``: ``(file, images, annotations)`` per subset.

    ``images_dir`` (the folder the Data page shows) is recorded in every subset when the source file does
    not record one itself, so the subsets open with their images wherever they are written.
    """
    progress(0, 1, f"splitting {Path(ann).name}")
    out_dir = Path(out_dir)
    parts = api.dataset_split(ann, ratios, out_dir, seed=seed, names=names, overwrite=overwrite, images=images_dir)
    progress(1, 1, "split written")
    return [(out_dir / f"{n}.json", len(p.images), len(p.annotations)) for n, p in parts.items()]
