"""A torchvision detection transform that normalises and batches but never resizes.

Studio's data pipeline owns resizing (``data.image_size``, letterbox or not), the same way in training,
evaluation, ``studio predict`` and the exported model. torchvision's ``GeneralizedRCNNTransform``
would resize a second time (to ``min_size`` / ``max_size``, or SSD's fixed 300/320) and map the
predictions back, so what the model sees would depend on settings hidden in each architecture.
:class:`NoResizeTransform` replaces it on every model of the zoo: the model sees the tensor it is
given, padded at the right and bottom to a multiple of ``size_divisible``, and its predictions come
back in the pixel coordinates of that tensor.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.models.detection.transform import GeneralizedRCNNTransform


class NoResizeTransform(GeneralizedRCNNTransform):
    """Normalise with the architecture's mean/std, pad-batch to ``size_divisible``, never resize.

    Subclassing (rather than wrapping) keeps what the torchvision models rely on: ``ImageList``
    output, the ONNX-friendly batching path and the ``postprocess`` hook. ``postprocess`` leaves box
    coordinates as they are, pastes RoI mask probabilities into (N, 1, H, W) at the input size, and
    drops label 0: RetinaNet and FCOS score a background column too (they are built with K + 1
    classes so that labels 1..K mean the same thing in every model), and it is never an object.
    """

    def __init__(self, image_mean: list[float], image_std: list[float], size_divisible: int = 32):
        super().__init__(
            min_size=1,
            max_size=1,
            image_mean=list(image_mean),
            image_std=list(image_std),
            size_divisible=size_divisible,
        )

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor] | None]:
        return image, target

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        if self.training:
            return result
        for i, (pred, size) in enumerate(zip(result, original_image_sizes)):
            keep = pred["labels"] > 0
            kept: dict[str, Tensor] = {}
            for k, v in pred.items():  # a loop, not a dict comprehension: TorchScript-friendly
                kept[k] = v[keep]
            if "masks" in kept:
                kept["masks"] = paste_masks_in_image(kept["masks"], kept["boxes"], size)
            result[i] = kept
        return result

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(Normalize(mean={self.image_mean}, std={self.image_std}), "
            f"no resize, pad to a multiple of {self.size_divisible})"
        )


def install_transform(model: nn.Module, size_divisible: int = 32) -> nn.Module:
    """Replace a torchvision-style model's ``transform`` by :class:`NoResizeTransform`, keeping its mean/std.

    Models without a ``GeneralizedRCNNTransform`` (plugins that batch their own way) are left alone.
    """
    old = getattr(model, "transform", None)
    if isinstance(old, GeneralizedRCNNTransform):
        model.transform = NoResizeTransform(old.image_mean, old.image_std, size_divisible)
    return model


def uses_no_resize(model: nn.Module) -> bool:
    """True when ``model`` will see its inputs at their own size (what Studio requires)."""
    return isinstance(getattr(model, "transform", None), NoResizeTransform)


__all__ = ["NoResizeTransform", "install_transform", "uses_no_resize"]
