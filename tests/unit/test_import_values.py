"""Importers refuse the values that would corrupt the canonical COCO file (issue section 4).

NaN / infinity / strings / bools / null as coordinates or sizes, non-integer or repeated ids, broken
RLE masks: each is a bad item naming the file and the item (strict), or skipped with a warning where
a skip makes sense (``strict=False``, the CLI's ``--lenient``). ``Dataset.from_dict`` itself stays
as permissive as before: the strictness is in the importers, not in loading Studio's own files.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import import_dataset
from studio.core.formats.common import (
    Collector,
    ImportOptions,
    finite_number,
    finite_numbers,
    integer_id,
    positive_int,
    xywh_box,
)
from studio.core.geometry import mask_to_rle

LENIENT = ImportOptions(strict=False)


def _image(path: Path, w: int = 64, h: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))


# ---------------------------------------------------------------------------------------- shared helpers
def test_finite_number_refuses_what_is_not_a_finite_number():
    assert (
        finite_number(3, "x") == 3.0 and finite_number(2.5, "x") == 2.5 and finite_number(np.float32(1.5), "x") == 1.5
    )
    assert finite_number(" 7.25 ", "x", text=True) == 7.25
    for bad in ("10", True, False, None, [1], float("nan"), float("inf"), -math.inf):
        with pytest.raises(ValueError, match="x must be a"):
            finite_number(bad, "x")
    for bad in ("nan", "inf", "-inf", "Infinity", "abc", "", None):
        with pytest.raises(ValueError) as e:
            finite_number(bad, "<xmax>", text=True)
        assert str(e.value).startswith("<xmax> must be a") and repr(bad) in str(e.value)
    with pytest.raises(ValueError, match=r"<xmax> must be a finite number, got 'nan'"):
        finite_number("nan", "<xmax>", text=True)


def test_ids_sizes_and_boxes():
    assert integer_id(3, "id") == 3 and integer_id(np.int64(4), "id") == 4
    for bad in ("3", 3.0, True, None, [3]):
        with pytest.raises(ValueError, match="id must be an integer"):
            integer_id(bad, "id")
    assert positive_int(640, "'width'") == 640
    for bad in (0, -1, 64.0, "64", True, None):
        with pytest.raises(ValueError, match="'width' must be a positive integer"):
            positive_int(bad, "'width'")
    assert xywh_box([1, 2, 3, 4]) == [1.0, 2.0, 3.0, 4.0]
    for bad, words in (
        (["1", "1", "5", "5"], "bbox[0] must be a number, got '1'"),
        ([1, 1, 5], "bbox must be [x, y, width, height]"),
        ([1, 1, None, None], "bbox[2] must be a number, got None"),
        ([1, 1, float("nan"), 2], "bbox[2] must be a finite number"),
        ([1, 1, 0, 5], "zero or negative size"),
        ([1, 1, 5, -2], "zero or negative size"),
        ("1,1,5,5", "bbox must be"),
        ([1, True, 5, 5], "bbox[1] must be a number, got True"),
    ):
        with pytest.raises(ValueError) as e:
            xywh_box(bad)
        assert words in str(e.value), (bad, str(e.value))
    assert finite_numbers([1, 2.5], "p") == [1.0, 2.5]
    with pytest.raises(ValueError, match=r"p\[1\] must be a finite number"):
        finite_numbers([1, float("inf")], "p")


def test_collector_value_checks_raise_or_skip():
    with pytest.raises(DatasetError) as e:
        Collector().box([1, "2", 3, 4], "f.json", "annotations[0] (id 1)")
    assert str(e.value) == "f.json: annotations[0] (id 1): bbox[1] must be a number, got '2'"
    col = Collector(strict=False)
    assert col.number("nan", "a.xml", "object 0 (dog)", "<xmax>", text=True) is None
    assert col.box([0, 0, 1, 1], "f", "i") == [0.0, 0.0, 1.0, 1.0]
    assert col.warnings == ["a.xml: object 0 (dog): <xmax> must be a finite number, got 'nan' (skipped)"]
    col.bad("f", "i", "dup", skipped="given the new id 9")
    assert col.warnings[-1] == "f: i: dup (given the new id 9)"


@pytest.mark.parametrize(
    "flat, words",
    [
        ([0, 0, 10, 0, "10", 10], "polygon coordinates must be numbers, got '10' at index 4"),
        ([0, 0, 10, 0, 10, None], "got None at index 5"),
        ([0, 0, 10, True, 10, 10], "got True at index 3"),
        ([0, 0, 10, 0, float("nan"), 10], "must be finite numbers, got nan at index 4"),
        ([0, 0, 10, 0, 10, float("inf")], "must be finite numbers, got inf at index 5"),
        ("0 0 10 0 10 10", "a polygon must be a list"),
    ],
)
def test_polygon_refuses_non_finite_and_non_numbers(flat, words):
    with pytest.raises(DatasetError) as e:
        Collector().polygon(flat, "f.json", "item 1")
    assert words in str(e.value) and str(e.value).startswith("f.json: item 1: ")
    col = Collector(strict=False)
    assert col.polygon(flat, "f.json", "item 1") is None and "(skipped)" in col.warnings[0]
    assert Collector().polygon([0, 0, 10, 0, 10, 10], "f", "i") == [[0.0, 0.0, 10.0, 0.0, 10.0, 10.0]]


# ---------------------------------------------------------------------------------------- COCO
def _coco() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [8, 8, 24, 16],
                "area": 384,
                "iscrowd": 0,
                "segmentation": [[8, 8, 32, 8, 32, 24, 8, 24]],
            },
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [4, 4, 10, 10]},
            {"id": 3, "image_id": 2, "category_id": 3, "segmentation": mask_to_rle(_square_mask(48, 64))},
        ],
    }


def _square_mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[10:20, 10:30] = 1
    return m


def _write(tmp_path: Path, d: dict) -> Path:
    p = tmp_path / "annotations.json"
    p.write_text(json.dumps(d))
    return p


def _mutated(path, value):
    d = _coco()
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return d


def test_a_valid_coco_file_imports_unchanged(tmp_path):
    res = import_dataset("coco", _write(tmp_path, _coco()))
    ds = res.dataset
    assert res.warnings == [] and ds.class_names == ["cat", "dog", "bird"]
    assert [a["id"] for a in ds.annotations] == [1, 2, 3]
    assert ds.annotation(2)["area"] == 100 and ds.annotation(2)["iscrowd"] == 0
    assert ds.annotation(3)["bbox"] == [10.0, 10.0, 20.0, 10.0] and ds.annotation(3)["area"] == 200


# (mutation, item named, words of the message); every one is a bad item in strict mode
BAD_ITEMS = [
    (("images", 0, "id"), "1", "images[0] (id '1')", "image id must be an integer, got '1'"),
    (("images", 0, "id"), True, "images[0] (id True)", "image id must be an integer, got True"),
    (("images", 1, "width"), "64", "images[1] (id 2)", "'width' must be a positive integer, got '64'"),
    (("images", 1, "height"), 48.0, "images[1] (id 2)", "'height' must be a positive integer, got 48.0"),
    (("images", 1, "height"), 0, "images[1] (id 2)", "'height' must be a positive integer, got 0"),
    (("images", 1, "file_name"), 7, "images[1] (id 2)", "'file_name' must be a non-empty string, got 7"),
    (
        ("images", 1, "ignore_regions"),
        [[1, 1, "x", 2, 3, 3]],
        "images[1] (id 2)",
        "ignore_regions[0][2] must be a number",
    ),
    (("annotations", 1, "id"), "2", "annotations[1] (id '2')", "annotation id must be an integer, got '2'"),
    (("annotations", 1, "category_id"), "2", "annotations[1] (id 2)", "category_id must be an integer, got '2'"),
    (("annotations", 1, "image_id"), 2.0, "annotations[1] (id 2)", "image_id must be an integer, got 2.0"),
    (("annotations", 1, "category_id"), 9, "annotations[1] (id 2)", "unknown category id 9"),
    (("annotations", 1, "image_id"), 99, "annotations[1] (id 2)", "unknown image id 99"),
    (("annotations", 1, "bbox"), ["4", "4", "10", "10"], "annotations[1] (id 2)", "bbox[0] must be a number, got '4'"),
    (
        ("annotations", 1, "bbox"),
        [4, 4, 10],
        "annotations[1] (id 2)",
        "bbox must be [x, y, width, height], got [4, 4, 10]",
    ),
    (("annotations", 1, "bbox"), [4, 4, None, None], "annotations[1] (id 2)", "bbox[2] must be a number, got None"),
    (("annotations", 1, "bbox"), [4, 4, 0, 10], "annotations[1] (id 2)", "bbox has zero or negative size"),
    (("annotations", 1, "bbox"), [4, 4, True, 10], "annotations[1] (id 2)", "bbox[2] must be a number, got True"),
    (("annotations", 1, "area"), "100", "annotations[1] (id 2)", "area must be a number, got '100'"),
    (("annotations", 1, "area"), -5, "annotations[1] (id 2)", "area must be >= 0"),
    (("annotations", 1, "iscrowd"), "0", "annotations[1] (id 2)", "iscrowd must be 0 or 1, got '0'"),
    (
        ("annotations", 0, "segmentation"),
        [["a", "b", "c", "d", "e", "f"]],
        "annotations[0] (id 1) polygon 0",
        "polygon coordinates must be numbers, got 'a'",
    ),
    (
        ("annotations", 0, "segmentation"),
        "8 8 32 8 32 24",
        "annotations[0] (id 1)",
        "segmentation must be a list of polygons or an RLE",
    ),
    (
        ("annotations", 2, "segmentation"),
        {"size": [48, 64], "counts": "garbage!!"},
        "annotations[2] (id 3)",
        "segmentation: RLE counts are not a valid compressed string",
    ),
    (
        ("annotations", 2, "segmentation"),
        {"size": [10, 10], "counts": [100]},
        "annotations[2] (id 3)",
        "segmentation: RLE size 10x10 (height x width) differs from the image's 48x64",
    ),
    (
        ("annotations", 2, "segmentation"),
        {"size": [48, 64], "counts": [100, 5]},
        "annotations[2] (id 3)",
        "segmentation: RLE counts cover 105 pixels, the 48x64 mask has 3072",
    ),
    (
        ("annotations", 2, "segmentation"),
        {"size": [48, 64]},
        "annotations[2] (id 3)",
        "segmentation: an RLE needs 'size' and 'counts'",
    ),
]


@pytest.mark.parametrize(
    "path, value, item, words", BAD_ITEMS, ids=[f"{'.'.join(map(str, b[0]))}={b[1]!r}" for b in BAD_ITEMS]
)
def test_coco_bad_items_name_the_file_and_the_item(tmp_path, path, value, item, words):
    src = _write(tmp_path, _mutated(path, value))
    with pytest.raises(DatasetError) as e:
        import_dataset("coco", src)
    assert e.value.file == str(src) and e.value.item == item and words in e.value.message, str(e.value)
    res = import_dataset("coco", src, options=LENIENT)  # lenient: skipped with a warning naming it
    assert any(f"{item}: {words}" in w and w.endswith(")") for w in res.warnings), res.warnings
    ds = res.dataset
    for a in ds.annotations:  # nothing left in the result that would break a later step
        assert isinstance(a["id"], int) and ds.has_image(a["image_id"]) and ds.has_category(a["category_id"])
        assert len(a["bbox"]) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in a["bbox"])
    for im in ds.images:
        assert isinstance(im["id"], int) and isinstance(im["width"], int) and isinstance(im["height"], int)


def test_coco_lenient_drops_the_annotations_of_a_skipped_image(tmp_path):
    res = import_dataset("coco", _write(tmp_path, _mutated(("images", 1, "width"), "64")), options=LENIENT)
    assert [im["id"] for im in res.dataset.images] == [1] and [a["id"] for a in res.dataset.annotations] == [1]
    assert "2 annotation(s) of the skipped images were skipped with them" in res.warnings[-1]


@pytest.mark.parametrize(
    "mutate, item, words",
    [
        (
            lambda d: d["categories"][2].update(id="3"),
            "categories[2] (id '3')",
            "category id must be an integer, got '3'",
        ),
        (
            lambda d: d["categories"][2].update(id=3.0),
            "categories[2] (id 3.0)",
            "category id must be an integer, got 3.0",
        ),
        (
            lambda d: d["categories"][2].update(id=1),
            "categories[2] (id 1)",
            "category id 1 is used twice (also by categories[0], 'cat')",
        ),
        (lambda d: d["categories"][2].update(name="cat"), "categories[2] (id 3)", "category name 'cat' is used twice"),
        (
            lambda d: d["categories"][2].update(name=""),
            "categories[2] (id 3)",
            "category name must be a non-empty string, got ''",
        ),
        (
            lambda d: d["categories"][2].update(name=5),
            "categories[2] (id 3)",
            "category name must be a non-empty string, got 5",
        ),
    ],
)
def test_coco_category_problems_are_errors_even_lenient(tmp_path, mutate, item, words):
    d = _coco()
    mutate(d)
    src = _write(tmp_path, d)
    for options in (ImportOptions(), LENIENT):  # the class list is the model's head: no skip makes sense
        with pytest.raises(DatasetError) as e:
            import_dataset("coco", src, options=options)
        assert str(e.value) == f"{src}: {item}: {words}" or (e.value.item == item and words in e.value.message), str(
            e.value
        )


def test_the_message_of_the_issue(tmp_path):
    d = _coco()
    d["categories"][2]["id"] = "3"
    src = _write(tmp_path, d)
    with pytest.raises(DatasetError) as e:
        import_dataset("coco", src)
    assert str(e.value) == f"{src}: categories[2] (id '3'): category id must be an integer, got '3'"


def test_coco_duplicate_image_ids(tmp_path):
    d = _coco()
    d["images"].append({"id": 2, "file_name": "c.jpg", "width": 10, "height": 10})
    src = _write(tmp_path, d)
    with pytest.raises(DatasetError) as e:
        import_dataset("coco", src)
    assert str(e.value) == f"{src}: images[2] (id 2): image id 2 is used twice (also by images[1], 'b.jpg')"
    res = import_dataset("coco", src, options=LENIENT)  # the later record goes, the annotations stay on the first
    ds = res.dataset
    assert [im["file_name"] for im in ds.images] == ["a.jpg", "b.jpg"]
    assert [a["id"] for a in ds.anns_for_image(2)] == [2, 3]
    assert res.warnings == [
        (
            f"{src}: images[2] (id 2): image id 2 is used twice (also by images[1], 'b.jpg') "
            "(skipped; the annotations with image_id 2 stay on images[1])"
        )
    ]


def test_coco_duplicate_annotation_ids(tmp_path):
    d = _coco()
    d["annotations"].append({"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3]})
    d["annotations"].append({"id": 2, "image_id": 1, "category_id": 2, "bbox": [2, 2, 3, 3]})
    src = _write(tmp_path, d)
    with pytest.raises(DatasetError) as e:
        import_dataset("coco", src)
    assert str(e.value) == f"{src}: annotations[3] (id 2): annotation id 2 is used twice (also by annotations[1])"
    res = import_dataset("coco", src, options=LENIENT)  # the later ones get new free ids
    ds = res.dataset
    assert [a["id"] for a in ds.annotations] == [1, 2, 3, 4, 5]
    assert ds.annotation(4)["bbox"] == [1, 1, 3, 3] and ds.annotation(5)["bbox"] == [2, 2, 3, 3]
    assert (
        len(res.warnings) == 2
        and res.warnings[0].endswith("(given the new id 4)")
        and res.warnings[1].endswith("(given the new id 5)")
    )


def test_loading_stays_as_permissive_as_before(tmp_path):
    """Dataset.load (every loader, Studio's own files included) is not stricter: only the importer is."""
    d = _coco()
    d["categories"][2]["id"] = "3"
    d["annotations"][1]["bbox"] = ["4", "4", "10", "10"]
    d["images"].append(copy.deepcopy(d["images"][0]))
    ds = Dataset.load(_write(tmp_path, d))
    assert len(ds.images) == 3 and ds.has_category("3")


def test_a_coco_file_written_by_studio_imports(tmp_path, demo):
    ds = Dataset.load(demo["train"].annotations)
    res = import_dataset("coco", demo["train"].annotations)
    assert res.warnings == [] and len(res.dataset.annotations) == len(ds.annotations)


# ---------------------------------------------------------------------------------------- VOC
def _voc(tmp_path: Path, xmin="10", ymin="5", xmax="29", ymax="24", width="64", height="48") -> Path:
    root = tmp_path / "VOC"
    (root / "Annotations").mkdir(parents=True)
    _image(root / "JPEGImages" / "a.jpg")
    box = f"<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>"
    (root / "Annotations" / "a.xml").write_text(
        f"<annotation><filename>a.jpg</filename><size><width>{width}</width><height>{height}</height></size>"
        f"<object><name>dog</name>{box}</object><object><name>cat</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>"
    )
    return root


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("xmax", "nan", "<bndbox><xmax> must be a finite number, got 'nan'"),
        ("xmax", "inf", "<bndbox><xmax> must be a finite number, got 'inf'"),
        ("ymin", "-inf", "<bndbox><ymin> must be a finite number, got '-inf'"),
        ("xmin", "left", "<bndbox><xmin> must be a number, got 'left'"),
        ("ymax", "", "<bndbox><ymax> must be a number, got ''"),
    ],
)
def test_voc_box_values(tmp_path, field, value, words):
    root = _voc(tmp_path, **{field: value})
    xml = root / "Annotations" / "a.xml"
    with pytest.raises(DatasetError) as e:
        import_dataset("voc", root)
    assert str(e.value) == f"{xml}: object 0 (dog): {words}"
    res = import_dataset("voc", root, options=LENIENT)
    assert res.warnings == [f"{xml}: object 0 (dog): {words} (skipped)"]
    assert [a["bbox"] for a in res.dataset.annotations] == [[0.0, 0.0, 9.0, 9.0]]


