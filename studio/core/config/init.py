"""``studio config init``: a complete, runnable config from a train set (and a val set).

Class names are not written: they are read from the training annotations at run time. Paths are
written relative to the config file, so a project folder can move.
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.core.config.loader import load_config, merge, save_config, validate
from studio.core.config.recipes import DataFacts, derive, recipe_for
from studio.core.config.schema import Config
from studio.core.dataset.model import Dataset
from studio.core.errors import StudioError


def default_arch(train_ann: str | Path) -> str:
    """The zoo's default instance segmenter when the set has polygons or masks, else its default detector."""
    from studio.core.models import default_arch as zoo_default  # deferred: torch, torchvision

    return zoo_default(Dataset.load(train_ann).has_masks())


def _device_type() -> str:
    """``cuda`` when ``train.device: auto`` would train on a GPU here, else ``cpu``."""
    from studio.core.device import resolve_device  # deferred: torch

    return resolve_device("auto").type


def _rel(path: str | Path | None, folder: Path) -> str | None:
    if path is None:
        return None
    p = Path(path).resolve()
    try:
        return os.path.relpath(p, folder)
    except ValueError:  # another drive on Windows
        return str(p)


def _backbone_keys(spec, backbone: str | None) -> dict:
    if backbone is None:
        return {}
    from studio.core.models import check_backbone  # deferred: torch, torchvision

    check_backbone(spec, backbone)
    return {"backbone": backbone, "weights": "DEFAULT" if spec.backbone_weights(backbone) else None}


def backbone_note(cfg: Config) -> str | None:
    """A line for ``studio config init``: where the ImageNet weights of the chosen backbone go when they are not
    in the torch hub cache yet, or which backbones could fine-tune from weights already there."""
    from studio.core.models import get_arch  # deferred: torch, torchvision
    from studio.core.models.weights import backbone_weights_file, cached_backbones  # deferred: torch, torchvision

    spec = get_arch(cfg.model.arch)
    if not spec.backbones:
        return None
    chosen = cfg.model.backbone or spec.backbones[0][0]
    hw = backbone_weights_file(spec, chosen)
    if hw is not None and cfg.model.weights == "DEFAULT":
        if hw.path.is_file():
            return None
        return (
            f"note: {chosen}'s ImageNet weights are not in the torch hub cache yet: training downloads them, or "
            f"download {hw.url} and save it as {hw.file_name} in {hw.path.parent}"
        )
    cached = [b for b in cached_backbones(spec) if b != chosen]
    if hw is None and cached:
        return (
            f"note: ImageNet weights of {', '.join(cached)} are in the torch hub cache: --backbone {cached[0]} "
            f"fine-tunes from them ({chosen} learns from scratch)"
        )
    return None


def init_config(
    train_ann: str | Path,
    out: str | Path,
    *,
    train_images: str | Path | None = None,
    val_ann: str | Path | None = None,
    val_images: str | Path | None = None,
    arch: str | None = None,
    overrides: dict | None = None,
    backbone: str | None = None,
) -> Config:
    """Write a config for ``arch`` (or the default for the data) to ``out`` and return it (paths absolute).

    ``backbone``: one of the architecture's backbone choices; one with ImageNet weights is written with
    ``weights: DEFAULT`` (fine-tuning from them is why it is picked).
    """
    from studio.core.models import get_arch  # deferred: torch, torchvision

    for label, p in (("--train", train_ann), ("--val", val_ann)):
        if p is not None and not Path(p).is_file():
            raise StudioError("annotation file not found", file=p, item=label)
    for label, p in (("--train-images", train_images), ("--val-images", val_images)):
        if p is not None and not Path(p).is_dir():
            raise StudioError("images folder not found", file=p, item=label)
    spec = get_arch(arch or default_arch(train_ann))
    out = Path(out)
    folder = out.resolve().parent
    raw = {
        "model": {"arch": spec.name, "weights": None, **_backbone_keys(spec, backbone)},
        "data": {
            "train": {"ann": _rel(train_ann, folder), "images": _rel(train_images, folder)},
            "val": {"ann": _rel(val_ann, folder), "images": _rel(val_images, folder)} if val_ann else None,
            "image_size": spec.default_size,
            "letterbox": spec.square_input,
        },
    }
    raw = merge(raw, recipe_for(spec.family))
    time_limit = ((overrides or {}).get("train") or {}).get("time_limit")
    raw = merge(
        raw, derive(spec.family, DataFacts.of(Dataset.load(train_ann)), device=_device_type(), time_limit=time_limit)
    )
    if overrides:
        raw = merge(raw, overrides)
    cfg_rel = validate(raw, out)
    folder.mkdir(parents=True, exist_ok=True)
    save_config(cfg_rel, out)

    return load_config(out)
