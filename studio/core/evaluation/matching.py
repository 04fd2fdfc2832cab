"""Per-image TP / FP / FN of predictions against ground truth, and an error score to sort images by.

The Inspect page colours each prediction as a true positive (matched a GT object of its class) or a
false positive, and each GT object it missed as a false negative, at the score threshold and IoU the
user picks. Matching is COCO's: predictions in decreasing score order each take the free GT object
of the same class with the highest box IoU >= ``iou_thr``. A prediction that matches nothing but
covers a crowd object or an ignore region (intersection over its own area >= ``iou_thr``) is neither
TP nor FP, and crowd objects are never counted as missed.

An image's error score is its number of missed objects plus the summed scores of its false alarms:
a confident false alarm weighs almost as much as a miss, a faint one little, so "worst first" puts
the images to look at on top whatever the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import FN, FP, IGNORED, TP, Detections
from studio.core.geometry import iou_matrix, polygons_bbox
from studio.core.jobs import CancelToken, Progress, no_progress

__all__ = [
    "FN",  # the outcome names live with the detections (studio.core.draw colours them too); kept importable here
    "FP",
    "IGNORED",
    "TP",
    "ImageMatch",
    "match_dataset",
    "match_image",
    "totals",
    "worst_first",
    "xywh_to_xyxy",
]


@dataclass(frozen=True)
class ImageMatch:
    """One image's outcome. Detection indices refer to the image's full :class:`Detections`."""

    image_id: Any
    tp: tuple[int, ...]  # detection indices matched to a GT object
    fp: tuple[int, ...]  # detection indices that matched nothing
    fn: tuple[Any, ...]  # annotation ids of GT objects no detection matched
    pairs: tuple[tuple[int, Any, float], ...]  # (detection index, annotation id, IoU) of each TP
    ignored: tuple[int, ...] = ()  # detections on crowd objects / ignore regions
    fp_score: float = 0.0  # summed scores of the false positives

    @property
    def error(self) -> float:
        """Missed objects plus the scores of the false alarms (see the module docstring)."""
        return len(self.fn) + self.fp_score

    def status_of(self, det_index: int) -> str | None:
        """TP, FP or "ignored" for a detection at or above the threshold; None below it."""
        if det_index in self.tp:
            return TP
        if det_index in self.fp:
            return FP
        if det_index in self.ignored:
            return IGNORED
        return None

    def matched_annotation(self, det_index: int) -> tuple[Any, float] | None:
        """(annotation id, IoU) a true positive matched."""
        return next(((a, iou) for d, a, iou in self.pairs if d == det_index), None)


def xywh_to_xyxy(boxes: Iterable[Iterable[float]]) -> np.ndarray:
    b = np.asarray(list(boxes), np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _ioa(dets: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Intersection over the detection's own area, (N, 4) x (M, 4) xyxy -> (N, M)."""
    lt = np.maximum(dets[:, None, :2], regions[None, :, :2])
    rb = np.minimum(dets[:, None, 2:], regions[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(np.clip(dets[:, 2:] - dets[:, :2], 0, None), axis=1)[:, None]
    return np.where(area > 0, inter / np.where(area > 0, area, 1), 0.0)


def match_image(
    image: dict,
    anns: list[dict],
    dets: Detections,
    class_map: ClassMap,
    *,
    score_thr: float = 0.5,
    iou_thr: float = 0.5,
) -> ImageMatch:
    """TP / FP / FN of one image's detections (model labels 1..K) against its annotations.

    Annotations of categories outside ``class_map`` are left out, as the evaluation does.
    """
    col = {c: i + 1 for i, c in enumerate(class_map.cat_ids)}  # category id -> model label
    objs = [a for a in anns if a.get("category_id") in col and not a.get("iscrowd")]
    crowd = [a["bbox"] for a in anns if a.get("category_id") in col and a.get("iscrowd")]
    crowd += [polygons_bbox([p]) for p in image.get("ignore_regions") or [] if len(p) >= 6]
    gt_boxes = xywh_to_xyxy(a["bbox"] for a in objs)
    gt_labels = np.asarray([col[a["category_id"]] for a in objs], np.int64)
    keep = np.nonzero(np.asarray(dets.scores) >= score_thr)[0]
    keep = keep[np.argsort(-np.asarray(dets.scores)[keep], kind="stable")]
    boxes = np.asarray(dets.boxes, np.float64).reshape(-1, 4)[keep]
    iou = iou_matrix(boxes, gt_boxes) if len(keep) and len(objs) else np.zeros((len(keep), len(objs)))
    ioa = _ioa(boxes, xywh_to_xyxy(crowd)) if len(keep) and crowd else np.zeros((len(keep), 0))
    taken = np.zeros(len(objs), bool)
    tp, fp, ignored, pairs = [], [], [], []
    fp_score = 0.0
    for row, i in enumerate(keep):
        cand = (~taken) & (gt_labels == int(dets.labels[i])) & (iou[row] >= iou_thr)
        if cand.any():
            j = int(np.argmax(np.where(cand, iou[row], -1.0)))
            taken[j] = True
            tp.append(int(i))
            pairs.append((int(i), objs[j]["id"], float(iou[row, j])))
        elif ioa.shape[1] and ioa[row].max() >= iou_thr:
            ignored.append(int(i))
        else:
            fp.append(int(i))
            fp_score += float(dets.scores[i])
    fn = tuple(objs[j]["id"] for j in np.nonzero(~taken)[0])
    return ImageMatch(image["id"], tuple(tp), tuple(fp), fn, tuple(pairs), tuple(ignored), fp_score)


def match_dataset(
    gt: Dataset,
    detections: Mapping[Any, Detections],
    class_map: ClassMap,
    *,
    score_thr: float = 0.5,
    iou_thr: float = 0.5,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> dict[Any, ImageMatch]:
    """:func:`match_image` for every image that has detections, keyed by image id, in ``detections`` order."""
    out: dict[Any, ImageMatch] = {}
    total = len(detections)
    for n, (iid, dets) in enumerate(detections.items()):
        if cancel is not None and n % 64 == 0:
            cancel.raise_if_cancelled()
        out[iid] = match_image(
            gt.image(iid), gt.anns_for_image(iid), dets, class_map, score_thr=score_thr, iou_thr=iou_thr
        )
        if n % 256 == 0 or n + 1 == total:
            progress(n + 1, total, "matching predictions")
    return out


def worst_first(matches: Mapping[Any, ImageMatch]) -> list[Any]:
    """Image ids by decreasing error score; ties keep the given order."""
    ids = list(matches)
    return sorted(ids, key=lambda i: -matches[i].error)


def totals(matches: Iterable[ImageMatch]) -> tuple[int, int, int]:
    """(TP, FP, FN) summed over images."""
    tp = fp = fn = 0
    for m in matches:
        tp += len(m.tp)
        fp += len(m.fp)
        fn += len(m.fn)
    return tp, fp, fn
