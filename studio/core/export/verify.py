"""Every export checks itself: PyTorch against the exported model on the same val images.

Three measurements, all written to ``export_report.json``:

- box match: per image, each PyTorch detection is paired (greedily, best score first) with an unpaired
  exported detection of the same class whose box has an IoU of at least 0.9; the report gives the
  pairs, the detections left unpaired on either side, and the score differences of the pairs;
- mAP of both on the val images (:func:`studio.core.evaluation.evaluate`, the metric of ``studio eval``),
  and their difference;
- latency per backend: the median time of one image through ``predict`` (preprocessing, forward,
  post-processing to original pixels; decoding excluded) after warm-up. Backends take turns image by
  image, so a busy machine slows them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.evaluation.coco_eval import evaluate
from studio.core.evaluation.results import to_coco_results
from studio.core.geometry import iou_matrix
from studio.core.jobs import CancelToken, Progress, no_progress

IOU_MATCH = 0.9

PredictFn = Callable[[np.ndarray], Detections]


def match_pairs(ref: Detections, got: Detections, iou_thr: float = IOU_MATCH) -> list[tuple[int, int, float]]:
    """(i, j, iou) pairs: ``ref[i]`` best-score first takes the unpaired same-class ``got[j]`` of highest IoU >= thr."""
    if len(ref) == 0 or len(got) == 0:
        return []
    iou = iou_matrix(ref.boxes, got.boxes)
    iou[np.asarray(ref.labels)[:, None] != np.asarray(got.labels)[None, :]] = -1.0
    taken = np.zeros(len(got), bool)
    pairs = []
    for i in np.argsort(-np.asarray(ref.scores), kind="stable"):
        row = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(row))
        if row[j] >= iou_thr:
            taken[j] = True
            pairs.append((int(i), j, float(row[j])))
    return pairs


@dataclass
class BoxMatch:
    images: int
    pytorch_detections: int
    exported_detections: int
    matched: int
    match_rate: float  # matched / max(pytorch, exported); 1.0 when neither found anything (see ``compared``)
    mean_iou: float | None
    max_score_diff: float | None
    mean_score_diff: float | None
    iou_threshold: float = IOU_MATCH
    compared: bool = True  # False when neither model detected anything: the rate then says nothing

    def to_dict(self) -> dict:
        return asdict(self)


def box_match(ref: Sequence[Detections], got: Sequence[Detections], iou_thr: float = IOU_MATCH) -> BoxMatch:
    n_ref = sum(len(d) for d in ref)
    n_got = sum(len(d) for d in got)
    ious, diffs = [], []
    for r, g in zip(ref, got):
        for i, j, iou in match_pairs(r, g, iou_thr):
            ious.append(iou)
            diffs.append(abs(float(r.scores[i]) - float(g.scores[j])))
    denom = max(n_ref, n_got)
    return BoxMatch(
        images=len(ref),
        pytorch_detections=n_ref,
        exported_detections=n_got,
        matched=len(ious),
        match_rate=float(len(ious) / denom) if denom else 1.0,
        mean_iou=float(np.mean(ious)) if ious else None,
        max_score_diff=float(np.max(diffs)) if diffs else None,
        mean_score_diff=float(np.mean(diffs)) if diffs else None,
        iou_threshold=iou_thr,
        compared=denom > 0,
    )


def evaluate_detections(dets: Mapping[Any, Detections], gt: Dataset, class_map: ClassMap, with_masks: bool) -> dict:
    """COCO metrics of image id -> Detections (original pixels) on ``gt``'s images, with ``class_map``'s categories."""
    results: list[dict] = []
    for image_id, d in dets.items():
        results.extend(to_coco_results(d, gt.image(image_id), class_map))
    iou_types = ("bbox", "segm") if with_masks and gt.has_masks() else ("bbox",)
    return dict(evaluate(gt, results, iou_types=iou_types, image_ids=list(dets), class_map=class_map).metrics)


def primary_metric(metrics: Mapping[str, Any]) -> str:
    """segm_mAP where masks were scored, else bbox_mAP: what the trainer picks best.pt by."""
    return "segm_mAP" if "segm_mAP" in metrics else "bbox_mAP"


def measure_latency(
    fns: Mapping[str, PredictFn],
    images: Sequence[np.ndarray],
    warmup: int = 2,
    runs: int = 10,
    cancel: CancelToken | None = None,
) -> dict[str, float]:
    """Median milliseconds of one call per backend, backends interleaved image by image after ``warmup`` calls each."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    if not images:
        return {}
    for fn in fns.values():
        for _ in range(warmup):
            fn(images[0])
    for r in range(runs):
        if cancel is not None:
            cancel.raise_if_cancelled()
        img = images[r % len(images)]
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(img)
            times[name].append(time.perf_counter() - t0)
    return {k: round(float(np.median(v)) * 1000, 3) for k, v in times.items()}


@dataclass
class VerifyImage:
    """One verification image: its id in the ground truth (None for a plain folder) and the decoded pixels."""

    image_id: Any
    name: str
    rgb: np.ndarray


def verify(
    pytorch: PredictFn,
    exported: PredictFn,
    images: Sequence[VerifyImage],
    *,
    gt: Dataset | None,
    class_map: ClassMap | None,
    with_masks: bool,
    latency_fns: Mapping[str, PredictFn] | None = None,
    latency_runs: int = 10,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> dict:
    """The verification part of the export report (see the module docstring)."""
    ref: list[Detections] = []
    got: list[Detections] = []
    for k, im in enumerate(images):
        if cancel is not None:
            cancel.raise_if_cancelled()
        ref.append(pytorch(im.rgb))
        got.append(exported(im.rgb))
        progress(k + 1, len(images), f"verifying {im.name}")
    out: dict[str, Any] = {"n_images": len(images), "box_match": box_match(ref, got).to_dict()}
    if gt is not None and class_map is not None and images:
        m_ref = evaluate_detections({im.image_id: d for im, d in zip(images, ref)}, gt, class_map, with_masks)
        m_got = evaluate_detections({im.image_id: d for im, d in zip(images, got)}, gt, class_map, with_masks)
        key = primary_metric(m_ref)
        out.update(
            metric=key,
            map_pytorch=m_ref.get(key),
            map_exported=m_got.get(key),
            map_delta=(m_got[key] - m_ref[key]) if m_got.get(key) is not None and m_ref.get(key) is not None else None,
            metrics_pytorch=m_ref,
            metrics_exported=m_got,
        )
    else:
        out.update(
            metric=None,
            map_pytorch=None,
            map_exported=None,
            map_delta=None,
            map_note="no annotations for the verification images: mAP not computed",
        )
    fns = dict(latency_fns or {})
    lat = measure_latency(fns, [im.rgb for im in images[:3]], runs=latency_runs, cancel=cancel) if fns else {}
    out["latency_ms"] = lat
    base = lat.get("pytorch_cpu") or lat.get("pytorch_cuda")
    out["speedup_vs_pytorch"] = {
        k: round(base / v, 3) for k, v in lat.items() if base and v and not k.startswith("pytorch")
    }
    out["latency_note"] = (
        "median ms per image of predict (preprocess, forward, post-processing to original pixels; "
        f"decoding excluded) after 2 warm-up calls, {latency_runs} runs, backends interleaved"
    )
    return out
