"""Smart labelling tools on balloon val: box -> polygon quality and latency, and clicks per outline.

The ground truth (50 balloon polygons on 13 photos, ../shared/data/balloon/val) is imported with
``studio.api.dataset_import`` into a temporary folder. Every figure is measured in this run.

**Box to polygon.** Each instance's box is the tight box of its ground-truth polygon. The polygon a
method returns is rasterized (``geometry.segmentation_to_mask``) and compared with the ground truth's
mask: IoU per instance; the table gives the share of instances with IoU >= 0.8 (goal >= 90 %), the
median and mean IoU, and the median and worst latency per instance (goal: median <= 300 ms on 2 cores;
the image is decoded beforehand, and OpenCV runs with the threads it is given, see ``--threads``).
Three methods, all with polygons simplified at ``--tolerance`` px:

* ``plain GrabCut`` (the baseline): ``cv2.grabCut`` on the whole photo with the box as its rectangle,
  5 iterations, the mask outlined by ``geometry.mask_to_polygons``;
* ``GrabCut, crop + 10 % margin``: the same on a crop of the box plus 10 % of its size on each side
  (the reference the issue quotes);
* ``box_to_polygon``: Studio's tool (``studio.core.smart.grabcut``): crop with a margin of at least
  8 px, crops shrunk to 200 px, early stop, largest part, holes filled, a re-run with the box's centre
  marked when the cut does not fit the box, outlines along pixel edges.

**Clicks.** How many clicks outline all instances, simulated from the ground truth:

* polygon tool: one click per vertex of the ground-truth polygon simplified (Douglas-Peucker) at
  ``--click-tolerance`` px, i.e. the fewest vertices of a polygon that stays that close to the ground
  truth (the raw vertex count of the annotator's polygons is shown too);
* intelligent scissors (``studio.core.smart.scissors.Scissors`` with its defaults: full resolution, path
  maps in a 768 px window around each anchor): the ground-truth outline is resampled every pixel; the
  first anchor is its first vertex. From each anchor, the target walks forward along the outline one
  sample at a time while the scissors' path from the anchor to the target follows the outline: every
  path point lies within ``--click-tolerance`` px of the ground-truth polygon (exact distance to its
  edges), every point is nearest to a sample between anchor and target (give or take 2 x tolerance + 2
  samples) and those samples are all reached (no gap of more than that), so the path can neither take
  the other way round nor a shortcut. At the first target that fails, the last one that passed becomes
  the next anchor (one click). Whenever the path from the last anchor back to the first one passes, the
  outline is closed. Closing (Enter, or a click on the first point) is the same in both tools and is
  not counted. The scissors' closed polygons are compared with the ground truth too (median IoU), as a
  check that the simulation outlines the right thing.

``--click-tolerance`` defaults to 3 px ("within a few px"; a 2048 px photo's JPEG edges are 2-3 px wide).
``--data ../shared/data/balloon/train`` runs the same on the training photos (the scissors' feature
weights were chosen there, on 6 photos).

Prints a Markdown table and the ratios: box_to_polygon's share of IoU >= 0.8 against the baseline's,
and scissors clicks / polygon clicks (goal: < 1).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BALLOON_VAL = REPO.parent / "shared" / "data" / "balloon" / "val"


@dataclass
class MethodFigures:
    ious: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def row(self, name: str) -> str:
        iou, ms = np.asarray(self.ious), 1000 * np.asarray(self.seconds)
        return (
            f"| {name} | {np.mean(iou >= 0.8) * 100:.0f} % | {np.median(iou):.3f} | {np.mean(iou):.3f} "
            f"| {np.median(ms):.0f} | {np.max(ms):.0f} |"
        )


@dataclass
class ClickFigures:
    polygon_raw: int = 0
    polygon: int = 0
    scissors: int = 0
    scissors_ious: list[float] = field(default_factory=list)
    build_s: list[float] = field(default_factory=list)
    map_s: list[float] = field(default_factory=list)
    path_s: list[float] = field(default_factory=list)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


# ------------------------------------------------------------------------------------ box -> polygon
def plain_grabcut(image: np.ndarray, box: list[float], tolerance: float, margin: float | None) -> list[list[float]]:
    """``cv2.grabCut`` with the box as rectangle, on the whole image (``margin`` None) or a crop."""
    import cv2

    from studio.core.geometry import mask_to_polygons

    H, W = image.shape[:2]
    x, y, w, h = box
    if margin is None:
        x0, y0, x1, y1 = 0, 0, W, H
    else:
        x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
        x1, y1 = min(W, int(np.ceil(x + w + margin * w))), min(H, int(np.ceil(y + h + margin * h)))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    rect = (int(x) - x0, int(y) - y0, max(1, int(round(w))), max(1, int(round(h))))
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(crop, mask, rect, None, None, 5, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return []
    full = np.zeros((H, W), np.uint8)
    full[y0:y1, x0:x1] = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return mask_to_polygons(full, tolerance=tolerance)


# ------------------------------------------------------------------------------------ clicks
def resample(flat: list[float], step: float = 1.0) -> np.ndarray:
    """The closed outline as points about ``step`` px apart, starting at its first vertex (closing point last)."""
    xy = np.asarray(flat, np.float64).reshape(-1, 2)
    ring = np.vstack([xy, xy[:1]])
    out = [ring[0]]
    for a, b in zip(ring[:-1], ring[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        out.extend(a + (b - a) * (k / n) for k in range(1, n + 1))
    return np.asarray(out)


def polyline_distance(points: np.ndarray, edges: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Exact distance from each point to the nearest of the segments ``a[k] -> b[k]``."""
    a, b = edges
    ab = b - a
    t = ((points[:, None, :] - a[None]) * ab[None]).sum(axis=2) / np.maximum((ab * ab).sum(axis=1), 1e-12)[None]
    nearest = a[None] + np.clip(t, 0.0, 1.0)[:, :, None] * ab[None]
    return np.sqrt(((points[:, None, :] - nearest) ** 2).sum(axis=2)).min(axis=1)


