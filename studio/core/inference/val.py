"""Score a model on a val set: predict every image, then COCO metrics, PR curves and a confusion matrix.

Used by the trainer after each epoch and by ``studio eval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.evaluation.coco_eval import evaluate
from studio.core.evaluation.confusion import confusion_matrix
from studio.core.evaluation.curves import pr_curves
from studio.core.evaluation.report import write_report
from studio.core.evaluation.results import to_coco_results
from studio.core.inference.predictor import postprocess_threshold, run_batch
from studio.core.jobs import CancelToken, Progress, no_progress


@dataclass
class ValResult:
    gt: Dataset
    results: list[dict]  # COCO results (with file_name)
    evaluation: object  # studio.core.evaluation.coco_eval.EvalResult
    detections: dict[int, Detections] = field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> dict:
        return self.evaluation.metrics

    def per_class_arrays(self, class_map: ClassMap) -> dict[str, np.ndarray]:
        """iou type -> AP@[.5:.95] per class in class order (NaN where the class has no GT)."""
        out = {}
        for iou_type in self.evaluation.iou_types:
            vals = []
            for name in class_map.names:
                ap = self.evaluation.per_class.get(iou_type, {}).get(name, {}).get("AP")
                vals.append(np.nan if ap is None else float(ap))
            out[iou_type] = np.array(vals, dtype=np.float64)
        return out

    def write_report(self, out_dir: str | Path, class_map: ClassMap) -> dict[str, Path]:
        conf = confusion_matrix(self.gt, self.results, class_map=class_map)
        curves = pr_curves(self.evaluation)
        return write_report(out_dir, self.evaluation, conf, curves)


def predict_dataset(
    model: nn.Module,
    val_set,
    *,
    device: torch.device,
    batch_size: int = 4,
    workers: int = 0,
    with_masks: bool = False,
    amp_dtype=None,
    cancel: CancelToken | None = None,
    progress: Progress = no_progress,
) -> dict[int, Detections]:
    """image id -> Detections for every image of a val-mode DetectionDataset."""
    from studio.core.data.loader import make_loader  # deferred: pydantic, torchvision

    loader = make_loader(val_set, batch_size, train=False, workers=workers, device_type=device.type)
    out: dict[int, Detections] = {}
    total = len(val_set)
    for images, targets in loader:
        if cancel is not None:
            cancel.raise_if_cancelled()
        metas = [t["meta"] for t in targets]
        dets = run_batch(model, images, metas, device, with_masks, amp_dtype)
        for t, d in zip(targets, dets):
            out[int(t["image_id"])] = d
        progress(len(out), total, "predicting")
    return out


#: the score threshold of mAP evaluation: mAP ranks every detection, so the threshold only cuts the tail of
#: the precision-recall curve; COCO-style evaluations (YOLO's val, MMDetection's one-stage configs) use
#: 0.001, as here. On the demo set after 1300 iterations: bbox mAP50 0.465 at 0.001, 0.438 at 0.05.
EVAL_SCORE_THR = 0.001


def evaluate_model(
    model: nn.Module,
    val_set,
    gt: Dataset,
    class_map: ClassMap,
    *,
    device: torch.device,
    batch_size: int = 4,
    workers: int = 0,
    amp_dtype=None,
    score_thr: float = EVAL_SCORE_THR,
    cancel: CancelToken | None = None,
    progress: Progress = no_progress,
) -> ValResult:
    """Predict ``val_set`` with the model's post-processing at ``score_thr`` (then restored) and score it."""
    with_masks = getattr(model, "studio_task", "detect") == "segment"
    with postprocess_threshold(model, score_thr):
        dets = predict_dataset(
            model,
            val_set,
            device=device,
            batch_size=batch_size,
            workers=workers,
            with_masks=with_masks,
            amp_dtype=amp_dtype,
            cancel=cancel,
            progress=progress,
        )
    results: list[dict] = []
    for image_id, d in dets.items():
        results.extend(to_coco_results(d, gt.image(image_id), class_map))
    # explicit, so a mask model that predicts nothing yet still reports segm metrics (as zeros)
    iou_types = ("bbox", "segm") if with_masks and gt.has_masks() else ("bbox",)
    evaluation = evaluate(gt, results, iou_types=iou_types, image_ids=list(dets), class_map=class_map)
    return ValResult(gt, results, evaluation, dets)
