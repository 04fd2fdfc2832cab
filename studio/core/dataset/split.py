"""``studio dataset split``: split images into subsets, stratified by class where possible.

Greedy iterative stratification (Sechidis et al., 2011), as used for multi-label data: images are
assigned rarest-class first, each to the subset that most lacks that class, so every class is spread
over the subsets in the requested ratios as far as the image counts allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError


def default_names(n: int) -> list[str]:
    return {1: ["all"], 2: ["train", "val"], 3: ["train", "val", "test"]}.get(n, [f"split{i}" for i in range(n)])


def split_ids(ds: Dataset, ratios: Sequence[float], seed: int = 0) -> list[list]:
    """Image ids per subset. Images without annotations are spread by ratio too."""
    r = np.asarray(ratios, dtype=float)
    if len(r) == 0 or (r <= 0).any():
        raise DatasetError(f"split ratios must be positive numbers, got {list(ratios)}")
    r = r / r.sum()
    rng = np.random.default_rng(seed)
    images = [im["id"] for im in ds.images]
    order = rng.permutation(len(images))
    labels = {iid: {a["category_id"] for a in ds.anns_for_image(iid)} for iid in images}
    n_total = len(images)
    want_images = r * n_total
    class_count: dict = {}
    for iid in images:
        for c in labels[iid]:
            class_count[c] = class_count.get(c, 0) + 1
    want_class = {c: r * n for c, n in class_count.items()}
    out: list[list] = [[] for _ in r]
    remaining = [images[i] for i in order]
    # labelled images: rarest class first
    while True:
        pending = [iid for iid in remaining if labels[iid]]
        if not pending:
            break
        left: dict = {}
        for iid in pending:
            for c in labels[iid]:
                left[c] = left.get(c, 0) + 1
        rare = min(left, key=lambda c: (left[c], str(c)))
        for iid in [i for i in pending if rare in labels[i]]:
            need = want_class[rare]
            best = max(range(len(r)), key=lambda k: (need[k], want_images[k], -k))
            out[best].append(iid)
            want_images[best] -= 1
            for c in labels[iid]:
                want_class[c][best] -= 1
        remaining = [iid for iid in remaining if rare not in labels[iid]]
    for iid in remaining:  # unlabelled images
        best = max(range(len(r)), key=lambda k: (want_images[k], -k))
        out[best].append(iid)
        want_images[best] -= 1
    return out


def split_dataset(ds: Dataset, ratios: Sequence[float], seed: int = 0, names: Sequence[str] | None = None) -> dict[str, Dataset]:
    names = list(names) if names else default_names(len(ratios))
    if len(names) != len(ratios):
        raise DatasetError(f"{len(ratios)} ratios but {len(names)} names")
    return {n: ds.subset(ids) for n, ids in zip(names, split_ids(ds, ratios, seed))}


def write_splits(parts: dict[str, Dataset], out_dir: str | Path) -> list[Path]:
    from studio.core import atomic

    out_dir = Path(out_dir)
    with atomic.atomic_dir(out_dir) as tmp:
        for name, sub in parts.items():
            sub.save(tmp / f"{name}.json")
    return [out_dir / f"{n}.json" for n in parts]
