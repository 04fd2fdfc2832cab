"""Class activation maps for detectors: Grad-CAM, Grad-CAM++ and EigenCAM through one adapter.

The adapter needs nothing from the detection head. The model runs once in eval mode with gradients
on, its chosen layers recorded by forward hooks (:mod:`studio.core.explain.capture`); the target is a
score the model itself returned. torchvision's post-processing picks detections by thresholding,
top-k and NMS, which are index selections: the selected scores are still entries of the softmax /
sigmoid outputs, so they stay connected to the graph and a gradient flows back from any of them to
the layers. That is what makes one code path serve Faster / Mask R-CNN, RetinaNet, FCOS, SSD and
the lite models, where MMYOLO's box-AM reads head-specific attributes and breaks on other heads.

Targets:

* one box: a detection of this forward (by index) or any box with a class (from an earlier
  prediction, the GUI). It is matched to the re-predicted box of the same class with the highest IoU;
  the target is that box's score, or score x IoU(re-predicted, given) with ``use_iou`` (the IoU is
  differentiable in the predicted box, so box regression counts too);
* a class: the sum of the scores of all its detections at or above the score threshold; when it has
  none there, its strongest candidate below it (where the model sees that class most, however
  weakly), so naming a class explains it on any image where the model considers it at all.

The score threshold decides which detections exist. It is the caller's, not the model's: the forward
runs the model's own post-processing at threshold 0 (restored afterwards), so a threshold below the
one the model was loaded with finds more detections, and a class below the threshold is still there.

Each box gets its own map. Maps are combined for display after per-box normalisation (each map
scaled to its own maximum), so a large object with a strong response does not wash out the small
ones. EigenCAM needs no gradient and no target: its one map (first principal component of the
activations) is shared by all targets, and per-box normalisation rescales it inside each box.

The statistic reported per target is the share of the CAM mass inside its box(es) against the
box's share of the image area: a map that follows the object has a mass share well above the area
share; a map that ignores it has about the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from studio.core.data.preprocess import Meta
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.explain.capture import Recorder, forward, to_image
from studio.core.explain.layers import check_names, ensure_list, resolve
from studio.core.explain.methods import (
    METHODS,
    CamMethod,
    add_method,
    cam_method_names,
    cam_method_title,
    methods,
    table_entry,
)
from studio.core.inference.predictor import postprocess_threshold, to_detections
from studio.core.jobs import CancelToken
from studio.core.plugins import registry

_EPS = 1e-7


@dataclass(frozen=True)
class BoxTarget:
    """Explain one box: xyxy in original image pixels and its model label (1..K)."""

    box: tuple[float, float, float, float]
    label: int
    use_iou: bool = False


@dataclass(frozen=True)
class ClassTarget:
    """Explain a class: the sum of the scores of its detections."""

    label: int


Target = int | BoxTarget | ClassTarget  # an int is the index of a detection of this forward


@dataclass(frozen=True)
class Explained:
    """One target's map and statistic."""

    kind: str  # "box" or "class"
    label: int
    score: float  # the box's score (times IoU with use_iou), the class's score sum, or its best candidate's score
    boxes: np.ndarray  # (m, 4) xyxy original pixels: the box, or every box of the class
    detection: int | None  # index of the matched detection in CamResult.detections (box targets)
    iou: float | None  # IoU of the re-predicted box with the given box (box targets)
    map: np.ndarray  # (H, W) float32 >= 0 at the original image size, not normalised
    mass_in_box: float | None  # share of the map's mass inside the box(es); None for an all-zero map
    area_share: float  # the box(es)' share of the image area
    below_threshold: bool = False  # a class with no detection at the threshold: its strongest candidate below it

    @property
    def ratio(self) -> float | None:
        """How many times more CAM mass the box holds than its area would give a flat map."""
        if self.mass_in_box is None or self.area_share <= 0:
            return None
        return self.mass_in_box / self.area_share


