"""The torch Dataset that feeds training and evaluation from a Studio :class:`Dataset`.

Train items are augmented (:mod:`transforms`, :mod:`mosaic`) ``size`` x ``size`` samples; val items
are exactly :func:`studio.core.data.preprocess.preprocess`'s output, so ``studio eval`` measures what
``studio predict`` produces.

Randomness: each item draws everything from a seed given with its index (the loader's sampler yields
``(index, seed)`` pairs, see :mod:`studio.core.data.loader`), numpy for mosaic / copy-paste and the
torch CPU generator, forked for the call, for the v2 transforms. The same seed therefore gives the
same sample in any process, with any number of workers, with or without the image cache.

Train images are held at the training resolution (:meth:`DetectionDataset.decoded`): decoded with
libjpeg's DCT reduction, then shrunk with area interpolation so the longest side is ``decode_long``,
the largest size any later step needs (scale jitter's upper end times ``size``; mosaic and copy-paste
only shrink). The cached and the uncached path go through the same resize, so they give the same
pixels. The RAM cache then holds ``w * h * 3`` bytes an image at that size, where the reduced decode alone
could be up to twice as long a side (4x the bytes): on the balloon photos at 512 px, 0.89 MB an image
instead of 2.29 MB (``bench/data_pipeline.py``), and later steps (masks, scale jitter) touch fewer pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.utils.data

from studio.core.config.schema import AugmentConfig
from studio.core.data.cache import ImageCache
from studio.core.data.classes import ClassMap
from studio.core.data.decode import decode_rgb
from studio.core.data.mosaic import copy_paste, mosaic4, resize_image
from studio.core.data.preprocess import fit_size, preprocess
from studio.core.data.transforms import NO_AUGMENT, Sample, build_train_transforms
from studio.core.dataset.model import Dataset, image_path
from studio.core.errors import DatasetError, StudioError
from studio.core.geometry import bbox_polygon, is_rle, segmentation_area_bbox, segmentation_to_mask


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample in one epoch: independent streams for every (seed, epoch, index)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(index)]).generate_state(1)[0])


def train_long_side(size: int, augment: AugmentConfig | None) -> int:
    """The longest side train images are held at: ``size`` times scale jitter's upper end (at least 1), so
    no later step upsamples (scale jitter resizes the longest side to ``size`` times its factor)."""
    upper = augment.scale_jitter[1] if augment is not None else 1.0
    return math.ceil(int(size) * max(1.0, float(upper)))


def train_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """``(w, h)`` of a ``width`` x ``height`` image held at the train resolution: shrunk (aspect kept,
    rounded) so its longest side is ``long_side``; a smaller image is kept as it is."""
    w, h = int(width), int(height)
    if not long_side or max(w, h) <= long_side:
        return w, h
    r = long_side / max(w, h)
    return max(1, round(w * r)), max(1, round(h * r))


@dataclass(frozen=True)
class _Objects:
    """An image's non-crowd annotations, ready to scale: xyxy boxes in original pixels, labels, shapes."""

    boxes: np.ndarray  # (N, 4) float32
    labels: np.ndarray  # (N,) int64
    segs: tuple  # COCO segmentation per object ([] for box-only)


