"""A box drawn around an object, outlined by the trained model: its best-matching detection's mask, else GrabCut.

The model runs once on the whole image (its detections are cached per image and model, :class:`DetectionCache`);
each drawn box then only picks among them. :func:`match_box` takes the detection whose box fits the drawn one best
(box IoU at least ``min_iou``, and most of the detection inside the drawn box, so a box around a small object never
takes the big one behind it); :func:`model_polygon` outlines that detection's mask, clipped to the drawn box (a
little margin kept: a hand-drawn box is rarely pixel-tight), with :func:`studio.core.geometry.mask_outline`.
When no detection matches, the match scores under ``min_score`` (:data:`MIN_SCORE`), or the model has no masks,
:func:`box_prompt` falls back to GrabCut (:func:`studio.core.smart.grabcut.box_to_polygon`), and its result says which
one gave the shape and why.

Why a score gate, and why the whole image: ``bench/model_box_prompt.py`` on balloon val (50 objects, boxes jittered
5 %, a ``seg_fast`` model trained 20 min on balloon train on the CPU) puts GrabCut alone at 88 % of the objects with
IoU >= 0.8 (median IoU 0.934); every matched detection's mask at 68 % (0.895): a model this size sees the photo at
320 px, and GrabCut cuts a smooth balloon along its edge better. Only the model's confident detections (score >=
0.85) are about as good as GrabCut (88 %, median 0.924), so the others go to GrabCut. Running the model on a crop
around the box (the object filling its input) made its masks worse, not finer (38-66 %, median 0.77-0.86: the object
is then far bigger than any it was trained on), at one model run per box; GrabCut started from the model's mask did
no better than GrabCut alone (86 %). Even picking the best of all these per object reaches 88 %: GrabCut's misses
are balloons half hidden behind others, which this model misses too. The bench keeps the variants to measure a better
model.

A model of torchvision's Mask R-CNN family (``seg_lite``, ``maskrcnn_*``) answers the drawn box itself first
(:func:`head_prompt`): its box classifier and mask head run on that box (:mod:`studio.core.inference.box_masks`),
one RoI per box and no whole-image run, and the mask is used when the classifier is at least ``min_score`` sure of
an object class there. Studio's default segmenter (``seg_fast``) is one-stage: its masks come from prototypes weighted
by per-anchor coefficients, and a drawn box is no anchor, so it only has the whole-image detections.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from studio.core.detections import Detections
from studio.core.geometry import Flat, bbox_polygon, mask_outline, shoelace_area
from studio.core.smart.grabcut import box_to_polygon

MODEL, GRABCUT = "model", "grabcut"
#: a detection matches a drawn box from this box IoU on
MIN_IOU = 0.5
#: the matched detection's mask is used from this score on; GrabCut outlines the box below it (see the module's
#: docstring: on balloon val, the model's less confident masks were worse than GrabCut's)
MIN_SCORE = 0.85
#: ... and when at least this share of the detection's box lies inside the drawn box (its centre too)
MIN_INSIDE = 0.7
#: the mask is clipped to the drawn box grown by this share of its size on each side (at least 2 px): a box drawn a
#: little tight does not cut the object's rim off, a loose one still keeps a neighbour's mask out
CLIP_MARGIN = 0.03
MIN_CLIP_PX = 2
#: images whose detections a :class:`DetectionCache` keeps (the image shown and the last few visited)
CACHED_IMAGES = 8


class DetectionModel(Protocol):
    """What a box prompt needs of a labelling model (a Predictor or an exported model)."""

    with_masks: bool

    def predict(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


@dataclass(frozen=True)
class BoxPromptResult:
    """The outline a drawn box gave.

    ``polygon``: flat ``[x0, y0, ...]`` in image pixels ([] only for a box outside the image). ``source``: "model"
    (a detection's mask) or "grabcut" (the fallback). ``score``: the matched detection's score (None for GrabCut).
    ``label``: the detection's model label (1..K, None for GrabCut). ``seconds``: the time taken (the model's run
    excluded when its detections came from the cache). ``note``: why GrabCut was used, or why even GrabCut gave
    only the box ("" otherwise).
    """

    polygon: Flat
    source: str
    score: float | None = None
    label: int | None = None
    seconds: float = 0.0
    note: str = ""

    def describe(self) -> str:
        """What the editor's message line says gave the shape: "model 0.91" or "GrabCut"."""
        return f"model {self.score:.2f}" if self.source == MODEL and self.score is not None else "GrabCut"


