"""Building blocks of the fast one-stage models: conv-BN-SiLU, cross-stage-partial blocks, SPPF.

Plain 3x3 / 1x1 convolutions with BatchNorm and SiLU train well from random init (depthwise and
squeeze-excite blocks, as in MobileNetV3, need ImageNet pre-training to shine), and run efficiently
on a CPU at small widths. The CSP block splits the channels, runs a chain of residual bottlenecks on
one half and concatenates every intermediate output, so gradients reach the early layers through
short paths.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: BatchNorm for small batches that must track their statistics within minutes of training
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm -> SiLU, "same" padding for odd kernels."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1, groups: int = 1, act: bool = True):
        super().__init__(
            nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.SiLU(inplace=True) if act else nn.Identity(),
        )
        self.out_channels = cout


class Bottleneck(nn.Module):
    """Two 3x3 convolutions with a residual connection."""

    def __init__(self, c: int, shortcut: bool = True):
        super().__init__()
        self.cv1 = ConvBNAct(c, c, 3)
        self.cv2 = ConvBNAct(c, c, 3)
        self.add = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class CSPBlock(nn.Module):
    """Cross-stage-partial block: 1x1 split into two halves, ``n`` bottlenecks on the second, every
    intermediate output concatenated, 1x1 fusion to ``cout``."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        self.c = cout // 2
        self.cv1 = ConvBNAct(cin, 2 * self.c, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))
        self.cv2 = ConvBNAct((2 + n) * self.c, cout, 1)
        self.out_channels = cout

    def forward(self, x: Tensor) -> Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for b in self.blocks:
            y.append(b(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast form: three chained 5x5 max-pools concatenated (receptive fields 5, 9, 13)."""

    def __init__(self, cin: int, cout: int, k: int = 5):
        super().__init__()
        c = cin // 2
        self.cv1 = ConvBNAct(cin, c, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)
        self.cv2 = ConvBNAct(4 * c, cout, 1)
        self.out_channels = cout

    def forward(self, x: Tensor) -> Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))
