"""Predictions turned into annotations: model-assisted labelling.

The editor's one click (one detection of one image) and ``studio predict --to-coco OUT.json`` (every
image) use the same conversion: a mask becomes polygons through :func:`studio.core.geometry.mask_outline`
(the outline of its pixels' edges, so the polygon rasterizes back to the mask, simplified by ``tolerance``
pixels so the result stays editable, clipped to the image), a detector's box becomes a box-only
annotation. Categories are matched by name, so predictions land on the right class of a dataset
whose category ids differ from the training set's; a class the dataset lacks is added. Each new
annotation keeps the model's ``score`` (an extra key, kept through load and save) so a reviewer can
tell model-made shapes from drawn ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.geometry import clip_bbox, mask_outline, polygons_area


@dataclass(frozen=True)
class PredictedShape:
    """One detection as an annotation shape, in the image's pixels."""

    label: int  # model label 1..K
    score: float
    bbox: list[float]  # [x, y, w, h]: of the polygons when there are any, else the predicted box
    polygons: list[list[float]]  # the mask's outer contours, largest first; [] for a box-only shape

    @property
    def largest_polygon(self) -> list[float] | None:
        """The main part (what a single-polygon edit such as the editor's AddShape takes)."""
        return self.polygons[0] if self.polygons else None


def detection_shape(
    dets: Detections,
    i: int,
    *,
    with_masks: bool = True,
    tolerance: float = 1.0,
    min_area: float = 4.0,
    image_size: tuple[int, int] | None = None,
) -> PredictedShape | None:
    """Detection ``i`` as a shape: polygons from its mask (when ``with_masks`` and it has one), else its box.

    ``image_size`` (h, w) clips the box; None when nothing is left (an empty box, a mask of only
    specks smaller than ``min_area`` square pixels falls back to the box).
    """
    x0, y0, x1, y1 = (float(v) for v in dets.boxes[i])
    box = [x0, y0, x1 - x0, y1 - y0]
    if image_size is not None:
        box = clip_bbox(box, image_size[1], image_size[0])
    polys: list[list[float]] = []
    if with_masks and dets.masks is not None:
        hw = None if image_size is None else (int(image_size[1]), int(image_size[0]))
        polys = mask_outline(dets.masks[i], tolerance=tolerance, image_size=hw, min_area=min_area)
        polys.sort(key=lambda p: -polygons_area([p]))
    if polys:
        xy = np.concatenate([np.asarray(p).reshape(-1, 2) for p in polys])
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    elif box[2] <= 0 or box[3] <= 0:
        return None
    return PredictedShape(int(dets.labels[i]), float(dets.scores[i]), box, polys)


def category_for(ds: Dataset, class_map: ClassMap, label: int) -> Any:
    """The dataset's category id for a model label, by class name; the category is added when missing."""
    return ds.add_category(class_map.name_of_label(label))


def add_predictions(
    ds: Dataset,
    image_id: Any,
    dets: Detections,
    class_map: ClassMap,
    *,
    score_thr: float = 0.5,
    with_masks: bool = True,
    tolerance: float = 1.0,
) -> list[dict]:
    """Add the detections of one image scoring at least ``score_thr`` to ``ds`` (in place); returns the new
    annotations."""
    if not ds.has_image(image_id):
        raise StudioError("no such image in the dataset", file=ds.source, item=f"image {image_id}")
    image = ds.image(image_id)
    h, w = int(image.get("height", 0)), int(image.get("width", 0))
    if dets.masks is not None and with_masks and len(dets) and tuple(dets.masks.shape[1:]) != (h, w):
        raise StudioError(
            f"masks are {dets.masks.shape[2]}x{dets.masks.shape[1]} but the image is {w}x{h}",
            file=image.get("file_name"),
            item=f"image {image_id}",
        )
    added = []
    for i in np.nonzero(np.asarray(dets.scores) >= score_thr)[0]:
        shape = detection_shape(
            dets, int(i), with_masks=with_masks, tolerance=tolerance, image_size=(h, w) if h and w else None
        )
        if shape is None:
            continue
        cat = category_for(ds, class_map, shape.label)
        score = round(shape.score, 5)
        if shape.polygons:
            added.append(ds.add_annotation(image_id, cat, segmentation=shape.polygons, score=score))
        else:
            added.append(ds.add_annotation(image_id, cat, segmentation=[], bbox=shape.bbox, score=score))
    return added


def predictions_to_annotations(
    ds: Dataset,
    dets_per_image: Mapping[Any, Detections],
    class_map: ClassMap,
    score_thr: float = 0.5,
    with_masks: bool = True,
    *,
    tolerance: float = 1.0,
) -> Dataset:
    """A copy of ``ds`` with the predictions of each image (keyed by image id) added as annotations."""
    out = ds.copy()
    for image_id, dets in dets_per_image.items():
        add_predictions(out, image_id, dets, class_map, score_thr=score_thr, with_masks=with_masks, tolerance=tolerance)
    return out


def start_dataset(class_map: ClassMap) -> Dataset:
    """An empty dataset with the model's classes under their training category ids."""
    cats = [{"id": cid, "name": name, "supercategory": ""} for cid, name in zip(class_map.cat_ids, class_map.names)]
    return Dataset(images=[], categories=cats, annotations=[])


def common_root(paths: Sequence[Path]) -> Path:
    """The deepest folder holding every path: images get ``file_name`` relative to it."""
    parents = [str(Path(p).resolve().parent) for p in paths]
    return Path(os.path.commonpath(parents)) if parents else Path.cwd()
