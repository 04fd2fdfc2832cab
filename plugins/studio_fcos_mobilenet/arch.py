"""``fcos_mobilenet_v3``: torchvision's FCOS head on a MobileNetV3-Large feature pyramid.

Assembled from torchvision parts, with random weights (nothing is downloaded):

- MobileNetV3-Large ``features`` with trainable BatchNorm (momentum 0.1, so that the running
  statistics follow a short training from scratch);
- an FPN on the last block of strides 8, 16 and 32 (blocks 6, 12, 16), 128 channels, plus P6 and P7
  (strides 64 and 128) as FCOS has them;
- ``FCOSHead`` with two conv + GroupNorm layers per branch (torchvision's has four: the heads are most
  of the CPU time at this width) and one location per pixel, sized 8..128 px from P3 to P7.

The builder follows the zoo's conventions (:class:`studio.core.models.ArchSpec`): ``num_classes``
counts the object classes and FCOS gets K + 1 columns, labels 1..K; ``build_model`` installs Studio's
no-resize transform, so the data pipeline owns the image size.
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision.models import mobilenet_v3_large
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.fcos import FCOSHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from studio.core.models import ArchSpec

RETURN_BLOCKS = (6, 12, 16)  # strides 8, 16, 32
FPN_CHANNELS = 128  # a multiple of 32: FCOSHead's GroupNorm has 32 groups
HEAD_CONVS = 2
SIZES = ((8,), (16,), (32,), (64,), (128,))  # P3..P7, one location per pixel (as torchvision's FCOS)


def backbone() -> BackboneWithFPN:
    features = mobilenet_v3_large(weights=None, norm_layer=partial(nn.BatchNorm2d, eps=0.001, momentum=0.1)).features
    return_layers = {str(b): str(i) for i, b in enumerate(RETURN_BLOCKS)}
    in_channels = [features[b].out_channels for b in RETURN_BLOCKS]
    return BackboneWithFPN(
        features, return_layers, in_channels, FPN_CHANNELS, extra_blocks=LastLevelP6P7(FPN_CHANNELS, FPN_CHANNELS)
    )


def build(num_classes: int, image_size: int, score_thr: float, max_detections: int) -> FCOS:
    """The zoo builder: ``num_classes`` object classes (+ the unused column 0), random weights."""
    anchors = AnchorGenerator(SIZES, ((1.0,),) * len(SIZES))
    head = FCOSHead(FPN_CHANNELS, anchors.num_anchors_per_location()[0], num_classes + 1, num_convs=HEAD_CONVS)
    return FCOS(
        backbone(),
        num_classes + 1,
        anchor_generator=anchors,
        head=head,
        score_thresh=score_thr,
        detections_per_img=max_detections,
    )


SPEC = ArchSpec(
    "fcos_mobilenet_v3",
    task="detect",
    family="fcos",
    description="FCOS, MobileNetV3-Large FPN (plugin): anchor-free one-stage detector, trains from scratch on a CPU",
    default_size=320,
    square_input=False,
    cpu_friendly=True,
    tv_weights=None,
    builder=build,
    min_size=64,
)
