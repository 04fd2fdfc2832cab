"""Losses of the fast one-stage models.

* classification: binary cross-entropy against the task-aligned soft targets (:mod:`.assign`);
* box: complete-IoU loss plus distribution focal loss (the box side distances are predicted as
  distributions over ``reg_max`` bins, Li et al. 2020), both weighted by the positive's target score;
* mask: per-pixel binary cross-entropy of the assembled mask inside the object's box, on an
  ``M`` x ``M`` grid (the prototypes and the ground-truth mask are both RoI-aligned to the box).

Every term is normalised by the sum of the classification targets, as in TOOD / YOLOv8, so its scale
does not depend on the number of objects in the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import complete_box_iou_loss, roi_align


def box_to_distances(anchors: Tensor, boxes: Tensor, strides: Tensor, reg_max: int) -> Tensor:
    """xyxy boxes -> (left, top, right, bottom) distances from the anchor centres in stride units."""
    lt = anchors - boxes[..., :2]
    rb = boxes[..., 2:] - anchors
    return (torch.cat([lt, rb], -1) / strides[..., None]).clamp(0, reg_max - 1 - 0.01)


def distribution_focal_loss(logits: Tensor, target: Tensor) -> Tensor:
    """(P, 4, R) bin logits, (P, 4) continuous targets in [0, R-1) -> (P,) loss (mean of the four sides)."""
    target = target.float()
    left = target.long()
    right = left + 1
    wl = right.float() - target
    wr = 1 - wl
    logp = F.log_softmax(logits.float(), -1)  # float32: a bf16 / fp16 log-softmax loses the small bins
    loss = -(logp.gather(-1, left[..., None]).squeeze(-1) * wl + logp.gather(-1, right[..., None]).squeeze(-1) * wr)
    return loss.mean(-1)


def box_losses(
    pred_boxes: Tensor,
    pred_dist: Tensor,
    target_boxes: Tensor,
    anchors: Tensor,
    strides: Tensor,
    weight: Tensor,
    reg_max: int,
) -> tuple[Tensor, Tensor]:
    """CIoU and DFL of the positives, each summed with ``weight`` (not yet normalised)."""
    # float32: the CIoU's aspect term (atan of w / h) and its squared centre distances overflow fp16
    pred_boxes, target_boxes = pred_boxes.float(), target_boxes.float()
    ciou = complete_box_iou_loss(pred_boxes, target_boxes, reduction="none")
    target = box_to_distances(anchors, target_boxes, strides, reg_max)
    dfl = distribution_focal_loss(pred_dist.view(-1, 4, reg_max), target)
    return (ciou * weight).sum(), (dfl * weight).sum()


def mask_loss(
    protos: Tensor,
    coef: Tensor,
    image_index: Tensor,
    boxes: Tensor,
    gt_masks: Tensor,
    mask_index: Tensor,
    size: int,
    proto_stride: int,
) -> Tensor:
    """Mean per-pixel BCE of the masks of ``coef`` (P, nm) over their ``boxes`` (P, 4, input pixels).

    ``protos`` (B, nm, h, w) at ``1 / proto_stride`` of the input; ``gt_masks`` (G, H, W) every object
    mask of the batch at input resolution, ``mask_index`` (P,) which one each positive is after.
    """
    # The boxes are the objects' own (assigned ground-truth) boxes, so the ~topk positives of one object
    # share one RoI: align each object once and index. Same loss; RoIAlign's backward, which dominated a
    # CPU training step, runs on about a tenth of the RoIs.
    objects, which = torch.unique(mask_index, return_inverse=True)
    first = torch.zeros_like(objects).scatter_(0, which, torch.arange(len(which), device=which.device))
    rois = torch.cat([image_index[first, None].to(boxes.dtype), boxes[first]], 1)
    feats = roi_align(protos, rois, (size, size), spatial_scale=1.0 / proto_stride, sampling_ratio=2, aligned=True)
    logits = torch.einsum("pc,pchw->phw", coef, feats[which])
    gt_rois = torch.cat([objects[:, None].to(boxes.dtype), boxes[first]], 1)
    with torch.no_grad():
        target = roi_align(
            gt_masks[:, None].to(protos.dtype), gt_rois, (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True
        )[:, 0]
    return F.binary_cross_entropy_with_logits(logits.float(), target[which].float(), reduction="mean")
