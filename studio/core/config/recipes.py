"""Training recipes per architecture family: what ``studio config init`` writes for a new run.

These are starting points a user would otherwise copy from a tutorial: an optimiser and learning
rate that train the family from scratch, a batch size that fits a laptop, and the input size the
architecture was designed for. Everything can be overridden in the YAML or with ``--set``.
"""

from __future__ import annotations

RECIPES: dict[str, dict] = {
    # light CPU models: AdamW converges from scratch on small sets where SGD stalls
    "lite": {
        "train": {
            "optimizer": "adamw",
            "lr": 0.002,
            "weight_decay": 0.05,
            "batch_size": 4,
            "epochs": 50,
            "warmup_iters": 100,
        }
    },
    # one-stage CPU models: AdamW from scratch, batch 8, EMA of the weights for evaluation, mosaic on half
    # the samples (balloon val after 80 epochs: segm mAP 0.250 with it, 0.226 without; bench/balloon.py)
    "fast": {
        "train": {
            "optimizer": "adamw",
            "lr": 0.002,
            "weight_decay": 0.05,
            "batch_size": 8,
            "epochs": 300,
            "warmup_iters": 100,
            "ema": True,
        },
        "data": {"augment": {"mosaic": 0.5}},
    },
    "faster_rcnn": {"train": {"optimizer": "sgd", "lr": 0.01, "weight_decay": 1e-4, "batch_size": 2, "epochs": 24}},
    "mask_rcnn": {"train": {"optimizer": "sgd", "lr": 0.01, "weight_decay": 1e-4, "batch_size": 2, "epochs": 24}},
    "retinanet": {"train": {"optimizer": "sgd", "lr": 0.005, "weight_decay": 1e-4, "batch_size": 2, "epochs": 24}},
    "fcos": {"train": {"optimizer": "sgd", "lr": 0.005, "weight_decay": 1e-4, "batch_size": 2, "epochs": 24}},
    "ssd": {"train": {"optimizer": "sgd", "lr": 0.01, "weight_decay": 5e-4, "batch_size": 8, "epochs": 60}},
    "ssdlite": {"train": {"optimizer": "sgd", "lr": 0.02, "weight_decay": 4e-5, "batch_size": 8, "epochs": 60}},
}


def recipe_for(family: str) -> dict:
    return RECIPES.get(family, RECIPES["faster_rcnn"])