@pytest.mark.parametrize("field, value", [("width", "nan"), ("height", "inf"), ("width", "wide"), ("height", "-48")])
def test_voc_size_values(tmp_path, field, value):
    root = _voc(tmp_path, **{field: value})
    with pytest.raises(DatasetError) as e:
        import_dataset("voc", root)
    assert (
        e.value.file == str(root / "Annotations" / "a.xml")
        and f"<size><{field}>" in e.value.message
        and value in e.value.message
    )


def test_voc_size_zero_or_absent_still_comes_from_the_image(tmp_path):
    root = _voc(tmp_path, width="0", height="")
    im = import_dataset("voc", root).dataset.images[0]
    assert (im["width"], im["height"]) == (64, 48)


# ---------------------------------------------------------------------------------------- VIA
def _via(tmp_path: Path, shape: dict) -> Path:
    _image(tmp_path / "a.jpg")
    data = {
        "a.jpg1": {
            "filename": "a.jpg",
            "size": 1,
            "file_attributes": {},
            "regions": [
                {"shape_attributes": shape, "region_attributes": {"class": "thing"}},
                {
                    "shape_attributes": {"name": "rect", "x": 1, "y": 1, "width": 5, "height": 5},
                    "region_attributes": {"class": "thing"},
                },
            ],
        }
    }
    p = tmp_path / "via.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize(
    "shape, words",
    [
        (
            {"name": "rect", "x": "1", "y": 1, "width": 5, "height": 5},
            "rect needs finite numbers x, y, width, height, got x '1'",
        ),
        ({"name": "rect", "x": 1, "y": 1, "width": None, "height": 5}, "width None"),
        ({"name": "circle", "cx": 10, "cy": True, "r": 5}, "circle needs finite numbers cx, cy, r"),
        (
            {"name": "polygon", "all_points_x": [1, "20", 20], "all_points_y": [1, 1, 20]},
            "polygon coordinates must be numbers, got '20'",
        ),
        ({"name": "polygon", "all_points_x": [1, 20, 20], "all_points_y": [1, None, 20]}, "got None"),
    ],
)
def test_via_values(tmp_path, shape, words):
    src = _via(tmp_path, shape)
    with pytest.raises(DatasetError) as e:
        import_dataset("via", src)
    assert e.value.file == str(src) and e.value.item == "image a.jpg region 0" and words in e.value.message, str(
        e.value
    )
    res = import_dataset("via", src, options=LENIENT)
    assert len(res.dataset.annotations) == 1 and "image a.jpg region 0" in res.warnings[0]


