import pytest

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError


def _small() -> Dataset:
    ds = Dataset()
    a = ds.add_category("cat")
    b = ds.add_category("dog")
    im = ds.add_image("a.jpg", 100, 80)
    ds.add_annotation(im["id"], a, segmentation=[[10, 10, 30, 10, 30, 40, 10, 40, 5, 25]])
    ds.add_annotation(im["id"], b, bbox=[50, 50, 10, 20])
    ds.add_image("b.jpg", 100, 80)
    return ds


def test_add_computes_bbox_area_and_indexes():
    ds = _small()
    assert ds.class_names == ["cat", "dog"]
    assert ds.add_category("cat") == 1  # existing name -> same id
    a1, a2 = ds.anns_for_image(1)
    assert a1["bbox"] == [5, 10, 25, 30] and a1["area"] == 600 + 75
    assert a2["segmentation"] == [] and a2["area"] == 200
    assert ds.anns_for_image(2) == []
    assert ds.has_masks()


def test_save_load_round_trip_keeps_extra_keys(tmp_path):
    ds = _small()
    ds.images[0]["ignore_regions"] = [[0, 0, 5, 0, 5, 5]]
    ds.extra["info"] = {"description": "x"}
    ds.save(tmp_path / "d.json")
    back = Dataset.load(tmp_path / "d.json")
    assert back.to_dict() == ds.to_dict()
    assert back.source == tmp_path / "d.json"


def test_remove_and_subset():
    ds = _small()
    ds.remove_annotation(1)
    assert [a["id"] for a in ds.anns_for_image(1)] == [2]
    sub = ds.subset([2])
    assert len(sub.images) == 1 and sub.annotations == [] and sub.class_names == ["cat", "dog"]
    ds.remove_image(1)
    assert ds.annotations == [] and len(ds.images) == 1


def test_box_corner_segmentation_is_not_a_mask():
    ds = Dataset()
    c = ds.add_category("cat")
    im = ds.add_image("a.jpg", 100, 100)
    ds.add_annotation(im["id"], c, segmentation=[[10, 10, 10, 50, 60, 50, 60, 10]], bbox=[10, 10, 50, 40])
    assert not ds.has_masks()


@pytest.mark.parametrize(
    "content,expect",
    [
        (b'{"images": [', "broken JSON"),
        (b"[1, 2]", "expected a COCO object"),
        (b'{"foo": 1}', "missing key(s) 'images'"),
        (b'{"images": [{"id": 1}], "annotations": [], "categories": []}', "images[0] (id 1): missing key 'file_name'"),
        (b'{"images": {}, "annotations": [], "categories": []}', "'images' must be a list"),
        (
            b'{"images": [], "annotations": [{"id": 7, "image_id": 1}], "categories": []}',
            "annotations[0] (id 7): missing key 'category_id'",
        ),
    ],
)
def test_bad_files_name_file_and_item(tmp_path, content, expect):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(DatasetError) as e:
        Dataset.load(p)
    assert str(p) in str(e.value) and expect in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        Dataset.load(tmp_path / "nope.json")
