"""Python API matching ``studio dataset box2mask`` (the smart tools' bulk job).

Returns data and raises :class:`studio.core.errors.StudioError` with a message naming the file and the
option or item at fault. The interactive tools (``box_to_polygon``, ``Scissors``) are in
:mod:`studio.core.smart`; the editor calls them directly.
"""

from __future__ import annotations

from pathlib import Path

from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir, usual_images_dir
from studio.core.errors import DatasetError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.smart.box2mask import TOLERANCE, Box2MaskResult, boxes_to_masks

__all__ = ["dataset_box2mask", "box2mask_images_dir"]


def box2mask_images_dir(ann: str | Path, ds: Dataset, images: str | Path | None = None) -> Path:
    """Where the images are: ``images`` when given, else the folder recorded at import, else the usual
    place beside the annotation file (``../images/<stem>``, ``../images``, ``./images``, its folder)."""
    if images is not None:
        return Path(images)
    return recorded_images_dir(ann, ds) or usual_images_dir(ann)


def dataset_box2mask(
    ann: str | Path,
    out: str | Path,
    *,
    images: str | Path | None = None,
    method: str = "grabcut",
    redo_all: bool = False,
    refit_boxes: bool = False,
    tolerance: float = TOLERANCE,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Box2MaskResult:
    """``studio dataset box2mask``: a polygon for each box-only annotation of ``ann``, written to ``out``.

    ``out`` is written atomically, with the images folder recorded relative to it; it may replace an
    earlier COCO file but never ``ann`` itself (the input stays as it was). Returns the
    :class:`Box2MaskResult` (the new dataset, converted / failed ids, skipped count, warnings).
    """
    check_output(ann, out)
    ds = Dataset.load(ann)
    images_dir = box2mask_images_dir(ann, ds, images)
    res = boxes_to_masks(
        ds,
        images_dir,
        method=method,
        redo_all=redo_all,
        refit_boxes=refit_boxes,
        tolerance=tolerance,
        progress=progress,
        cancel=cancel,
    )
    record_images_dir(res.dataset, images_dir, Path(out).parent)
    res.dataset.save(out)
    return res


def check_output(ann: str | Path, out: str | Path) -> None:
    """Refuse an output that is the input itself, a folder, or an existing file that is not COCO."""
    ann, out = Path(ann), Path(out)
    if out.is_dir():
        raise DatasetError("is a folder: name the COCO file to write (-o OUT.json)", file=out)
    if not out.exists():
        return
    if ann.exists() and out.resolve() == ann.resolve():
        raise DatasetError(
            "is the annotation file being converted: box2mask never replaces its input; choose another -o", file=out
        )
    try:
        Dataset.load(out)
    except DatasetError:
        raise DatasetError(
            "exists and is not a COCO annotation file: it is not replaced; choose another -o", file=out
        ) from None
