"""The smart box with a labelling model against GrabCut alone, on balloon val: which way of asking the model is best.

For every ground-truth balloon (50 polygons on 13 photos, ../shared/data/balloon/val, imported with
``studio.api.dataset_import``) the box prompt is the tight box of its polygon, each side moved by up to
``--jitter`` of the box's size (uniform, seed ``--seed``; 0 keeps the tight box), as a hand-drawn box would be.
Each variant outlines the object in that box, simplified at ``--tolerance`` px:

* ``GrabCut alone``: :func:`studio.core.labelling.box_prompt.grabcut_prompt`, the smart box without a model;
* ``whole image, any score``: the model run once on the whole photo, the best-matching detection's mask clipped to
  the box whatever its score, GrabCut when none matches (``box_prompt(min_score=0)``, the first version);
* ``whole image, score >= T``: the same, the mask only from a detection scoring at least T, GrabCut otherwise;
  T = ``--min-score`` (default: :data:`~studio.core.labelling.box_prompt.MIN_SCORE`) is what ``box_prompt()`` does,
  so what the editor does; 0.7 shows how the choice of T matters;
* ``crop M``: the model run on the box grown by M of its size on each side (the predictor resizes that crop to its
  input size, so the object fills it), the best-matching detection in the crop mapped back to the image
  (:func:`crop_to_image`); else the whole-image match, else GrabCut. One model run per box;
* ``GrabCut from the model's mask``: GrabCut started with the matched whole-image detection's mask as probable
  object and the rest of the box as probable background (:func:`seeded_grabcut`); plain GrabCut when none matches;
* ``best of all, per object``: the highest IoU any variant reached for each object, the ceiling of any rule that
  picks between them.

Each polygon is rasterized (``geometry.segmentation_to_mask``) and compared with the ground truth's mask. Printed:
the share of objects with IoU >= 0.8, median and mean IoU, median and max ms per box. The time of a whole-image
variant counts the model's run on the photo's first box (the editor caches the detections per photo: the boxes
after it only match and trace); a crop variant runs the model on every box. Timings on a shared machine are noisy.

The model: ``--ckpt`` (a checkpoint or run folder; an exported .onnx runs through ``studio infer``'s runtime), else
one trained on balloon train for ``--minutes`` with the CPU preset, as ``bench/balloon.py`` does.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BALLOON = REPO.parent / "shared" / "data" / "balloon"

from studio.core.detections import Detections  # noqa: E402
from studio.core.geometry import (  # noqa: E402
    Flat,
    mask_outline,  # noqa: E402
    segmentation_to_mask,
    shoelace_area,
)
from studio.core.labelling.box_prompt import (  # noqa: E402
    MIN_SCORE,
    MODEL,
    box_prompt,
    grabcut_prompt,
    head_prompt,
    match_box,
    model_polygon,
    runs_on_boxes,
    xywh_to_xyxy,
)

CROP_MARGINS = (0.15, 0.3, 0.5)
SEED_MARGIN, SEED_MIN_PX, SEED_MAX_SIDE, SEED_ITERATIONS = 0.1, 8, 200, 5  # as GrabCut's own defaults


@dataclass
class Figures:
    ious: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, iou: float, seconds: float, source: str) -> None:
        self.ious.append(iou)
        self.seconds.append(seconds)
        self.sources.append(source)

    def share(self) -> float:
        return float(np.mean(np.asarray(self.ious) >= 0.8))

    def row(self, name: str) -> str:
        iou, ms = np.asarray(self.ious), 1000 * np.asarray(self.seconds)
        model = str(sum(s == MODEL for s in self.sources)) if self.sources else "-"
        times = f"{np.median(ms):.0f} | {np.max(ms):.0f}" if len(self.seconds) else "- | -"
        return (
            f"| {name} | {self.share() * 100:.0f} % | {np.median(iou):.3f} | {np.mean(iou):.3f} | {times} | {model} |"
        )


def jittered(box: list[float], jitter: float, rng: np.random.Generator, W: int, H: int) -> list[float]:
    """``box`` (xywh) with each side moved by up to ``jitter`` of the box's width or height, kept in the image."""
    x, y, w, h = box
    dx0, dx1 = rng.uniform(-jitter, jitter, 2) * w
    dy0, dy1 = rng.uniform(-jitter, jitter, 2) * h
    x0, y0 = max(0.0, x + dx0), max(0.0, y + dy0)
    x1, y1 = min(float(W), x + w + dx1), min(float(H), y + h + dy1)
    return [x0, y0, max(1.0, x1 - x0), max(1.0, y1 - y0)]


