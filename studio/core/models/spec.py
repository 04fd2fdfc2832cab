"""What the zoo knows about one architecture (:class:`ArchSpec`), independent of how it is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Literal

from torch import nn

Task = Literal["detect", "segment"]

#: stages of an architecture's backbone choices, from the input: stem, then strides 4, 8, 16 and 32
#: (``model.freeze_backbone: all`` freezes them all)
BACKBONE_STAGES = 5

#: builder(num_classes, image_size, score_thr, max_detections) -> model, with random weights.
#: ``num_classes`` counts object classes only (K); a builder adds the background class itself where
#: its family needs one (every torchvision detector here takes K + 1 and uses labels 1..K).
Builder = Callable[[int, int, float, int], nn.Module]


@dataclass(frozen=True)
class ArchSpec:
    """One entry of the model zoo, as the GUI lists it and as :func:`studio.core.models.build_model` builds it.

    Every field but ``name`` is keyword-only: ``ArchSpec("my_arch", task="detect", family="fcos", ...)``.

    ``finetune_setup`` reproduces what torchvision does to a model it builds *with* pretrained weights
    (frozen batch norm, frozen first stages) so that fine-tuning from loaded weights behaves like the
    reference recipes; it is applied by ``build_model`` whenever weights are loaded.
    ``size_divisible`` is the stride the batch is padded to: 32 for FPN models, 1 for SSD, whose
    inputs are already letterboxed squares (its stock transform does not pad either).
    ``min_size`` is the smallest ``data.image_size`` the network accepts (SSD300's last VGG extras
    are unpadded 3x3 convolutions: 268 px).
    ``backbones`` lists the ``model.backbone`` choices, the default first, each with the torchvision
    weights enum whose ``DEFAULT`` / ``IMAGENET1K_V1`` it loads (None: no torchvision weights); the
    builder of such an architecture takes the keywords ``backbone`` and ``freeze_backbone`` (a number
    of stages). Empty: the architecture has one backbone, and ``tv_weights`` names its weights.
    """

    name: str
    _: KW_ONLY
    task: Task
    family: str
    description: str
    default_size: int
    square_input: bool
    cpu_friendly: bool
    tv_weights: str | None
    builder: Builder
    finetune_setup: Callable[[nn.Module], None] | None = None
    size_divisible: int = 32
    min_size: int = 32
    backbones: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        if self.task not in ("detect", "segment"):
            raise ValueError(f"arch {self.name!r}: task must be 'detect' or 'segment', got {self.task!r}")
        if self.default_size < 32:
            raise ValueError(f"arch {self.name!r}: default_size must be at least 32, got {self.default_size}")
        if self.backbones and len({b for b, _ in self.backbones}) != len(self.backbones):
            raise ValueError(f"arch {self.name!r}: backbone names must be unique")
        if self.size_divisible < 1:
            raise ValueError(f"arch {self.name!r}: size_divisible must be at least 1, got {self.size_divisible}")

    def backbone_weights(self, backbone: str | None) -> str | None:
        """The torchvision weights enum of ``backbone`` (None: the default one), or ``tv_weights`` for an
        architecture without backbone choices."""
        if not self.backbones or backbone is None:
            return self.backbones[0][1] if self.backbones else self.tv_weights
        return dict(self.backbones).get(backbone)
