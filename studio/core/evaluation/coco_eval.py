"""COCO metrics (mAP and friends, per-class AP) with pycocotools, from an in-memory :class:`Dataset`.

pycocotools is the reference everybody compares against, so Studio runs it rather than a
re-implementation. Around it this module handles what pycocotools gets wrong or leaves to the caller:

* it prints; the prints are captured into :attr:`EvalResult.summary_text`;
* ``loadRes`` fails on an empty list: no results give AP 0.0 (a real score, not an error);
* it mutates the dicts it is given and silently ignores results for unknown images or categories;
  here it works on copies, and unknown images or categories are errors naming them;
* annotation id 0 or string image ids break its matching: the GT is re-numbered internally;
* images' ``ignore_regions`` (neither object nor background) become crowd regions of every class,
  so detections there count neither as true nor as false positives.

Metric values follow pycocotools' ``stats``; its ``-1`` ("no ground-truth object of that size / class")
becomes ``None`` (``null`` in JSON, which has no NaN), so a missing value never passes for a bad score.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import accepted_only
from studio.core.errors import StudioError
from studio.core.evaluation.results import listing, resolve_results
from studio.core.geometry import bbox_polygon, is_rle, segmentation_area_bbox
from studio.core.jobs import CancelToken, Progress, no_progress

IOU_TYPES = ("bbox", "segm")
# pycocotools' stats[0:6], in order
METRIC_NAMES = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")


@dataclass(frozen=True)
class ClassMatches:
    """One class's detections as pycocotools matched them at IoU 0.5 (area "all", 100 detections an image).

    ``scores`` and ``tp`` hold the detections that count (not on a crowd object or ignore region), in no
    particular order; ``num_gt`` the objects that count. This is what the precision/recall at any score
    threshold is computed from (:mod:`studio.core.evaluation.f1`): the same matches as the mAP, not a second
    matcher.
    """

    scores: np.ndarray  # float64, (N,)
    tp: np.ndarray  # bool, (N,): matched a GT object
    num_gt: int


def metric_keys(iou_type: str) -> list[str]:
    """The flat metric keys of one IoU type: ``bbox_mAP``, ``bbox_mAP_50``... ``segm_mAP_l``."""
    return [f"{iou_type}_{m}" for m in METRIC_NAMES]


@dataclass
class EvalResult:
    """What one evaluation produced.

    ``metrics`` holds the flat keys of :func:`metric_keys` for each evaluated IoU type, ``None`` where
    pycocotools has no value (no GT object of that size). ``per_class[iou_type][class_name]`` is
    ``{"category_id", "AP", "AP50", "num_gt"}`` with ``AP``/``AP50`` ``None`` for a class without GT.
    ``precision[iou_type]`` is pycocotools' accumulated precision at area "all" and 100 detections,
    shape ``(len(iou_thresholds), len(recall_thresholds), len(cat_ids))``, -1 where a class has no GT
    (what :mod:`studio.core.evaluation.curves` reads). ``matches[iou_type]`` lists one :class:`ClassMatches`
    per class in class order (what :mod:`studio.core.evaluation.f1` reads).
    """

    metrics: dict[str, float | None]
    per_class: dict[str, dict[str, dict[str, Any]]]
    iou_types: list[str]
    num_images: int
    num_results: int
    cat_ids: list[int]
    class_names: list[str]
    summary_text: str = ""
    precision: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    iou_thresholds: list[float] = field(default_factory=list)
    recall_thresholds: list[float] = field(default_factory=list)
    matches: dict[str, list[ClassMatches]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """The content of ``metrics.json``: the flat metric keys plus per-class AP and counts."""
        out: dict[str, Any] = dict(self.metrics)
        out["per_class"] = copy.deepcopy(self.per_class)
        out["iou_types"] = list(self.iou_types)
        out["num_images"] = self.num_images
        out["num_results"] = self.num_results
        return out


def evaluate(
    gt: Dataset,
    results: list[dict],
    *,
    iou_types: Sequence[str] | None = None,
    image_ids: Iterable[Any] | None = None,
    class_map: ClassMap | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> EvalResult:
    """COCO evaluation of ``results`` (COCO results dicts) against the ground truth ``gt``.

    ``iou_types`` defaults to ``["bbox"]``, plus ``"segm"`` when the results carry ``segmentation``
    and the GT has masks. ``image_ids`` restricts the evaluation to those GT images (results on other
    images are then left out). ``class_map`` picks the scored categories and their names (a model's
    classes); by default every GT category is scored. Results are matched to GT images by
    ``file_name`` when they carry one that the GT knows, else by ``image_id``. Pending model proposals in
    ``gt`` are never ground truth: they are left out here too, whatever the caller.
    """
    progress = progress or no_progress
    gt, _pending = accepted_only(gt)
    where = str(gt.source) if gt.source is not None else None
    cat_ids, names = _categories(gt, class_map, where)
    eval_ids = _image_ids(gt, image_ids, where)
    types = _iou_types(gt, results, iou_types, where)
    index = {im["id"]: i + 1 for i, im in enumerate(gt.images)}  # GT image id -> internal int id
    checked = resolve_results(gt, results, cat_ids, need_bbox="bbox" in types, need_segm="segm" in types)
    res = [dict(r, image_id=index[r["image_id"]]) for r in checked]

    total, done = 3 * len(types) + 1, 0
    progress(done, total, "preparing the ground truth")
    coco_gt = _coco_gt(gt, index, cat_ids, with_masks="segm" in types, where=where)
    eval_internal = [index[i] for i in eval_ids]
    evaluated = set(eval_internal)
    num_gt = _count_gt(gt, eval_ids, cat_ids)

    metrics: dict[str, float | None] = {}
    per_class: dict[str, dict[str, dict[str, Any]]] = {}
    precision: dict[str, np.ndarray] = {}
    matches: dict[str, list[ClassMatches]] = {}
    summaries: list[str] = []
    keys = _class_keys(cat_ids, names)
    iou_thrs: list[float] = []
    rec_thrs: list[float] = []
    for iou_type in types:
        if cancel is not None:
            cancel.raise_if_cancelled()
        done += 1
        progress(done, total, f"{iou_type}: matching detections")
        ev = _run_cocoeval(coco_gt, res, iou_type, eval_internal, cat_ids)
        with contextlib.redirect_stdout(io.StringIO()):
            ev.evaluate()
            matches[iou_type] = _class_matches(ev, cat_ids)
            if cancel is not None:
                cancel.raise_if_cancelled()
            done += 1
            progress(done, total, f"{iou_type}: accumulating")
            ev.accumulate()
            done += 1
            progress(done, total, f"{iou_type}: summarising")
            summary = io.StringIO()
            with contextlib.redirect_stdout(summary):
                ev.summarize()
        summaries.append(f"{iou_type}\n{summary.getvalue()}")
        for k, v in zip(metric_keys(iou_type), ev.stats[:6]):
            metrics[k] = None if v < 0 else float(v)
        p = ev.params
        mdi = list(p.maxDets).index(max(p.maxDets))
        # pycocotools sorts its category ids: put the class axis back in our class order
        order = [list(p.catIds).index(c) for c in cat_ids]
        prec = np.asarray(ev.eval["precision"][:, :, order, 0, mdi], dtype=np.float64)  # (T, R, K), area "all"
        precision[iou_type] = prec
        iou_thrs = [round(float(t), 4) for t in p.iouThrs]
        rec_thrs = [round(float(r), 4) for r in p.recThrs]
        i50 = int(np.argmin(np.abs(np.asarray(p.iouThrs) - 0.5)))
        per_class[iou_type] = {
            key: {
                "category_id": cid,
                "AP": _mean_valid(prec[:, :, k]),
                "AP50": _mean_valid(prec[i50, :, k]),
                "num_gt": num_gt.get(cid, 0),
            }
            for k, (cid, key) in enumerate(zip(cat_ids, keys))
        }
    progress(total, total, "done")
    return EvalResult(
        metrics=metrics,
        per_class=per_class,
        iou_types=list(types),
        num_images=len(eval_ids),
        num_results=sum(1 for r in res if r["image_id"] in evaluated),
        cat_ids=list(cat_ids),
        class_names=list(keys),
        summary_text="\n".join(summaries),
        precision=precision,
        iou_thresholds=iou_thrs,
        recall_thresholds=rec_thrs,
        matches=matches,
    )


# ------------------------------------------------------------------------------------------------
# inputs
def _categories(gt: Dataset, class_map: ClassMap | None, where: str | None) -> tuple[list[int], list[str]]:
    if class_map is None:
        cats = sorted(gt.categories, key=lambda c: c["id"])
        return [c["id"] for c in cats], [str(c["name"]) for c in cats]
    missing = [c for c in class_map.cat_ids if not gt.has_category(c)]
    if missing:
        raise StudioError(
            f"the model's category id(s) {listing(missing)} are not categories of the ground truth "
            f"(it has {listing(sorted(c['id'] for c in gt.categories))})",
            file=where,
            item="categories",
        )
    return list(class_map.cat_ids), list(class_map.names)


def _class_keys(cat_ids: list[int], names: list[str]) -> list[str]:
    """Class names as dict keys; a name two categories share gets its id appended."""
    dup = {n for n in names if names.count(n) > 1}
    return [f"{n} (id {c})" if n in dup else n for c, n in zip(cat_ids, names)]


def _image_ids(gt: Dataset, image_ids: Iterable[Any] | None, where: str | None) -> list[Any]:
    if image_ids is None:
        return [im["id"] for im in gt.images]
    ids = list(dict.fromkeys(image_ids))
    missing = [i for i in ids if not gt.has_image(i)]
    if missing:
        raise StudioError(f"image id(s) {listing(missing)} are not in the ground truth", file=where, item="image_ids")
    return ids


def _iou_types(gt: Dataset, results: list[dict], iou_types: Sequence[str] | None, where: str | None) -> list[str]:
    if iou_types is None:
        with_segm = any("segmentation" in r for r in results) and gt.has_masks()
        return ["bbox", "segm"] if with_segm else ["bbox"]
    types = list(dict.fromkeys(iou_types))
    bad = [t for t in types if t not in IOU_TYPES]
    if bad or not types:
        raise StudioError(f"unknown IoU type(s) {bad}: use 'bbox' and/or 'segm'", item="iou_types")
    if "segm" in types and not gt.has_masks():
        raise StudioError("mask AP ('segm') asked for, but the ground truth has no masks", file=where, item="iou_types")
    return types


# ------------------------------------------------------------------------------------------------
# pycocotools objects
def _coco_gt(gt: Dataset, index: dict[Any, int], cat_ids: list[int], with_masks: bool, where: str | None):
    """A pycocotools COCO object built from copies of the dataset's records (no file read)."""
    from pycocotools.coco import COCO  # deferred: pycocotools

    images = []
    for im in gt.images:
        rec = {"id": index[im["id"]], "file_name": im["file_name"]}
        for k in ("width", "height"):
            if k in im:
                rec[k] = int(im[k])
            elif with_masks:
                raise StudioError(f"image record has no '{k}' (mask AP needs it)", file=where, item=f"image {im['id']}")
        images.append(rec)
    anns: list[dict] = []
    for a in gt.annotations:
        if a["image_id"] not in index:
            continue  # an annotation of no image: the dataset check reports those
        anns.append(_gt_ann(a, index[a["image_id"]], len(anns) + 1, with_masks, where))
    for im in gt.images:  # ignore regions: crowd of every class
        for poly in im.get("ignore_regions") or []:
            if len(poly) < 6:
                continue
            area, box = segmentation_area_bbox([poly])
            for cid in cat_ids:
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": index[im["id"]],
                        "category_id": cid,
                        "bbox": box,
                        "area": area,
                        "iscrowd": 1,
                        "segmentation": [list(map(float, poly))],
                        "ignore_region": True,
                    }
                )
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns, "categories": copy.deepcopy(gt.categories)}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _gt_ann(a: dict, image_id: int, ann_id: int, with_masks: bool, where: str | None) -> dict:
    seg = a.get("segmentation") or []
    bbox = a.get("bbox")
    area = a.get("area")
    if bbox is None or area is None:
        if not seg:
            raise StudioError(
                "annotation has neither 'bbox' nor 'segmentation'", file=where, item=f"annotation {a['id']}"
            )
        seg_area, seg_box = segmentation_area_bbox(seg)
        bbox = bbox if bbox is not None else seg_box
        area = area if area is not None else seg_area
    rec = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": a["category_id"],
        "bbox": [float(v) for v in bbox],
        "area": float(area),
        "iscrowd": int(a.get("iscrowd", 0) or 0),
    }
    if with_masks:
        if is_rle(seg):
            rec["segmentation"] = dict(seg)
        else:
            polys = [list(map(float, p)) for p in seg if len(p) >= 6]
            rec["segmentation"] = polys or [bbox_polygon(rec["bbox"])]  # a box-only object counts as its box
    else:
        rec["segmentation"] = []
    return rec


