"""A checkpoint scored on its val set: the one pipeline behind ``studio eval`` and the Inspect page.

checkpoint -> val split (``ann`` / ``images`` when given, else the checkpoint config's ``data.val``) ->
:class:`~studio.core.inference.predictor.Predictor` -> val-mode ``DetectionDataset`` ->
:func:`~studio.core.inference.val.evaluate_model`. ``studio eval`` writes the report of the result, the
Inspect page shows it (PR curves, matching) and writes nothing; the export's verification set picks its
annotation file by the same rule (:func:`val_ref`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.config.schema import Config, DatasetRef
from studio.core.data.classes import ClassMap
from studio.core.data.splits import Split, open_split
from studio.core.dataset.model import Dataset
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:  # types only: the checkpoint module imports torch
    from studio.core.checkpoint import Checkpoint


def eval_class_map(ckpt_classes: ClassMap, ds: Dataset, ann: str | Path) -> ClassMap:
    """The checkpoint's labels mapped onto ``ds``'s category ids by class name; refuses on any difference."""
    names = set(ds.class_names)
    want = set(ckpt_classes.names)
    if names != want:
        parts = []
        if want - names:
            parts.append(f"the model has {sorted(want - names)} which the file lacks")
        if names - want:
            parts.append(f"the file has {sorted(names - want)} which the model was not trained on")
        raise StudioError(f"classes do not match the checkpoint: {'; '.join(parts)}", file=ann)
    return ClassMap(tuple(ds.category_id(n) for n in ckpt_classes.names), ckpt_classes.names)


def val_ref(cfg: Config | None, ann: str | Path | None = None, images: str | Path | None = None) -> DatasetRef | None:
    """The val set to use: ``ann`` (+ ``images``) when given, else ``cfg``'s ``data.val`` (its images folder
    replaced by ``images`` when given), else None."""
    if ann is not None:
        return DatasetRef(ann=str(ann), images=str(images) if images else None)
    if cfg is not None and cfg.data.val is not None:
        return DatasetRef(ann=cfg.data.val.ann, images=str(images) if images else cfg.data.val.images)
    return None


def val_split(
    ck: Checkpoint,
    path: Path,
    ann: str | Path | None = None,
    images: str | Path | None = None,
    *,
    no_val_set: str,
    name: str = "val",
) -> Split:
    """The loaded checkpoint ``ck``'s val set (see :func:`val_ref`), opened as split ``name`` (the word its
    errors use); StudioError(``no_val_set``, file=``path``) when neither names one."""
    ref = val_ref(ck.config if ann is None else None, ann, images)
    if ref is None:
        raise StudioError(no_val_set, file=path)
    return open_split(ref, name)


@dataclass
class CheckpointEval:
    """A checkpoint's predictions on its val set, scored (``result``)."""

    checkpoint: Path
    split: Split  # the val file, its images folder and its dataset (the ground truth)
    class_map: ClassMap  # the model's labels mapped onto the val file's category ids
    with_masks: bool
    result: Any  # studio.core.inference.val.ValResult


def evaluate_on_val(
    ckpt: str | Path,
    ann: str | Path | None = None,
    images: str | Path | None = None,
    *,
    no_val_set: str,
    split_name: str = "val",
    device: str = "auto",
    batch_size: int = 4,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CheckpointEval:
    """Load ``ckpt`` (a checkpoint file or a run folder), open its val set (:func:`val_split`) and score
    the model on it: detections, COCO results and metrics. Writes nothing.

    ``no_val_set``: the error when neither ``ann`` nor the checkpoint's config names a val set (each caller
    says how its user names one); ``split_name``: the word the val set's errors use."""
    from studio.core import checkpoint as ckpt_io  # deferred: torch
    from studio.core.data.dataset import DetectionDataset  # deferred: cv2, torch, torchvision
    from studio.core.inference.predictor import Predictor  # deferred: cv2, torch
    from studio.core.inference.val import evaluate_model  # deferred: cv2, torch

    path = ckpt_io.resolve(ckpt)
    progress(0, 0, f"loading {path.name}")
    ck = ckpt_io.load(path)
    split = val_split(ck, path, ann, images, name=split_name, no_val_set=no_val_set)
    cmap = eval_class_map(ck.classes, split.dataset, split.ann)
    pred = Predictor.from_checkpoint(ck, device=device, batch_size=batch_size)
    val_set = DetectionDataset(
        split.dataset,
        split.images_dir,
        cmap,
        size=pred.size,
        letterbox=pred.letterbox,
        train=False,
        augment=None,
        with_masks=pred.with_masks,
        cache="none",
    )
    val_set.validate()
    res = evaluate_model(
        pred.model,
        val_set,
        split.dataset,
        cmap,
        device=pred.device,
        batch_size=batch_size,
        cancel=cancel,
        progress=progress,
    )
    return CheckpointEval(path, split, cmap, pred.with_masks, res)
