"""The feature-map and CAM jobs behind ``studio featmap`` / ``studio cam`` and the Inspect page.

Each job loads a checkpoint (or takes an already loaded :class:`Predictor`, so a page that explains
image after image loads the model once), preprocesses the image exactly as ``studio predict`` does,
computes, and writes overlay PNGs when given an output folder. They run synchronously: the GUI calls
them from a worker with its own progress callback and cancel token.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core import atomic
from studio.core.data.preprocess import Meta, preprocess
from studio.core.detections import Detections
from studio.core.draw import blend, caption, draw_detections, tile_grid
from studio.core.errors import StudioError
from studio.core.explain.cam import BoxTarget, CamResult, ClassTarget, Target, explain, methods
from studio.core.explain.featmap import FeatureMap, feature_maps
from studio.core.explain.layers import ModelLayers, ensure_list, inspect_layers
from studio.core.imageio import imread_rgb, save_image
from studio.core.inference.predictor import Predictor
from studio.core.jobs import CancelToken, Progress, no_progress


# ------------------------------------------------------------------------------------ inputs
def load_predictor(ckpt: Any, device: str = "auto", score_thr: float | None = None) -> Predictor:
    """A checkpoint file, a run folder or a loaded Predictor (returned as it is) -> Predictor."""
    if isinstance(ckpt, Predictor):
        return ckpt
    return Predictor.from_checkpoint(ckpt, device=device, score_thr=score_thr)


def read_image(image: Any) -> tuple[np.ndarray, Path | None]:
    """An image file or an RGB uint8 array -> (RGB array, its path or None)."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise StudioError(f"expected an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
        return image, None
    return imread_rgb(image), Path(image)


def model_input(pred: Predictor, rgb: np.ndarray) -> tuple[torch.Tensor, Meta]:
    """The tensor the model sees for ``rgb`` (same preprocessing as ``studio predict``) and its Meta."""
    x, meta = preprocess(rgb, pred.size, pred.letterbox)
    return torch.from_numpy(x).to(pred.device), meta


def model_layers(ckpt: Any, image: Any = None, device: str = "auto") -> ModelLayers:
    """The module tree with output shapes and the shortcuts, probed on ``image`` (default: a grey square)."""
    pred = load_predictor(ckpt, device)
    rgb = read_image(image)[0] if image is not None else np.full((pred.size, pred.size, 3), 128, np.uint8)
    x, _ = model_input(pred, rgb)
    return inspect_layers(pred.model, x)


# ------------------------------------------------------------------------------------ feature maps
@dataclass(frozen=True)
class FeatmapJobResult:
    image: Path | None
    image_size: tuple[int, int]  # (H, W) of the original image: every map's size
    maps: list[FeatureMap]
    layers: ModelLayers  # the tree and shortcuts, from the same forward
    files: list[Path]  # PNGs written, one per map (none without out_dir)
    seconds: float


