"""The train and val sets a config names: loaded, their images folders resolved, classes compared."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.core.config.schema import Config, DatasetRef
from studio.core.data.classes import ClassMap
from studio.core.dataset.ground_truth import ground_truth
from studio.core.dataset.model import Dataset, recorded_images_dir, usual_images_dir
from studio.core.errors import StudioError


@dataclass
class Split:
    name: str  # train or val
    ann: Path
    images_dir: Path
    dataset: Dataset  # the ground truth: accepted annotations of labelled images (studio.core.dataset.ground_truth)
    pending: int = 0  # pending proposals left out of ``dataset``
    unlabelled: int = 0  # images left out: not labelled yet, or holding only pending proposals


def open_split(ref: DatasetRef, name: str) -> Split:
    ann = Path(ref.ann)
    if not ann.is_file():
        raise StudioError(f"{name} annotation file not found", file=ann, item=f"data.{name}.ann")
    gt = ground_truth(Dataset.load(ann))
    ds = gt.dataset
    if ref.images:
        images = Path(ref.images)
    else:
        images = recorded_images_dir(ann, ds) or usual_images_dir(ann)
    if not Path(images).is_dir():
        raise StudioError(f"{name} images folder not found: {images}", file=ann, item=f"data.{name}.images")
    return Split(name, ann, Path(images), ds, gt.pending, gt.unlabelled)


def open_splits(cfg: Config) -> tuple[Split, Split | None]:
    train = open_split(cfg.data.train, "train")
    val = open_split(cfg.data.val, "val") if cfg.data.val is not None else None
    return train, val


def class_mismatch(expected: ClassMap, got: ClassMap) -> str | None:
    """A one-line description of how two class lists differ, or None when they are the same."""
    if expected == got:
        return None
    e = dict(zip(expected.cat_ids, expected.names))
    g = dict(zip(got.cat_ids, got.names))
    parts = []
    only_e = [f"{i}:{n}" for i, n in e.items() if i not in g]
    only_g = [f"{i}:{n}" for i, n in g.items() if i not in e]
    renamed = [f"{i}: {e[i]!r} vs {g[i]!r}" for i in e if i in g and e[i] != g[i]]
    if only_e:
        parts.append("missing " + ", ".join(only_e))
    if only_g:
        parts.append("extra " + ", ".join(only_g))
    if renamed:
        parts.append("renamed " + ", ".join(renamed))
    return "; ".join(parts) or "same classes in a different order"