@dataclass(frozen=True)
class CamResult:
    method: str
    layers: list[str]  # the layer outputs the maps were computed on
    detections: Detections  # every prediction of the forward (original pixels, score order, no masks)
    targets: list[Explained]
    combined: np.ndarray  # (H, W) float32 in [0, 1]: the targets' maps after per-box normalisation
    score_thr: float = 0.0  # the threshold that decided which detections exist (``detections``, box indices)


# ------------------------------------------------------------------------------- per-layer maps
def gradcam(act: Tensor, grad: Tensor) -> Tensor:
    """(C, h, w) activations and gradients -> (h, w): ReLU of the channels weighted by their mean gradient."""
    w = grad.mean(dim=(1, 2))
    return torch.relu((w[:, None, None] * act).sum(0))


def gradcam_pp(act: Tensor, grad: Tensor) -> Tensor:
    """Grad-CAM++ (Chattopadhyay et al. 2018): per-pixel weights from second and third gradient powers."""
    g2 = grad * grad
    g3 = g2 * grad
    sum_act = act.sum(dim=(1, 2))
    alpha = g2 / (2 * g2 + sum_act[:, None, None] * g3 + _EPS)
    alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
    w = (torch.relu(grad) * alpha).sum(dim=(1, 2))
    return torch.relu((w[:, None, None] * act).sum(0))


def eigencam(act: Tensor) -> Tensor:
    """EigenCAM (Muhammad & Yeasin 2020): the activations projected on their first principal component.

    The component's sign is arbitrary; it is chosen so the map correlates positively with the mean
    activation (where the layer fires), then negative values are cut.
    """
    c, h, w = act.shape
    x = act.reshape(c, h * w).T.double()
    x = torch.nan_to_num(x - x.mean(dim=0, keepdim=True))
    if h * w < 2 or not torch.any(x != 0):
        return torch.zeros(h, w, dtype=act.dtype, device=act.device)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    proj = x @ vh[0]
    mean_map = act.double().mean(0).flatten()
    if torch.dot(proj, mean_map - mean_map.mean()) < 0:
        proj = -proj
    return torch.relu(proj).reshape(h, w).to(act.dtype)


for _m in (
    CamMethod("gradcam", gradcam, True, "Grad-CAM"),
    CamMethod("gradcam++", gradcam_pp, True, "Grad-CAM++"),
    CamMethod("eigencam", eigencam, False, "EigenCAM"),
):
    add_method(_m)
del _m


def cam_method(name: str) -> CamMethod:
    """The method named ``name``: a built-in, or a plugin's (imported and added to the table now)."""
    method = table_entry(name)
    if method is not None:
        return method
    names = cam_method_names()
    if name not in names:
        raise StudioError(f"unknown CAM method {name!r}: use one of {', '.join([*METHODS, *names])}")
    reg = registry()
    reg.install("cam_methods", add_method, name=name, once=True)
    c = reg.find("cam_methods", name)
    method = table_entry(name)
    if c is None or c.state != "loaded" or method is None:
        raise StudioError(f"CAM method {name!r} cannot be used: {c.describe_error() if c else 'not found'}")
    return method


