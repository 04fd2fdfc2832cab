"""``studio dataset split``: split images into subsets, stratified by class where possible.

Greedy iterative stratification (Sechidis et al., 2011), as used for multi-label data: images are
assigned rarest-class first, each to the subset that most lacks that class, so every class is spread
over the subsets in the requested ratios as far as the image counts allow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.core import atomic
from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.safe_names import plain_name_problem, quoted, safe_join


def default_names(n: int) -> list[str]:
    return {1: ["all"], 2: ["train", "val"], 3: ["train", "val", "test"]}.get(n, [f"split{i}" for i in range(n)])


def check_ratios(ratios: Sequence[float]) -> None:
    if len(ratios) == 0:
        raise DatasetError("give at least one split ratio", item="--ratios")
    for r in ratios:
        if not isinstance(r, (int, float)) or isinstance(r, bool) or not math.isfinite(r) or r <= 0:
            raise DatasetError(f"split ratios must be finite numbers above 0, got {list(ratios)}", item="--ratios")


def check_names(names: Sequence[str], n_ratios: int) -> list[str]:
    """The subset names, refused when their number differs from the ratios', when one is not a plain file
    name (it becomes NAME.json in the output folder) or when two are the same (ignoring case)."""
    names = list(names)
    if len(names) != n_ratios:
        raise DatasetError(f"{n_ratios} ratios but {len(names)} names", item="--names")
    seen: dict[str, str] = {}
    for n in names:
        problem = plain_name_problem(n)
        if problem is not None:
            raise DatasetError(
                f"subset name {quoted(n)} {problem}; a name becomes NAME.json in the output folder", item="--names"
            )
        if n.lower() in seen:
            raise DatasetError(
                f"subset name {quoted(n)} is given twice"
                + (f" (as {seen[n.lower()]!r})" if seen[n.lower()] != n else "")
                + ": both subsets would go to one file",
                item="--names",
            )
        seen[n.lower()] = n
    return names


def split_ids(ds: Dataset, ratios: Sequence[float], seed: int = 0) -> list[list]:
    """Image ids per subset. Images without annotations are spread by ratio too."""
    check_ratios(ratios)
    r = np.asarray(ratios, dtype=float)
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


def split_dataset(
    ds: Dataset, ratios: Sequence[float], seed: int = 0, names: Sequence[str] | None = None
) -> dict[str, Dataset]:
    check_ratios(ratios)
    names = check_names(names, len(ratios)) if names else default_names(len(ratios))
    return {n: ds.subset(ids) for n, ids in zip(names, split_ids(ds, ratios, seed))}


def split_targets(
    names: Sequence[str], out_dir: str | Path, *, overwrite: bool = False, source: str | Path | None = None
) -> list[Path]:
    """``OUT/NAME.json`` per subset, refused when one would replace ``source`` (always) or an existing
    file (unless ``overwrite``), or when ``out_dir`` is a file."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError("is a file, not a folder: choose a folder for the subsets", file=out_dir)
    targets = [safe_join(out_dir, f"{n}.json", what="subset file") for n in names]
    src = Path(source).resolve() if source is not None else None
    for t in targets:
        if src is not None and t.resolve() == src:
            raise DatasetError("this subset would replace the file being split: choose another name or folder", file=t)
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise DatasetError(
            f"{len(existing)} subset file(s) exist already ({', '.join(t.name for t in existing)}): "
            "pass --overwrite to replace them, or choose another folder",
            file=out_dir,
        )
    return targets


def write_splits(
    parts: dict[str, Dataset], out_dir: str | Path, *, overwrite: bool = False, source: str | Path | None = None
) -> list[Path]:
    """Write each subset as ``OUT/NAME.json``, all at once (see :func:`split_targets` for what is refused)."""
    targets = split_targets(list(parts), out_dir, overwrite=overwrite, source=source)
    with atomic.atomic_dir(out_dir) as tmp:
        for t, sub in zip(targets, parts.values()):
            sub.save(tmp / t.name)
    return targets