class DetectionDataset(torch.utils.data.Dataset):
    """Items for the detectors: see the module docstring and :meth:`__getitem__`.

    ``images_dir`` is where the files named in ``ds.images`` are. ``cache`` is ``data.cache``; the
    "auto" decision is re-made by :func:`make_loader` once the number of workers is known.
    Box-only annotations (empty segmentation) on a mask model get their filled box as mask.
    """

    def __init__(
        self,
        ds: Dataset,
        images_dir: str | Path | None,
        class_map: ClassMap,
        *,
        size: int,
        letterbox: bool,
        train: bool,
        augment: AugmentConfig | None = None,
        with_masks: bool = False,
        cache: str = "auto",
    ):
        self.ds = ds
        self.images_dir = Path(images_dir) if images_dir is not None else None
        self.class_map = class_map
        self.size = int(size)
        self.letterbox = bool(letterbox)
        self.train = bool(train)
        self.augment = (augment or NO_AUGMENT) if train else None
        self.with_masks = bool(with_masks)
        self.images = list(ds.images)
        self.objects = [self._objects(im) for im in self.images] if train else []
        # Train images are held at the largest size a sample can be resized to (no upsampling later).
        self.decode_long = train_long_side(self.size, self.augment) if train else None
        self.transforms = build_train_transforms(self.augment, self.size, self.letterbox) if train else None
        self.cache = ImageCache(cache, self.estimated_bytes())

    # ------------------------------------------------------------------ set-up
    def _objects(self, im: dict) -> _Objects:
        boxes, labels, segs = [], [], []
        for a in self.ds.anns_for_image(im["id"]):
            if a.get("iscrowd", 0):
                continue
            try:
                labels.append(self.class_map.label_of(a["category_id"]))
            except StudioError as e:
                raise DatasetError(e.message, file=self.ds.source, item=f"annotation {a['id']}") from None
            seg = a.get("segmentation") or []
            bbox = a.get("bbox") or (segmentation_area_bbox(seg)[1] if seg else (0, 0, 0, 0))
            x, y, w, h = (float(v) for v in bbox)
            boxes.append((x, y, x + w, y + h))
            segs.append(seg)
        return _Objects(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64), tuple(segs))

    def path_of(self, idx: int) -> Path:
        return image_path(self.images_dir, self.images[idx])

    def validate(self) -> None:
        """Cheap up-front check that every image file exists (the trainer calls it before epoch 1)."""
        missing = [(im, p) for im in self.images if not (p := image_path(self.images_dir, im)).is_file()]
        if missing:
            im, p = missing[0]
            more = f" (and {len(missing) - 1} more of {len(self.images)} images missing)" if len(missing) > 1 else ""
            raise DatasetError(f"image file not found{more}", file=p, item=f"image id {im['id']}")

    def estimated_bytes(self) -> int:
        """Size of all cached items: train-resolution images for train, resized inputs for val."""
        total = 0
        for im in self.images:
            w, h = int(im.get("width") or 0), int(im.get("height") or 0)
            if w <= 0 or h <= 0:
                w = h = self.decode_long or self.size
            if self.train:
                w, h = train_size(w, h, self.decode_long)
            else:
                h, w, _ = fit_size(h, w, self.size)
            total += w * h * 3
        return total

    def plan_cache(self, holders: int) -> bool:
        """Re-decide the "auto" cache for ``holders`` processes each holding a copy."""
        return self.cache.plan(holders)

    def __len__(self) -> int:
        return len(self.images)

    # ------------------------------------------------------------------ items
    def __getitem__(self, key: int | tuple[int, int]):
        """``key`` is an index or ``(index, seed)``.

        Train: ``(image float32 3 x size x size in [0, 1], {"boxes": BoundingBoxes XYXY (N, 4),
        "labels": int64 (N,), "masks": uint8 (N, size, size) when with_masks, "image_id": int})``.
        Val: ``(float32 3xHxW from preprocess, {"image_id": int, "meta": Meta})``.
        """
        idx, seed = key if isinstance(key, tuple) else (key, sample_seed(0, 0, key))
        idx = int(idx)
        if not self.train:
            return self._val_item(idx)
        rng = np.random.default_rng(seed)
        sample = self.augmented_sample(idx, rng)
        # Seed only the CPU generator, restored afterwards (torch.manual_seed would also queue seeding of
        # every accelerator backend, which costs a stack trace each: ~1 ms a sample).
        gen = torch.default_generator
        state = gen.get_state()
        gen.manual_seed(seed)
        try:
            return self.transforms(*sample.to_tv())
        finally:
            gen.set_state(state)

    def _val_item(self, idx: int) -> tuple[torch.Tensor, dict[str, Any]]:
        hit = self.cache.get(idx)
        if hit is not None:  # the resized pixels: preprocess of them is the identity resize + the same padding
            resized, meta = hit
            x, _ = preprocess(resized, self.size, self.letterbox)
        else:
            rgb, _ = self._decode(idx, None)
            x, meta = preprocess(rgb, self.size, self.letterbox)
            if self.cache.enabled:
                region = x[:, : meta.resized_h, : meta.resized_w] * 255
                self.cache.put(idx, (np.rint(region).astype(np.uint8).transpose(1, 2, 0).copy(), meta))
        return torch.from_numpy(x), {"image_id": self.images[idx]["id"], "meta": meta}

    def _decode(self, idx: int, target_long_side: int | None) -> tuple[np.ndarray, int]:
        try:
            return decode_rgb(self.path_of(idx), target_long_side)
        except StudioError as e:
            raise DatasetError(e.message, file=e.file, item=f"image id {self.images[idx]['id']}") from None

    def decoded(self, idx: int) -> tuple[np.ndarray, tuple[float, float]]:
        """The train-resolution uint8 RGB image of item ``idx`` and its ``(sx, sy)`` scale from the file's
        pixels (cached when on): annotation coordinates map to it by multiplying by the scale."""
        hit = self.cache.get(idx)
        if hit is None:
            reduced, factor = self._decode(idx, self.decode_long)
            h, w = reduced.shape[:2]
            tw, th = train_size(w, h, self.decode_long)
            image = resize_image(reduced, tw, th)
            hit = (image, (tw / (w * factor), th / (h * factor)))
            self.cache.put(idx, hit)
        return hit

    def raw_sample(self, idx: int) -> Sample:
        """Item ``idx`` un-augmented at the train resolution, annotations scaled to it."""
        image, scale = self.decoded(idx)
        obj = self.objects[idx]
        h, w = image.shape[:2]
        boxes = obj.boxes * np.array([*scale, *scale], np.float32)
        masks = None
        if self.with_masks:
            masks = np.zeros((len(obj.segs), h, w), np.uint8)
            for i, (seg, box) in enumerate(zip(obj.segs, boxes)):
                masks[i] = self._mask(seg, box, scale, h, w)
        return Sample(image, boxes, obj.labels, masks, self.images[idx]["id"])

    @staticmethod
    def _mask(seg: Any, box: np.ndarray, scale: tuple[float, float], h: int, w: int) -> np.ndarray:
        if is_rle(seg):  # RLE is at the original resolution
            m = segmentation_to_mask(seg, int(seg["size"][0]), int(seg["size"][1]))
            return cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST_EXACT) if m.shape != (h, w) else m
        if not seg:  # box-only annotation on a mask model: the filled box
            x0, y0, x1, y1 = (float(v) for v in box)
            seg = [bbox_polygon([x0, y0, x1 - x0, y1 - y0])]
        elif scale != (1.0, 1.0):
            sx, sy = scale
            seg = [[v * (sy if k % 2 else sx) for k, v in enumerate(poly)] for poly in seg]
        return segmentation_to_mask(seg, h, w)

    def augmented_sample(self, idx: int, rng: np.random.Generator) -> Sample:
        """Mosaic (with 3 random other images) and copy-paste (from a random image) as drawn by ``rng``."""
        aug = self.augment
        n = len(self.images)
        if aug.mosaic > 0 and rng.random() < aug.mosaic:
            others = rng.integers(0, n, size=3)
            sample = mosaic4([self.raw_sample(i) for i in (idx, *others.tolist())], self.decode_long, rng)
        else:
            sample = self.raw_sample(idx)
        if self.with_masks and aug.copy_paste > 0 and rng.random() < aug.copy_paste:
            sample = copy_paste(sample, self.raw_sample(int(rng.integers(0, n))), rng)
        return sample
