"""Built-in offline demo data: a small synthetic instance-segmentation set.

Shapes of four classes (disc, triangle, square, star) with exact polygons, drawn over varied
backgrounds (gradients, stripes, noise, checkers). Later shapes occlude earlier ones and the polygons
follow what stays visible, so the masks are exact. Deterministic for a given seed.

Designed together with the default recipe (``bench/first_run.py``), and kept honest:

* the classes differ by shape only: every colour goes with every class;
* a shape's colour differs from the background under it (a shape nobody could see is no label);
* occlusion is kept partial: a shape that would hide most of an earlier one is placed elsewhere, so
  no label is a sliver, but overlaps stay common;
* shapes from 24 to 60 px in radius (a tenth to a quarter of the image's height), so they stay
  recognisable at the low training resolution a few minutes of CPU allow;
* 120 training images and 30 validation images (about 300 and 75 objects): the val set is large
  enough for a mAP that does not jump by 0.1 when one object flips, and each split has its own
  random stream, so the val set is the same whatever the size of the training set.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from shapely.geometry import Polygon, box

from studio.core import atomic
from studio.core.dataset.model import Dataset
from studio.core.environment import user_data_dir
from studio.core.geometry import ellipse_polygon, exterior_flat, flat_to_xy, polygons_of

CLASSES = ("disc", "triangle", "square", "star")
DEMO_VERSION = 3
N_TRAIN, N_VAL = 120, 30
MIN_VISIBLE = 0.5  # a shape keeps at least this share of its area visible
MIN_CONTRAST = 60.0  # distance between a shape's colour and the background under it (RGB, 0..441)


@dataclass(frozen=True)
class DemoSplit:
    annotations: Path
    images: Path


def _shape(cls: str, cx: float, cy: float, r: float, angle: float) -> list[float]:
    if cls == "disc":
        return ellipse_polygon(cx, cy, r, r * 0.8 + r * 0.2 * np.cos(angle), angle, n=36)
    k = {"triangle": 3, "square": 4, "star": 10}[cls]
    t = angle + np.arange(k) * 2 * np.pi / k
    rad = np.full(k, r)
    if cls == "star":
        rad[1::2] = r * 0.45
    return [float(v) for xy in zip(cx + rad * np.cos(t), cy + rad * np.sin(t)) for v in xy]


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    import cv2  # deferred: cv2

    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    kind = rng.integers(0, 4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # linear gradient
        t = xx * np.cos(rng.uniform(0, np.pi)) + yy * np.sin(rng.uniform(0, np.pi))
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    elif kind == 1:  # stripes
        t = 0.5 + 0.5 * np.sin((xx + rng.uniform(0.5, 2) * yy) / rng.uniform(4, 14))
    elif kind == 2:  # smooth noise
        small = rng.random((max(h // 24, 2), max(w // 24, 2))).astype(np.float32)
        t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    else:  # checker
        s = int(rng.integers(12, 40))
        t = (((xx // s) + (yy // s)) % 2).astype(np.float32) * 0.6 + 0.2
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    img += rng.normal(0, 8, img.shape)
    return img.clip(0, 255).astype(np.uint8)


def _draw(img: np.ndarray, flat: list[float], color: np.ndarray, rng: np.random.Generator) -> None:
    import cv2  # deferred: cv2

    # COCO polygons use pixel-corner coordinates, OpenCV pixel centres: shift by half a pixel,
    # with 4 fractional bits so the drawn outline matches the polygon to 1/16 px.
    pts = np.round((flat_to_xy(flat) - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(img, [pts], tuple(int(c) for c in color), lineType=cv2.LINE_AA, shift=4)
    if rng.random() < 0.5:
        dark = tuple(int(c * 0.5) for c in color)
        cv2.polylines(img, [pts], True, dark, 2, lineType=cv2.LINE_AA, shift=4)


def _color(rng: np.random.Generator, img: np.ndarray, flat: list[float]) -> np.ndarray:
    """A random colour that stands out from the background under the shape (a few tries, then the best)."""
    xy = flat_to_xy(flat)
    x0, y0 = np.floor(xy.min(0)).astype(int).clip(0)
    x1, y1 = np.ceil(xy.max(0)).astype(int)
    under = img[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)].reshape(-1, 3).mean(0)
    best, best_d = None, -1.0
    for _ in range(8):
        c = rng.integers(0, 256, 3)
        d = float(np.linalg.norm(c - under))
        if d >= MIN_CONTRAST:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


Placed = list[tuple[str, Polygon, float]]  # class, visible part, full area


def _place(rng: np.random.Generator, w: int, h: int, placed: Placed) -> tuple[str, list[float], Polygon, Placed] | None:
    """A new shape (class, polygon, visible area, the earlier shapes with it on top), or None when every try
    would hide more than half of an earlier shape."""
    for _ in range(10):
        cls = CLASSES[int(rng.integers(0, len(CLASSES)))]
        r = float(rng.uniform(0.10, 0.25) * min(w, h))
        cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)
        flat = _shape(cls, cx, cy, r, float(rng.uniform(0, 2 * np.pi)))
        new = Polygon(flat_to_xy(flat)).buffer(0).intersection(box(0, 0, w, h))
        after = [(c, p.difference(new), full) for c, p, full in placed]
        if all(p.area >= MIN_VISIBLE * full for _, p, full in after):
            return cls, flat, new, after
    return None


def generate(
    out_dir: str | Path,
    n_train: int = N_TRAIN,
    n_val: int = N_VAL,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> dict[str, DemoSplit]:
    """Write ``OUT/images/{train,val}/*.jpg`` and ``OUT/annotations/{train,val}.json`` atomically."""
    import cv2  # deferred: cv2

    out_dir = Path(out_dir)
    w, h = size
    with atomic.atomic_dir(out_dir) as tmp:
        for k, (split, n) in enumerate((("train", n_train), ("val", n_val))):
            rng = np.random.default_rng([seed, k])  # each split its own stream
            ds = Dataset()
            cat_ids = {c: ds.add_category(c, "shape") for c in CLASSES}
            img_dir = tmp / "images" / split
            img_dir.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = _background(rng, w, h)
                placed: Placed = []
                for _ in range(int(rng.integers(1, 5))):
                    got = _place(rng, w, h, placed)
                    if got is None:
                        continue
                    cls, flat, new, placed = got
                    _draw(img, flat, _color(rng, img, flat), rng)
                    placed.append((cls, new, new.area))
                name = f"{split}_{i:04d}.jpg"
                cv2.imwrite(str(img_dir / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
                im = ds.add_image(name, w, h)
                for cls, geom, _ in placed:
                    parts = [exterior_flat(p) for p in polygons_of(geom) if p.area >= 30.0]
                    parts = [[round(v, 2) for v in p] for p in parts]
                    if parts:
                        ds.add_annotation(im["id"], cat_ids[cls], segmentation=parts)
            (tmp / "annotations").mkdir(exist_ok=True)
            ds.save(tmp / "annotations" / f"{split}.json", indent=True)
        atomic.write_json(tmp / "demo.json", {"version": DEMO_VERSION, "seed": seed, "classes": list(CLASSES)})
    return splits(out_dir)


def splits(root: str | Path) -> dict[str, DemoSplit]:
    root = Path(root)
    return {s: DemoSplit(root / "annotations" / f"{s}.json", root / "images" / s) for s in ("train", "val")}


def default_root() -> Path:
    return user_data_dir() / "demo"


def ensure_demo(root: str | Path | None = None) -> dict[str, DemoSplit]:
    """The demo data under ``root`` (default: the per-user data folder), generated if absent or stale."""
    root = Path(root) if root is not None else default_root()
    marker = root / "demo.json"
    try:
        ok = orjson.loads(marker.read_bytes()).get("version") == DEMO_VERSION
    except (OSError, orjson.JSONDecodeError):
        ok = False
    if ok and all(s.annotations.is_file() for s in splits(root).values()):
        return splits(root)
    if root.exists():
        shutil.rmtree(root)
    return generate(root)