# ---------------------------------------------------------------------------------------- labelme
def _labelme(tmp_path: Path, points, **extra) -> Path:
    _image(tmp_path / "a.jpg")
    doc = {
        "version": "5.3.1",
        "flags": {},
        "imagePath": "a.jpg",
        "imageData": None,
        "imageWidth": 64,
        "imageHeight": 48,
        "shapes": [
            {"label": "cat", "points": points, "group_id": None, "shape_type": "polygon", "flags": {}},
            {
                "label": "dog",
                "points": [[1, 1], [9, 1], [9, 9]],
                "group_id": None,
                "shape_type": "polygon",
                "flags": {},
            },
        ],
    }
    doc.update(extra)
    p = tmp_path / "a.json"
    p.write_text(json.dumps(doc))
    return p


@pytest.mark.parametrize(
    "points",
    [
        [[1, 1], ["20", 1], [20, 20]],
        [[1, 1], [20, True], [20, 20]],
        [[1, 1], [20, None], [20, 20]],
        [[1, 1], [20], [20, 20]],
    ],
)
def test_labelme_points(tmp_path, points):
    src = _labelme(tmp_path, points)
    with pytest.raises(DatasetError) as e:
        import_dataset("labelme", src)
    assert e.value.file == str(src) and e.value.item == "shape 0 (cat)" and "pairs of finite numbers" in e.value.message
    res = import_dataset("labelme", src, options=LENIENT)
    assert len(res.dataset.annotations) == 1


