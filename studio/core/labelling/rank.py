"""What to label next: the unlabelled images a person's time is best spent on, best first.

Each image gets two uncertainty figures from the model, both 0..1:

* ``uncertainty``: how close its detections' scores are to the decision threshold (the checkpoint's
  ``model.score_thr`` when it is one, else 0.5, or for a model that has learned little the median of its
  best score per image: see :func:`working_point`). A score is mapped so
  the threshold sits at 0.5 (below: ``0.5 * s / t``, above: ``0.5 + 0.5 * (s - t) / (1 - t)``) and its
  binary entropy taken; the image's figure is the sum over its candidate detections
  (:func:`uncertainty_mass`), divided by the largest sum among the candidates, so an image with many
  uncertain objects comes before one with a single one. An image whose detections are all far above the
  threshold, or where the model sees nothing at all, scores 0.
* ``flip_disagreement``: the model's detections on the image and on its mirror image (boxes mirrored
  back), matched one to one by IoU within a class; matched pairs count by IoU, unmatched detections not
  at all, every detection weighted by its score. 1 - that share: a model that sees the same objects
  either way agrees with itself (0); one whose answers move with the view is guessing.

Uncertainty alone picks ten frames of one video, all as hard as each other. So the images are chosen
greedily, k-center style: each pick is the image with the highest ``(EPS + base) * novelty``, where
``base`` is the mean of the two figures and ``novelty`` is its distance, in the model's own feature
space, to the nearest image already labelled or already picked (divided by the typical spread of the
images, capped at 1). A near-copy of a picked image has novelty ~0 and drops to the end. The feature
of an image is the global average of each feature map the model's neck (else its backbone) gives,
joined, centred on the mean of all images and scaled to unit length; a model without such a module
(an exported one, a plugin's) falls back to a small grey thumbnail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from studio.core.data.decode import decode_for_model
from studio.core.dataset import provenance
from studio.core.dataset.model import Dataset, image_path
from studio.core.detections import Detections
from studio.core.errors import DatasetError, StudioError
from studio.core.geometry import iou_matrix
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.labelling.auto import images_folder, model_input_size

DECISION_THR = 0.5  # the decision threshold of a model that learned enough, when its score_thr is only a floor
MIN_DECISION_THR = 0.2  # a configured score_thr below this is a floor for candidates, not a decision
CANDIDATE_THR = 0.05  # detections down to this score take part in the figures
MATCH_IOU = 0.3  # a detection and a mirrored one closer than this are not the same object
MASS_FLOOR = 0.25  # calibrated score (half the threshold) from which a detection adds to an image's mass
EPS = 0.05  # keeps novelty ordering the images when the model is sure of every one of them
GREEDY_PICKS = 200  # beyond this many picks the rest are ordered by their figure at that point (O(n) each)
BATCH = 4
THUMB = 16  # side of the fallback feature's thumbnail


@dataclass(frozen=True)
class RankedImage:
    """One unlabelled image's place in the ranking, and why."""

    image_id: Any
    file_name: str
    score: float  # the combined figure, higher = label sooner
    uncertainty: float
    flip_disagreement: float
    novelty: float

    def reason(self) -> str:
        """Short text for the image list's tooltip and ``studio label next``."""
        return f"uncertainty {self.uncertainty:.2f} · flip {self.flip_disagreement:.2f} · novelty {self.novelty:.2f}"


