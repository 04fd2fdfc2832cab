"""A picture of what the model will be trained on: augmented samples with their targets drawn.

``studio dataset preview-aug CFG --out DIR`` writes one grid PNG so a user can see, before spending
hours, whether the augmentations are sensible (objects cut away by crops, masks that no longer
match, hue shifts too strong...). The samples are the first ones of training epoch 0 for the seed,
so the preview shows exactly what the trainer's loader yields first.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from studio.core.config.schema import Config
from studio.core.data.classes import ClassMap
from studio.core.data.dataset import DetectionDataset, sample_seed
from studio.core.data.loader import SeededSampler
from studio.core.dataset.model import Dataset, recorded_images_dir, usual_images_dir
from studio.core.detections import Detections
from studio.core.draw import draw_detections, tile_grid
from studio.core.errors import DatasetError
from studio.core.imageio import save_image
from studio.core.jobs import CancelToken, Progress, no_progress

PREVIEW_NAME = "augment_preview.png"
TILE_MAX = 384  # px per tile in the grid
GAP = 4


def train_images_dir(cfg: Config, ds: Dataset) -> Path:
    """``data.train.images``, else the folder recorded by import, else the usual place next to the file."""
    if cfg.data.train.images:
        return Path(cfg.data.train.images)
    return recorded_images_dir(cfg.data.train.ann, ds) or usual_images_dir(cfg.data.train.ann)


def draw_sample(image, target: dict, class_map: ClassMap, tile: int) -> np.ndarray:
    """RGB uint8 tile of one train item: mask outlines, boxes and class names in the class colour."""
    rgb = (image.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    h, w = rgb.shape[:2]
    s = tile / max(h, w)
    rgb = np.ascontiguousarray(cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA))
    labels = target["labels"].numpy().astype(np.int64)
    masks = target.get("masks")
    if masks is not None:
        th, tw = rgb.shape[:2]
        small = [cv2.resize(m.numpy(), (tw, th), interpolation=cv2.INTER_NEAREST_EXACT) for m in masks]
        masks = np.array(small, dtype=bool).reshape(len(labels), th, tw)
    dets = Detections(target["boxes"].numpy().astype(np.float32) * s, np.ones(len(labels), np.float32), labels, masks)
    return draw_detections(rgb, dets, class_map.names, cat_ids=class_map.cat_ids, masks_alpha=0.0, scores=False)


def preview_augmentations(
    cfg: Config,
    out_dir: str | Path,
    n: int = 16,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    with_masks: bool | None = None,
) -> Path:
    """Draw ``n`` augmented train samples into ``out_dir/augment_preview.png`` (written atomically).

    ``with_masks`` None: outlines are drawn when the annotation file has masks (polygons / RLE).
    Returns the PNG's path.
    """
    progress = progress or no_progress
    ann = Path(cfg.data.train.ann)
    ds = Dataset.load(ann)
    class_map = ClassMap.from_dataset(ds)
    data = DetectionDataset(
        ds,
        train_images_dir(cfg, ds),
        class_map,
        size=cfg.data.image_size,
        letterbox=cfg.data.letterbox,
        train=True,
        augment=cfg.data.augment,
        with_masks=ds.has_masks() if with_masks is None else with_masks,
        cache="ram",
    )
    if len(data) == 0:
        raise DatasetError("no images to preview", file=ann)
    data.validate()
    sampler = SeededSampler(data, shuffle=True, seed=seed)
    tile = min(cfg.data.image_size, TILE_MAX)
    tiles = []
    for k in range(n):
        if cancel is not None:
            cancel.raise_if_cancelled()
        epoch, pos = divmod(k, len(data))
        idx = sampler.order(epoch)[pos]
        image, target = data[(idx, sample_seed(seed, epoch, idx))]
        tiles.append(draw_sample(image, target, class_map, tile))
        progress(k + 1, n, f"augmented sample {k + 1}/{n}")
    return save_image(Path(out_dir) / PREVIEW_NAME, tile_grid(tiles, gap=GAP, background=32, margin=GAP))