def _coco_dt(coco_gt, res: list[dict], iou_type: str):
    """The results object; without results, an empty one (``loadRes`` rejects an empty list)."""
    from pycocotools.coco import COCO  # deferred: pycocotools

    anns = copy.deepcopy(res)
    if iou_type == "segm":
        # With a bbox present, pycocotools takes the box area as the object's area, which moves
        # detections between the small/medium/large buckets; the mask area is the right one.
        for a in anns:
            a.pop("bbox", None)
    else:
        for a in anns:
            a.pop("segmentation", None)
    with contextlib.redirect_stdout(io.StringIO()):
        if anns:
            return coco_gt.loadRes(anns)
        dt = COCO()
        dt.dataset = {
            "images": list(coco_gt.dataset["images"]),
            "annotations": [],
            "categories": copy.deepcopy(coco_gt.dataset["categories"]),
        }
        dt.createIndex()
        return dt


def _run_cocoeval(coco_gt, res: list[dict], iou_type: str, image_ids: list[int], cat_ids: list[int]):
    from pycocotools.cocoeval import COCOeval  # deferred: pycocotools

    ev = COCOeval(coco_gt, _coco_dt(coco_gt, res, iou_type), iouType=iou_type)
    ev.params.imgIds = list(image_ids)
    ev.params.catIds = list(cat_ids)
    return ev


