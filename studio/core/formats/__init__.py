"""Dataset formats: one table of importers and exporters, used by the CLI and the import wizard.

Each format module defines ``NAME``, ``DESCRIPTION``, ``detect(src) -> bool`` and, where it can,
``read(src, images, options) -> ImportResult`` and ``write(dataset, images_dir, out_dir, options)``.

Optionally, ``probe(src) -> Probe`` (:class:`studio.core.formats.common.Probe`) tells what ``src`` is
before it is imported, cheaply: a summary ("VIA 2.x project"), counts, and the choices its import
options offer (VIA's region attribute keys and default class, VOC / YOLO splits, labelme's labels.txt).
The import wizard shows it on its first page; for a format without ``probe`` (a plugin's) it shows the
format's name.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from studio.core.dataset.ground_truth import ground_truth
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import PROVENANCE_KEYS, count_pending, strip_provenance
from studio.core.errors import DatasetError
from studio.core.formats.common import ExportOptions, ImportOptions, ImportResult, Probe, integer_id, positive_int
from studio.core.output_folder import check_target
from studio.core.plugins import Contribution, PluginError, register_kind, registry
from studio.core.safe_names import quoted, refuse_unsafe_images, unsafe_images
from studio.core.text import plural

# detection order matters: the most specific signatures first
_MODULES = ("via", "labelme", "voc", "yolo", "coco")


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    description: str
    module: ModuleType

    @property
    def can_import(self) -> bool:
        return hasattr(self.module, "read")

    @property
    def can_export(self) -> bool:
        return hasattr(self.module, "write")


def _add(table: dict[str, DatasetFormat], module) -> None:
    """Put the format ``module`` into ``table``: every format goes in here, the built-in ones and the plugins'."""
    name = module.NAME
    if name in table and table[name].module is not module:
        raise PluginError(f"the name {name!r} is taken by a built-in dataset format: rename it (NAME and the manifest)")
    table[name] = DatasetFormat(name, str(module.DESCRIPTION), module)


@functools.cache
def formats() -> dict[str, DatasetFormat]:
    """The format table, built on first use: the built-in formats, then the plugins' (studio.core.plugins)."""
    table: dict[str, DatasetFormat] = {}
    for m in _MODULES:
        _add(table, importlib.import_module(f"studio.core.formats.{m}"))
    registry().install("dataset_formats", functools.partial(_add, table))
    return table


def _check_plugin_format(c: Contribution, obj) -> object:
    """What a plugin's dataset format must be (checked when it is imported)."""
    missing = [a for a in ("NAME", "DESCRIPTION", "detect") if not hasattr(obj, a)]
    if missing:
        raise PluginError(
            f"a dataset format (a module, or an object) needs NAME, DESCRIPTION, detect(src) and read() "
            f"and/or write(); {_name(obj)} has no {', '.join(missing)}"
        )
    if not (callable(getattr(obj, "read", None)) or callable(getattr(obj, "write", None))):
        raise PluginError(
            f"{_name(obj)} has neither read(src, images, options) nor write(dataset, images_dir, out_dir, options)"
        )
    if hasattr(obj, "probe") and not callable(obj.probe):
        raise PluginError(f"{_name(obj)}.probe must be a function probe(src) -> studio.core.formats.common.Probe")
    if obj.NAME != c.name:
        raise PluginError(f"its NAME is {obj.NAME!r} but the manifest calls it {c.name!r}: make them the same")
    return obj


def _name(obj) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


register_kind("dataset_formats", validate=_check_plugin_format, forget=formats.cache_clear)


def import_formats() -> list[str]:
    return [n for n, f in formats().items() if f.can_import]


def export_formats() -> list[str]:
    return [n for n, f in formats().items() if f.can_export]


def get_format(name: str) -> DatasetFormat:
    try:
        return formats()[name]
    except KeyError:
        raise DatasetError(f"unknown format '{name}' (known: {', '.join(formats())})") from None


def detect_format(src: str | Path) -> str | None:
    """Name of the first format whose signature matches ``src`` (file or folder), or None."""
    src = Path(src)
    for name, fmt in formats().items():
        try:
            if fmt.module.detect(src):
                return name
        except OSError:
            continue
        except Exception as e:  # a plugin's detect with a bug must not stop the others
            logging.getLogger("studio.plugins").warning(
                "dataset format %s: detect(%s) failed: %s: %s", name, src, type(e).__name__, e
            )
            continue
    return None


def import_dataset(
    fmt: str, src: str | Path, images: str | Path | None = None, options: ImportOptions | None = None
) -> ImportResult:
    """Read ``src`` with format ``fmt``. Image names that would lead out of the images folder are
    kept, with a warning each: exports refuse them and ``dataset check`` reports them as errors."""
    f = get_format(fmt)
    if not f.can_import:
        raise DatasetError(f"format '{fmt}' cannot be imported")
    src = Path(src)
    if not src.exists():
        raise DatasetError("no such file or folder", file=src)
    res = f.module.read(src, Path(images) if images is not None else None, options or ImportOptions())
    _check_images(res, src)
    for iid, name, problem in unsafe_images(res.dataset.images):
        res.warnings.append(
            str(
                DatasetError(
                    f"file name {quoted(name)} {problem}: "
                    "exports will refuse it and `dataset check` reports it; rename it",
                    file=src,
                    item=f"image id {iid}",
                )
            )
        )
    return res