# ------------------------------------------------------------------------------------ the two figures
def calibrated(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Scores mapped piecewise linearly so ``threshold`` sits at 0.5 (0 and 1 stay)."""
    t = min(max(threshold, 1e-3), 1 - 1e-3)
    s = np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    return np.where(s < t, 0.5 * s / t, 0.5 + 0.5 * (s - t) / (1 - t))


def entropy(p: np.ndarray) -> np.ndarray:
    """Binary entropy in bits (0..1)."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def score_uncertainty(dets: Detections | np.ndarray, threshold: float) -> float:
    """The most uncertain detection's entropy around the decision threshold; 0 without detections."""
    scores = np.asarray(dets.scores if isinstance(dets, Detections) else dets)
    if scores.size == 0:
        return 0.0
    return float(entropy(calibrated(scores, threshold)).max())


def uncertainty_mass(dets: Detections | np.ndarray, threshold: float) -> float:
    """The summed entropy of an image's candidate detections around the decision threshold: an image with more
    uncertain objects holds more to learn (Brust et al., "Active learning for deep object detection", 2019,
    found the sum a better image figure than the maximum or the mean); 0 without detections."""
    p = calibrated(np.asarray(dets.scores if isinstance(dets, Detections) else dets), threshold)
    p = p[p >= MASS_FLOOR]  # the many faint guesses of a weak model would outweigh its real hesitations
    return float(entropy(p).sum()) if p.size else 0.0


def working_point(top_scores: Sequence[float]) -> float:
    """The decision threshold of a model whose threshold is not configured: DECISION_THR, or for a model
    that has learned little (its best guesses score under that) the median of its best score per image, so
    "near the threshold" stays where this model hesitates rather than everywhere under 0.5."""
    top = [s for s in top_scores if s >= CANDIDATE_THR]
    return min(DECISION_THR, float(np.median(top))) if top else DECISION_THR


def mirrored_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    """xyxy boxes of a horizontally flipped image of ``width`` pixels, in the unflipped image's pixels."""
    out = np.asarray(boxes, np.float64).copy()
    if len(out):
        out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return out


def flip_disagreement(dets: Detections, flipped: Detections, width: int) -> float:
    """1 - the score-weighted share of detections that the mirrored prediction confirms (0: the same answer
    both ways, 1: nothing in common); 0 when neither view has a detection."""
    wa, wb = np.asarray(dets.scores, np.float64), np.asarray(flipped.scores, np.float64)
    total = wa.sum() + wb.sum()
    if total <= 0:
        return 0.0
    iou = iou_matrix(dets.boxes, mirrored_boxes(flipped.boxes, width))
    if iou.size:
        iou = np.where(np.asarray(dets.labels)[:, None] == np.asarray(flipped.labels)[None, :], iou, 0.0)
    agreed = 0.0
    while iou.size and iou.max() >= MATCH_IOU:  # greedy one-to-one matching, best pair first
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        agreed += iou[i, j] * (wa[i] + wb[j])
        iou[i, :] = 0.0
        iou[:, j] = 0.0
    return float(min(1.0, max(0.0, 1.0 - agreed / total)))


# ------------------------------------------------------------------------------------ features
def feature_module(model: Any) -> Any:
    """The module whose outputs describe an image: the detector's neck, else its backbone; None without one."""
    net = getattr(model, "model", None)
    if net is None:
        return None
    for name in ("neck", "backbone"):
        mod = getattr(net, name, None)
        if mod is not None and hasattr(mod, "register_forward_hook"):
            return mod
    return None


def pooled(output: Any) -> list[np.ndarray]:
    """Global average of every 4-D map in a module's output: one (batch, channels) array each."""
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [p for o in output for p in pooled(o)]
    if hasattr(output, "dim") and output.dim() == 4:
        return [output.detach().float().mean(dim=(2, 3)).cpu().numpy()]
    return []


def thumbnail_feature(image: np.ndarray) -> np.ndarray:
    """A THUMB x THUMB grey thumbnail as a vector: the fallback feature."""
    grey = image.mean(axis=2).astype(np.float32) if image.ndim == 3 else image.astype(np.float32)
    return cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0


class FeatureTap:
    """Records the pooled features of each image the model runs on (a forward hook on :func:`feature_module`)."""

    def __init__(self, model: Any):
        self.module = feature_module(model)
        self.rows: list[np.ndarray] = []
        self._handle = None

    def __enter__(self) -> FeatureTap:
        if self.module is not None:
            self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()

    def _hook(self, module: Any, inputs: Any, output: Any) -> None:
        parts = pooled(output)
        if parts:
            self.rows.extend(np.concatenate(parts, axis=1))

    def take(self, n: int) -> list[np.ndarray] | None:
        """The features of the last ``n`` images run (None when the model has no feature module)."""
        if self.module is None or len(self.rows) < n:
            return None
        out, self.rows = self.rows[-n:], []
        return out


def normalised(features: np.ndarray) -> np.ndarray:
    """Centred on their mean, then unit length (so distances compare directions of deviation)."""
    x = features - features.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-9)


# ------------------------------------------------------------------------------------ running the model
@dataclass
class Looked:
    """What the model made of one image."""

    image_id: Any
    name: str
    feature: np.ndarray
    scores: np.ndarray | None = None  # of its detections (candidates only)
    flip: float = 0.0


