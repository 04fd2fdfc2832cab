"""Task-aligned label assignment (TOOD, Feng et al. 2021), batched over images and ground-truth objects.

For every ground-truth box, the candidate anchor points are those whose centre lies inside it. Each
candidate is scored by how well the *current* prediction already does on both tasks:
``score(gt class) ** alpha * IoU(predicted box, gt) ** beta``. The ``topk`` best candidates become
positives; an anchor claimed by several objects goes to the one its box overlaps most. The
classification target of a positive is its alignment, rescaled so that each object's best anchor
gets that object's best IoU: anchors that localise well are asked for high scores, which ties the
score used for ranking at test time to box quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_EPS = 1e-9


def pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of xyxy boxes that broadcast against each other (..., 4) x (..., 4) -> (...)."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter + _EPS)


@dataclass
class Assignment:
    fg: Tensor  # (B, A) bool: positive anchors
    gt_index: Tensor  # (B, A) long: the object each anchor is assigned to (meaningful where fg)
    labels: Tensor  # (B, A) long: class index 0..C-1 of that object
    boxes: Tensor  # (B, A, 4) xyxy: that object's box
    scores: Tensor  # (B, A, C) soft classification targets (zero for negatives)


@torch.no_grad()
def task_aligned_assign(
    pred_scores: Tensor,
    pred_boxes: Tensor,
    anchors: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    gt_valid: Tensor,
    *,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> Assignment:
    """Assign anchors to objects.

    ``pred_scores`` (B, A, C) probabilities, ``pred_boxes`` (B, A, 4) xyxy pixels, ``anchors`` (A, 2)
    anchor centres, ``gt_boxes`` (B, M, 4), ``gt_labels`` (B, M) class indices 0..C-1, ``gt_valid``
    (B, M) bool (objects are padded to the largest count of the batch).
    """
    # float32 whatever the predictions came in: IoU ** beta (6) underflows in fp16 and is coarse in bf16
    pred_scores, pred_boxes, gt_boxes = pred_scores.float(), pred_boxes.float(), gt_boxes.float()
    b, a, c = pred_scores.shape
    m = gt_boxes.shape[1]
    dev = pred_scores.device
    if m == 0:
        return Assignment(
            torch.zeros(b, a, dtype=torch.bool, device=dev),
            torch.zeros(b, a, dtype=torch.long, device=dev),
            torch.zeros(b, a, dtype=torch.long, device=dev),
            torch.zeros(b, a, 4, device=dev),
            torch.zeros_like(pred_scores),
        )
    # anchor centres strictly inside each box: (B, M, A)
    ax, ay = anchors[:, 0], anchors[:, 1]
    x0, y0, x1, y1 = (gt_boxes[..., i, None] for i in range(4))
    inside = torch.minimum(torch.minimum(ax - x0, ay - y0), torch.minimum(x1 - ax, y1 - ay)) > 1e-6
    candidate = inside & gt_valid[..., None]

    iou = pairwise_iou(gt_boxes[:, :, None, :], pred_boxes[:, None, :, :]).clamp(min=0)  # (B, M, A)
    labels_idx = gt_labels.clamp(min=0)
    cls_score = pred_scores.permute(0, 2, 1).gather(1, labels_idx[..., None].expand(b, m, a))  # (B, M, A)
    metric = cls_score.pow(alpha) * iou.pow(beta)
    metric = torch.where(candidate, metric, torch.zeros_like(metric))
    iou = torch.where(candidate, iou, torch.zeros_like(iou))

    k = min(topk, a)
    top_idx = metric.topk(k, dim=-1).indices  # (B, M, k)
    chosen = torch.zeros_like(candidate).scatter_(-1, top_idx, True)
    pos = chosen & candidate  # (B, M, A)

    # an anchor claimed by several objects keeps the one it overlaps most
    multi = pos.sum(1, keepdim=True) > 1  # (B, 1, A)
    best = iou.argmax(1, keepdim=True)  # (B, 1, A)
    best_onehot = torch.zeros_like(pos).scatter_(1, best, True)
    pos = torch.where(multi, best_onehot & candidate, pos)

    fg = pos.any(1)  # (B, A)
    gt_index = pos.to(torch.uint8).argmax(1)  # (B, A)
    labels = labels_idx.gather(1, gt_index)
    boxes = gt_boxes.gather(1, gt_index[..., None].expand(b, a, 4))

    metric = metric * pos
    iou = iou * pos
    norm = metric * (iou.amax(-1, keepdim=True) / (metric.amax(-1, keepdim=True) + _EPS))  # (B, M, A)
    align = norm.amax(1)  # (B, A)
    scores = torch.zeros_like(pred_scores)
    scores.scatter_(2, labels[..., None], (align * fg)[..., None])
    return Assignment(fg, gt_index, labels, boxes, scores)
