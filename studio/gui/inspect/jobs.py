"""The Inspect page's jobs: plain Python over ``studio.core`` (no Qt), each run in a Worker.

Predicting the val set, re-matching at a new score / IoU, decoding an image, loading a model for
the explain tabs, feature maps, CAM, re-blending at a new alpha and writing an accepted prediction
into an annotation file all take from milliseconds to minutes on a large set, so none of them runs
on the GUI thread. Each takes ``progress`` and ``cancel`` as every core job does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.edits import AddShape
from studio.core.dataset.model import Dataset, image_path
from studio.core.dataset.provenance import ACCEPTED, MODEL, provenance
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.evaluation.confusion import ConfusionMatrix, confusion_matrix
from studio.core.evaluation.curves import PRCurves, pr_curves
from studio.core.evaluation.f1 import F1Curves, f1_curves
from studio.core.evaluation.matching import ImageMatch, match_dataset, totals, worst_first
from studio.core.imageio import imread_rgb, save_image
from studio.core.inference.to_coco import detection_shape
from studio.core.jobs import CancelToken, Progress, no_progress


# ------------------------------------------------------------------------------------ predictions
@dataclass
class ValPredictions:
    """A checkpoint's predictions on its val set, with the evaluation, the PR curves and the F1 curves."""

    checkpoint: Path
    ann: Path
    images_dir: Path
    gt: Dataset
    class_map: ClassMap  # the model's labels mapped onto the val file's category ids
    with_masks: bool
    detections: dict[Any, Detections]  # image id -> every detection (score >= the model's threshold)
    results: list[dict]  # COCO results, for the confusion matrix
    metrics: dict
    curves: PRCurves
    f1: F1Curves | None = None  # F1 / precision / recall against the score threshold

    def image_file(self, image_id: Any) -> Path:
        return image_path(self.images_dir, self.gt.image(image_id))


_NO_VAL = "neither the run nor the checkpoint's config names a val set to inspect"


