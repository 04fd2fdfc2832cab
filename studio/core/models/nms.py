"""The detection NMS of every zoo model under two names: its IoU threshold and its pre-NMS top-k.

Each family keeps them in its own attributes, and an export (or anything else) that wants other
settings than the model was built with sets them here, on the model itself, so that ``studio predict``
with the same settings and the traced graph run the very same post-processing:

=====================  ===========================  ==========================================================
family                 ``iou``                      ``pre_nms_topk``
=====================  ===========================  ==========================================================
fast (seg/det_fast)    ``nms_thresh``               ``pre_nms_top_n``: best (anchor, class) scores kept before NMS
R-CNNs (+ lite)        ``roi_heads.nms_thresh``     ``rpn._pre_nms_top_n["testing"]``: proposals per FPN level
                                                    kept before the RPN's NMS (the box NMS has no top-k)
RetinaNet, FCOS, SSD   ``nms_thresh``               ``topk_candidates``: candidates per level (SSD: per class)
=====================  ===========================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from studio.core.errors import StudioError

#: the option names of the export format table (:mod:`studio.core.export.formats`)
IOU_OPTION = "nms_iou"
TOPK_OPTION = "pre_nms_topk"


@dataclass(frozen=True)
class NmsSettings:
    """A model's NMS IoU threshold and pre-NMS top-k; None where it has no such setting."""

    iou: float | None
    pre_nms_topk: int | None

    def as_options(self) -> dict[str, float | int | None]:
        """Keyed like the export options."""
        return {IOU_OPTION: self.iou, TOPK_OPTION: self.pre_nms_topk}


def _iou_holder(model: nn.Module) -> object | None:
    heads = getattr(model, "roi_heads", None)
    if heads is not None and hasattr(heads, "nms_thresh"):
        return heads
    return model if hasattr(model, "nms_thresh") else None


def _rpn_topk(model: nn.Module) -> dict | None:
    """An R-CNN's RPN ``_pre_nms_top_n`` dict (``{"training": n, "testing": n}``), else None."""
    topn = getattr(getattr(model, "rpn", None), "_pre_nms_top_n", None)
    return topn if isinstance(topn, dict) and "testing" in topn else None


def _topk_attr(model: nn.Module) -> str | None:
    for name in ("pre_nms_top_n", "topk_candidates"):
        if isinstance(getattr(model, name, None), int):
            return name
    return None


def nms_settings(model: nn.Module) -> NmsSettings:
    """What ``model`` uses now (at inference)."""
    holder = _iou_holder(model)
    iou = float(holder.nms_thresh) if holder is not None else None
    rpn = _rpn_topk(model)
    attr = _topk_attr(model)
    topk = int(rpn["testing"]) if rpn is not None else int(getattr(model, attr)) if attr else None
    return NmsSettings(iou, topk)


def configure_nms(model: nn.Module, iou: float | None = None, pre_nms_topk: int | None = None) -> NmsSettings:
    """Set ``model``'s NMS IoU and / or pre-NMS top-k (None: leave as is); returns the settings now in force.

    A model without the setting asked for (a plugin's architecture of another kind) raises StudioError
    naming the option, rather than exporting something else than what was asked.
    """
    name = getattr(model, "studio_arch", type(model).__name__)
    if iou is not None:
        holder = _iou_holder(model)
        if holder is None:
            raise StudioError(f"{name} has no NMS IoU threshold Studio knows how to set", item=IOU_OPTION)
        holder.nms_thresh = float(iou)
    if pre_nms_topk is not None:
        rpn = _rpn_topk(model)
        attr = _topk_attr(model)
        if rpn is not None:
            rpn["testing"] = int(pre_nms_topk)
        elif attr is not None:
            setattr(model, attr, int(pre_nms_topk))
        else:
            raise StudioError(f"{name} has no pre-NMS top-k Studio knows how to set", item=TOPK_OPTION)
    return nms_settings(model)


__all__ = ["IOU_OPTION", "TOPK_OPTION", "NmsSettings", "configure_nms", "nms_settings"]