def xywh_to_xyxy(box: Sequence[float]) -> list[float]:
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def match_box(
    dets: Detections, box_xyxy: Sequence[float], *, min_iou: float = MIN_IOU, min_inside: float = MIN_INSIDE
) -> int | None:
    """Index of the detection that best fits the drawn box ``box_xyxy``, or None.

    A candidate's box IoU with the drawn box is at least ``min_iou``, at least ``min_inside`` of its box lies inside
    the drawn one and its centre does; the highest IoU wins, the higher score on a tie.
    """
    if len(dets) == 0:
        return None
    bx0, by0, bx1, by1 = (float(v) for v in box_xyxy)
    area_b = max(0.0, bx1 - bx0) * max(0.0, by1 - by0)
    if area_b <= 0:
        return None
    boxes = np.asarray(dets.boxes, np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    inter = np.clip(np.minimum(x1, bx1) - np.maximum(x0, bx0), 0, None) * np.clip(
        np.minimum(y1, by1) - np.maximum(y0, by0), 0, None
    )
    area_d = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    iou = inter / np.maximum(area_d + area_b - inter, 1e-9)
    inside = inter / np.maximum(area_d, 1e-9)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    centred = (cx >= bx0) & (cx <= bx1) & (cy >= by0) & (cy <= by1)
    ok = (iou >= min_iou) & (inside >= min_inside) & centred & (area_d > 0)
    if not ok.any():
        return None
    scores = np.asarray(dets.scores, np.float64)
    candidates = np.nonzero(ok)[0]
    best = max(candidates, key=lambda k: (round(float(iou[k]), 6), float(scores[k])))
    return int(best)


def clip_window(box_xyxy: Sequence[float], image_size: tuple[int, int], margin: float = CLIP_MARGIN) -> tuple[int, ...]:
    """Pixel bounds ``(x0, y0, x1, y1)`` of the drawn box grown by ``margin`` (at least 2 px), inside the image."""
    W, H = image_size
    bx0, by0, bx1, by1 = (float(v) for v in box_xyxy)
    mx = max(margin * (bx1 - bx0), MIN_CLIP_PX) if margin > 0 else 0.0
    my = max(margin * (by1 - by0), MIN_CLIP_PX) if margin > 0 else 0.0
    x0, y0 = max(0, math.floor(bx0 - mx)), max(0, math.floor(by0 - my))
    x1, y1 = min(W, math.ceil(bx1 + mx)), min(H, math.ceil(by1 + my))
    return x0, y0, x1, y1


def model_polygon(
    dets: Detections,
    i: int,
    box_xyxy: Sequence[float],
    image_size: tuple[int, int],
    *,
    tolerance: float = 1.0,
    margin: float = CLIP_MARGIN,
) -> Flat | None:
    """Outline of detection ``i``'s mask inside the drawn box (grown by ``margin``), as one flat polygon in image
    pixels: the largest part when clipping leaves several. None when the model gives no masks or the mask has
    nothing inside the box. ``image_size``: ``(width, height)``; ``tolerance``: the simplification, in pixels."""
    if dets.masks is None or not 0 <= i < len(dets):
        return None
    mask = np.asarray(dets.masks[i], bool)
    x0, y0, x1, y1 = clip_window(box_xyxy, image_size, margin)
    crop = mask[y0:y1, x0:x1]
    if x1 <= x0 or y1 <= y0 or not crop.any():
        return None
    polys = mask_outline(crop, (x0, y0), tolerance=tolerance, image_size=image_size)
    return max(polys, key=shoelace_area) if polys else None


def runs_on_boxes(model: Any) -> bool:
    """True for a model whose mask head runs on a drawn box (a checkpoint of torchvision's Mask R-CNN family, see
    :func:`studio.core.inference.box_masks.has_box_mask_head`); a model without RoI heads (an exported one, a
    one-stage network, none) is not one, and is told without importing torch."""
    net = getattr(model, "model", None)
    if getattr(net, "roi_heads", None) is None:
        return False
    from studio.core.inference.box_masks import has_box_mask_head  # deferred: torch

    return has_box_mask_head(net)


def head_prompt(
    model: Any, image: np.ndarray, box_xyxy: Sequence[float], *, min_score: float, tolerance: float = 1.0
) -> tuple[BoxPromptResult | None, str]:
    """The model's mask head run on the drawn box itself (:func:`runs_on_boxes` models): its mask, clipped to the
    box, when the box classifier is at least ``min_score`` sure of an object class; else ``(None, why)``."""
    from studio.core.inference.box_masks import masks_for_boxes  # deferred: torch

    t0 = time.perf_counter()
    H, W = image.shape[:2]
    got = masks_for_boxes(model, image, np.asarray([box_xyxy], np.float32))
    score, label = float(got.scores[0]), int(got.labels[0])
    if score < min_score:
        return None, f"model unsure, {score:.2f}"
    dets = Detections(np.asarray([box_xyxy], np.float32), got.scores, got.labels, got.masks)
    poly = model_polygon(dets, 0, box_xyxy, (W, H), tolerance=tolerance)
    if poly is None:
        return None, "the model's mask is empty in the box"
    return BoxPromptResult(poly, MODEL, score, label, time.perf_counter() - t0, "mask head on the box"), ""


def box_prompt(
    model: DetectionModel | None,
    image: np.ndarray,
    box: Sequence[float],
    *,
    detections: Detections | Callable[[], Detections] | None = None,
    min_iou: float = MIN_IOU,
    min_score: float = MIN_SCORE,
    tolerance: float = 1.0,
    use_head: bool = True,
) -> BoxPromptResult:
    """The outline of the object in ``box`` (``[x, y, w, h]``, image pixels, as the smart box draws it).

    A model whose mask head runs on any box (:func:`runs_on_boxes`, when ``use_head``) outlines the box itself when
    its classifier is at least ``min_score`` sure there. Otherwise the whole image's detections: ``detections`` when
    already known (or a function giving them, called only then: the editor's cache), else ``model`` run on
    ``image`` now (None: GrabCut only). The matched detection's mask gives the polygon when its score is at least
    ``min_score`` (0: whatever its score); otherwise GrabCut does, and ``note`` says why.
    """
    t0 = time.perf_counter()
    H, W = image.shape[:2]
    xyxy = xywh_to_xyxy(box)
    if use_head and model is not None and runs_on_boxes(model):
        result, _why = head_prompt(model, image, xyxy, min_score=min_score, tolerance=tolerance)
        if result is not None:
            return result
    if callable(detections):
        detections = detections()
    if detections is None and model is not None:
        detections = model.predict([image])[0]
    if detections is None:
        note = "no labelling model"
    elif detections.masks is None:
        note = "the model gives boxes, not masks"
    else:
        i = match_box(detections, xyxy, min_iou=min_iou)
        score = None if i is None else float(detections.scores[i])
        sure = score is not None and score >= min_score
        poly = model_polygon(detections, i, xyxy, (W, H), tolerance=tolerance) if sure and i is not None else None
        if poly is not None and i is not None and score is not None:
            return BoxPromptResult(poly, MODEL, score, int(detections.labels[i]), time.perf_counter() - t0)
        if score is None:
            note = "no detection of the model fits the box"
        elif not sure:
            note = f"model unsure, {score:.2f}"  # short: the editor's message line is narrow
        else:
            note = "the matching detection has no mask there"
    return grabcut_prompt(image, box, tolerance=tolerance, note=note, t0=t0)


def grabcut_prompt(
    image: np.ndarray, box: Sequence[float], *, tolerance: float = 1.0, note: str = "", t0: float | None = None
) -> BoxPromptResult:
    """GrabCut alone (the fallback): its largest polygon; the box itself when GrabCut finds nothing."""
    start = time.perf_counter() if t0 is None else t0
    result = box_to_polygon(image, box, tolerance=tolerance)
    if result.polygons:
        poly = max(result.polygons, key=shoelace_area)
    else:
        poly = [] if result.fallback and "outside" in result.fallback else bbox_polygon(box)
    why = "; ".join(n for n in (note, result.fallback or "") if n)
    return BoxPromptResult([float(v) for v in poly], GRABCUT, None, None, time.perf_counter() - start, why)


def model_stamp(path: Path) -> tuple[int, ...]:
    """When the model's file last changed (for a run folder, its best.pt and last.pt): a model trained further
    under the same name is loaded again, and its old detections are not reused."""
    files = [path / "best.pt", path / "last.pt"] if path.is_dir() else [path]
    return tuple(f.stat().st_mtime_ns if f.is_file() else 0 for f in files)


class DetectionCache:
    """Each image's detections by the labelling model, computed once, for every box drawn on it.

    ``load(path)`` gives the model of a checkpoint, run folder or exported file; it is called once per path and
    again when the file changes (:func:`model_stamp`); the previous model is released when another one is loaded.
    Detections are kept for the last :data:`CACHED_IMAGES` images of the model held. Thread-safe: the editor calls
    it from its worker.
    """

    def __init__(self, load: Callable[[Path], Any], size: int = CACHED_IMAGES):
        self._load = load
        self._size = size
        self._lock = threading.Lock()
        self._model: tuple[tuple[Path, tuple[int, ...]], Any] | None = None
        self._dets: OrderedDict[Hashable, Detections] = OrderedDict()  # image key -> detections of the model held
        self._stale = False  # clear() was asked while a worker held the cache: done at its next use

    def model(self, path: Path) -> Any:
        """The loaded model of ``path`` (loaded now when it is not the one held, or its file changed)."""
        with self._lock:
            return self._model_locked(Path(path))

    def detections(self, path: Path, image_key: Hashable, image: np.ndarray) -> tuple[Detections, bool]:
        """``(detections, cached)``: the model of ``path`` on ``image`` (known as ``image_key``), run at most once."""
        with self._lock:
            model = self._model_locked(Path(path))
            hit = self._dets.get(image_key)
            if hit is not None:
                self._dets.move_to_end(image_key)
                return hit, True
            dets = model.predict([image])[0]
            self._dets[image_key] = dets
            while len(self._dets) > self._size:
                self._dets.popitem(last=False)
            return dets, False

    def cached(self, path: Path, image_key: Hashable) -> bool:
        """The detections of ``path``'s model (as its file is now) on ``image_key`` are known: no model run. Never
        waits (the GUI thread asks): False while a worker holds the cache (loading or running the model)."""
        path = Path(path)
        if not self._lock.acquire(blocking=False):
            return False
        try:
            return self._model is not None and self._model[0] == (path, model_stamp(path)) and image_key in self._dets
        finally:
            self._lock.release()

    def clear(self) -> None:
        """Release the model and forget every detection (another model, or none, was chosen). Never waits: while a
        worker holds the cache, it is done at the next use."""
        if not self._lock.acquire(blocking=False):
            self._stale = True
            return
        try:
            self._model = None
            self._dets.clear()
        finally:
            self._lock.release()

    def _model_locked(self, path: Path) -> Any:
        key = (path, model_stamp(path))
        if self._stale or self._model is None or self._model[0] != key:
            self._stale = False
            self._model = None
            self._dets.clear()
            self._model = (key, self._load(path))
        return self._model[1]