def _check_images(res: ImportResult, src: Path) -> None:
    """What every importer (plugins too) must hand over: integer ids and sizes a JSON file and a model can hold."""
    for im in res.dataset.images:
        item = f"image id {im.get('id')!r} ({im.get('file_name')})"
        for key in ("width", "height"):
            try:
                positive_int(im.get(key), key)
            except ValueError as e:
                raise DatasetError(str(e), file=src, item=item) from None
        try:
            integer_id(im.get("id"), "image id")
        except ValueError as e:
            raise DatasetError(str(e), file=src, item=item) from None


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and what a user should know about it."""

    written: list[Path]
    pending_written: int = 0  # pending proposals written (only with ``include_pending``)
    pending_left_out: int = 0  # pending proposals left out (the default)
    warnings: list[str] = field(default_factory=list)
    images_left_out: int = 0  # images not labelled yet (studio.core.dataset.ground_truth), left out by default


def keeps_provenance(fmt: str) -> bool:
    """Whether format ``fmt`` can hold the provenance keys (its module says ``KEEPS_PROVENANCE = True``):
    COCO and labelme can; VOC, YOLO and a plugin's format that does not say so cannot."""
    return bool(getattr(get_format(fmt).module, "KEEPS_PROVENANCE", False))


def export_dataset_report(
    fmt: str, dataset: Dataset, images_dir, out_dir, options: ExportOptions | None = None
) -> ExportReport:
    """Write ``dataset`` as ``fmt`` into the folder ``out_dir``.

    Refused before anything is written: an image ``file_name`` that is absolute or holds ``..``
    (naming the image id and the name), and a target folder that is a file or not empty (unless
    ``options.overwrite`` and it holds a previous export). Each exporter writes through
    :func:`studio.core.formats.common.export_folder`, which checks every path again.

    Pending model proposals are not ground truth: they are left out unless ``options.include_pending``, and so
    are the images that are not labelled yet (:mod:`studio.core.dataset.ground_truth`: holding only proposals,
    or without accepted annotation in a labelling project), which YOLO and VOC would write as background.
    With it, COCO and labelme write them with their ``source`` / ``status`` / ``score`` / ``checkpoint`` keys;
    a format that cannot hold those keys gets every annotation without them, so its pending proposals become
    plain objects, and the report warns about it.
    """
    f = get_format(fmt)
    if not f.can_export:
        raise DatasetError(f"format '{fmt}' cannot be exported")
    options = options or ExportOptions()
    refuse_unsafe_images(dataset.images, file=dataset.source)
    images_dir = Path(images_dir) if images_dir is not None else None
    check_target(out_dir, options.overwrite, protect=(dataset.source, images_dir))
    pending = count_pending(dataset.annotations)
    warnings: list[str] = []
    left_out = 0
    if not options.include_pending:  # the ground truth only: no proposal, no image that is not labelled yet
        gt = ground_truth(dataset)
        dataset, left_out = gt.dataset, gt.unlabelled
    elif pending and not keeps_provenance(fmt):
        warnings.append(
            f"{plural(pending, 'pending proposal')} written as plain objects: the {fmt} format cannot mark them "
            "as pending (COCO and labelme can)"
        )
    if not keeps_provenance(fmt):
        dataset = _without_provenance(dataset)
    written = f.module.write(dataset, images_dir, Path(out_dir), options)
    if options.include_pending:
        return ExportReport(written, pending_written=pending, warnings=warnings)
    return ExportReport(written, pending_left_out=pending, warnings=warnings, images_left_out=left_out)


def _without_provenance(ds: Dataset) -> Dataset:
    """``ds`` with its annotations stripped of the provenance keys (the same object when none has them)."""
    if not any(k in a for a in ds.annotations for k in PROVENANCE_KEYS):
        return ds
    anns = [strip_provenance(a) for a in ds.annotations]
    return Dataset(ds.images, ds.categories, anns, extra=ds.extra, source=ds.source)


def export_dataset(fmt: str, dataset, images_dir, out_dir, options: ExportOptions | None = None) -> list[Path]:
    """:func:`export_dataset_report`'s files; its warnings go to the log."""
    report = export_dataset_report(fmt, dataset, images_dir, out_dir, options)
    for w in report.warnings:
        logging.getLogger("studio.formats").warning("%s: %s", out_dir, w)
    return report.written


__all__ = [
    "formats",
    "DatasetFormat",
    "ImportOptions",
    "ImportResult",
    "ExportOptions",
    "Probe",
    "import_dataset",
    "export_dataset",
    "export_dataset_report",
    "ExportReport",
    "keeps_provenance",
    "detect_format",
    "get_format",
    "import_formats",
    "export_formats",
]