def look(
    model: Any,
    items: Sequence[tuple[Any, Path]],
    *,
    flip: bool,
    progress: Callable[[str], None],
    cancel: CancelToken | None,
    warnings: list[str],
) -> list[Looked]:
    """Run the model on each image (and its mirror when ``flip``); unreadable images are left out with a warning."""
    size = model_input_size(model)
    out: list[Looked] = []
    with FeatureTap(model) as tap:
        for start in range(0, len(items), BATCH):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = items[start : start + BATCH]
            images, ids = [], []
            for image_id, p in chunk:
                try:
                    images.append(decode_for_model(p, size)[0])
                    ids.append((image_id, Path(p).name))
                except DatasetError as e:
                    warnings.append(f"{e} (image {image_id}): left out of the ranking")
            if images:
                batch = images + ([np.ascontiguousarray(im[:, ::-1]) for im in images] if flip else [])
                dets = model.predict(batch)
                feats = tap.take(len(batch))
                for i, ((image_id, name), im) in enumerate(zip(ids, images)):
                    feat = feats[i] if feats is not None else thumbnail_feature(im)
                    entry = Looked(image_id, name, np.asarray(feat, np.float64))
                    if flip:
                        d = dets[i]
                        entry.scores = np.asarray(d.scores, np.float64)
                        entry.flip = flip_disagreement(d, dets[len(images) + i], im.shape[1])
                    out.append(entry)
            progress(Path(chunk[-1][1]).name)
    return out


# ------------------------------------------------------------------------------------ the ranking
def greedy_order(base: np.ndarray, feats: np.ndarray, seen: np.ndarray, k: int) -> list[tuple[int, float, float]]:
    """``(index, score, novelty)`` of the candidates in pick order: the first ``min(k, GREEDY_PICKS)`` chosen
    one at a time (each pick lowers the novelty of those near it), the rest by their figure after that."""
    n = len(base)
    if n == 0:
        return []
    centre = np.concatenate([feats, seen]).mean(axis=0) if len(seen) else feats.mean(axis=0)
    spread = float(np.median(np.linalg.norm(feats - centre, axis=1)))
    spread = spread if spread > 1e-9 else 1.0
    if len(seen):
        nearest = np.min(np.linalg.norm(feats[:, None, :] - seen[None, :, :], axis=2), axis=1)
    else:
        nearest = np.full(n, np.inf)
    left = np.ones(n, bool)
    order: list[tuple[int, float, float]] = []
    for _ in range(min(k, GREEDY_PICKS, n)):
        novelty = np.minimum(1.0, nearest / spread)
        score = np.where(left, (EPS + base) * novelty, -1.0)
        i = int(score.argmax())
        order.append((i, float(score[i]), float(novelty[i])))
        left[i] = False
        nearest = np.minimum(nearest, np.linalg.norm(feats - feats[i], axis=1))
    if len(order) < min(k, n):
        novelty = np.minimum(1.0, nearest / spread)
        score = (EPS + base) * novelty
        rest = [i for i in np.argsort(-score, kind="stable") if left[i]]
        order.extend((int(i), float(score[i]), float(novelty[i])) for i in rest[: min(k, n) - len(order)])
    return order


def rank_images(
    model: Any,
    items: Sequence[tuple[Any, Path]],
    *,
    labelled: Sequence[tuple[Any, Path]] = (),
    k: int | None = None,
    threshold: float | None = DECISION_THR,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    warnings: list[str] | None = None,
    used: dict | None = None,
) -> list[RankedImage]:
    """The ``k`` images of ``items`` (image id, path) to label next, best first (all of them when ``k`` is
    None). ``labelled``: images already labelled, whose neighbours in feature space are worth less.

    ``model`` is a Predictor (anything with ``predict`` and ``class_map``; without a ``model.neck`` /
    ``model.backbone`` the features are thumbnails). Its own score threshold should be low (candidates
    down to :data:`CANDIDATE_THR`); ``threshold`` is the decision threshold (None: :func:`working_point`,
    written to ``used["threshold"]`` when ``used`` is given). Unreadable images are left out, with a line
    added to ``warnings`` when given. Cancelling raises CancelledError.
    """
    if k is not None and k < 1:
        raise StudioError(f"-k must be at least 1, got {k}")
    total = len(items) + len(labelled)
    done = [0]

    def step(name: str) -> None:
        done[0] = min(total, done[0] + BATCH)
        progress(done[0], total, name)

    warns = warnings if warnings is not None else []
    cand = look(model, list(items), flip=True, progress=step, cancel=cancel, warnings=warns)
    known = look(model, list(labelled), flip=False, progress=step, cancel=cancel, warnings=warns)
    if threshold is None:
        threshold = working_point([float(c.scores.max()) for c in cand if c.scores is not None and c.scores.size])
    if used is not None:
        used["threshold"] = threshold
    if not cand:
        return []
    feats = normalised(np.stack([c.feature for c in cand + known]))
    mass = np.array([uncertainty_mass(c.scores if c.scores is not None else np.zeros(0), threshold) for c in cand])
    unc = list(mass / mass.max()) if mass.max() > 0 else [0.0] * len(cand)  # 0..1: the richest image is 1
    base = np.array([(u + c.flip) / 2 for u, c in zip(unc, cand)])
    order = greedy_order(base, feats[: len(cand)], feats[len(cand) :], len(cand) if k is None else k)
    return [
        RankedImage(
            cand[i].image_id,
            cand[i].name,
            round(score, 4),
            round(unc[i], 4),
            round(cand[i].flip, 4),
            round(novelty, 4),
        )
        for i, score, novelty in order
    ]


