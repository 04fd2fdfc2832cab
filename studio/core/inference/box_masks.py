"""The mask head of a two-stage segmenter run on boxes chosen outside the model: a box drawn in the editor.

torchvision's Mask R-CNN family (Studio's ``seg_lite`` and the ``maskrcnn_*`` models) crops its features with
RoIAlign for each box its box head keeps, and predicts a 28 x 28 mask per box and class. The same heads run on any
box: here the drawn box goes through the box head's classifier (which class, and how sure: the softmax over the
classes, background included) and through the mask head for that class; the mask is pasted into the image at the
box, as the model pastes its own. The box itself is not moved (no box regression): it is the user's box.

One-stage segmenters (``seg_fast``) have no such head: their masks come from prototypes weighted by per-anchor
coefficients, and a drawn box is no anchor. :func:`has_box_mask_head` says which models can.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from studio.core.data.preprocess import preprocess, unmap_masks


@dataclass(frozen=True)
class BoxMasks:
    """The model's answer for each given box: ``masks`` (N, H, W) bool in image pixels, ``labels`` (N,) the model
    labels 1..K its classifier gives each box, ``scores`` (N,) that class's probability."""

    masks: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def has_box_mask_head(model: Any) -> bool:
    """True for a model (a Predictor or its network) whose mask head runs on any box: torchvision's Mask R-CNN."""
    net = getattr(model, "model", model)
    heads = getattr(net, "roi_heads", None)
    return (
        heads is not None
        and all(getattr(heads, name, None) is not None for name in ("mask_roi_pool", "mask_head", "mask_predictor"))
        and all(hasattr(net, name) for name in ("backbone", "transform"))
    )


@torch.inference_mode()
def masks_for_boxes(
    predictor: Any, image: np.ndarray, boxes_xyxy: np.ndarray, labels: np.ndarray | None = None
) -> BoxMasks:
    """Run ``predictor``'s box classifier and mask head on ``boxes_xyxy`` ((N, 4), image pixels) of the RGB
    ``image``. ``predictor``: a :class:`studio.core.inference.predictor.Predictor` whose network
    :func:`has_box_mask_head`. ``labels``: the model label (1..K) of each box's mask; None: the class the box
    classifier finds most likely. Like the model's own masks, a mask may reach a little past its box (the 28 x 28
    mask is pasted with a one-cell border)."""
    net = predictor.model
    if not has_box_mask_head(net):
        raise ValueError(f"{type(net).__name__} has no mask head that runs on a given box")
    net.eval()
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    h, w = image.shape[:2]
    if not len(boxes):
        return BoxMasks(np.zeros((0, h, w), bool), np.zeros(0, np.int64), np.zeros(0, np.float32))
    x, meta = preprocess(image, predictor.size, predictor.letterbox)
    device = predictor.device
    images, _ = net.transform([torch.from_numpy(x).to(device)])
    features = net.backbone(images.tensors)
    if isinstance(features, torch.Tensor):
        features = OrderedDict([("0", features)])
    scaled = boxes.copy()
    scaled[:, [0, 2]] *= meta.resized_w / meta.orig_w
    scaled[:, [1, 3]] *= meta.resized_h / meta.orig_h
    rois = torch.from_numpy(scaled).to(device)
    heads = net.roi_heads
    box_features = heads.box_head(heads.box_roi_pool(features, [rois], images.image_sizes))
    class_logits, _ = heads.box_predictor(box_features)
    probs = torch.softmax(class_logits.float(), dim=-1)
    if labels is None:
        chosen = probs[:, 1:].argmax(dim=1) + 1  # the most likely object class (0 is the background)
    else:
        chosen = torch.as_tensor(np.asarray(labels, np.int64).reshape(-1), device=probs.device)
        if len(chosen) != len(boxes) or int(chosen.min()) < 1 or int(chosen.max()) >= probs.shape[1]:
            raise ValueError(f"labels must be one per box, each 1..{probs.shape[1] - 1}")
    labels = chosen
    scores = probs[torch.arange(len(labels), device=probs.device), labels]
    mask_logits = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(features, [rois], images.image_sizes)))
    soft = mask_logits[torch.arange(len(labels), device=mask_logits.device), labels].float().sigmoid()
    pasted = paste_masks_in_image(soft[:, None], rois, (meta.input_h, meta.input_w))
    masks = unmap_masks(pasted.cpu().numpy(), meta)
    return BoxMasks(masks, labels.cpu().numpy().astype(np.int64), scores.cpu().numpy().astype(np.float32))
