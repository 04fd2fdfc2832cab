"""Run a model on images: preprocessing, batching, and predictions mapped back to original pixels.

Preprocessing is :func:`studio.core.data.preprocess.preprocess` (numpy + OpenCV), the same code the
exported-model runner uses, so PyTorch and ONNX predictions start from identical pixels. A checkpoint's
predictor pads every image to image_size x image_size (``letterbox``), whatever its config's
``data.letterbox`` (which only places training images): the input shape a static export has, and the
same for every image of a batch, so a detection never depends on its batch neighbours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.amp import autocast
from studio.core.data.classes import ClassMap
from studio.core.data.decode import decode_for_model
from studio.core.data.preprocess import Meta, preprocess, unmap_boxes, unmap_masks
from studio.core.detections import Detections, ImagePrediction, check_score_thr
from studio.core.device import resolve_device
from studio.core.jobs import CancelToken, Progress, no_progress


def configure_postprocess(model: nn.Module, score_thr: float | None = None, max_detections: int | None = None) -> None:
    """Set the score threshold and detections per image on any torchvision-style detector."""
    for holder in (getattr(model, "roi_heads", None), model):
        if holder is None:
            continue
        if score_thr is not None and hasattr(holder, "score_thresh"):
            holder.score_thresh = float(score_thr)
        if max_detections is not None and hasattr(holder, "detections_per_img"):
            holder.detections_per_img = int(max_detections)


@contextmanager
def postprocess_threshold(model: nn.Module, score_thr: float) -> Iterator[None]:
    """Run the model's own post-processing at ``score_thr`` inside the block, then restore its threshold.

    A loaded model drops every candidate below the threshold it was built or loaded with, so no later
    filter could go lower than that; evaluation and CAM lower it for the length of one job.
    """
    holders = [h for h in (getattr(model, "roi_heads", None), model) if h is not None and hasattr(h, "score_thresh")]
    saved = [h.score_thresh for h in holders]
    configure_postprocess(model, score_thr)
    try:
        yield
    finally:
        for h, v in zip(holders, saved):
            h.score_thresh = v


def to_detections(output: dict, meta: Meta, with_masks: bool) -> Detections:
    """One model output (input-tensor coordinates) -> :class:`Detections` in original pixels."""
    scores = output["scores"].detach().float().cpu().numpy()
    order = np.argsort(-scores, kind="stable")
    boxes = unmap_boxes(output["boxes"].detach().float().cpu().numpy(), meta)[order]
    labels = output["labels"].detach().cpu().numpy().astype(np.int64)[order]
    masks = None
    if with_masks:
        if "masks" in output and len(order):
            masks = unmap_masks(output["masks"].detach().float().cpu().numpy()[order], meta)
        else:
            masks = np.zeros((len(order), meta.orig_h, meta.orig_w), bool)
    return Detections(boxes, scores[order].astype(np.float32), labels, masks)


@torch.inference_mode()
def run_batch(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    metas: Sequence[Meta],
    device: torch.device,
    with_masks: bool,
    amp_dtype: torch.dtype | None = None,
) -> list[Detections]:
    model.eval()
    batch = [im.as_subclass(torch.Tensor).to(device) for im in images]
    with autocast(device, amp_dtype):  # the trainer's train.amp, on CUDA or (bf16) the CPU
        outputs = model(batch)
    return [to_detections(o, m, with_masks) for o, m in zip(outputs, metas)]


class Predictor:
    """A model ready to predict: its classes, input size and device travel with it."""

    def __init__(
        self,
        model: nn.Module,
        class_map: ClassMap,
        *,
        size: int,
        letterbox: bool,
        device: torch.device,
        task: str,
        score_thr: float = 0.05,
        max_detections: int = 100,
        batch_size: int = 4,
    ):
        from studio.core.models.accel import prepare_for_inference  # deferred: torchvision

        self.model = prepare_for_inference(model.to(device).eval(), device)  # channels_last on CUDA
        self.class_map = class_map
        self.size = size
        self.letterbox = letterbox
        self.device = device
        self.with_masks = task == "segment"
        self.task = task
        self.batch_size = batch_size
        self.score_thr = score_thr
        configure_postprocess(self.model, score_thr, max_detections)

    @classmethod
    def from_checkpoint(
        cls,
        path,
        *,
        device: str = "auto",
        score_thr: float | None = None,
        max_detections: int | None = None,
        prefer_ema: bool = True,
        batch_size: int = 4,
    ) -> Predictor:
        """``path``: a checkpoint file, a run folder (its best.pt, else last.pt) or an already loaded Checkpoint."""
        from studio.core import checkpoint as ckpt_io  # deferred: pydantic
        from studio.core.models import build_model, get_arch  # deferred: torchvision

        score_thr = check_score_thr(score_thr)
        ck = path if isinstance(path, ckpt_io.Checkpoint) else ckpt_io.load(ckpt_io.resolve(path))
        cfg = ck.config
        spec = get_arch(ck.arch)
        model = build_model(
            ck.arch,
            ck.classes.num_classes,
            image_size=cfg.data.image_size,
            score_thr=cfg.model.score_thr,
            max_detections=cfg.model.max_detections,
            backbone=cfg.model.backbone,
        )
        try:
            model.load_state_dict(ck.weights(prefer_ema))
        except RuntimeError as e:
            raise ckpt_io.CheckpointError(
                f"weights do not fit {ck.arch}: {str(e).splitlines()[0]}", file=ck.path
            ) from None
        thr = cfg.model.score_thr if score_thr is None else score_thr
        return cls(
            model,
            ck.classes,
            size=cfg.data.image_size,
            letterbox=True,  # one preprocessing for predict, eval, every export and infer: see preprocess.py
            device=resolve_device(device),
            task=spec.task,
            score_thr=thr,
            max_detections=max_detections or cfg.model.max_detections,
            batch_size=batch_size,
        )

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """RGB uint8 images -> one :class:`Detections` each (original pixels, score >= threshold)."""
        out: list[Detections] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            pre = [preprocess(im, self.size, self.letterbox) for im in chunk]
            tensors = [torch.from_numpy(x) for x, _ in pre]
            dets = run_batch(self.model, tensors, [m for _, m in pre], self.device, self.with_masks)
            out.extend(d.above(self.score_thr) for d in dets)
        return out

    def predict_files(
        self, paths: Iterable[str | Path], progress: Progress = no_progress, cancel: CancelToken | None = None
    ) -> Iterator[ImagePrediction]:
        """Yield an :class:`ImagePrediction` for each file, one batch at a time.

        Big images are decoded reduced to about the model's input size
        (:func:`studio.core.data.decode.decode_for_model`); ``.original()`` maps their detections
        back to the file's pixels.
        """
        paths = [Path(p) for p in paths]
        for start in range(0, len(paths), self.batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = paths[start : start + self.batch_size]
            decoded = [decode_for_model(p, self.size) for p in chunk]
            dets = self.predict([img for img, _, _ in decoded])
            for p, (img, factor, (w, h)), d in zip(chunk, decoded, dets):
                yield ImagePrediction(p, img, d, w, h, factor)
            progress(min(start + self.batch_size, len(paths)), len(paths), chunk[-1].name)