def configured_threshold(configured: float) -> float | None:
    """The checkpoint's ``model.score_thr`` when it is a decision (>= MIN_DECISION_THR), else None: let
    :func:`rank_images` find the model's :func:`working_point` (the default 0.05 only keeps weak candidates,
    and "near 0.05" is not where a model hesitates)."""
    return configured if configured >= MIN_DECISION_THR else None


def decision_threshold(configured: float) -> float:
    """:func:`configured_threshold`, or DECISION_THR where the checkpoint configures none (a fixed number, for
    callers that do not let :func:`rank_images` adapt it)."""
    thr = configured_threshold(configured)
    return DECISION_THR if thr is None else thr


@dataclass(frozen=True)
class LabelNext:
    """:func:`label_next`'s ranking and what it left out."""

    ranked: list[RankedImage]
    candidates: int  # unlabelled images considered
    labelled: int  # labelled images whose features count
    threshold: float
    warnings: list[str]


def label_next_report(
    ckpt: str | Path,
    ann: str | Path,
    *,
    k: int | None = 10,
    images: str | Path | None = None,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> LabelNext:
    """:func:`label_next` with the figures the command line prints besides the ranking."""
    from studio.core import checkpoint as ckpt_io  # deferred: torch
    from studio.core.inference.predictor import Predictor  # deferred: torch

    if k is not None and k < 1:
        raise StudioError(f"-k must be at least 1, got {k}")
    ds = Dataset.load(ann)
    folder = images_folder(ann, ds, images)
    todo = provenance.unlabelled_images(ds)
    done_ids = provenance.labelled_image_ids(ds)
    items = [(im["id"], image_path(folder, im)) for im in todo]
    labelled = [(im["id"], image_path(folder, im)) for im in ds.images if im["id"] in done_ids]
    path = Path(ckpt)
    if not path.exists():
        raise StudioError("checkpoint not found", file=path)
    ck = ckpt_io.load(ckpt_io.resolve(path))
    thr = configured_threshold(float(ck.config.model.score_thr))
    model = Predictor.from_checkpoint(ck, device=device, score_thr=min(CANDIDATE_THR, thr or 1.0))
    warnings: list[str] = []
    used: dict = {}
    ranked = rank_images(
        model,
        items,
        labelled=labelled,
        k=k,
        threshold=thr,
        progress=progress,
        cancel=cancel,
        warnings=warnings,
        used=used,
    )
    names = {im["id"]: im["file_name"] for im in todo}
    ranked = [
        RankedImage(r.image_id, names[r.image_id], r.score, r.uncertainty, r.flip_disagreement, r.novelty)
        for r in ranked
    ]
    return LabelNext(ranked, len(items), len(labelled), float(used.get("threshold", DECISION_THR)), warnings)


def label_next(
    ckpt: str | Path,
    ann: str | Path,
    *,
    k: int | None = 10,
    images: str | Path | None = None,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[RankedImage]:
    """``studio label next``: the ``k`` images of ``ann`` without accepted annotations worth labelling next,
    best first (``file_name`` as the dataset records it)."""
    return label_next_report(ckpt, ann, k=k, images=images, device=device, progress=progress, cancel=cancel).ranked
