"""``FastDetector``: a one-stage anchor-free detector / instance segmenter that trains from scratch on a CPU.

Structure (every size is a field of :class:`FastConfig`):

* backbone: a stem and four stages of stride-2 convolution + CSP block, SPPF on the last; outputs at
  strides 8, 16 and 32;
* neck: a path-aggregation network (top-down then bottom-up, CSP blocks at each merge);
* head: per level, decoupled branches for class scores, box side distances (distributions over
  ``reg_max`` bins) and, for the segmenter, mask coefficients;
* prototypes: ``num_masks`` mask prototypes at stride 4 from the finest neck level. An instance mask is
  the sigmoid of its coefficients dotted with the prototypes, taken inside its box on an ``M`` x ``M``
  grid (RoIAlign of the prototypes, which is linear, so it commutes with the dot product).

The masks come out as (N, 1, M, M) box-relative probabilities, the same contract as torchvision's
Mask R-CNN heads: :class:`~studio.core.models.transform.NoResizeTransform` pastes them into the image,
and the exported graph hands them to the runner's OpenCV paste unchanged.

Training follows torchvision's detection API: ``model(images, targets)`` returns a dict of losses,
``model(images)`` a list of ``{"boxes", "scores", "labels"[, "masks"]}`` with labels 1..K.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import _topk_min
from torchvision.ops import batched_nms, roi_align

from studio.core.models.fast.assign import task_aligned_assign
from studio.core.models.fast.backbones import (
    BODY_PREFIX,
    CSP,
    NUM_STAGES,
    TorchvisionBackbone,
    freeze_stages,
    keep_frozen_in_eval,
)
from studio.core.models.fast.blocks import SPPF, ConvBNAct, CSPBlock
from studio.core.models.fast.loss import box_losses, mask_loss
from studio.core.models.transform import NoResizeTransform

IMAGE_MEAN = [0.485, 0.456, 0.406]
IMAGE_STD = [0.229, 0.224, 0.225]
STRIDES = (8, 16, 32)
PROTO_STRIDE = 4


@dataclass(frozen=True)
class FastConfig:
    """The knobs of the fast models."""

    #: channels of the stem and of the four stages (strides 2, 4, 8, 16, 32)
    widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    #: bottlenecks in the CSP block of each stage (strides 4, 8, 16, 32)
    depths: tuple[int, int, int, int] = (1, 2, 2, 1)
    neck_depth: int = 1
    head_channels: int = 64  # box and class branches
    reg_max: int = 16  # bins of each box side distance, in stride units
    num_masks: int = 32  # prototypes
    proto_channels: int = 64
    mask_size: int = 28  # M: side of the box-relative mask grid
    max_mask_rois: int = 64  # positives per image whose masks are trained (randomly chosen)
    topk: int = 10  # positives per object in the assignment
    alpha: float = 0.5
    beta: float = 6.0
    gain_cls: float = 0.5
    gain_box: float = 7.5
    gain_dfl: float = 1.5
    gain_mask: float = 2.5
    nms_threshold: float = 0.6
    pre_nms_top_n: int = 1000

    def __post_init__(self) -> None:
        if len(self.widths) != 5 or len(self.depths) != 4:
            raise ValueError("widths needs 5 values (stem + 4 stages) and depths 4")
        if min(self.widths) < 8 or self.reg_max < 2 or self.num_masks < 1:
            raise ValueError("widths must be >= 8, reg_max >= 2, num_masks >= 1")


DEFAULT = FastConfig()


class Backbone(nn.Module):
    """Stem + four CSP stages; returns ``{"0": stride 8, "1": stride 16, "2": stride 32}``."""

    def __init__(self, cfg: FastConfig):
        super().__init__()
        w, d = cfg.widths, cfg.depths
        self.stem = ConvBNAct(3, w[0], 3, 2)
        self.stage1 = nn.Sequential(ConvBNAct(w[0], w[1], 3, 2), CSPBlock(w[1], w[1], d[0]))
        self.stage2 = nn.Sequential(ConvBNAct(w[1], w[2], 3, 2), CSPBlock(w[2], w[2], d[1]))
        self.stage3 = nn.Sequential(ConvBNAct(w[2], w[3], 3, 2), CSPBlock(w[3], w[3], d[2]))
        self.stage4 = nn.Sequential(ConvBNAct(w[3], w[4], 3, 2), CSPBlock(w[4], w[4], d[3]), SPPF(w[4], w[4]))
        self.out_channels = (w[2], w[3], w[4])

    def stages(self) -> list[list[nn.Module]]:
        """The :data:`~.backbones.NUM_STAGES` stages from the input, for ``model.freeze_backbone``."""
        return [[self.stem], [self.stage1], [self.stage2], [self.stage3], [self.stage4]]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        x = self.stage1(self.stem(x))
        c3 = self.stage2(x)
        c4 = self.stage3(c3)
        c5 = self.stage4(c4)
        return OrderedDict([("0", c3), ("1", c4), ("2", c5)])


class PAN(nn.Module):
    """Path aggregation: top-down (upsample + concat + CSP), then bottom-up (stride-2 conv + concat + CSP)."""

    def __init__(self, channels: tuple[int, int, int], depth: int):
        super().__init__()
        c3, c4, c5 = channels
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.td4 = CSPBlock(c5 + c4, c4, depth, shortcut=False)
        self.td3 = CSPBlock(c4 + c3, c3, depth, shortcut=False)
        self.down3 = ConvBNAct(c3, c3, 3, 2)
        self.bu4 = CSPBlock(c3 + c4, c4, depth, shortcut=False)
        self.down4 = ConvBNAct(c4, c4, 3, 2)
        self.bu5 = CSPBlock(c4 + c5, c5, depth, shortcut=False)
        self.out_channels = channels

    def forward(self, feats: OrderedDict[str, Tensor]) -> OrderedDict[str, Tensor]:
        c3, c4, c5 = feats["0"], feats["1"], feats["2"]
        t4 = self.td4(torch.cat([self.up(c5), c4], 1))
        p3 = self.td3(torch.cat([self.up(t4), c3], 1))
        p4 = self.bu4(torch.cat([self.down3(p3), t4], 1))
        p5 = self.bu5(torch.cat([self.down4(p4), c5], 1))
        return OrderedDict([("0", p3), ("1", p4), ("2", p5)])


def _branch(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(ConvBNAct(cin, mid, 3), ConvBNAct(mid, mid, 3), nn.Conv2d(mid, cout, 1))


class Head(nn.Module):
    """Per-level decoupled branches: class logits, box bin logits and (segmenter) mask coefficients."""

    def __init__(self, channels: tuple[int, ...], num_classes: int, cfg: FastConfig, masks: bool, image_size: int):
        super().__init__()
        c_box = max(cfg.head_channels, 4 * cfg.reg_max // 2)
        c_cls = max(channels[0], min(num_classes, 100), cfg.head_channels)
        self.reg_max = cfg.reg_max
        self.num_classes = num_classes
        self.box = nn.ModuleList(_branch(c, c_box, 4 * cfg.reg_max) for c in channels)
        self.cls = nn.ModuleList(_branch(c, c_cls, num_classes) for c in channels)
        self.coef = (
            nn.ModuleList(_branch(c, max(channels[0] // 2, cfg.num_masks), cfg.num_masks) for c in channels)
            if masks
            else None
        )
        for branch in self.box:
            nn.init.constant_(branch[-1].bias, 1.0)
        for branch, s in zip(self.cls, STRIDES):
            # prior: about 5 objects per image spread over the level's cells
            nn.init.constant_(branch[-1].bias, math.log(5 / num_classes / (max(image_size, s) / s) ** 2))

    def run(self, feats: OrderedDict[str, Tensor]) -> dict[str, list[Tensor]]:
        """Every branch on every level. Not ``forward``: the head as a whole outputs no feature pyramid, so
        the explain tools (which find the backbone and neck by their multi-scale outputs) see the PAN as
        the neck; each branch is still a module of its own, with its own output, for feature maps and CAM."""
        out: dict[str, list[Tensor]] = {"box": [], "cls": []}
        if self.coef is not None:
            out["coef"] = []
        for i, x in enumerate(feats.values()):
            out["box"].append(self.box[i](x))
            out["cls"].append(self.cls[i](x))
            if self.coef is not None:
                out["coef"].append(self.coef[i](x))
        return out


class Protos(nn.Module):
    """Mask prototypes at stride 4 from the stride-8 neck level."""

    def __init__(self, cin: int, mid: int, num_masks: int):
        super().__init__()
        self.cv1 = ConvBNAct(cin, mid, 3)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.cv2 = ConvBNAct(mid, mid, 3)
        self.cv3 = ConvBNAct(mid, num_masks, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.cv3(self.cv2(self.up(self.cv1(x))))


def _flatten(levels: list[Tensor]) -> Tensor:
    """Per-level (B, C, h, w) -> (B, sum h*w, C)."""
    return torch.cat([t.flatten(2) for t in levels], 2).permute(0, 2, 1)


def _float32(device_type: str) -> AbstractContextManager:
    """Autocast off while it is on (mixed-precision training or eval); else nothing, so that tracing for
    export sees no autocast context at all."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def make_anchors(levels: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Cell centres (A, 2) in input pixels and their strides (A,) for the levels' grid sizes."""
    points, strides = [], []
    for t, s in zip(levels, STRIDES):
        h, w = t.shape[-2:]
        ys = (torch.arange(h, device=t.device, dtype=torch.float32) + 0.5) * s
        xs = (torch.arange(w, device=t.device, dtype=torch.float32) + 0.5) * s
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))
        strides.append(torch.full((h * w,), float(s), device=t.device))
    return torch.cat(points), torch.cat(strides)