@pytest.mark.parametrize(
    "key, value", [("imageWidth", "64"), ("imageHeight", True), ("imageWidth", 0), ("imageHeight", 48.5)]
)
def test_labelme_image_size(tmp_path, key, value):
    src = _labelme(tmp_path, [[1, 1], [20, 1], [20, 20]], **{key: value})
    with pytest.raises(DatasetError) as e:
        import_dataset("labelme", src)
    assert e.value.file == str(src) and f"{key} must be a positive integer, got {value!r}" in e.value.message


def test_labelme_without_size_reads_the_image(tmp_path):
    src = _labelme(tmp_path, [[1, 1], [20, 1], [20, 20]], imageWidth=None, imageHeight=None)
    im = import_dataset("labelme", src).dataset.images[0]
    assert (im["width"], im["height"]) == (64, 48)


# ---------------------------------------------------------------------------------------- YOLO
@pytest.mark.parametrize(
    "line, words",
    [
        ("0 nan 0.5 0.2 0.2", "value 2 must be a finite number, got 'nan'"),
        ("0 0.5 inf 0.2 0.2", "value 3 must be a finite number, got 'inf'"),
        ("0 0.5 0.5 wide 0.2", "value 4 must be a number, got 'wide'"),
    ],
)
def test_yolo_values(tmp_path, line, words):
    root = tmp_path / "yolo"
    _image(root / "images" / "train" / "a.jpg")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(f"{line}\n0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images/train\nnames: [thing]\n")
    with pytest.raises(DatasetError) as e:
        import_dataset("yolo", root)
    assert (
        e.value.file == str(root / "labels" / "train" / "a.txt")
        and e.value.item == "line 1"
        and words in e.value.message
    )
    assert len(import_dataset("yolo", root, options=LENIENT).dataset.annotations) == 1


