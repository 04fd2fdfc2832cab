"""A picture of what the model will be trained on: augmented samples with their targets drawn.

``studio dataset preview-aug CFG --out DIR`` writes one grid PNG so a user can see, before spending
hours, whether the augmentations are sensible (objects cut away by crops, masks that no longer
match, hue shifts too strong...). The samples are the first ones of training epoch 0 for the seed,
so the preview shows exactly what the trainer's loader yields first.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from studio.core import atomic
from studio.core.config.schema import Config
from studio.core.data.classes import ClassMap
from studio.core.data.dataset import DetectionDataset, sample_seed
from studio.core.data.loader import SeededSampler
from studio.core.dataset.model import Dataset, recorded_images_dir, usual_images_dir
from studio.core.errors import DatasetError, StudioError
from studio.core.jobs import CancelToken, ProgressFn, no_progress

PREVIEW_NAME = "augment_preview.png"
TILE_MAX = 384  # px per tile in the grid
GAP = 4
# RGB, one per class (cycled): the matplotlib tab10 colours, readable on photos
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


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
    boxes = target["boxes"].numpy() * s
    labels = target["labels"].tolist()
    masks = target.get("masks")
    for i, label in enumerate(labels):
        color = PALETTE[(label - 1) % len(PALETTE)]
        if masks is not None:
            m = cv2.resize(masks[i].numpy(), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(rgb, contours, -1, color, 1, cv2.LINE_AA)
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[i])
        cv2.rectangle(rgb, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), color, 1)
        name = class_map.name_of_label(label)
        (tw, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        ty = max(y0, th + base)
        cv2.rectangle(rgb, (x0, ty - th - base), (x0 + tw + 2, ty), color, -1)
        cv2.putText(rgb, name, (x0 + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return rgb


def tile_grid(tiles: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Tiles (RGB, any sizes up to the first one's) on a near-square grid with a dark background."""
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    grid = np.full((rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, 3), 32, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        grid[y : y + t.shape[0], x : x + t.shape[1]] = t
    return grid


def preview_augmentations(
    cfg: Config,
    out_dir: str | Path,
    n: int = 16,
    seed: int = 0,
    progress: ProgressFn | None = None,
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
    ok, png = cv2.imencode(".png", cv2.cvtColor(tile_grid(tiles), cv2.COLOR_RGB2BGR))
    if not ok:
        raise StudioError("PNG encoding of the preview failed", file=Path(out_dir) / PREVIEW_NAME)
    out = Path(out_dir) / PREVIEW_NAME
    atomic.write_bytes(out, png.tobytes())
    return out
