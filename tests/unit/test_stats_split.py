import json

import pytest

from studio.core.dataset.model import Dataset
from studio.core.dataset.split import split_dataset, split_ids
from studio.core.dataset.stats import compute_stats, save_plots
from studio.core.errors import DatasetError


def _multi_class(n_images=100, seed=0) -> Dataset:
    ds = Dataset()
    common, rare = ds.add_category("common"), ds.add_category("rare")
    for i in range(n_images):
        im = ds.add_image(f"{i}.jpg", 100, 100)
        ds.add_annotation(im["id"], common, bbox=[1, 1, 10 + i % 50, 10])
        if i % 10 == 0:
            ds.add_annotation(im["id"], rare, bbox=[1, 1, 100, 100])
    ds.add_image("empty.jpg", 100, 100)
    return ds


def test_stats_counts_and_sizes(tmp_path):
    ds = _multi_class()
    st = compute_stats(ds)
    c, r = st.classes
    assert (c.instances, c.images, r.instances, r.images) == (100, 100, 10, 10)
    assert r.large == 10 and c.small + c.medium + c.large == 100
    assert st.unannotated_images == 1 and st.num_images == 101
    assert len(st.box_sizes) == 110 and st.aspect_ratios.max() == pytest.approx(5.9)
    written = save_plots(st, tmp_path / "plots")
    assert {p.name for p in written} == {"class_counts.png", "box_sizes.png", "aspect_ratios.png", "stats.json"}
    assert all(p.stat().st_size > 1000 for p in written if p.suffix == ".png")
    js = json.loads((tmp_path / "plots" / "stats.json").read_text())
    assert js["classes"][1]["name"] == "rare" and sum(js["box_size"]["counts"]) == 110


def test_split_ratios_and_stratification():
    ds = _multi_class()
    parts = split_dataset(ds, [0.8, 0.2], seed=0)
    train, val = parts["train"], parts["val"]
    assert len(train.images) + len(val.images) == 101
    assert abs(len(train.images) - 81) <= 1
    rare_val = sum(1 for a in val.annotations if a["category_id"] == 2)
    assert rare_val == 2  # 10 rare images split exactly 8 / 2
    ids_t, ids_v = {im["id"] for im in train.images}, {im["id"] for im in val.images}
    assert not ids_t & ids_v


def test_split_is_seeded():
    ds = _multi_class()
    assert split_ids(ds, [0.5, 0.5], seed=3) == split_ids(ds, [0.5, 0.5], seed=3)
    assert split_ids(ds, [0.5, 0.5], seed=3) != split_ids(ds, [0.5, 0.5], seed=4)


def test_split_three_way_and_bad_ratios():
    ds = _multi_class()
    parts = split_dataset(ds, [0.7, 0.2, 0.1], seed=0)
    assert list(parts) == ["train", "val", "test"]
    assert [len(p.images) for p in parts.values()] == pytest.approx([70.7, 20.2, 10.1], abs=2)
    with pytest.raises(DatasetError):
        split_dataset(ds, [0.8, -0.2])
    with pytest.raises(DatasetError):
        split_dataset(ds, [0.8, 0.2], names=["a"])