# ------------------------------------------------------------------------------- statistics
def box_mask(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Union of xyxy boxes as a (h, w) bool mask (pixels the boxes touch)."""
    m = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        c0, r0 = int(np.clip(np.floor(x0), 0, w)), int(np.clip(np.floor(y0), 0, h))
        c1, r1 = int(np.clip(np.ceil(x1), 0, w)), int(np.clip(np.ceil(y1), 0, h))
        m[r0:r1, c0:c1] = True
    return m


def mass_in_boxes(cam: np.ndarray, boxes: np.ndarray) -> tuple[float | None, float]:
    """(share of the map's mass inside the boxes or None for an all-zero map, the boxes' area share)."""
    h, w = cam.shape
    inside = box_mask(boxes, h, w)
    area = float(inside.mean()) if inside.size else 0.0
    total = float(cam.sum(dtype=np.float64))
    if not np.isfinite(total) or total <= 0:
        return None, area
    return float(cam[inside].sum(dtype=np.float64) / total), area


def per_box_normalise(maps: Sequence[np.ndarray], boxes: Sequence[np.ndarray], shared: bool) -> np.ndarray:
    """Combine target maps for display so each box shows at full strength.

    Per-target maps (gradient methods) are each scaled to their own maximum, then combined by
    maximum. A shared map (EigenCAM) is rescaled to [0, 1] inside each box, zero elsewhere
    (as pytorch-grad-cam does for EigenCAM on detectors); with no box it is just normalised.
    """
    if not maps:
        raise StudioError("nothing to combine: no explained target")
    if not shared:
        out = np.zeros_like(maps[0], dtype=np.float32)
        for m in maps:
            top = float(m.max()) if m.size else 0.0
            if top > 0:
                np.maximum(out, m / top, out=out)
        return out
    m = maps[0].astype(np.float32)
    all_boxes = np.concatenate([np.asarray(b, np.float64).reshape(-1, 4) for b in boxes]) if boxes else np.zeros((0, 4))
    if len(all_boxes) == 0:
        top = float(m.max())
        return m / top if top > 0 else np.zeros_like(m)
    h, w = m.shape
    out = np.zeros_like(m)
    for b in all_boxes:
        inside = box_mask(b[None], h, w)
        if not inside.any():
            continue
        vals = m[inside]
        lo, hi = float(vals.min()), float(vals.max())
        if hi - lo > 1e-12:
            out[inside] = np.maximum(out[inside], (vals - lo) / (hi - lo))
    return out


# ------------------------------------------------------------------------------- the adapter
def explain(
    model: nn.Module,
    image: Tensor,
    meta: Meta,
    *,
    method: str = "gradcam",
    layers: str | Sequence[str] | None = None,
    targets: Sequence[Target] | None = None,
    max_boxes: int = 5,
    score_thr: float = 0.0,
    use_iou: bool = False,
    min_iou: float = 0.5,
    class_names: Sequence[str] | None = None,
    cancel: CancelToken | None = None,
) -> CamResult:
    """CAM of ``targets`` (default: the ``max_boxes`` best detections) on ``layers`` for one image.

    ``image`` is the preprocessed 3xHxW tensor and ``meta`` how it maps back to the original pixels.
    ``layers`` default: the neck, all its levels, for gradient methods (the gradient weighs each level
    by what the target drew from it); the finest neck level alone for a gradient-free method, whose
    one map has no target to weigh the levels by (see :func:`finest`).
    ``use_iou`` makes box targets given by index use score x IoU (a :class:`BoxTarget` says it itself).
    Errors (no detection, unknown class, no re-predicted box) raise StudioError naming the target.
    """
    chosen = cam_method(method)  # a plugin's too: fn(act, grad) -> (h, w), or fn(act) for gradient = false

    def names(lab):
        return class_names[lab - 1] if class_names and 1 <= lab <= len(class_names) else f"label {lab}"

    grad_based = chosen.gradient
    layer_names = ensure_list(layers)
    rec = Recorder(model, keep=check_names(model, layer_names), detach=False)
    with postprocess_threshold(model, 0.0):  # the caller's threshold decides, below the model's too
        out = forward(model, image, rec, grad=grad_based)
    batch_hw = rec.batch_hw or (int(image.shape[-2]), int(image.shape[-1]))
    acts = resolve(layer_names, rec, model)
    if not layers and not grad_based:  # no layer chosen: the method's default
        acts = finest(acts)
    raw_scores = out["scores"]
    every = to_detections(out, meta, with_masks=False)  # every candidate the post-processing kept, score order
    dets = every.above(score_thr)
    order = np.argsort(-raw_scores.detach().float().cpu().numpy(), kind="stable")  # every[k] is out[order[k]]

    wanted = list(targets) if targets is not None else list(range(min(max_boxes, len(dets))))
    if not wanted:
        raise StudioError(
            f"no detection above score {score_thr:g} to explain: lower the score threshold, or name a class"
        )

    shared: np.ndarray | None = None
    if not grad_based:
        shared = _layer_sum([chosen.fn(a[0].detach().float()) for _, a in acts], batch_hw, meta, each_max=True)

    explained: list[Explained] = []
    maps: list[np.ndarray] = []
    for t in wanted:
        if cancel is not None:
            cancel.raise_if_cancelled()
        score_t, kind, label, boxes, det_idx, iou, below = _target_score(
            t, out, every, dets, order, meta, use_iou, min_iou, score_thr, names
        )
        if grad_based:
            if not score_t.requires_grad:
                raise StudioError("the model's scores carry no gradient (is the model wrapped in no_grad?)", item=kind)
            per_layer = [
                chosen.fn(a[0].detach().float(), g[0].float()) for (_, a), g in zip(acts, _gradients(score_t, acts))
            ]
            cam = _layer_sum(per_layer, batch_hw, meta, each_max=False)
        else:
            cam = shared  # type: ignore[assignment]
        mass, area = mass_in_boxes(cam, boxes)
        explained.append(Explained(kind, label, float(score_t.detach()), boxes, det_idx, iou, cam, mass, area, below))
        maps.append(cam)
    combined = per_box_normalise(maps, [e.boxes for e in explained], shared=not grad_based)
    return CamResult(method, [n for n, _ in acts], dets, explained, combined, float(score_thr))


def finest(acts: list[tuple[str, Tensor]]) -> list[tuple[str, Tensor]]:
    """The layer with the most positions (the finest level), alone: EigenCAM's default.

    A target-free map sums the levels' first components with equal weight, and the coarse levels
    of a small detector hold too little spatial detail for theirs to follow the objects. Measured on
    det_fast after 30 epochs on balloon val (CAM mass inside the balloons over their area share, 12
    images): all three neck levels 1.10; the finest alone 3.28 (12 of 12 images above 1); the middle
    one 1.20; the coarsest 0.29.
    """
    if len(acts) <= 1:
        return acts
    return [max(acts, key=lambda a: int(a[1].shape[-2]) * int(a[1].shape[-1]))]


def _gradients(score: Tensor, acts: list[tuple[str, Tensor]]) -> list[Tensor]:
    """d score / d activation for each layer output; zeros where the score does not depend on it
    (an FPN level the RoI was not pooled from, an output the model only uses detached)."""
    live = [i for i, (_, a) in enumerate(acts) if a.requires_grad]
    grads = torch.autograd.grad(score, [acts[i][1] for i in live], retain_graph=True, allow_unused=True) if live else ()
    out = [torch.zeros_like(a) for _, a in acts]
    for i, g in zip(live, grads):
        if g is not None:
            out[i] = g
    return out


def _layer_sum(per_layer: list[Tensor], batch_hw, meta: Meta, each_max: bool) -> np.ndarray:
    """Per-layer (h, w) maps -> one map at the original size: each resized, then summed.

    Gradient maps are summed as they are (their scales are comparable: contributions to one score);
    EigenCAM projections have arbitrary scales, so each is first scaled to its maximum.
    """
    total = np.zeros((meta.orig_h, meta.orig_w), np.float32)
    for m in per_layer:
        g = np.nan_to_num(m.detach().cpu().numpy().astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if each_max:
            top = float(g.max()) if g.size else 0.0
            if top <= 0:
                continue
            g = g / top
        total += np.maximum(to_image(g, batch_hw, meta), 0.0)
    return total


def _target_score(
    t: Target,
    out: dict,
    every: Detections,
    dets: Detections,
    order: np.ndarray,
    meta: Meta,
    use_iou: bool,
    min_iou: float,
    score_thr: float,
    names,
):
    """(score tensor in the graph, kind, label, boxes in original pixels, detection index, IoU, below the
    threshold) of one target. ``every``: all the candidates of the forward in score order (``every[k]`` is
    output ``order[k]``); ``dets``: those at or above ``score_thr`` (its first ones)."""
    scores, labels, boxes = out["scores"], out["labels"], out["boxes"]
    if isinstance(t, (int, np.integer)):
        i = int(t)
        if not 0 <= i < len(dets):
            raise StudioError(
                f"there are {len(dets)} detections above score {score_thr:g} (indices 0..{len(dets) - 1})",
                item=f"box index {i}",
            )
        j = int(order[i])  # a detection of this very forward: no matching needed
        score = scores[j] * _iou(boxes[j], boxes[j].detach()) if use_iou else scores[j]
        return score, "box", int(dets.labels[i]), dets.boxes[i : i + 1].copy(), i, 1.0, False
    if isinstance(t, ClassTarget):
        label = int(t.label)
        mine = np.nonzero(dets.labels == label)[0]
        if len(mine):
            return scores[torch.as_tensor(order[mine])].sum(), "class", label, dets.boxes[mine], None, None, False
        below = np.nonzero(every.labels == label)[0]  # none at the threshold: its strongest candidate below it
        if len(below) == 0:
            raise StudioError(f"the model predicts no {names(label)} on this image, at any score", item="class target")
        k = int(below[0])
        return scores[int(order[k])], "class", label, every.boxes[k : k + 1].copy(), None, None, True
    if not isinstance(t, BoxTarget):
        raise StudioError(f"a CAM target is a detection index, a BoxTarget or a ClassTarget, got {type(t).__name__}")
    sx, sy = meta.resized_w / meta.orig_w, meta.resized_h / meta.orig_h
    ref = torch.tensor(
        [t.box[0] * sx, t.box[1] * sy, t.box[2] * sx, t.box[3] * sy], dtype=boxes.dtype, device=boxes.device
    )
    cand = torch.nonzero(labels == int(t.label)).flatten()
    item = f"{names(int(t.label))} box {[round(float(v), 1) for v in t.box]}"
    if cand.numel() == 0:
        raise StudioError(f"the model predicts no {names(int(t.label))} on this image", item=item)
    ious = torch.stack([_iou(boxes[int(c)].detach(), ref) for c in cand])
    best = int(torch.argmax(ious))
    j, best_iou = int(cand[best]), float(ious[best])
    if best_iou < min_iou:
        raise StudioError(
            f"no re-predicted {names(int(t.label))} box overlaps it enough (best IoU {best_iou:.2f} < {min_iou:g})",
            item=item,
        )
    score = scores[j] * _iou(boxes[j], ref) if t.use_iou else scores[j]
    hits = np.nonzero(order[: len(dets)] == j)[0]
    det_idx = int(hits[0]) if len(hits) else None
    return score, "box", int(t.label), np.asarray([t.box], np.float32), det_idx, best_iou, False


def _iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of two xyxy boxes, differentiable in both; 0 (not NaN) for degenerate boxes."""
    iw = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
    ih = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
    inter = iw * ih
    area = lambda x: (x[2] - x[0]).clamp(min=0) * (x[3] - x[1]).clamp(min=0)  # noqa: E731
    return inter / (area(a) + area(b) - inter + _EPS)


__all__ = [
    "METHODS",
    "BoxTarget",
    "CamMethod",
    "CamResult",
    "ClassTarget",
    "Explained",
    "Target",
    "box_mask",
    "cam_method",
    "cam_method_names",
    "cam_method_title",
    "eigencam",
    "explain",
    "finest",
    "gradcam",
    "gradcam_pp",
    "mass_in_boxes",
    "methods",
    "per_box_normalise",
]
