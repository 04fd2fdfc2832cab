"""Round trips between every pair of formats keep polygons within 0.5 px and classes exact."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from studio.core.dataset.model import Dataset
from studio.core.formats import ExportOptions, ImportOptions, export_dataset, import_dataset
from studio.core.geometry import flat_to_xy, is_rle

EXPORTABLE = ("coco", "yolo", "voc", "labelme")
TOL = 0.5


def _source(fmt: str, out: Path) -> Path:
    return out / "annotations.json" if fmt == "coco" else out


def _through(ds: Dataset, images: Path, fmt: str, out: Path) -> tuple[Dataset, Path]:
    export_dataset(fmt, ds, images, out, ExportOptions(task="segment"))
    res = import_dataset(fmt, _source(fmt, out), None, ImportOptions())
    return res.dataset, res.images_dir


def _instances(ds: Dataset) -> dict[str, list[tuple]]:
    names = {c["id"]: c["name"] for c in ds.categories}
    out = {}
    for im in ds.images:
        anns = [(names[a["category_id"]], a["bbox"], a["segmentation"]) for a in ds.anns_for_image(im["id"])]
        out[Path(im["file_name"]).stem] = sorted(anns, key=lambda t: (t[0], round(t[1][0]), round(t[1][1])))
    return out


def _vertex_distance(seg_a, seg_b) -> float:
    """Symmetric Hausdorff distance between the two shapes' vertex sets."""
    a = np.concatenate([flat_to_xy(p) for p in seg_a])
    b = np.concatenate([flat_to_xy(p) for p in seg_b])
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def assert_same(before: Dataset, after: Dataset, polygons: bool) -> None:
    x, y = _instances(before), _instances(after)
    assert sorted(x) == sorted(y)
    for stem in x:
        assert [t[0] for t in x[stem]] == [t[0] for t in y[stem]], stem  # classes exact
        for (name, box0, seg0), (_, box1, seg1) in zip(x[stem], y[stem]):
            assert np.abs(np.subtract(box0, box1)).max() <= TOL, (stem, name, box0, box1)
            if polygons and seg0 and not is_rle(seg0):
                assert _vertex_distance(seg0, seg1) <= TOL, (stem, name)


@pytest.mark.parametrize("first,second", list(itertools.product(EXPORTABLE, EXPORTABLE)))
def test_every_pair(demo, tmp_path, first, second):
    base = Dataset.load(demo["val"].annotations)
    ds, images = _through(base, demo["val"].images, first, tmp_path / f"1_{first}")
    ds, images = _through(ds, images, second, tmp_path / f"2_{second}")
    assert_same(base, ds, polygons="voc" not in (first, second))


@pytest.mark.parametrize("fmt", EXPORTABLE)
def test_balloon_val_via_to_each_format(shared_data, tmp_path, fmt):
    src = shared_data / "balloon" / "val" / "via_region_data.json"
    res = import_dataset("via", src, None, ImportOptions())
    ds, _ = _through(res.dataset, res.images_dir, fmt, tmp_path / fmt)
    assert len(ds.annotations) == 50
    assert_same(res.dataset, ds, polygons=fmt != "voc")