class Outline:
    """The ground-truth outline resampled every pixel, and for any image point the index of its nearest
    sample (one distance transform with labels per instance; it also rules out far points cheaply before
    the exact distance to the polygon's edges is computed)."""

    def __init__(self, flat: list[float], shape: tuple[int, int]):
        import cv2

        self.ring = resample(flat)
        self.n = len(self.ring) - 1  # ring[n] is ring[0] again
        H, W = shape
        ij = np.clip(np.round(self.ring[:-1]).astype(np.int64), 0, [W - 1, H - 1])
        canvas = np.full((H, W), 255, np.uint8)
        canvas[ij[:, 1], ij[:, 0]] = 0
        self.dist, labels = cv2.distanceTransformWithLabels(canvas, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        sample_of = np.zeros(labels.max() + 1, np.int64)
        sample_of[labels[ij[:, 1], ij[:, 0]]] = np.arange(self.n)
        self.index = sample_of[labels]
        self.shape = shape
        xy = np.asarray(flat, np.float64).reshape(-1, 2)
        self.edges = (xy, np.roll(xy, -1, axis=0))

    def follows(self, path: np.ndarray, cur: int, j: int, tol: float) -> bool:
        """The path from sample ``cur`` to sample ``j`` stays within ``tol`` px of the outline, only near the
        samples between them, and near all of them (no gap over 2 x slack samples): it cannot take the other
        way round or a shortcut."""
        H, W = self.shape
        ij = np.round(path).astype(np.int64)
        if (ij < 0).any() or (ij[:, 0] >= W).any() or (ij[:, 1] >= H).any():
            return False
        if self.dist[ij[:, 1], ij[:, 0]].max() > tol + 1.0 or polyline_distance(path, self.edges).max() > tol:
            return False
        slack = int(np.ceil(2 * tol)) + 2
        span = j - cur
        ahead = (self.index[ij[:, 1], ij[:, 0]] - cur) % self.n  # samples from the anchor, forward
        ahead = np.where(ahead >= self.n - slack, 0, ahead)  # just behind the anchor counts as at it
        if (ahead > span + slack).any():
            return False
        hit = np.unique(np.minimum(ahead, span))
        return bool(np.diff(np.concatenate([[0], hit, [span]])).max() <= 2 * slack)


def scissors_clicks(tool, flat: list[float], shape: tuple[int, int], tol: float, figs: ClickFigures) -> list[float]:
    """Greedy anchors along the ground-truth outline (see the module docstring); returns the closed polygon."""
    outline = Outline(flat, shape)
    ring, n = outline.ring, outline.n
    slack = int(np.ceil(2 * tol)) + 2

    def passes(cur: int, j: int) -> bool:
        t0 = time.perf_counter()
        path = np.asarray(tool.path_to(*ring[j % n]))
        figs.path_s.append(time.perf_counter() - t0)
        return outline.follows(path, cur, j, tol)

    tool.reset()
    tool.add_anchor(*ring[0])
    figs.map_s.append(tool.map_seconds)
    clicks, cur = 1, 0
    while not (cur > 0 and passes(cur, n)):
        good = cur + 1
        for j in range(cur + 1, min(n - 1, cur + n - 2 * slack)):
            if not passes(cur, j):
                break
            good = j
        tool.add_anchor(*ring[good])
        figs.map_s.append(tool.map_seconds)
        clicks += 1
        cur = good
    figs.scissors += clicks
    return tool.close(tolerance=0.0)


# ------------------------------------------------------------------------------------ the run
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=BALLOON_VAL, help="folder with via_region_data.json and the photos")
    ap.add_argument("--tolerance", type=float, default=1.0, help="polygon simplification of the box tools (px)")
    ap.add_argument("--click-tolerance", type=float, default=3.0, help="how close an outline must stay (px)")
    ap.add_argument("--threads", type=int, default=2, help="OpenCV threads (cv2.setNumThreads)")
    ap.add_argument("--no-baseline", action="store_true", help="skip plain GrabCut on the whole photo (slow)")
    ap.add_argument("--no-clicks", action="store_true", help="skip the click simulation")
    ap.add_argument("--scissors-window", type=int, default=None, help="Scissors(window=...) (default: its own)")
    ap.add_argument("--photos", type=int, default=None, help="only the first N photos (a quick look)")
    a = ap.parse_args()
    if not (a.data / "via_region_data.json").is_file():
        print(f"balloon val not found at {a.data} (see ../shared/data/README.md)", file=sys.stderr)
        return 2

    import cv2

    from studio.api import dataset_import
    from studio.core.geometry import segmentation_to_mask, simplify_polygon
    from studio.core.imageio import imread_rgb
    from studio.core.smart.grabcut import box_to_polygon
    from studio.core.smart.scissors import Scissors

    cv2.setNumThreads(a.threads)
    methods: dict[str, MethodFigures] = {}
    if not a.no_baseline:
        methods["plain GrabCut (whole photo, baseline)"] = MethodFigures()
    methods["GrabCut, crop + 10 % margin"] = MethodFigures()
    methods["box_to_polygon (Studio)"] = MethodFigures()
    clicks = ClickFigures()
    with tempfile.TemporaryDirectory() as tmp:
        ds = dataset_import(a.data / "via_region_data.json", Path(tmp) / "val.json", fmt="via").dataset
    runs: dict[str, Callable[[np.ndarray, list[float]], list[list[float]]]] = {
        "plain GrabCut (whole photo, baseline)": lambda img, box: plain_grabcut(img, box, a.tolerance, None),
        "GrabCut, crop + 10 % margin": lambda img, box: plain_grabcut(img, box, a.tolerance, 0.1),
        "box_to_polygon (Studio)": lambda img, box: box_to_polygon(img, box, tolerance=a.tolerance).polygons,
    }
    n_inst = 0
    for im in ds.images[: a.photos]:
        img = imread_rgb(a.data / im["file_name"])
        H, W = img.shape[:2]
        anns = ds.anns_for_image(im["id"])
        for ann in anns:
            n_inst += 1
            gt = segmentation_to_mask(ann["segmentation"], H, W).astype(bool)
            for name, figs in methods.items():
                t0 = time.perf_counter()
                polys = runs[name](img, ann["bbox"])
                figs.seconds.append(time.perf_counter() - t0)
                figs.ious.append(mask_iou(segmentation_to_mask(polys, H, W).astype(bool), gt))
        if not a.no_clicks:
            tool = Scissors(img) if a.scissors_window is None else Scissors(img, window=a.scissors_window)
            clicks.build_s.append(tool.build_seconds)
            for ann in anns:
                flat = ann["segmentation"][0]
                clicks.polygon_raw += len(flat) // 2
                clicks.polygon += len(simplify_polygon(flat, a.click_tolerance)) // 2
                poly = scissors_clicks(tool, flat, (H, W), a.click_tolerance, clicks)
                gt = segmentation_to_mask(ann["segmentation"], H, W).astype(bool)
                clicks.scissors_ious.append(mask_iou(segmentation_to_mask([poly], H, W).astype(bool), gt))
        print(f"  {im['file_name']}: {len(anns)} instance(s)", file=sys.stderr, flush=True)

    print(
        f"\nballoon {a.data.name}: {n_inst} instances on {len(ds.images[: a.photos])} photos; cv2 threads {a.threads}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; polygon tolerance {a.tolerance:g} px\n"
    )
    print("| method | IoU >= 0.8 | median IoU | mean IoU | median ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name, figs in methods.items():
        print(figs.row(name))
    ours = methods["box_to_polygon (Studio)"]
    ref_name = next(iter(methods))
    ref = methods[ref_name]
    share = np.mean(np.asarray(ours.ious) >= 0.8)
    print(
        f"\nbox_to_polygon: IoU >= 0.8 on {share * 100:.0f} % (goal >= 90 %), median latency "
        f"{1000 * np.median(ours.seconds):.0f} ms (goal <= 300 ms); against {ref_name}: IoU >= 0.8 share ratio "
        f"{share / max(np.mean(np.asarray(ref.ious) >= 0.8), 1e-9):.2f}, median latency ratio "
        f"{np.median(ours.seconds) / np.median(ref.seconds):.2f}"
    )
    if not a.no_clicks:
        print(f"\n| tool (outline within {a.click_tolerance:g} px) | clicks for {n_inst} instances | per instance |")
        print("|---|---|---|")
        print(f"| polygon tool, annotator's raw vertices | {clicks.polygon_raw} | {clicks.polygon_raw / n_inst:.1f} |")
        print(f"| polygon tool (baseline) | {clicks.polygon} | {clicks.polygon / n_inst:.1f} |")
        print(f"| intelligent scissors | {clicks.scissors} | {clicks.scissors / n_inst:.1f} |")
        print(
            f"\nscissors / polygon clicks: {clicks.scissors / clicks.polygon:.2f} (goal < 1); scissors outlines: "
            f"median IoU {np.median(clicks.scissors_ious):.3f} with the ground truth"
        )
        print(
            f"scissors timings: build (per photo, applyImage) median {1000 * np.median(clicks.build_s):.0f} ms, "
            f"max {1000 * np.max(clicks.build_s):.0f}; path map per anchor median "
            f"{1000 * np.median(clicks.map_s):.0f} ms, max {1000 * np.max(clicks.map_s):.0f}; path_to median "
            f"{1000 * np.median(clicks.path_s):.2f} ms, max {1000 * np.max(clicks.path_s):.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
