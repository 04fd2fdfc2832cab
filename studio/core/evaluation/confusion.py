"""Detection confusion matrix: which class each object was predicted as, background included.

Rows are the true class, columns the predicted class, both in the evaluation's class order with a
last "background" row and column:

* a GT object matched by a prediction counts in ``[true, predicted]`` (the diagonal when right);
* a GT object no prediction matched counts in ``[true, background]`` (missed);
* a prediction that matched no GT object counts in ``[background, predicted]`` (false alarm);
* ``[background, background]`` stays 0.

Matching is greedy by score, one-to-one, at box IoU >= ``iou_thr`` among predictions scoring at least
``score_thr`` (the Ultralytics / MMDetection recipe). A prediction first takes the best-overlapping
free GT object of its own class and only otherwise one of another class, so a correct detection
touching a neighbour of another class is not reported as a confusion. Predictions on crowd objects or
on an image's ``ignore_regions`` (intersection over the prediction's area >= ``iou_thr``) are left out,
as in COCO evaluation. Each cell also lists the images behind it, for opening them from the GUI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.errors import StudioError
from studio.core.evaluation.results import resolve_results
from studio.core.geometry import polygons_bbox
from studio.core.jobs import CancelToken, Progress, no_progress

BACKGROUND = "background"


@dataclass
class ConfusionMatrix:
    """``counts[t][p]``: objects of true class ``t`` predicted as ``p``; index ``K`` is background."""

    names: list[str]  # the K class names, then "background"
    cat_ids: list[int]  # the K category ids
    counts: np.ndarray  # (K+1, K+1) int64
    image_ids: list[list[list[Any]]]  # (K+1) x (K+1) lists of GT image ids, in dataset order
    iou_thr: float
    score_thr: float

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids)

    def normalized(self) -> np.ndarray:
        """Each row divided by its total: where the objects of a true class went (0 for empty rows)."""
        c = self.counts.astype(np.float64)
        tot = c.sum(axis=1, keepdims=True)
        return np.divide(c, tot, out=np.zeros_like(c), where=tot > 0)

    def index_of(self, name_or_cat: Any) -> int:
        """Row/column of a class name, a category id, or "background"."""
        if name_or_cat == BACKGROUND:
            return self.num_classes
        if name_or_cat in self.names[:-1]:
            return self.names.index(name_or_cat)
        if name_or_cat in self.cat_ids:
            return self.cat_ids.index(name_or_cat)
        raise StudioError(f"{name_or_cat!r} is neither a class name, a category id nor {BACKGROUND!r}")

    def images_for(self, true: Any, predicted: Any) -> list[Any]:
        """The GT image ids behind a cell, cells named by class name, category id or "background"."""
        return list(self.image_ids[self.index_of(true)][self.index_of(predicted)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "cat_ids": list(self.cat_ids),
            "rows": "true class",
            "columns": "predicted class",
            "iou_thr": self.iou_thr,
            "score_thr": self.score_thr,
            "counts": self.counts.astype(int).tolist(),
            "normalized": [[round(float(v), 5) for v in row] for row in self.normalized()],
            "image_ids": self.image_ids,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConfusionMatrix:
        return cls(
            list(d["names"]),
            list(d["cat_ids"]),
            np.asarray(d["counts"], dtype=np.int64),
            [[list(cell) for cell in row] for row in d["image_ids"]],
            float(d["iou_thr"]),
            float(d["score_thr"]),
        )


def confusion_matrix(
    gt: Dataset,
    results: list[dict],
    *,
    iou_thr: float = 0.5,
    score_thr: float = 0.25,
    class_map: ClassMap | None = None,
    image_ids: Iterable[Any] | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> ConfusionMatrix:
    """The confusion matrix of COCO-form ``results`` against ``gt`` (see the module docstring).

    ``class_map`` picks the classes and their order (default: all GT categories by id); GT objects of
    other categories are left out. ``image_ids`` restricts the count to those images.
    """
    progress = progress or no_progress
    if class_map is not None:
        cat_ids, names = list(class_map.cat_ids), list(class_map.names)
    else:
        cats = sorted(gt.categories, key=lambda c: c["id"])
        cat_ids, names = [c["id"] for c in cats], [str(c["name"]) for c in cats]
    k = len(cat_ids)
    col = {c: i for i, c in enumerate(cat_ids)}
    ids = [im["id"] for im in gt.images] if image_ids is None else list(dict.fromkeys(image_ids))
    missing = [i for i in ids if not gt.has_image(i)]
    if missing:
        raise StudioError(f"image id(s) {missing[:8]} are not in the ground truth", file=gt.source, item="image_ids")

    by_image: dict[Any, list[dict]] = {}
    for r in resolve_results(gt, results, cat_ids, need_bbox=True):
        if r["score"] >= score_thr:
            by_image.setdefault(r["image_id"], []).append(r)

    counts = np.zeros((k + 1, k + 1), np.int64)
    cells: list[list[dict[Any, None]]] = [[{} for _ in range(k + 1)] for _ in range(k + 1)]  # ordered sets
    for n, iid in enumerate(ids):
        if cancel is not None:
            cancel.raise_if_cancelled()
        image = gt.image(iid)
        objs = [a for a in gt.anns_for_image(iid) if a["category_id"] in col]
        true_boxes = [a["bbox"] for a in objs if not a.get("iscrowd")]
        true_cls = [col[a["category_id"]] for a in objs if not a.get("iscrowd")]
        ignore = [a["bbox"] for a in objs if a.get("iscrowd")]
        ignore += [polygons_bbox([p]) for p in image.get("ignore_regions") or [] if len(p) >= 6]
        preds = sorted(by_image.get(iid, []), key=lambda r: -r["score"])
        pred_boxes = [r["bbox"] for r in preds]
        pred_cls = [col[r["category_id"]] for r in preds]
        for t, p in _match(true_boxes, true_cls, pred_boxes, pred_cls, ignore, iou_thr, k):
            counts[t, p] += 1
            cells[t][p][iid] = None
        progress(n + 1, len(ids), "confusion matrix")
    return ConfusionMatrix(
        names=names + [BACKGROUND],
        cat_ids=cat_ids,
        counts=counts,
        image_ids=[[list(cell) for cell in row] for row in cells],
        iou_thr=float(iou_thr),
        score_thr=float(score_thr),
    )


def _match(
    true_boxes: list, true_cls: list[int], pred_boxes: list, pred_cls: list[int], ignore: list, iou_thr: float, k: int
) -> list[tuple[int, int]]:
    """The ``(true, predicted)`` cells of one image; ``pred_*`` sorted by decreasing score."""
    cells: list[tuple[int, int]] = []
    iou = _iou(pred_boxes, true_boxes, crowd=False)  # (P, G)
    ioa = _iou(pred_boxes, ignore, crowd=True)  # (P, I): intersection over the prediction's area
    taken = np.zeros(len(true_boxes), bool)
    tcls = np.asarray(true_cls, dtype=np.int64)
    for i, pc in enumerate(pred_cls):
        free = (~taken) & (iou[i] >= iou_thr) if len(true_boxes) else np.zeros(0, bool)
        same = free & (tcls == pc)
        pick = same if same.any() else free
        if pick.any():
            j = int(np.argmax(np.where(pick, iou[i], -1.0)))
            taken[j] = True
            cells.append((int(tcls[j]), pc))
        elif not (ioa.shape[1] and ioa[i].max() >= iou_thr):
            cells.append((k, pc))
    cells.extend((int(tcls[j]), k) for j in np.nonzero(~taken)[0])
    return cells


def _iou(dt: list, gt: list, crowd: bool) -> np.ndarray:
    """pycocotools' box IoU (xywh); with ``crowd``, intersection over the ``dt`` box's area."""
    if not dt or not gt:
        return np.zeros((len(dt), len(gt)))
    from pycocotools import mask as mask_utils  # deferred: pycocotools

    d = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    return np.asarray(mask_utils.iou(d, g, [int(crowd)] * len(g)), dtype=np.float64).reshape(len(d), len(g))