def _class_matches(ev, cat_ids: list[int]) -> list[ClassMatches]:
    """Per class, the scores and TP flags of the counted detections at IoU 0.5 from ``ev.evalImgs``.

    The rule is pycocotools' own ``accumulate``: area range "all", the largest ``maxDets``, a detection
    flagged ``dtIgnore`` (on a crowd object or outside the area range) counts neither way, and the GT
    objects that count are those with ``gtIgnore`` 0.
    """
    p = ev.params
    t50 = int(np.argmin(np.abs(np.asarray(p.iouThrs) - 0.5)))
    area_all = list(p.areaRng[0])
    max_det = max(p.maxDets)
    found: dict[int, tuple[list[np.ndarray], list[np.ndarray], int]] = {c: ([], [], 0) for c in cat_ids}
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != area_all or e["category_id"] not in found:
            continue
        scores, tps, n_gt = found[e["category_id"]]
        keep = ~np.asarray(e["dtIgnore"], bool).reshape(len(p.iouThrs), -1)[t50][:max_det]
        matched = np.asarray(e["dtMatches"]).reshape(len(p.iouThrs), -1)[t50][:max_det] > 0
        scores.append(np.asarray(e["dtScores"], np.float64)[:max_det][keep])
        tps.append(matched[keep])
        found[e["category_id"]] = (scores, tps, n_gt + int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)))
    out = []
    for cid in cat_ids:
        scores, tps, n_gt = found[cid]
        out.append(
            ClassMatches(
                np.concatenate(scores) if scores else np.zeros(0),
                np.concatenate(tps) if tps else np.zeros(0, bool),
                n_gt,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------
# small helpers
def _count_gt(gt: Dataset, image_ids: list[Any], cat_ids: list[int]) -> dict[int, int]:
    """Non-crowd GT objects per category in the evaluated images."""
    wanted = set(cat_ids)
    counts: dict[int, int] = {}
    for iid in image_ids:
        for a in gt.anns_for_image(iid):
            if a["category_id"] in wanted and not a.get("iscrowd"):
                counts[a["category_id"]] = counts.get(a["category_id"], 0) + 1
    return counts


def _mean_valid(p: np.ndarray) -> float | None:
    """Mean of pycocotools precision values, ``None`` when all are -1 (no GT)."""
    valid = p[p > -1]
    return float(valid.mean()) if valid.size else None