def crop_window(box_xyxy: Sequence[float], image_size: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """Pixel bounds ``(x0, y0, x1, y1)`` of the box grown by ``margin`` of its width / height a side, in the image."""
    W, H = image_size
    bx0, by0, bx1, by1 = (float(v) for v in box_xyxy)
    mx, my = margin * (bx1 - bx0), margin * (by1 - by0)
    return (
        max(0, math.floor(bx0 - mx)),
        max(0, math.floor(by0 - my)),
        min(W, math.ceil(bx1 + mx)),
        min(H, math.ceil(by1 + my)),
    )


def crop_to_image(dets: Detections, window: Sequence[int], image_size: tuple[int, int]) -> Detections:
    """Detections made on the crop ``image[y0:y1, x0:x1]`` (``window``), in the pixels of the whole image: boxes
    shifted by the crop's corner, masks pasted into ``image_size`` (``(width, height)``) ones."""
    x0, y0, x1, y1 = (int(v) for v in window)
    W, H = image_size
    boxes = np.asarray(dets.boxes, np.float32).reshape(-1, 4) + np.array([x0, y0, x0, y0], np.float32)
    masks = None
    if dets.masks is not None:
        masks = np.zeros((len(dets), H, W), bool)
        masks[:, y0:y1, x0:x1] = np.asarray(dets.masks, bool)
    return Detections(boxes, dets.scores, dets.labels, masks)


def crop_prompt(model: Any, image: np.ndarray, box: list[float], margin: float, whole: Detections) -> tuple[Flat, str]:
    """The crop variant: the model on the box grown by ``margin``; else the whole-image match; else GrabCut."""
    H, W = image.shape[:2]
    xyxy = xywh_to_xyxy(box)
    window = crop_window(xyxy, (W, H), margin)
    x0, y0, x1, y1 = window
    dets = model.predict([np.ascontiguousarray(image[y0:y1, x0:x1])])[0]
    boxes_only = crop_to_image(Detections(dets.boxes, dets.scores, dets.labels), window, (W, H))
    i = match_box(boxes_only, xyxy)
    if i is not None and dets.masks is not None:
        poly = model_polygon(crop_to_image(dets.keep([i]), window, (W, H)), 0, xyxy, (W, H))
        if poly is not None:
            return poly, MODEL
    r = box_prompt(None, image, box, detections=whole, min_score=0.0)
    return r.polygon, r.source


def seeded_grabcut(image: np.ndarray, box: list[float], mask: np.ndarray) -> Flat | None:
    """GrabCut in the box (plus GrabCut's margin) started from the model's ``mask``: probable object where the mask
    is, probable background elsewhere in the box, background around it; its largest part in the box, holes filled."""
    H, W = image.shape[:2]
    bx0, by0, bx1, by1 = xywh_to_xyxy(box)
    mx, my = max(SEED_MARGIN * (bx1 - bx0), SEED_MIN_PX), max(SEED_MARGIN * (by1 - by0), SEED_MIN_PX)
    x0, y0 = max(0, math.floor(bx0 - mx)), max(0, math.floor(by0 - my))
    x1, y1 = min(W, math.ceil(bx1 + mx)), min(H, math.ceil(by1 + my))
    ix0, iy0, ix1, iy1 = (
        max(0, math.floor(bx0) - x0),
        max(0, math.floor(by0) - y0),
        math.ceil(bx1) - x0,
        math.ceil(by1) - y0,
    )
    marks = np.full((y1 - y0, x1 - x0), cv2.GC_BGD, np.uint8)
    marks[iy0:iy1, ix0:ix1] = cv2.GC_PR_BGD
    inside = np.zeros_like(marks, bool)
    inside[iy0:iy1, ix0:ix1] = True
    marks[inside & mask[y0:y1, x0:x1]] = cv2.GC_PR_FGD
    scale = min(1.0, SEED_MAX_SIDE / max(x1 - x0, y1 - y0))
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    pixels = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(marks, size, interpolation=cv2.INTER_NEAREST)
    if min(np.isin(small, (cv2.GC_PR_FGD,)).sum(), np.isin(small, (cv2.GC_BGD, cv2.GC_PR_BGD)).sum()) < 16:
        return None
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(pixels, small, None, bgd, fgd, SEED_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    cut = ((small == cv2.GC_FGD) | (small == cv2.GC_PR_FGD)).astype(np.float32)
    cut = cv2.resize(cut, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= 0.5
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cut.astype(np.uint8), connectivity=8)
    parts = np.unique(labels[iy0:iy1, ix0:ix1])
    parts = parts[parts > 0]
    if n <= 1 or not len(parts):
        return None
    obj = (labels == parts[np.argmax(stats[parts, cv2.CC_STAT_AREA])]).astype(np.uint8)
    contours, _ = cv2.findContours(obj, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(obj)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    polys = mask_outline(filled.astype(bool), (x0, y0), image_size=(W, H))
    return max(polys, key=shoelace_area) if polys else None


def iou_with(poly: Flat, truth: np.ndarray) -> float:
    H, W = truth.shape
    got = segmentation_to_mask([poly], H, W).astype(bool) if poly else np.zeros((H, W), bool)
    union = np.count_nonzero(got | truth)
    return float(np.count_nonzero(got & truth) / union) if union else 1.0


def timed(fn: Callable[[], tuple[Flat, str]]) -> tuple[Flat, str, float]:
    t0 = time.perf_counter()
    poly, source = fn()
    return poly, source, time.perf_counter() - t0


def variant_names(min_score: float, head: bool = False) -> list[str]:
    """The variants measured; ``head``: the model's mask head runs on a drawn box (Mask R-CNN), which adds the
    head's variants and makes the editor's default start with it."""
    whole = f"whole image, score >= {min_score:g}" + ("" if head else " (default)")
    names = ["GrabCut alone", "whole image, any score", whole, "whole image, score >= 0.7"]
    if head:
        names += [
            "mask head on the box, any score",
            f"mask head on the box, score >= {min_score:g}, else GrabCut",
            f"mask head, else whole image, score >= {min_score:g} (default)",
        ]
    return names + [f"crop {m:g}" for m in CROP_MARGINS] + ["GrabCut from the model's mask"]


def variants(
    model: Any,
    img: np.ndarray,
    box: list[float],
    whole: Detections,
    min_iou: float,
    min_score: float,
    tolerance: float,
    first: float,
) -> dict[str, tuple[Callable[[], tuple[Flat, str]], float]]:
    """Each variant's run on one box, with the seconds to add to its time (the photo's model run, on its first box,
    for the variants that use the cached whole-image detections)."""

    def prompt(score: float, use_head: bool = False) -> tuple[Flat, str]:
        r = box_prompt(
            model if use_head else None,
            img,
            box,
            detections=whole,
            min_iou=min_iou,
            min_score=score,
            tolerance=tolerance,
            use_head=use_head,
        )
        return r.polygon, r.source

    def head(score: float) -> tuple[Flat, str]:
        r, _why = head_prompt(model, img, xywh_to_xyxy(box), min_score=score, tolerance=tolerance)
        return (r.polygon, r.source) if r is not None else grabcut()

    def grabcut() -> tuple[Flat, str]:
        return grabcut_prompt(img, box, tolerance=tolerance).polygon, "grabcut"

    def seeded() -> tuple[Flat, str]:
        i = match_box(whole, xywh_to_xyxy(box), min_iou=min_iou)
        poly = None if i is None or whole.masks is None else seeded_grabcut(img, box, np.asarray(whole.masks[i]))
        return (poly, MODEL) if poly is not None else grabcut()

    has_head = runs_on_boxes(model)
    names = variant_names(min_score, has_head)
    runs = {
        names[0]: (grabcut, 0.0),
        names[1]: (lambda: prompt(0.0), first),
        names[2]: (lambda: prompt(min_score), first),
        names[3]: (lambda: prompt(0.7), first),
        names[-1]: (seeded, first),
    }
    if has_head:  # the head runs per box (no whole-image run needed), the default falls back on the cached run
        runs[names[4]] = (lambda: head(0.0), 0.0)
        runs[names[5]] = (lambda: head(min_score), 0.0)
        runs[names[6]] = (lambda: prompt(min_score, use_head=True), first)
    for m in CROP_MARGINS:
        runs[f"crop {m:g}"] = (lambda m=m: crop_prompt(model, img, box, m, whole), 0.0)
    return runs


def train_model(minutes: float, work: Path) -> Path:
    """A checkpoint trained on balloon train for ``minutes`` with the CPU preset (bench/balloon.py's recipe)."""
    from bench.balloon import prepare

    from studio import api

    cfg = prepare(work, None, minutes, [])
    print(f"training on balloon train for {minutes:g} min (work dir {work})…", file=sys.stderr, flush=True)
    api.train(cfg, work_dir=work / "run")
    return work / "run" / "best.pt" if (work / "run" / "best.pt").is_file() else work / "run" / "last.pt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, help="the labelling model (default: train one for --minutes)")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget without --ckpt (default 10)")
    ap.add_argument("--data", type=Path, default=BALLOON / "val", help="folder with via_region_data.json and photos")
    ap.add_argument("--jitter", type=float, default=0.05, help="each side of the box moved by up to this share")
    ap.add_argument("--seed", type=int, default=0, help="seed of the jitter")
    ap.add_argument("--tolerance", type=float, default=1.0, help="polygon simplification (px)")
    ap.add_argument("--min-iou", type=float, default=0.5, help="box IoU a detection needs to match the box")
    ap.add_argument("--min-score", type=float, default=MIN_SCORE, help="the score the editor's default needs")
    ap.add_argument("--score-thr", type=float, default=0.05, help="the model's score threshold")
    ap.add_argument("--threads", type=int, default=2, help="OpenCV and torch threads")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if not (a.data / "via_region_data.json").is_file():
        print(f"balloon val not found at {a.data} (see ../shared/data/README.md)", file=sys.stderr)
        return 2

    import torch

    from studio.api import dataset_import
    from studio.core.imageio import imread_rgb
    from studio.core.labelling.auto import load_model

    cv2.setNumThreads(a.threads)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = a.ckpt or train_model(a.minutes, Path(tmp) / "train")
        model = load_model(ckpt, device=a.device, score_thr=a.score_thr)
        ds = dataset_import(a.data / "via_region_data.json", Path(tmp) / "val.json", fmt="via").dataset
    rng = np.random.default_rng(a.seed)
    names = variant_names(a.min_score, runs_on_boxes(model))
    figs = {n: Figures() for n in names}
    model_s: list[float] = []
    n_inst = 0
    for im in ds.images:
        img = imread_rgb(a.data / im["file_name"])
        H, W = img.shape[:2]
        t0 = time.perf_counter()
        whole = model.predict([img])[0]
        model_s.append(time.perf_counter() - t0)
        for k, ann in enumerate(ds.anns_for_image(im["id"])):
            n_inst += 1
            first = model_s[-1] if k == 0 else 0.0  # the editor runs the model on the photo's first box
            truth = segmentation_to_mask(ann["segmentation"], H, W).astype(bool)
            box = jittered(ann["bbox"], a.jitter, rng, W, H) if a.jitter > 0 else list(ann["bbox"])

            runs = variants(model, img, box, whole, a.min_iou, a.min_score, a.tolerance, first)
            for name, (fn, extra) in runs.items():
                poly, source, seconds = timed(fn)
                figs[name].add(iou_with(poly, truth), seconds + extra, source)
        print(f"  {im['file_name']}: {len(whole)} detection(s)", file=sys.stderr, flush=True)

    best = Figures(ious=list(np.max([f.ious for f in figs.values()], axis=0)))
    print(
        f"\nballoon {a.data.name}: {n_inst} objects on {len(ds.images)} photos; model {ckpt} ({a.device}, score_thr "
        f"{a.score_thr:g}); boxes jittered by up to {a.jitter * 100:g} % a side (seed {a.seed}); min IoU "
        f"{a.min_iou:g}; tolerance {a.tolerance:g} px; {a.threads} threads, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n"
    )
    print("| variant | IoU >= 0.8 | median IoU | mean IoU | median ms / box | max ms / box | model's mask |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        print(figs[name].row(name))
    print(best.row("best of all, per object (ceiling)"))
    print(f"\nmodel run on the whole photo: median {1000 * np.median(model_s):.0f} ms (once per photo, cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