def predict_val(
    ckpt: str | Path,
    ann: str | Path | None = None,
    images: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 4,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ValPredictions:
    """Run ``ckpt`` on a val set (``ann``, default: the one its config names): detections, COCO metrics, PR curves.

    The pipeline of ``studio eval`` (:func:`studio.core.inference.val_set.evaluate_on_val`), but nothing is
    written: the page only shows.
    """
    from studio.core.inference.val_set import evaluate_on_val  # deferred: pydantic

    ev = evaluate_on_val(
        ckpt, ann, images, no_val_set=_NO_VAL, device=device, batch_size=batch_size, progress=progress, cancel=cancel
    )
    res = ev.result
    return ValPredictions(
        ev.checkpoint,
        ev.split.ann,
        ev.split.images_dir,
        ev.split.dataset,
        ev.class_map,
        ev.with_masks,
        res.detections,
        res.results,
        dict(res.metrics),
        pr_curves(res.evaluation),
        f1_curves(res.evaluation),
    )


@dataclass
class Matching:
    """The outcome at one score threshold and IoU: per-image matches, worst-first order, the confusion matrix."""

    score_thr: float
    iou_thr: float
    matches: dict[Any, ImageMatch]
    order: list[Any]  # image ids, worst first
    tp: int
    fp: int
    fn: int
    confusion: ConfusionMatrix


def rematch(
    preds: ValPredictions,
    score_thr: float,
    iou_thr: float,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Matching:
    matches = match_dataset(
        preds.gt,
        preds.detections,
        preds.class_map,
        score_thr=score_thr,
        iou_thr=iou_thr,
        progress=progress,
        cancel=cancel,
    )
    conf = confusion_matrix(
        preds.gt,
        preds.results,
        iou_thr=iou_thr,
        score_thr=score_thr,
        class_map=preds.class_map,
        image_ids=list(preds.detections),
        cancel=cancel,
    )
    tp, fp, fn = totals(matches.values())
    return Matching(score_thr, iou_thr, matches, worst_first(matches), tp, fp, fn, conf)


def read_rgb(path: str | Path, progress: Progress = no_progress, cancel: CancelToken | None = None) -> np.ndarray:
    return imread_rgb(path)


# ------------------------------------------------------------------------------------ accepting predictions
@dataclass(frozen=True)
class Proposal:
    """One detection as an annotation of the val file: what the editor's AddShape takes."""

    image_id: Any
    category_id: Any
    polygon: list[float] | None  # the mask's largest part, or None for a box-only shape
    bbox: list[float]  # xywh
    score: float | None = None
    checkpoint: str | None = None  # the file name of the model that predicted it

    @property
    def provenance(self) -> dict:
        """A person picked it: a model's annotation, accepted, with its score and checkpoint."""
        return provenance(MODEL, ACCEPTED, score=self.score, checkpoint=self.checkpoint)

    @property
    def shape(self) -> list[float]:
        """The segmentation polygon when there is one, else the box (the signal's third argument)."""
        return self.polygon if self.polygon is not None else self.bbox


@dataclass(frozen=True)
class EditorProposals:
    """Predictions sent to the Data page's editor: the annotation file they belong to (the val set they were
    predicted on, which the editor opens when it shows another file), its images folder, the image and the
    shapes to add there."""

    ann: Path
    images_dir: Path
    image_id: Any
    file_name: str
    proposals: tuple[Proposal, ...]


def proposal(preds: ValPredictions, image_id: Any, det_index: int) -> Proposal | None:
    """Detection ``det_index`` of an image as an annotation proposal; None when nothing is left of it."""
    image = preds.gt.image(image_id)
    dets = preds.detections[image_id]
    h, w = int(image.get("height") or 0), int(image.get("width") or 0)
    shape = detection_shape(dets, det_index, with_masks=preds.with_masks, image_size=(h, w) if h and w else None)
    if shape is None:
        return None
    return Proposal(
        image_id,
        preds.class_map.cat_id_of(shape.label),
        shape.largest_polygon,
        shape.bbox,
        score=round(shape.score, 5),
        checkpoint=preds.checkpoint.name,
    )


def accept_into_file(
    ann: str | Path,
    proposals: Sequence[Proposal],
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[dict]:
    """Add the proposals to the annotation file through the editor's edits (same checks), saved atomically.

    Returns the new annotation records. All or nothing: a proposal that fails its checks saves none.
    """
    ds = Dataset.load(ann)
    added = []
    for p in proposals:
        if cancel is not None:
            cancel.raise_if_cancelled()
        cmd = AddShape(
            p.image_id,
            p.category_id,
            polygon=p.polygon,
            bbox=None if p.polygon is not None else p.bbox,
            provenance=p.provenance,
        )
        cmd.apply(ds)
        added.append(ds.annotation(cmd.ann_id))
    ds.save(ann)
    progress(1, 1, f"added {len(added)} annotation(s) to {Path(ann).name}")
    return added


def accept_and_reload(
    preds: ValPredictions,
    proposals: Sequence[Proposal],
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> tuple[list[dict], ValPredictions]:
    """:func:`accept_into_file` on the val file, then the predictions with the reloaded ground truth.

    A new object, never the shown one changed in place: a re-match may still be reading that one.
    """
    added = accept_into_file(preds.ann, proposals, progress=progress, cancel=cancel)
    return added, replace(preds, gt=Dataset.load(preds.ann))


# ------------------------------------------------------------------------------------ feature maps and CAM
@dataclass
class ExplainSession:
    """A model loaded once for the explain tabs, its layer tree, and the val images to pick from."""

    checkpoint: Path
    predictor: Any  # studio.core.inference.predictor.Predictor
    layers: Any  # studio.core.explain.layers.ModelLayers
    class_names: tuple[str, ...]
    images: list[tuple[str, Path]] = field(default_factory=list)  # (file name, path) of the val images


def open_explain(
    ckpt: str | Path,
    ann: str | Path | None = None,
    images: str | Path | None = None,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ExplainSession:
    """Load the model, probe its layers, and list its val images (none when the config names no val set)."""
    from studio.core import checkpoint as ckpt_io  # deferred: pydantic, torch
    from studio.core.explain.jobs import load_predictor, model_layers  # deferred: cv2, torch, torchvision
    from studio.core.inference.val_set import val_split  # deferred: pydantic

    path = ckpt_io.resolve(ckpt)
    progress(0, 2, f"loading {path.name}")
    ck = ckpt_io.load(path)
    pred = load_predictor(ck, device)
    if cancel is not None:
        cancel.raise_if_cancelled()
    progress(1, 2, "probing the layers")
    layers = model_layers(pred)
    try:
        split = val_split(ck, path, ann, images, no_val_set=_NO_VAL)
    except StudioError:
        split = None
    files = [(str(im["file_name"]), image_path(split.images_dir, im)) for im in split.dataset.images] if split else []
    progress(2, 2, "ready")
    return ExplainSession(path, pred, layers, tuple(pred.class_map.names), files)


@dataclass
class FeatmapView:
    rgb: np.ndarray
    maps: list  # studio.core.explain.featmap.FeatureMap
    pictures: list[np.ndarray]  # one overlay (or top-k grid) per map


def render_featmaps(
    rgb: np.ndarray,
    maps: Sequence,
    alpha: float,
    colormap: str,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[np.ndarray]:
    from studio.core.explain.jobs import featmap_picture  # deferred: cv2, torch, torchvision

    out = []
    for fm in maps:
        if cancel is not None:
            cancel.raise_if_cancelled()
        out.append(featmap_picture(rgb, fm, alpha, colormap))
    return out


def run_featmap(
    session: ExplainSession,
    image: str | Path | np.ndarray,
    layers: Sequence[str],
    reduction: str,
    topk: int,
    alpha: float,
    colormap: str = "jet",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> FeatmapView:
    from studio.core.explain.jobs import featmap_job, read_image  # deferred: cv2, torch, torchvision

    rgb = read_image(image)[0]
    res = featmap_job(
        session.predictor,
        rgb,
        list(layers) or None,
        reduction,
        topk,
        alpha=alpha,
        colormap=colormap,
        progress=progress,
        cancel=cancel,
    )
    return FeatmapView(rgb, list(res.maps), render_featmaps(rgb, res.maps, alpha, colormap, cancel=cancel))


@dataclass
class CamView:
    rgb: np.ndarray
    result: Any  # studio.core.explain.jobs.CamJobResult
    pictures: list[np.ndarray]  # the combined overlay, then one per target


def render_cam(
    rgb: np.ndarray,
    result,
    alpha: float,
    colormap: str,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[np.ndarray]:
    from studio.core.explain.jobs import cam_pictures  # deferred: cv2, torch, torchvision

    return cam_pictures(result.cam, rgb, result.class_names, alpha, colormap)


def run_cam(
    session: ExplainSession,
    image: str | Path | np.ndarray,
    method: str,
    layer: str | None,
    box_index: int | None,
    class_name: str | None,
    score_thr: float | None,
    alpha: float,
    colormap: str = "jet",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CamView:
    """CAM of one box (``box_index``), one class (``class_name``) or, with neither, the best boxes.

    ``score_thr`` (None: the model's) decides which detections exist: box indices count those at or above it,
    and a class with none there is explained by its strongest candidate below it.
    """
    from studio.core.explain.jobs import cam_job, read_image  # deferred: cv2, torch, torchvision

    rgb = read_image(image)[0]
    res = cam_job(
        session.predictor,
        rgb,
        method,
        layer,
        box_index=box_index,
        class_name=class_name,
        score_thr=score_thr,
        progress=progress,
        cancel=cancel,
    )
    return CamView(rgb, res, render_cam(rgb, res, alpha, colormap))


def save_picture(
    path: str | Path, rgb: np.ndarray, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> Path:
    return save_image(path, rgb, suffix=".png")