# ---------------------------------------------------------------------------------------- CVAT (plugin)
@pytest.mark.parametrize(
    "image_attrs, shape, words",
    [
        (
            'width="40" height="40"',
            '<box label="cat" xtl="1" ytl="1" xbr="nan" ybr="5"/>',
            "image 'a.jpg' box 0: attribute xbr must be a finite number, got 'nan'",
        ),
        (
            'width="40" height="40"',
            '<box label="cat" xtl="1" ytl="-inf" xbr="5" ybr="5"/>',
            "attribute ytl must be a finite number, got '-inf'",
        ),
        (
            'width="40" height="40"',
            '<box label="cat" xtl="1" ytl="1" xbr="5" ybr="5" rotation="nan"/>',
            "attribute rotation must be a finite number",
        ),
        (
            'width="40" height="40"',
            '<polygon label="cat" points="1,1;9,nan;9,9"/>',
            "polygon coordinates must be finite numbers, got nan",
        ),
        (
            'width="40" height="40"',
            '<polygon label="cat" points="1,1;9,1;9,9" group_id="x"/>',
            "attribute group_id must be an integer, got 'x'",
        ),
        ('width="inf" height="40"', "", "image 'a.jpg': width and height must be positive numbers, got 'inf' x '40'"),
        ('width="nan" height="40"', "", "width and height must be positive numbers, got 'nan'"),
    ],
)
def test_cvat_values(repo_plugins, tmp_path, image_attrs, shape, words):
    xml = tmp_path / "annotations.xml"
    xml.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
        "<meta><task><labels><label><name>cat</name></label></labels></task></meta>"
        f'<image id="0" name="a.jpg" {image_attrs}>{shape}</image></annotations>\n'
    )
    with pytest.raises(DatasetError) as e:
        import_dataset("cvat", xml)
    assert e.value.file == str(xml) and words in str(e.value), str(e.value)
