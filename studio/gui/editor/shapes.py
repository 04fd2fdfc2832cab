"""Whole-shape geometry for the editor, without Qt: what kind a shape is, where a move may take it, how a copied
shape fits another image, and how an RLE mask becomes polygons (and what that loses).

Geometries are the ``{"segmentation", "bbox", "area"}`` dicts of :func:`studio.core.dataset.shape_edits.geometry_of`;
copied shapes are ``{"category_id", "segmentation", "bbox", "iscrowd"}`` (what
:class:`~studio.core.dataset.shape_edits.PasteShapes` adds). Every function returns new lists: the dataset's records
are never changed here, only by the commands built from the results.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.dataset.provenance import ACCEPTED, provenance, source_of
from studio.core.geometry import (
    clip_bbox,
    clip_polygon,
    is_rle,
    mask_outline,
    mask_to_rle,
    polygons_bbox,
    segmentation_to_mask,
    shoelace_area,
)

LOSSLESS_IOU = 0.99  # a conversion below this IoU with the mask is reported as lossy
MIN_PART_AREA = 1.0  # px²: a mask speck smaller than this makes no polygon
DECIMALS = 2  # coordinates are kept to 1/100 pixel, as the drawing tools keep them


def kind_of(ann: dict) -> str:
    """``"box"``, ``"polygon"``, ``"parts"`` (a multi-part polygon), ``"mask"`` (RLE) or ``"?"`` (unusable)."""
    seg = ann.get("segmentation")
    if is_rle(seg):
        return "mask"
    if isinstance(seg, list) and seg:
        return "parts" if len(seg) > 1 else "polygon"
    box = ann.get("bbox")
    return "box" if isinstance(box, (list, tuple)) and len(box) == 4 else "?"


def describe_kind(ann: dict) -> str:
    """The shape list's "Type": box, polygon, polygon (3 parts), mask (RLE)."""
    kind = kind_of(ann)
    if kind == "parts":
        return f"polygon ({len(ann['segmentation'])} parts)"
    return {"mask": "mask (RLE)", "?": "unknown"}.get(kind, kind)


def _round(v: float) -> float:
    return round(float(v), DECIMALS)


# ----------------------------------------------------------------------------------------------- moving
def clamped_offset(bbox: list[float], dx: float, dy: float, width: float, height: float) -> tuple[float, float]:
    """The part of the move (``dx``, ``dy``) that keeps the shape's box on the image. A shape already partly
    off the image may move back onto it, never further off."""

    def one(start: float, size: float, d: float, limit: float) -> float:
        lo, hi = -start, limit - (start + size)
        return min(max(d, min(lo, 0.0)), max(hi, 0.0))

    x, y, w, h = (float(v) for v in bbox)
    return one(x, w, float(dx), float(width)), one(y, h, float(dy), float(height))


