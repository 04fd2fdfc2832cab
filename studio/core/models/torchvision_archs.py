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

from studio.core.models import finetune
from studio.core.models.spec import ArchSpec


def _builder(fn: Callable[..., nn.Module], prefix: str) -> Callable[[int, int, float, int], nn.Module]:
    """The R-CNNs take ``box_score_thresh`` / ``box_detections_per_img``; RetinaNet, FCOS, SSD and
    SSDlite take the same two without the ``box_`` prefix."""

    def build(num_classes: int, image_size: int, score_thr: float, max_detections: int) -> nn.Module:
        return fn(
            weights=None,
            weights_backbone=None,
            num_classes=num_classes + 1,
            **{f"{prefix}score_thresh": score_thr, f"{prefix}detections_per_img": max_detections},
        )

    build.__doc__ = f"torchvision {fn.__name__} with K + 1 classes and random weights."
    return build


def _rcnn(fn: Callable[..., nn.Module]) -> Callable[[int, int, float, int], nn.Module]:
    return _builder(fn, "box_")


def _dense(fn: Callable[..., nn.Module]) -> Callable[[int, int, float, int], nn.Module]:
    return _builder(fn, "")


def torchvision_specs() -> list[ArchSpec]:
    r50 = "ResNet-50 FPN"
    return [
        ArchSpec(
            "fasterrcnn_resnet50_fpn",
            task="detect",
            family="faster_rcnn",
            description=f"Faster R-CNN, {r50}: the classic two-stage detector (COCO box mAP 37.0)",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="FasterRCNN_ResNet50_FPN_Weights",
            builder=_rcnn(tvd.fasterrcnn_resnet50_fpn),
            finetune_setup=finetune.resnet_v1,
        ),
        ArchSpec(
            "fasterrcnn_resnet50_fpn_v2",
            task="detect",
            family="faster_rcnn",
            description=f"Faster R-CNN v2, {r50}: the most accurate detector here (COCO box mAP 46.7), slow on CPU",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="FasterRCNN_ResNet50_FPN_V2_Weights",
            builder=_rcnn(tvd.fasterrcnn_resnet50_fpn_v2),
            finetune_setup=finetune.resnet_v2,
        ),
        ArchSpec(
            "fasterrcnn_mobilenet_v3_large_fpn",
            task="detect",
            family="faster_rcnn",
            description="Faster R-CNN, MobileNetV3-Large FPN: fast, weak on small objects (COCO box mAP 32.8)",
            default_size=800,
            square_input=False,
            cpu_friendly=True,
            tv_weights="FasterRCNN_MobileNet_V3_Large_FPN_Weights",
            builder=_rcnn(tvd.fasterrcnn_mobilenet_v3_large_fpn),
            finetune_setup=finetune.mobilenet_fpn,
        ),
        ArchSpec(
            "fasterrcnn_mobilenet_v3_large_320_fpn",
            task="detect",
            family="faster_rcnn",
            description=(
                "Faster R-CNN, MobileNetV3-Large FPN at 320 px: the fastest two-stage detector (COCO box mAP 22.8)"
            ),
            default_size=320,
            square_input=False,
            cpu_friendly=True,
            tv_weights="FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
            builder=_rcnn(tvd.fasterrcnn_mobilenet_v3_large_320_fpn),
            finetune_setup=finetune.mobilenet_fpn,
        ),
        ArchSpec(
            "retinanet_resnet50_fpn",
            task="detect",
            family="retinanet",
            description=f"RetinaNet, {r50}: one-stage detector with focal loss (COCO box mAP 36.4)",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="RetinaNet_ResNet50_FPN_Weights",
            builder=_dense(tvd.retinanet_resnet50_fpn),
            finetune_setup=finetune.resnet_v1,
        ),
        ArchSpec(
            "retinanet_resnet50_fpn_v2",
            task="detect",
            family="retinanet",
            description=f"RetinaNet v2, {r50}: improved one-stage detector (COCO box mAP 41.5)",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="RetinaNet_ResNet50_FPN_V2_Weights",
            builder=_dense(tvd.retinanet_resnet50_fpn_v2),
            finetune_setup=finetune.resnet_v2,
        ),
        ArchSpec(
            "fcos_resnet50_fpn",
            task="detect",
            family="fcos",
            description=f"FCOS, {r50}: anchor-free one-stage detector (COCO box mAP 39.2)",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="FCOS_ResNet50_FPN_Weights",
            builder=_dense(tvd.fcos_resnet50_fpn),
            finetune_setup=finetune.resnet_v1,
        ),
        ArchSpec(
            "ssd300_vgg16",
            task="detect",
            family="ssd",
            description="SSD300, VGG16: single-shot detector on square 300 px inputs (COCO box mAP 25.1)",
            default_size=300,
            square_input=True,
            cpu_friendly=False,
            tv_weights="SSD300_VGG16_Weights",
            builder=_dense(tvd.ssd300_vgg16),
            finetune_setup=finetune.vgg_ssd,
            size_divisible=1,
            min_size=268,
        ),
        ArchSpec(
            "ssdlite320_mobilenet_v3_large",
            task="detect",
            family="ssdlite",
            description=(
                "SSDlite, MobileNetV3-Large: tiny single-shot detector on square 320 px inputs (COCO box mAP 21.3)"
            ),
            default_size=320,
            square_input=True,
            cpu_friendly=True,
            tv_weights="SSDLite320_MobileNet_V3_Large_Weights",
            builder=_dense(tvd.ssdlite320_mobilenet_v3_large),
            finetune_setup=None,
            size_divisible=1,
        ),
        ArchSpec(
            "maskrcnn_resnet50_fpn",
            task="segment",
            family="mask_rcnn",
            description=f"Mask R-CNN, {r50}: the classic instance segmenter (COCO mask mAP 34.6)",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="MaskRCNN_ResNet50_FPN_Weights",
            builder=_rcnn(tvd.maskrcnn_resnet50_fpn),
            finetune_setup=finetune.resnet_v1,
        ),
        ArchSpec(
            "maskrcnn_resnet50_fpn_v2",
            task="segment",
            family="mask_rcnn",
            description=f"Mask R-CNN v2, {r50}: the most accurate instance segmenter here (COCO mask mAP 41.8)",
            default_size=800,
            square_input=False,
            cpu_friendly=False,
            tv_weights="MaskRCNN_ResNet50_FPN_V2_Weights",
            builder=_rcnn(tvd.maskrcnn_resnet50_fpn_v2),
            finetune_setup=finetune.resnet_v2,
        ),
    ]
