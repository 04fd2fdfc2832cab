"""``seg_lite`` and ``det_lite``: Mask / Faster R-CNN sized to train from scratch on a laptop CPU.

No pretrained weights can be assumed (offline installs, small custom datasets), so everything here
is chosen to learn from random init with batches of 2-8 images at ~320 px:

- MobileNetV3-Large backbone with *trainable* BatchNorm (torchvision's frozen BN only makes sense on
  top of ImageNet statistics) and a faster running-statistics momentum than MobileNetV3's 0.01, so
  that evaluation statistics catch up within a short training;
- an FPN on three backbone stages (strides 8, 16, 32, plus the max-pool level at 64) instead of
  torchvision's mobile variant, which only taps stride 32 and misses small objects;
- a narrow FPN, few RPN proposals and sampled RoIs, a small box head and a small mask head: the
  R-CNN heads, not the backbone, dominate CPU time at this size.

Every choice is a field of :class:`LiteConfig`, so tuning is a matter of changing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from torch import nn
from torchvision.models import mobilenet_v3_large
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from studio.core.models.spec import ArchSpec


@dataclass(frozen=True)
class LiteConfig:
    """The knobs of the lite models. The defaults are a first CPU-sized guess, not a tuned optimum."""

    #: MobileNetV3-Large ``features`` blocks fed to the FPN, the last block of each stride (8, 16, 32).
    return_blocks: tuple[int, ...] = (6, 12, 16)
    width_mult: float = 1.0
    reduced_tail: bool = False
    bn_momentum: float = 0.1
    fpn_channels: int = 96
    #: anchor sizes in input pixels, one tuple per FPN level (``return_blocks`` + the max-pool level)
    anchor_sizes: tuple[tuple[int, ...], ...] = ((24, 32), (48, 64), (96, 128), (192, 256))
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_train: int = 600  # per FPN level
    rpn_post_nms_train: int = 150
    rpn_pre_nms_test: int = 300
    rpn_post_nms_test: int = 100
    rpn_batch_size_per_image: int = 128
    box_batch_size_per_image: int = 128
    #: 0: torchvision's TwoMLPHead; n > 0: n 3x3 conv layers (fpn_channels wide, BatchNorm) and one fc
    box_head_convs: int = 0
    box_representation: int = 256
    mask_head_convs: int = 2
    mask_head_channels: int = 64

    def __post_init__(self) -> None:
        levels = len(self.return_blocks) + 1
        if len(self.anchor_sizes) != levels:
            raise ValueError(
                f"anchor_sizes has {len(self.anchor_sizes)} levels, but return_blocks {self.return_blocks} "
                f"plus the max-pool level make {levels}"
            )
        if self.mask_head_convs < 1:
            raise ValueError(f"mask_head_convs must be at least 1, got {self.mask_head_convs}")


DEFAULT = LiteConfig()


def _backbone(cfg: LiteConfig) -> BackboneWithFPN:
    norm = partial(nn.BatchNorm2d, momentum=cfg.bn_momentum)
    features = mobilenet_v3_large(
        weights=None, norm_layer=norm, width_mult=cfg.width_mult, reduced_tail=cfg.reduced_tail
    ).features
    if max(cfg.return_blocks) >= len(features):
        raise ValueError(f"return_blocks {cfg.return_blocks}: MobileNetV3-Large has blocks 0..{len(features) - 1}")
    return_layers = {str(b): str(i) for i, b in enumerate(cfg.return_blocks)}
    in_channels = [features[b].out_channels for b in cfg.return_blocks]
    return BackboneWithFPN(features, return_layers, in_channels, cfg.fpn_channels, extra_blocks=LastLevelMaxPool())


def _box_head(cfg: LiteConfig) -> nn.Module:
    c = cfg.fpn_channels
    if cfg.box_head_convs == 0:
        return TwoMLPHead(c * 7 * 7, cfg.box_representation)
    return FastRCNNConvFCHead((c, 7, 7), [c] * cfg.box_head_convs, [cfg.box_representation], norm_layer=nn.BatchNorm2d)


def build_lite(
    num_classes: int,
    *,
    masks: bool,
    score_thr: float = 0.05,
    max_detections: int = 100,
    config: LiteConfig = DEFAULT,
) -> FasterRCNN:
    """A Faster R-CNN (``masks=False``) or Mask R-CNN with ``num_classes`` object classes (+ background)."""
    cfg = config
    backbone = _backbone(cfg)
    levels = [str(i) for i in range(len(cfg.return_blocks))]
    anchors = AnchorGenerator(cfg.anchor_sizes, (cfg.aspect_ratios,) * len(cfg.anchor_sizes))
    kwargs = dict(
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(cfg.fpn_channels, anchors.num_anchors_per_location()[0]),
        rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_train,
        rpn_post_nms_top_n_train=cfg.rpn_post_nms_train,
        rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_test,
        rpn_post_nms_top_n_test=cfg.rpn_post_nms_test,
        rpn_batch_size_per_image=cfg.rpn_batch_size_per_image,
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=_box_head(cfg),
        box_predictor=FastRCNNPredictor(cfg.box_representation, num_classes + 1),
        box_batch_size_per_image=cfg.box_batch_size_per_image,
        box_score_thresh=score_thr,
        box_detections_per_img=max_detections,
    )
    if not masks:
        return FasterRCNN(backbone, num_classes=None, **kwargs)
    ch = cfg.mask_head_channels
    return MaskRCNN(
        backbone,
        num_classes=None,
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(cfg.fpn_channels, [ch] * cfg.mask_head_convs, dilation=1),
        mask_predictor=MaskRCNNPredictor(ch, ch, num_classes + 1),
        **kwargs,
    )


def seg_lite(num_classes: int, image_size: int, score_thr: float, max_detections: int) -> MaskRCNN:
    """Zoo builder of ``seg_lite`` (anchors are in pixels, so ``image_size`` does not change the model)."""
    return build_lite(num_classes, masks=True, score_thr=score_thr, max_detections=max_detections)


def det_lite(num_classes: int, image_size: int, score_thr: float, max_detections: int) -> FasterRCNN:
    """Zoo builder of ``det_lite``: ``seg_lite`` without the mask branch."""
    return build_lite(num_classes, masks=False, score_thr=score_thr, max_detections=max_detections)


def lite_specs() -> list[ArchSpec]:
    return [
        ArchSpec(
            "seg_lite",
            task="segment",
            family="lite",
            description=(
                "Light Mask R-CNN (MobileNetV3 FPN), trains from scratch on a CPU: the default for polygon datasets"
            ),
            default_size=320,
            square_input=False,
            cpu_friendly=True,
            tv_weights=None,
            builder=seg_lite,
        ),
        ArchSpec(
            "det_lite",
            task="detect",
            family="lite",
            description=(
                "Light Faster R-CNN (MobileNetV3 FPN), trains from scratch on a CPU: the default for box-only datasets"
            ),
            default_size=320,
            square_input=False,
            cpu_friendly=True,
            tv_weights=None,
            builder=det_lite,
        ),
    ]
