"""Mixing augmentations on plain numpy samples: 4-image mosaic and instance copy-paste.

Both run before the per-sample v2 transforms (:mod:`studio.core.data.transforms`), on the reduced
decoded images, with OpenCV resizes and numpy indexing only, so they add little to the cost of a
sample. Randomness comes from the ``numpy.random.Generator`` the dataset seeds per sample, which keeps
them repeatable for a given seed whatever the number of loader workers.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.core.data.transforms import Sample, masks_to_boxes_np

MIN_VISIBLE_PIXELS = 16  # an occluded instance with fewer visible pixels left is dropped


def resize_image(image: np.ndarray, w: int, h: int) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == (w, h):
        return image
    shrink = w < image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_masks(masks: np.ndarray, w: int, h: int) -> np.ndarray:
    """(N, H, W) uint8 -> (N, h, w) with nearest neighbour (OpenCV takes up to 512 channels at once)."""
    n = masks.shape[0]
    if n == 0 or masks.shape[1:] == (h, w):
        return masks.reshape(n, h, w) if n == 0 else masks
    out = np.empty((n, h, w), np.uint8)
    for i in range(0, n, 256):
        chunk = np.ascontiguousarray(masks[i : i + 256].transpose(1, 2, 0))
        r = cv2.resize(chunk, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
        out[i : i + 256] = r.reshape(h, w, -1).transpose(2, 0, 1)
    return out


def _scaled(sample: Sample, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Image, boxes and masks of ``sample`` scaled by ``r``."""
    h, w = sample.image.shape[:2]
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    image = resize_image(sample.image, nw, nh)
    boxes = sample.boxes * np.array([nw / w, nh / h, nw / w, nh / h], np.float32)
    masks = resize_masks(sample.masks, nw, nh) if sample.masks is not None else None
    return image, boxes, masks


def _paste_box(x0: int, y0: int, w: int, h: int, cw: int, ch: int):
    """Destination and source slices of a ``w`` x ``h`` tile placed at (x0, y0) on a ``cw`` x ``ch`` canvas."""
    dx0, dy0, dx1, dy1 = max(x0, 0), max(y0, 0), min(x0 + w, cw), min(y0 + h, ch)
    if dx1 <= dx0 or dy1 <= dy0:
        return None
    return (slice(dy0, dy1), slice(dx0, dx1)), (slice(dy0 - y0, dy1 - y0), slice(dx0 - x0, dx1 - x0))


def mosaic4(samples: list[Sample], canvas: int, rng: np.random.Generator) -> Sample:
    """Four samples tiled around a random centre on a ``canvas`` x ``canvas`` image.

    Each tile is scaled so its longest side is ``canvas / 2`` and placed in its quadrant touching the
    centre (drawn in the middle half of the canvas, as in YOLOv5); what falls outside the canvas is cut.
    Boxes are recomputed from the masks when there are masks, else shifted and clipped; instances
    that end up smaller than 1 px (or with no visible pixel) are dropped.
    """
    if len(samples) != 4:
        raise ValueError(f"mosaic needs 4 samples, got {len(samples)}")
    with_masks = all(s.masks is not None for s in samples)
    xc, yc = (int(v) for v in rng.uniform(0.25 * canvas, 0.75 * canvas, size=2))
    image = np.zeros((canvas, canvas, 3), np.uint8)
    all_boxes, all_labels, all_masks = [], [], []
    for k, s in enumerate(samples):
        h, w = s.image.shape[:2]
        tile, boxes, masks = _scaled(s, (canvas / 2) / max(h, w))
        th, tw = tile.shape[:2]
        x0 = xc - tw if k in (0, 2) else xc
        y0 = yc - th if k in (0, 1) else yc
        where = _paste_box(x0, y0, tw, th, canvas, canvas)
        if where is None:
            continue
        dst, src = where
        image[dst] = tile[src]
        boxes = boxes + np.array([x0, y0, x0, y0], np.float32)
        all_boxes.append(boxes)
        all_labels.append(s.labels)
        if with_masks:
            full = np.zeros((len(boxes), canvas, canvas), np.uint8)
            full[(slice(None), *dst)] = masks[(slice(None), *src)]
            all_masks.append(full)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    labels = np.concatenate(all_labels) if all_labels else np.zeros((0,), np.int64)
    masks = (
        (np.concatenate(all_masks) if all_masks else np.zeros((0, canvas, canvas), np.uint8)) if with_masks else None
    )
    if masks is not None:
        boxes = masks_to_boxes_np(masks)
    else:
        boxes = boxes.clip(0, canvas)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return Sample(image, boxes[keep], labels[keep], masks[keep] if masks is not None else None, samples[0].image_id)


def copy_paste(
    target: Sample, source: Sample, rng: np.random.Generator, min_visible: int = MIN_VISIBLE_PIXELS
) -> Sample:
    """Paste a random subset of ``source``'s instances (their mask pixels) onto ``target``.

    The source is scaled to fit inside the target at a random scale in [0.5, 1] (aspect kept), maybe
    flipped, and placed at a random offset. The target's masks lose the pixels covered by pasted
    objects; a target instance with fewer than ``min_visible`` pixels left is dropped. All boxes are
    recomputed from the masks. Needs masks on both samples (returns ``target`` unchanged otherwise).
    """
    if target.masks is None or source.masks is None or len(source.labels) == 0:
        return target
    chosen = np.nonzero(rng.random(len(source.labels)) < 0.5)[0]
    if chosen.size == 0:
        chosen = np.array([int(rng.integers(len(source.labels)))])
    th, tw = target.image.shape[:2]
    sh, sw = source.image.shape[:2]
    r = min(th / sh, tw / sw) * float(rng.uniform(0.5, 1.0))
    src = Sample(source.image, source.boxes[chosen], source.labels[chosen], source.masks[chosen], source.image_id)
    img, _, masks = _scaled(src, r)
    if rng.random() < 0.5:
        img, masks = img[:, ::-1], masks[:, :, ::-1]
    ph, pw = img.shape[:2]
    ox, oy = int(rng.integers(0, max(tw - pw, 0) + 1)), int(rng.integers(0, max(th - ph, 0) + 1))
    where = _paste_box(ox, oy, pw, ph, tw, th)
    if where is None:
        return target
    dst, srcsl = where
    pasted = np.zeros((len(chosen), th, tw), np.uint8)
    pasted[(slice(None), *dst)] = masks[(slice(None), *srcsl)]
    union = pasted.any(axis=0)
    image = target.image.copy()
    canvas_src = np.zeros_like(image)
    canvas_src[dst] = img[srcsl]
    image[union] = canvas_src[union]
    kept = target.masks * (~union)[None].astype(np.uint8)
    visible = kept.reshape(len(kept), -1).sum(axis=1) >= min_visible
    masks_out = np.concatenate([kept[visible], pasted])
    labels = np.concatenate([target.labels[visible], src.labels])
    ok = masks_out.reshape(len(masks_out), -1).any(axis=1)
    masks_out, labels = masks_out[ok], labels[ok]
    return Sample(image, masks_to_boxes_np(masks_out), labels, masks_out, target.image_id)