def featmap_job(
    ckpt: Any,
    image: Any,
    layers: str | Sequence[str] | None = None,
    reduction: str = "squeeze_mean",
    topk: int = 0,
    out_dir: str | Path | None = None,
    *,
    alpha: float = 0.5,
    colormap: str = "jet",
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> FeatmapJobResult:
    """Feature maps of ``layers`` (default: the neck outputs) on one image; overlay PNGs into ``out_dir``."""
    t0 = time.perf_counter()
    names = ensure_list(layers)
    progress(0, 3, "loading the model")
    pred = load_predictor(ckpt, device)
    rgb, path = read_image(image)
    _check(cancel)
    progress(1, 3, "computing feature maps")
    x, meta = model_input(pred, rgb)
    maps, info = feature_maps(pred.model, x, meta, names, reduction=reduction, topk=topk, cancel=cancel)
    files: list[Path] = []
    if out_dir is not None:
        progress(2, 3, "writing overlays")
        stem = path.stem if path is not None else "image"
        for i, fm in enumerate(maps):
            _check(cancel)
            files.append(
                save_image(
                    Path(out_dir) / f"{stem}_featmap_{i:02d}_{safe_name(fm.layer)}.png",
                    featmap_picture(rgb, fm, alpha, colormap),
                )
            )
    progress(3, 3, "done")
    return FeatmapJobResult(path, rgb.shape[:2], maps, info, files, time.perf_counter() - t0)


def featmap_picture(rgb: np.ndarray, fm: FeatureMap, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """What is saved for one feature map: the overlay, or a grid of captioned overlays for top-k channels."""
    if fm.reduction != "topk":
        return caption(blend(rgb, fm.maps[0], alpha, colormap), f"{fm.layer} {fm.reduction}")
    tiles = [caption(blend(rgb, m, alpha, colormap), f"{fm.layer} ch {c}") for m, c in zip(fm.maps, fm.channels)]
    return tile_grid(tiles)


# ------------------------------------------------------------------------------------ CAM
@dataclass(frozen=True)
class CamJobResult:
    image: Path | None
    image_size: tuple[int, int]
    cam: CamResult
    class_names: tuple[str, ...]
    files: list[Path]  # combined overlay, one overlay per target, and the stats JSON (none without out_dir)
    seconds: float

    def stats(self) -> list[dict]:
        """Per explained target: what it is and the share of CAM mass in its box(es) against their area share."""
        rows = []
        for i, e in enumerate(self.cam.targets):
            rows.append(
                {
                    "target": i,
                    "kind": e.kind,
                    "class": self.class_names[e.label - 1],
                    "label": e.label,
                    "detection": e.detection,
                    "score": round(e.score, 5),
                    "boxes": [[round(float(v), 2) for v in b] for b in e.boxes],
                    "iou": None if e.iou is None else round(e.iou, 4),
                    "mass_in_box": None if e.mass_in_box is None else round(e.mass_in_box, 5),
                    "area_share": round(e.area_share, 5),
                    "ratio": None if e.ratio is None else round(e.ratio, 3),
                    "below_threshold": e.below_threshold,
                }
            )
        return rows

    @property
    def score_thr(self) -> float:
        """The score threshold the targets were chosen at."""
        return self.cam.score_thr

    def notes(self) -> list[str]:
        """A line per class target explained below the score threshold: the class had no detection at it, so
        its strongest candidate was explained instead."""
        return [
            f"no {self.class_names[e.label - 1]} at score ≥ {self.score_thr:g}; "
            f"showing its strongest candidate, score {e.score:.3f}"
            for e in self.cam.targets
            if e.below_threshold
        ]


def cam_job(
    ckpt: Any,
    image: Any,
    method: str = "gradcam",
    layer: str | Sequence[str] | None = None,
    box_index: int | Sequence[int] | None = None,
    class_name: str | None = None,
    out_dir: str | Path | None = None,
    *,
    targets: Sequence[Target] | None = None,
    max_boxes: int = 5,
    use_iou: bool = False,
    score_thr: float | None = None,
    alpha: float = 0.5,
    colormap: str = "jet",
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CamJobResult:
    """CAM of one image on ``layer`` (default: the neck outputs, all levels; for EigenCAM, the finest).

    What is explained: ``targets`` when given (detection indices, :class:`BoxTarget`,
    :class:`ClassTarget`), else ``class_name``, else the detections ``box_index`` (one or several),
    else the ``max_boxes`` best detections. ``score_thr`` (default: the checkpoint's, or a loaded
    Predictor's) decides which detections exist, below the model's own threshold too (the CAM forward
    post-processes at 0); a named class with no detection at it explains its strongest candidate below
    it (``Explained.below_threshold``, :meth:`CamJobResult.notes`).
    """
    t0 = time.perf_counter()
    if method not in methods():
        raise StudioError(f"unknown CAM method {method!r}: use one of {', '.join(methods())}")
    progress(0, 3, "loading the model")
    pred = load_predictor(ckpt, device, score_thr)
    thr = pred.score_thr if score_thr is None else float(score_thr)
    names = tuple(pred.class_map.names)
    rgb, path = read_image(image)
    wanted = _targets(targets, class_name, box_index, names)
    _check(cancel)
    progress(1, 3, f"computing {method}")
    x, meta = model_input(pred, rgb)
    res = explain(
        pred.model,
        x,
        meta,
        method=method,
        layers=layer,
        targets=wanted,
        max_boxes=max_boxes,
        score_thr=thr,
        use_iou=use_iou,
        class_names=names,
        cancel=cancel,
    )
    files: list[Path] = []
    partial = CamJobResult(path, rgb.shape[:2], res, names, files, 0.0)
    if out_dir is not None:
        progress(2, 3, "writing overlays")
        files.extend(write_cam(partial, rgb, Path(out_dir), alpha, colormap, pred.class_map.cat_ids, cancel))
    progress(3, 3, "done")
    return CamJobResult(path, rgb.shape[:2], res, names, files, time.perf_counter() - t0)


def cam_pictures(
    res: CamResult,
    rgb: np.ndarray,
    class_names: Sequence[str],
    alpha: float = 0.5,
    colormap: str = "jet",
    cat_ids: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """The combined overlay with every explained box, then one overlay per target with its own box(es)."""

    def boxes_of(targets) -> Detections:
        boxes = [b for e in targets for b in e.boxes]
        labels = [e.label for e in targets for _ in e.boxes]
        scores = [_shown_score(e, res.detections, k) for e in targets for k in range(len(e.boxes))]
        return Detections(
            np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32), np.asarray(labels, np.int64)
        )

    def picture(cam_map: np.ndarray, targets) -> np.ndarray:  # the boxes drawn as `studio predict` draws them
        heat = blend(rgb, cam_map, alpha, colormap)
        return draw_detections(heat, boxes_of(targets), class_names, cat_ids=cat_ids, with_masks=False)

    return [picture(res.combined, res.targets)] + [picture(e.map, [e]) for e in res.targets]


def write_cam(
    result: CamJobResult,
    rgb: np.ndarray,
    out_dir: Path,
    alpha: float,
    colormap: str,
    cat_ids: Sequence[int] | None = None,
    cancel: CancelToken | None = None,
) -> list[Path]:
    res = result.cam
    stem = result.image.stem if result.image is not None else "image"
    tag = res.method.replace("+", "p")
    files = []
    for i, pic in enumerate(cam_pictures(res, rgb, result.class_names, alpha, colormap, cat_ids)):
        _check(cancel)
        name = f"{stem}_{tag}.png" if i == 0 else f"{stem}_{tag}_target{i - 1}.png"
        files.append(save_image(out_dir / name, pic))
    stats = out_dir / f"{stem}_{tag}.json"
    atomic.write_json(
        stats,
        {
            "image": str(result.image) if result.image else None,
            "method": res.method,
            "layers": res.layers,
            "targets": result.stats(),
        },
    )
    files.append(stats)
    return files


def safe_name(layer: str) -> str:
    """A layer name as a file-name part: ``backbone.fpn:0`` -> ``backbone.fpn-0``."""
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in layer)
    return keep.strip("-.") or "layer"


def _shown_score(e, dets: Detections, k: int) -> float:
    """The score drawn next to a box: its detection's score (a class target draws each of its boxes' own; a
    class below the threshold, its candidate's, which is no detection)."""
    if e.kind == "box" or e.below_threshold:
        return float(dets.scores[e.detection]) if e.detection is not None else e.score
    same = np.nonzero(dets.labels == e.label)[0]
    return float(dets.scores[same[k]]) if k < len(same) else 0.0


def _targets(targets, class_name, box_index, names: Sequence[str]) -> list[Target] | None:
    if targets is not None:
        return list(targets)
    if class_name is not None:
        if class_name not in names:
            raise StudioError(f"unknown class {class_name!r}: the model's classes are {', '.join(names)}", item="class")
        return [ClassTarget(names.index(class_name) + 1)]
    if box_index is None:
        return None
    return [int(box_index)] if isinstance(box_index, (int, np.integer)) else [int(i) for i in box_index]


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


__all__ = [
    "BoxTarget",
    "ClassTarget",
    "CamJobResult",
    "FeatmapJobResult",
    "cam_job",
    "featmap_job",
    "model_layers",
    "load_predictor",
    "cam_pictures",
    "featmap_picture",
]
