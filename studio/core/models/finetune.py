"""What torchvision does to a detector it builds with pretrained weights, applied to one built without.

The zoo builds every model with random weights (nothing is downloaded at build time), which gives
torchvision's from-scratch variant: trainable BatchNorm and every backbone stage trainable. When
pretrained weights are then loaded, fine-tuning should follow the reference recipe instead, since
BatchNorm statistics re-estimated from batches of 2-8 images wreck pretrained features:

- ResNet-50 v1 and MobileNetV3 FPN backbones: BatchNorm becomes ``FrozenBatchNorm2d`` (statistics and
  affine parameters fixed) and the first stages are frozen (torchvision's ``trainable_backbone_layers``
  default of 3);
- ResNet-50 v2 backbones keep BatchNorm but freeze the stem and ``layer1``;
- SSD300's VGG16 freezes its first block; SSDlite freezes nothing.

The trainer must optimise only ``p for p in model.parameters() if p.requires_grad``.
"""

from __future__ import annotations

from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

RESNET_TRAINABLE = ("layer2", "layer3", "layer4")


def freeze_batchnorm(module: nn.Module) -> int:
    """Replace every ``nn.BatchNorm2d`` under ``module`` by a ``FrozenBatchNorm2d`` with its statistics.

    Called on a freshly built CPU model, before weights are loaded. Returns how many were replaced.
    """
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            if child.affine:
                frozen.weight.copy_(child.weight.detach())
                frozen.bias.copy_(child.bias.detach())
            if child.running_mean is not None:
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
            count += 1
        else:
            count += freeze_batchnorm(child)
    return count


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def resnet_v1(model: nn.Module) -> None:
    """fasterrcnn/maskrcnn/retinanet/fcos ``_resnet50_fpn``: frozen BN, stem and layer1 frozen."""
    body = model.backbone.body
    freeze_batchnorm(body)
    resnet_v2(model)


def resnet_v2(model: nn.Module) -> None:
    """The ``_v2`` ResNet-50 models: BN stays trainable, stem and layer1 frozen."""
    for name, p in model.backbone.body.named_parameters():
        if not name.startswith(RESNET_TRAINABLE):
            p.requires_grad_(False)


def mobilenet_fpn(model: nn.Module) -> None:
    """fasterrcnn_mobilenet_v3_large(_320)_fpn: frozen BN, all but the last 3 of 6 stages frozen."""
    body = model.backbone.body
    freeze_batchnorm(body)
    blocks = list(body.children())
    stages = [0] + [i for i, b in enumerate(blocks) if getattr(b, "_is_cn", False)] + [len(blocks) - 1]
    for block in blocks[: stages[len(stages) - 3]]:
        _freeze(block)


def vgg_ssd(model: nn.Module) -> None:
    """ssd300_vgg16: the first VGG block (before the first max-pool) frozen, as in torchvision."""
    features = model.backbone.features
    first_pool = next(i for i, b in enumerate(features) if isinstance(b, nn.MaxPool2d))
    for block in list(features)[:first_pool]:
        _freeze(block)
