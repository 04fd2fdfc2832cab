"""torchvision classification networks as backbones of the fast models, and freezing backbone stages.

The CSP backbone of :mod:`.net` learns from scratch; these trade CPU speed for ImageNet features when
torchvision's classification weights are at hand (``model.backbone`` + ``model.weights: DEFAULT``).
Each is cut after its stride-32 stage and tapped at strides 8, 16 and 32; a 1x1 conv-BN-SiLU adapter
per level brings the channels to those of the CSP backbone, so the PAN, the head and their cost stay
the same whatever the backbone.

The torchvision layers live under ``backbone.body`` with their own names (``conv1``, ``layer1``...;
EfficientNet's ``features.N`` as ``N``; RegNet's ``stem`` and ``trunk_output``), so a torchvision
state dict loads through the weights loader's existing name mappings, and everything under
``backbone.body`` is what "pretrained backbone" means for the lower learning rate.

Freezing counts backbone *stages* from the input: 1 is the stem, 2 adds the stride-4 stage, ...,
5 (``all``) the whole pretrained body. The adapters are new layers and always train.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.models._utils import IntermediateLayerGetter

from studio.core.models.fast.blocks import ConvBNAct
from studio.core.models.spec import BACKBONE_STAGES

#: the from-scratch backbone of :mod:`.net`
CSP = "csp"
#: stages of every backbone, from the input: stem, then strides 4, 8, 16 and 32
NUM_STAGES = BACKBONE_STAGES
#: the prefix of the pretrained parameters (those given the lower learning rate)
BODY_PREFIX = "backbone.body."


@dataclass(frozen=True)
class BackboneInfo:
    """One torchvision backbone: its weights enum, how to build it, and how it splits into stages."""

    name: str
    weights_enum: str
    build: Callable[[], nn.Module]  # the torchvision classifier, random init
    channels: tuple[int, int, int]  # of the tapped levels (strides 8, 16, 32)
    description: str


def _resnet_body(net: nn.Module) -> nn.Module:
    return IntermediateLayerGetter(net, {"layer2": "0", "layer3": "1", "layer4": "2"})


def _efficientnet_body(net: nn.Module) -> nn.Module:
    # features 0: stem (s2), 1: s2, 2: s4, 3: s8, 4-5: s16, 6-7: s32; 8 (the 1x1 to 1280 channels) is dropped
    return IntermediateLayerGetter(nn.Sequential(*list(net.features)[:8]), {"3": "0", "5": "1", "7": "2"})


class RegNetBody(nn.Module):
    """RegNet's ``stem`` and ``trunk_output`` (block1..block4) under their torchvision names, tapped at
    block2..block4 (strides 8, 16, 32)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.stem = net.stem
        self.trunk_output = net.trunk_output

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        x = self.stem(x)
        out: OrderedDict[str, Tensor] = OrderedDict()
        for i, block in enumerate(self.trunk_output):
            x = block(x)
            if i >= 1:
                out[str(i - 1)] = x
        return out


BACKBONES: dict[str, BackboneInfo] = {
    b.name: b
    for b in (
        BackboneInfo("resnet18", "ResNet18_Weights", tvm.resnet18, (128, 256, 512), "ResNet-18"),
        BackboneInfo("resnet34", "ResNet34_Weights", tvm.resnet34, (128, 256, 512), "ResNet-34"),
        BackboneInfo("resnet50", "ResNet50_Weights", tvm.resnet50, (512, 1024, 2048), "ResNet-50"),
        BackboneInfo(
            "efficientnet_b0", "EfficientNet_B0_Weights", tvm.efficientnet_b0, (40, 112, 320), "EfficientNet-B0"
        ),
        BackboneInfo("regnet_y_400mf", "RegNet_Y_400MF_Weights", tvm.regnet_y_400mf, (104, 208, 440), "RegNetY-400MF"),
        BackboneInfo("regnet_x_400mf", "RegNet_X_400MF_Weights", tvm.regnet_x_400mf, (64, 160, 400), "RegNetX-400MF"),
    )
}


def backbone_choices() -> tuple[tuple[str, str | None], ...]:
    """``(name, torchvision weights enum or None)`` of every backbone, the from-scratch CSP first."""
    return ((CSP, None),) + tuple((b.name, b.weights_enum) for b in BACKBONES.values())


def _body(name: str) -> nn.Module:
    net = BACKBONES[name].build()
    family = _family(name)
    if family == "resnet":
        return _resnet_body(net)
    if family == "efficientnet":
        return _efficientnet_body(net)
    return RegNetBody(net)


#: the body's modules of each stage (stem, strides 4, 8, 16, 32), by name: resolved on each call, so a
#: module replaced later (SyncBatchNorm conversion) is the one frozen
STAGE_NAMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "resnet": (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",)),
    "efficientnet": (("0",), ("1", "2"), ("3",), ("4", "5"), ("6", "7")),
    "regnet": (
        ("stem",),
        ("trunk_output.block1",),
        ("trunk_output.block2",),
        ("trunk_output.block3",),
        ("trunk_output.block4",),
    ),
}


def _family(name: str) -> str:
    return next(f for f in STAGE_NAMES if name.startswith(f))


class TorchvisionBackbone(nn.Module):
    """A torchvision classifier's layers (``body``) tapped at strides 8/16/32, then 1x1 channel adapters.

    Returns ``{"0": stride 8, "1": stride 16, "2": stride 32}`` with ``out_channels`` channels, like the
    CSP backbone.
    """

    def __init__(self, name: str, out_channels: Sequence[int]):
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}: {', '.join(BACKBONES)}")
        self.name = name
        self.body = _body(name)
        taps = BACKBONES[name].channels
        self.adapters = nn.ModuleList(ConvBNAct(c_in, c_out, 1) for c_in, c_out in zip(taps, out_channels))
        self.out_channels = tuple(out_channels)

    def stages(self) -> list[list[nn.Module]]:
        """The body's modules grouped in the :data:`NUM_STAGES` stages, from the input."""
        return [[self.body.get_submodule(n) for n in names] for names in STAGE_NAMES[_family(self.name)]]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        feats = self.body(x)
        return OrderedDict((k, a(f)) for (k, f), a in zip(feats.items(), self.adapters))


def freeze_stages(stages: list[list[nn.Module]], count: int) -> None:
    """``requires_grad = False`` on the parameters of the first ``count`` stages."""
    for group in stages[:count]:
        for module in group:
            for p in module.parameters():
                p.requires_grad_(False)


def keep_frozen_in_eval(stages: list[list[nn.Module]], count: int) -> None:
    """Put the first ``count`` stages in eval mode (called after every ``model.train()``).

    ``requires_grad = False`` stops the optimiser, but not BatchNorm: in training mode it normalises
    with the batch's statistics and keeps updating its running mean and variance, which are buffers,
    not parameters. A "frozen" stage would still drift towards the statistics of small fine-tuning
    batches (2-8 images), undoing the pretrained features, and would compute something else in
    training than at evaluation. In eval mode it uses, and keeps, the pretrained statistics.
    """
    for group in stages[:count]:
        for module in group:
            module.eval()
