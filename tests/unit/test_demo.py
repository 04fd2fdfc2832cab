"""The built-in demo set: deterministic, its val set independent of the training set's size, honest labels."""

from __future__ import annotations

import numpy as np

from studio.core.dataset.model import Dataset
from studio.core.demo import CLASSES, MIN_CONTRAST, N_TRAIN, N_VAL, _color, generate
from studio.core.geometry import polygons_bbox


def test_the_val_set_does_not_depend_on_the_training_set_size(tmp_path):
    a = generate(tmp_path / "a", n_train=3, n_val=4)
    b = generate(tmp_path / "b", n_train=7, n_val=4)
    assert a["val"].annotations.read_bytes() == b["val"].annotations.read_bytes()
    assert (a["val"].images / "val_0003.jpg").read_bytes() == (b["val"].images / "val_0003.jpg").read_bytes()
    assert a["train"].annotations.read_bytes() != b["train"].annotations.read_bytes()
    c = generate(tmp_path / "c", n_train=3, n_val=4)
    assert c["train"].annotations.read_bytes() == a["train"].annotations.read_bytes(), "deterministic"
    assert (N_TRAIN, N_VAL) == (120, 30)


def test_every_class_is_there_and_no_label_is_a_sliver(tmp_path):
    split = generate(tmp_path / "d", n_train=40, n_val=1, seed=3)["train"]
    ds = Dataset.load(split.annotations)
    names = {c["id"]: c["name"] for c in ds.categories}
    per_class = {n: 0 for n in CLASSES}
    for a in ds.annotations:
        per_class[names[a["category_id"]]] += 1
        _, _, w, h = polygons_bbox(a["segmentation"])
        assert a["area"] >= 0.2 * w * h, "at least half of a shape stays visible: no thin slivers"
    assert min(per_class.values()) >= 10, per_class


def test_a_shape_colour_stands_out_from_the_background_under_it():
    rng = np.random.default_rng(0)
    flat = [10.0, 10.0, 50.0, 10.0, 50.0, 50.0, 10.0, 50.0]
    for grey in (0, 128, 255):
        img = np.full((64, 64, 3), grey, np.uint8)
        dist = [np.linalg.norm(_color(rng, img, flat) - grey) for _ in range(200)]
        assert min(dist) >= MIN_CONTRAST
