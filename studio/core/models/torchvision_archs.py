"""The torchvision detectors of the zoo, built with random weights and Studio's conventions.

Every builder passes ``weights=None, weights_backbone=None`` (building never downloads; pretrained
weights are loaded afterwards by :mod:`studio.core.models.weights`) and ``num_classes = K + 1``:
the R-CNNs and SSD reserve label 0 for background, and RetinaNet / FCOS one-hot the labels they are
given, so with K + 1 columns labels 1..K train as they are and column 0 is never a positive
(:class:`~studio.core.models.transform.NoResizeTransform` drops any label-0 detection).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision.models import detection as tvd
from torchvision.models import get_model_weights

from studio.core.models import finetune
from studio.core.models.spec import ArchSpec

#: family: (task, the prefix of its builder's ``score_thresh`` / ``detections_per_img`` keywords, whether it
#: takes square letterboxed inputs). The R-CNNs take ``box_score_thresh`` / ``box_detections_per_img``;
#: RetinaNet, FCOS, SSD and SSDlite the same two without the ``box_`` prefix.
_FAMILIES: dict[str, tuple[str, str, bool]] = {
    "faster_rcnn": ("detect", "box_", False),
    "mask_rcnn": ("segment", "box_", False),
    "retinanet": ("detect", "", False),
    "fcos": ("detect", "", False),
    "ssd": ("detect", "", True),
    "ssdlite": ("detect", "", True),
}


def _builder(fn: Callable[..., nn.Module], prefix: str) -> Callable[[int, int, float, int], nn.Module]:
    def build(num_classes: int, image_size: int, score_thr: float, max_detections: int) -> nn.Module:
        return fn(
            weights=None,
            weights_backbone=None,
            num_classes=num_classes + 1,
            **{f"{prefix}score_thresh": score_thr, f"{prefix}detections_per_img": max_detections},
        )

    build.__doc__ = f"torchvision {fn.__name__} with K + 1 classes and random weights."
    return build


def _spec(
    fn: Callable[..., nn.Module],
    family: str,
    description: str,
    finetune_setup: Callable[[nn.Module], None] | None,
    *,
    size: int = 800,
    cpu_friendly: bool = False,
    min_size: int = 32,
) -> ArchSpec:
    """The zoo entry of the torchvision builder ``fn``: named after it, with torchvision's weights enum for it.

    Square-input families are letterboxed to ``size`` and not padded further (``size_divisible`` 1)."""
    task, prefix, square = _FAMILIES[family]
    return ArchSpec(
        fn.__name__,
        task=task,
        family=family,
        description=description,
        default_size=size,
        square_input=square,
        cpu_friendly=cpu_friendly,
        tv_weights=get_model_weights(fn).__name__,
        builder=_builder(fn, prefix),
        finetune_setup=finetune_setup,
        size_divisible=1 if square else 32,
        min_size=min_size,
    )


def torchvision_specs() -> list[ArchSpec]:
    r50, mnv3 = "ResNet-50 FPN", "MobileNetV3-Large"
    return [
        _spec(
            tvd.fasterrcnn_resnet50_fpn,
            "faster_rcnn",
            f"Faster R-CNN, {r50}: the classic two-stage detector (COCO box mAP 37.0)",
            finetune.resnet_v1,
        ),
        _spec(
            tvd.fasterrcnn_resnet50_fpn_v2,
            "faster_rcnn",
            f"Faster R-CNN v2, {r50}: the most accurate detector here (COCO box mAP 46.7), slow on CPU",
            finetune.resnet_v2,
        ),
        _spec(
            tvd.fasterrcnn_mobilenet_v3_large_fpn,
            "faster_rcnn",
            f"Faster R-CNN, {mnv3} FPN: fast, weak on small objects (COCO box mAP 32.8)",
            finetune.mobilenet_fpn,
            cpu_friendly=True,
        ),
        _spec(
            tvd.fasterrcnn_mobilenet_v3_large_320_fpn,
            "faster_rcnn",
            f"Faster R-CNN, {mnv3} FPN at 320 px: the fastest two-stage detector (COCO box mAP 22.8)",
            finetune.mobilenet_fpn,
            size=320,
            cpu_friendly=True,
        ),
        _spec(
            tvd.retinanet_resnet50_fpn,
            "retinanet",
            f"RetinaNet, {r50}: one-stage detector with focal loss (COCO box mAP 36.4)",
            finetune.resnet_v1,
        ),
        _spec(
            tvd.retinanet_resnet50_fpn_v2,
            "retinanet",
            f"RetinaNet v2, {r50}: improved one-stage detector (COCO box mAP 41.5)",
            finetune.resnet_v2,
        ),
        _spec(
            tvd.fcos_resnet50_fpn,
            "fcos",
            f"FCOS, {r50}: anchor-free one-stage detector (COCO box mAP 39.2)",
            finetune.resnet_v1,
        ),
        _spec(
            tvd.ssd300_vgg16,
            "ssd",
            "SSD300, VGG16: single-shot detector on square 300 px inputs (COCO box mAP 25.1)",
            finetune.vgg_ssd,
            size=300,
            min_size=268,
        ),
        _spec(
            tvd.ssdlite320_mobilenet_v3_large,
            "ssdlite",
            f"SSDlite, {mnv3}: tiny single-shot detector on square 320 px inputs (COCO box mAP 21.3)",
            None,
            size=320,
            cpu_friendly=True,
        ),
        _spec(
            tvd.maskrcnn_resnet50_fpn,
            "mask_rcnn",
            f"Mask R-CNN, {r50}: the classic instance segmenter (COCO mask mAP 34.6)",
            finetune.resnet_v1,
        ),
        _spec(
            tvd.maskrcnn_resnet50_fpn_v2,
            "mask_rcnn",
            f"Mask R-CNN v2, {r50}: the most accurate instance segmenter here (COCO mask mAP 41.8)",
            finetune.resnet_v2,
        ),
    ]
