"""Load + index time of Studio's Dataset against pycocotools' COCO() on the same 100k-annotation file.

Prints the ratio studio / pycocotools (goal: <= 1.0). Both are timed in this run, best of N.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_coco(path: Path, n_anns: int, per_image: int = 10, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_images = n_anns // per_image
    images = [{"id": i + 1, "file_name": f"img_{i:06d}.jpg", "width": 640, "height": 480} for i in range(n_images)]
    cats = [{"id": c + 1, "name": f"class_{c}", "supercategory": "thing"} for c in range(20)]
    anns = []
    for k in range(n_anns):
        cx, cy = rng.uniform(50, 590), rng.uniform(50, 430)
        r = rng.uniform(5, 45)
        t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        poly = np.round(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).reshape(-1), 2).tolist()
        anns.append(
            {
                "id": k + 1,
                "image_id": k // per_image + 1,
                "category_id": int(rng.integers(1, 21)),
                "bbox": [round(cx - r, 2), round(cy - r, 2), round(2 * r, 2), round(2 * r, 2)],
                "area": round(np.pi * r * r, 2),
                "iscrowd": 0,
                "segmentation": [poly],
            }
        )
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--annotations", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from pycocotools.coco import COCO

    from studio.core.dataset.model import Dataset

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.json"
        make_coco(path, a.annotations)
        size_mb = path.stat().st_size / 1e6

        def load_coco():
            with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its own timing
                c = COCO(str(path))
            assert len(c.anns) == a.annotations

        def load_studio():
            ds = Dataset.load(path)
            assert len(ds.annotations) == a.annotations and ds.anns_for_image(1)

        t_ref = best_of(load_coco, a.repeat)
        t_us = best_of(load_studio, a.repeat)
    print(f"file: {a.annotations} annotations, {size_mb:.1f} MB")
    print(f"pycocotools COCO(): {t_ref * 1000:.0f} ms")
    print(f"studio Dataset.load: {t_us * 1000:.0f} ms")
    print(f"ratio studio/pycocotools: {t_us / t_ref:.2f} (goal <= 1.0)")


if __name__ == "__main__":
    main()