class FastDetector(nn.Module):
    """See the module docstring. ``num_classes`` counts object classes (labels 1..K in and out).

    ``backbone``: ``csp`` (learns from scratch) or a torchvision classifier of :data:`.backbones.BACKBONES`
    (for ImageNet weights). ``freeze_backbone``: the backbone's first stages kept fixed (0 to
    :data:`.backbones.NUM_STAGES`), parameters and BatchNorm statistics both (see
    :func:`.backbones.keep_frozen_in_eval`). ``pretrained_prefix`` names the parameters of a torchvision
    backbone, which the optimiser gives a lower learning rate when fine-tuning.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        masks: bool,
        image_size: int = 320,
        score_thr: float = 0.05,
        max_detections: int = 100,
        config: FastConfig = DEFAULT,
        backbone: str = CSP,
        freeze_backbone: int = 0,
    ):
        super().__init__()
        if not 0 <= int(freeze_backbone) <= NUM_STAGES:
            raise ValueError(f"freeze_backbone must be 0..{NUM_STAGES}, got {freeze_backbone}")
        cfg = config
        self.cfg = cfg
        self.num_classes = int(num_classes)
        self.with_masks = bool(masks)
        self.transform = NoResizeTransform(IMAGE_MEAN, IMAGE_STD, size_divisible=32)
        self.backbone_name = backbone
        if backbone == CSP:
            self.backbone = Backbone(cfg)
        else:
            self.backbone = TorchvisionBackbone(backbone, cfg.widths[2:])
        self.pretrained_prefix = None if backbone == CSP else BODY_PREFIX
        self.frozen_stages = int(freeze_backbone)
        freeze_stages(self.backbone.stages(), self.frozen_stages)
        self.neck = PAN(self.backbone.out_channels, cfg.neck_depth)
        self.head = Head(self.neck.out_channels, self.num_classes, cfg, masks, image_size)
        self.protos = Protos(self.neck.out_channels[0], cfg.proto_channels, cfg.num_masks) if masks else None
        self.register_buffer("bins", torch.arange(cfg.reg_max, dtype=torch.float32), persistent=False)
        # set by studio.core.inference.predictor.configure_postprocess: torchvision detectors' attribute names
        self.score_thresh = float(score_thr)
        self.detections_per_img = int(max_detections)
        self.nms_thresh = cfg.nms_threshold
        self.pre_nms_top_n = cfg.pre_nms_top_n  # both set per export by studio.core.models.nms.configure_nms
        self.mask_size = cfg.mask_size if masks else None
        self.train()  # frozen stages start in eval mode

    def train(self, mode: bool = True) -> FastDetector:
        """As ``nn.Module.train``, but the frozen backbone stages stay in eval mode (their BatchNorm statistics)."""
        super().train(mode)
        if mode:
            keep_frozen_in_eval(self.backbone.stages(), self.frozen_stages)
        return self

    # ------------------------------------------------------------------ shared
    def _decode(self, dist: Tensor, anchors: Tensor, strides: Tensor) -> Tensor:
        """(B, A, 4R) bin logits -> (B, A, 4) xyxy boxes in input pixels."""
        b, a, _ = dist.shape
        d = (dist.view(b, a, 4, self.cfg.reg_max).softmax(-1) * self.bins).sum(-1) * strides[:, None]
        return torch.cat([anchors - d[..., :2], anchors + d[..., 2:]], -1)

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None):
        if self.training and targets is None:
            raise ValueError("targets are needed in training mode")
        original_sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        batch, targets = self.transform(images, targets)
        x = batch.tensors
        feats = self.neck(self.backbone(x))
        out = self.head.run(feats)
        protos = self.protos(feats["0"]) if self.protos is not None else None
        # Under mixed precision the convolutions above run in bf16 / fp16; from here on it is float32: box
        # decoding (pixel coordinates lose whole pixels in bf16), the assigner (IoU ** 6 underflows in fp16),
        # DFL's log-softmax, CIoU and the mask logits.
        with _float32(x.device.type):
            anchors, strides = make_anchors(out["cls"])
            dist = _flatten(out["box"]).float()
            cls = _flatten(out["cls"]).float()
            coef = _flatten(out["coef"]).float() if "coef" in out else None
            protos = protos.float() if protos is not None else None
            boxes = self._decode(dist, anchors, strides)
            if self.training:
                return self._losses(cls, dist, boxes, coef, protos, anchors, strides, targets)
            detections = self._postprocess(cls, boxes, coef, protos, batch.image_sizes)
        return self.transform.postprocess(detections, batch.image_sizes, original_sizes)

    # ------------------------------------------------------------------ training
    def _losses(
        self,
        cls: Tensor,
        dist: Tensor,
        boxes: Tensor,
        coef: Tensor | None,
        protos: Tensor | None,
        anchors: Tensor,
        strides: Tensor,
        targets: list[dict[str, Tensor]],
    ) -> dict[str, Tensor]:
        cfg = self.cfg
        b = cls.shape[0]
        m = max([len(t["labels"]) for t in targets] + [0])
        gt_boxes = cls.new_zeros(b, m, 4)
        gt_labels = torch.zeros(b, m, dtype=torch.long, device=cls.device)
        gt_valid = torch.zeros(b, m, dtype=torch.bool, device=cls.device)
        for i, t in enumerate(targets):
            n = len(t["labels"])
            if n:
                gt_boxes[i, :n] = t["boxes"].as_subclass(Tensor).to(gt_boxes.dtype)
                gt_labels[i, :n] = t["labels"].as_subclass(Tensor) - 1
                gt_valid[i, :n] = True
        asg = task_aligned_assign(
            cls.detach().sigmoid(),
            boxes.detach(),
            anchors,
            gt_boxes,
            gt_labels,
            gt_valid,
            topk=cfg.topk,
            alpha=cfg.alpha,
            beta=cfg.beta,
        )
        norm = asg.scores.sum().clamp(min=1.0)
        loss_cls = F.binary_cross_entropy_with_logits(cls, asg.scores.to(cls.dtype), reduction="sum") / norm
        fg = asg.fg
        zero = boxes.sum() * 0.0
        if fg.any():
            weight = asg.scores.sum(-1)[fg]
            a_idx = fg.nonzero()[:, 1]
            ciou, dfl = box_losses(
                boxes[fg], dist[fg], asg.boxes[fg], anchors[a_idx], strides[a_idx], weight, cfg.reg_max
            )
            loss_box, loss_dfl = ciou / norm, dfl / norm
        else:
            loss_box = loss_dfl = zero
        losses = {
            "loss_cls": cfg.gain_cls * loss_cls,
            "loss_box": cfg.gain_box * loss_box,
            "loss_dfl": cfg.gain_dfl * loss_dfl,
        }
        if coef is not None and protos is not None:
            losses["loss_mask"] = cfg.gain_mask * self._mask_loss(coef, protos, targets, asg) if fg.any() else zero
        return losses

    def _mask_loss(self, coef: Tensor, protos: Tensor, targets: list[dict[str, Tensor]], asg) -> Tensor:
        cfg = self.cfg
        masks = [t["masks"].as_subclass(Tensor) for t in targets]
        h = max(mk.shape[-2] for mk in masks)
        w = max(mk.shape[-1] for mk in masks)
        offsets = torch.tensor([0] + [mk.shape[0] for mk in masks[:-1]], device=coef.device).cumsum(0)
        gt_masks = torch.cat([F.pad(mk, (0, w - mk.shape[-1], 0, h - mk.shape[-2])) for mk in masks])
        img_idx, anchor_idx = asg.fg.nonzero(as_tuple=True)
        if len(img_idx) > cfg.max_mask_rois * coef.shape[0]:  # keep the cost bounded: a random subset
            keep = torch.randperm(len(img_idx), device=img_idx.device)[: cfg.max_mask_rois * coef.shape[0]]
            img_idx, anchor_idx = img_idx[keep], anchor_idx[keep]
        gt_idx = asg.gt_index[img_idx, anchor_idx] + offsets[img_idx]
        return mask_loss(
            protos,
            coef[img_idx, anchor_idx],
            img_idx,
            asg.boxes[img_idx, anchor_idx],
            gt_masks,
            gt_idx,
            cfg.mask_size,
            PROTO_STRIDE,
        )

    # ------------------------------------------------------------------ inference
    def _postprocess(
        self, cls: Tensor, boxes: Tensor, coef: Tensor | None, protos: Tensor | None, image_sizes: list[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        results: list[dict[str, Tensor]] = []
        nc = self.num_classes
        for i, (h, w) in enumerate(image_sizes):
            scores = cls[i].sigmoid().flatten()
            top, idx = scores.topk(_topk_min(scores, self.pre_nms_top_n, 0))
            keep = top > self.score_thresh
            top, idx = top[keep], idx[keep]
            anchor = torch.div(idx, nc, rounding_mode="floor")
            labels = idx - anchor * nc
            bx = boxes[i][anchor]
            bx = torch.stack(
                [bx[:, 0].clamp(0, w), bx[:, 1].clamp(0, h), bx[:, 2].clamp(0, w), bx[:, 3].clamp(0, h)], 1
            )
            keep = batched_nms(bx, top, labels, self.nms_thresh)[: self.detections_per_img]
            det = {"boxes": bx[keep], "scores": top[keep], "labels": labels[keep] + 1}
            if coef is not None and protos is not None:
                c = coef[i][anchor[keep]]
                rois = torch.cat([torch.zeros_like(det["boxes"][:, :1]), det["boxes"]], 1)
                m = self.cfg.mask_size
                feats = roi_align(
                    protos[i : i + 1], rois, (m, m), spatial_scale=1.0 / PROTO_STRIDE, sampling_ratio=2, aligned=True
                )
                det["masks"] = (c[:, :, None, None] * feats).sum(1, keepdim=True).sigmoid()
            results.append(det)
        return results
