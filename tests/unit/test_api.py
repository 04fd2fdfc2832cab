"""The Python API mirrors the CLI and records where the images are."""

from pathlib import Path

from studio import api
from studio.core.dataset.model import Dataset


def test_import_records_images_dir_and_split_keeps_it(demo, tmp_path):
    out = tmp_path / "nested" / "ann.json"
    res = api.dataset_import(demo["train"].annotations, out, fmt="coco", images=demo["train"].images)
    assert api.images_dir_of(out) == Path(demo["train"].images).resolve()
    rep = api.dataset_check(out)  # no images argument: found through info.images_dir
    assert rep.images_dir is not None and rep.problems == []
    parts = api.dataset_split(out, [0.5, 0.5], tmp_path / "split", seed=1)
    assert sum(len(p.images) for p in parts.values()) == len(res.dataset.images)
    for name in parts:
        assert api.images_dir_of(tmp_path / "split" / f"{name}.json") == Path(demo["train"].images).resolve()


def test_coco_export_points_at_copied_images(demo, tmp_path):
    written = api.dataset_export(demo["val"].annotations, "coco", tmp_path / "exp", images=demo["val"].images)
    ann = written[0]
    assert api.images_dir_of(ann) == (tmp_path / "exp" / "images").resolve()
    ds = Dataset.load(ann)
    assert all((tmp_path / "exp" / "images" / im["file_name"]).is_file() for im in ds.images)
    assert api.dataset_check(ann).problems == []