def shift_mask(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``mask`` moved by whole pixels; what leaves the frame is cut off."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src = mask[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def moved(geom: dict, dx: float, dy: float) -> dict:
    """``geom`` moved by (``dx``, ``dy``): every polygon part, or the box; a mask moves by whole pixels."""
    seg = geom.get("segmentation")
    if is_rle(seg):
        h, w = seg["size"]
        mask = segmentation_to_mask(seg, h, w)
        return {"segmentation": mask_to_rle(shift_mask(mask, round(dx), round(dy))), "bbox": None, "area": None}
    if isinstance(seg, list) and seg:
        parts = [[_round(v + (dx if i % 2 == 0 else dy)) for i, v in enumerate(p)] for p in seg]
        return {"segmentation": parts, "bbox": None, "area": None}
    x, y, w, h = (float(v) for v in geom["bbox"])
    return {"segmentation": copy.deepcopy(seg), "bbox": [_round(x + dx), _round(y + dy), w, h], "area": None}


def mask_offset(geom: dict, dx: float, dy: float) -> tuple[float, float]:
    """The offset a move really applies: whole pixels for a mask, as asked for anything else."""
    return (float(round(dx)), float(round(dy))) if is_rle(geom.get("segmentation")) else (dx, dy)


# ----------------------------------------------------------------------------------------------- copying
def copied(ann: dict) -> dict:
    """What the clipboard keeps of an annotation: class, shape, crowd flag and where it came from (never the id or
    the image). A person pastes it, so the copy is accepted; it keeps its source (a copy of a hand-drawn shape is
    manual, of a model's proposal a model shape) but not the score, which belonged to the original's place."""
    return {
        "category_id": ann.get("category_id"),
        "segmentation": copy.deepcopy(ann.get("segmentation") or []),
        "bbox": [float(v) for v in ann.get("bbox") or []],
        "iscrowd": int(ann.get("iscrowd") or 0),
        **provenance(source_of(ann), ACCEPTED),
    }


def offset_shape(shape: dict, dx: float, dy: float, width: float, height: float) -> dict:
    """A copied shape moved by (``dx``, ``dy``), kept on a ``width`` x ``height`` image."""
    dx, dy = clamped_offset(_bbox_of(shape), dx, dy, width, height)
    geom = moved({"segmentation": shape["segmentation"], "bbox": shape["bbox"]}, dx, dy)
    out = dict(shape, segmentation=geom["segmentation"])
    out["bbox"] = geom["bbox"] if geom["bbox"] is not None else shape["bbox"]
    return out


def _bbox_of(shape: dict) -> list[float]:
    seg = shape.get("segmentation")
    if isinstance(seg, list) and seg:
        return polygons_bbox(seg)
    return [float(v) for v in shape["bbox"]]


def fitted(shape: dict, width: int, height: int) -> tuple[dict | None, bool]:
    """A copied shape on an image of ``width`` x ``height``: polygons and boxes clipped to it, a mask cropped or
    padded to its size. Returns (the shape or None when nothing of it is on the image, whether it was cut)."""
    seg = shape.get("segmentation")
    if is_rle(seg):
        h, w = seg["size"]
        mask = segmentation_to_mask(seg, h, w)
        out = np.zeros((height, width), np.uint8)
        ch, cw = min(h, height), min(w, width)
        out[:ch, :cw] = mask[:ch, :cw]
        if not out.any():
            return None, True
        return dict(shape, segmentation=mask_to_rle(out)), int(out.sum()) != int(mask.sum())
    if isinstance(seg, list) and seg:
        parts: list[list[float]] = []
        cut = False
        for p in seg:
            x, y, w, h = polygons_bbox([p])
            if x >= 0 and y >= 0 and x + w <= width and y + h <= height:
                parts.append([float(v) for v in p])
                continue
            cut = True
            clipped = clip_polygon(p, width, height)
            parts += [[_round(v) for v in q] for q in clipped if shoelace_area(q) >= MIN_PART_AREA]
        return (dict(shape, segmentation=parts, bbox=polygons_bbox(parts)) if parts else None), cut
    box = clip_bbox(shape["bbox"], width, height)
    if box[2] <= 0 or box[3] <= 0:
        return None, True
    return dict(shape, bbox=box), box != [float(v) for v in shape["bbox"]]


# ----------------------------------------------------------------------------------------------- masks to polygons
@dataclass(frozen=True)
class Conversion:
    """An RLE mask as polygons, and how faithful they are: the IoU of their mask with the original, the holes
    the polygons cannot keep (COCO polygons have no holes)."""

    parts: list[list[float]]
    iou: float
    holes: int

    @property
    def lossy(self) -> bool:
        return self.iou < LOSSLESS_IOU or self.holes > 0

    def describe(self, ann_id: Any) -> str:
        what = f"annotation {ann_id}: mask converted to {len(self.parts)} polygon(s), IoU {self.iou:.3f} with the mask"
        if self.holes:
            what += f", {self.holes} hole(s) dropped"
        if self.lossy:
            return f"{what}: lossy (Undo gives the mask back)"
        return f"{what}: lossless"


def mask_holes(mask: np.ndarray) -> int:
    """How many holes the mask's regions have (background enclosed by the mask)."""
    import cv2  # deferred: cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    _contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    return int((hierarchy[0][:, 3] >= 0).sum())


def outline_parts(mask: np.ndarray) -> list[list[float]]:
    """The outline of each region of a mask as a polygon around its pixels (:func:`mask_outline`, every corner
    of the pixel staircase kept), clipped to the mask's frame; specks under 1 px² are left out."""
    h, w = mask.shape
    parts = mask_outline(mask, tolerance=0.0, image_size=(w, h), min_area=MIN_PART_AREA)
    return [[_round(v) for v in q] for q in parts]


def mask_to_parts(seg: dict) -> Conversion:
    """Polygons of an RLE mask's outline (each region one part, grown by half a pixel so it encloses the edge
    pixels), clipped to the mask's frame, with the IoU of their rasterisation against the mask."""
    h, w = seg["size"]
    mask = segmentation_to_mask(seg, h, w)
    parts = outline_parts(mask)
    back = segmentation_to_mask(parts, h, w) if parts else np.zeros((h, w), np.uint8)
    a, b = mask > 0, back > 0
    union = int((a | b).sum())
    iou = float((a & b).sum()) / union if union else 1.0
    return Conversion(parts, iou, mask_holes(mask))
