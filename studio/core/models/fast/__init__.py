"""``seg_fast`` and ``det_fast``: one-stage models engineered to learn from scratch on a CPU (see :mod:`.net`)."""

from __future__ import annotations

from studio.core.models.fast.backbones import CSP, backbone_choices
from studio.core.models.fast.net import DEFAULT, FastConfig, FastDetector
from studio.core.models.spec import ArchSpec


def seg_fast(
    num_classes: int,
    image_size: int,
    score_thr: float,
    max_detections: int,
    *,
    backbone: str = CSP,
    freeze_backbone: int = 0,
) -> FastDetector:
    """Zoo builder of ``seg_fast``."""
    return FastDetector(
        num_classes,
        masks=True,
        image_size=image_size,
        score_thr=score_thr,
        max_detections=max_detections,
        backbone=backbone,
        freeze_backbone=freeze_backbone,
    )


def det_fast(
    num_classes: int,
    image_size: int,
    score_thr: float,
    max_detections: int,
    *,
    backbone: str = CSP,
    freeze_backbone: int = 0,
) -> FastDetector:
    """Zoo builder of ``det_fast``: ``seg_fast`` without prototypes and mask coefficients."""
    return FastDetector(
        num_classes,
        masks=False,
        image_size=image_size,
        score_thr=score_thr,
        max_detections=max_detections,
        backbone=backbone,
        freeze_backbone=freeze_backbone,
    )


def fast_specs() -> list[ArchSpec]:
    return [
        ArchSpec(
            "seg_fast",
            task="segment",
            family="fast",
            description=(
                "One-stage segmenter (CSP backbone, PAN, task-aligned head, prototype masks), learns fastest "
                "from scratch on a CPU: the default for polygon datasets"
            ),
            default_size=320,
            square_input=False,
            cpu_friendly=True,
            tv_weights=None,
            builder=seg_fast,
            backbones=backbone_choices(),
        ),
        ArchSpec(
            "det_fast",
            task="detect",
            family="fast",
            description=(
                "One-stage detector (seg_fast without masks), learns fastest from scratch on a CPU: the default "
                "for box-only datasets"
            ),
            default_size=320,
            square_input=False,
            cpu_friendly=True,
            tv_weights=None,
            builder=det_fast,
            backbones=backbone_choices(),
        ),
    ]


__all__ = ["DEFAULT", "FastConfig", "FastDetector", "fast_specs", "seg_fast", "det_fast"]
