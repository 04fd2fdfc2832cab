"""Ultralytics YOLO import and export (detect and segment)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import common, yolo
from studio.core.formats.common import ExportOptions, ImportOptions
from studio.core.geometry import mask_to_rle

W, H = 64, 48
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _image(path: Path, w: int = W, h: int = H) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))


def _dataset_dir(root: Path, config: dict, labels: dict[str, str], images: list[str] | None = None) -> Path:
    """data.yaml + images (every label's image unless ``images`` is given) + label files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    if images is None:
        images = [k.replace("labels/", "images/").replace(".txt", ".jpg") for k in labels]
    for rel in images:
        _image(root / rel)
    for rel, text in labels.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def detect_root(tmp_path: Path) -> Path:
    return _dataset_dir(
        tmp_path / "det",
        {"train": "images/train", "val": "images/val", "names": {0: "cat", 1: "dog", 2: "bird"}},
        {
            "labels/train/a.txt": "1 0.5 0.5 0.25 0.5\n0 0.125 0.25 0.25 0.5\n",
            "labels/train/b.txt": "",
            "labels/val/c.txt": "2 0.5 0.5 1 1\n",
        },
    )


def test_detect(detect_root: Path, tmp_path: Path) -> None:
    assert yolo.detect(detect_root)
    assert yolo.detect(detect_root / "data.yaml")
    (tmp_path / "other.yaml").write_text("foo: 1\n")
    assert not yolo.detect(tmp_path / "other.yaml")
    assert not yolo.detect(tmp_path / "det" / "images")


def test_probe(detect_root: Path, tmp_path: Path) -> None:
    assert yolo.probe(detect_root) == common.Probe("YOLO data.yaml", detail="3 classes", splits=("train", "val"))
    assert yolo.probe(tmp_path) == common.Probe("YOLO data.yaml")  # no data.yaml found: nothing to count


def test_import_detect_names_dict(detect_root: Path) -> None:
    res = yolo.read(detect_root, None, ImportOptions())
    ds = res.dataset
    assert res.images_dir == detect_root and res.warnings == []
    assert [(c["id"], c["name"]) for c in ds.categories] == [(1, "cat"), (2, "dog"), (3, "bird")]
    assert [im["file_name"] for im in ds.images] == ["images/train/a.jpg", "images/train/b.jpg", "images/val/c.jpg"]
    assert (ds.images[0]["width"], ds.images[0]["height"]) == (W, H)
    dog, cat = ds.anns_for_image(ds.images[0]["id"])
    assert dog["category_id"] == 2 and dog["bbox"] == pytest.approx([24.0, 12.0, 16.0, 24.0])
    assert cat["category_id"] == 1 and cat["bbox"] == pytest.approx([0.0, 0.0, 16.0, 24.0])
    assert dog["segmentation"] == []
    assert ds.anns_for_image(ds.images[1]["id"]) == []  # empty label file
    assert ds.anns_for_image(ds.images[2]["id"])[0]["bbox"] == pytest.approx([0.0, 0.0, W, H])


def test_import_split(detect_root: Path) -> None:
    ds = yolo.read(detect_root, None, ImportOptions(split="val")).dataset
    assert [im["file_name"] for im in ds.images] == ["images/val/c.jpg"]
    with pytest.raises(DatasetError, match=r"no split 'test' in data.yaml \(available splits: train, val\)"):
        yolo.read(detect_root, None, ImportOptions(split="test"))


def test_import_segment_names_list_and_mixed_lines(tmp_path: Path) -> None:
    root = _dataset_dir(
        tmp_path / "seg",
        {"path": ".", "train": "images", "val": "images", "nc": 2, "names": ["cat", "dog"]},
        {"labels/a.txt": "1 0.25 0.25 0.75 0.25 0.5 0.75\n0 0.5 0.5 0.5 0.5\n", "labels/x.txt": "0 0.5 0.5 1 1\n"},
        images=["images/a.jpg", "images/x.jpg", "images/no_label.jpg"],
    )
    ds = yolo.read(root / "data.yaml", None, ImportOptions()).dataset
    assert ds.class_names == ["cat", "dog"]
    # val is the same folder as train: each image once
    assert [im["file_name"] for im in ds.images] == ["images/a.jpg", "images/no_label.jpg", "images/x.jpg"]
    poly, box = ds.anns_for_image(ds.images[0]["id"])
    assert poly["category_id"] == 2
    np.testing.assert_allclose(poly["segmentation"], [[16, 12, 48, 12, 32, 36]])
    assert poly["bbox"] == pytest.approx([16, 12, 32, 24])
    assert box["segmentation"] == [] and box["bbox"] == pytest.approx([16, 12, 32, 24])
    assert ds.anns_for_image(ds.images[1]["id"]) == []  # no label file


def test_txt_list_and_relative_path(tmp_path: Path) -> None:
    root = tmp_path / "project" / "data"
    _image(root / "images" / "one.jpg")
    _image(root / "images" / "two.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "two.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "train.txt").write_text("./images/two.jpg\nimages/one.jpg\n")
    (tmp_path / "project" / "data.yaml").write_text("path: data\ntrain: train.txt\nnames: [thing]\n")
    res = yolo.read(tmp_path / "project", None, ImportOptions())
    assert res.images_dir == root
    assert [im["file_name"] for im in res.dataset.images] == ["images/two.jpg", "images/one.jpg"]
    assert len(res.dataset.annotations) == 1


def test_class_index_out_of_range_names_file_and_line(detect_root: Path) -> None:
    (detect_root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError) as e:
        yolo.read(detect_root, None, ImportOptions())
    msg = str(e.value)
    assert "labels/train/a.txt: line 2: class index 7 but data.yaml names 3 classes" in msg


def test_wrong_value_count_names_file_and_line(detect_root: Path) -> None:
    (detect_root / "labels" / "val" / "c.txt").write_text("\n0 0.5 0.5 0.1\n")
    with pytest.raises(DatasetError, match=r"labels/val/c\.txt: line 2: expected 'class cx cy w h'"):
        yolo.read(detect_root, None, ImportOptions())


def test_missing_image_names_the_file(detect_root: Path) -> None:
    (detect_root / "val.txt").write_text("images/val/c.jpg\nimages/val/gone.jpg\n")
    config = yaml.safe_load((detect_root / "data.yaml").read_text())
    (detect_root / "data.yaml").write_text(yaml.safe_dump({**config, "val": "val.txt"}))
    with pytest.raises(DatasetError, match=r"images/val/gone\.jpg: image file not found"):
        yolo.read(detect_root, None, ImportOptions(split="val"))


def test_non_strict_skips_with_warnings(detect_root: Path) -> None:
    (detect_root / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.1 0.1\n"  # kept
        "9 0.5 0.5 0.1 0.1\n"  # class out of range
        "1 0.5 0.5\n"  # too few values
        "1 0.5 x 0.1 0.1\n"  # not a number
        "1 0.5 0.5 1.5 0.1\n"  # not normalised
        "2 0.1 0.1 0.2 0.2 0.3 0.3\n"  # degenerate polygon (collinear)
    )
    (detect_root / "images" / "train" / "b.jpg").write_bytes(b"not an image")
    res = yolo.read(detect_root, None, ImportOptions(strict=False))
    ds = res.dataset
    assert [im["file_name"] for im in ds.images] == ["images/train/a.jpg", "images/val/c.jpg"]
    assert [a["bbox"] for a in ds.anns_for_image(ds.images[0]["id"])] == [pytest.approx([28.8, 21.6, 6.4, 4.8])]
    assert len(res.warnings) == 6
    assert all("(skipped)" in w for w in res.warnings)
    for line in (2, 3, 4, 5, 6):
        assert any(f"a.txt: line {line}:" in w for w in res.warnings)
    assert any("b.jpg: unreadable image" in w for w in res.warnings)


def test_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("train: images\nnames: [a, b\n")
    with pytest.raises(DatasetError, match=r"data.yaml: line \d+: broken YAML"):
        yolo.read(tmp_path, None, ImportOptions())
    (tmp_path / "data.yaml").write_text("train: images\nnc: 3\nnames: [a, b]\n")
    with pytest.raises(DatasetError, match="'nc' is 3 but 'names' lists 2 classes"):
        yolo.read(tmp_path, None, ImportOptions())


# ----------------------------------------------------------------------------------------------
# export
def _seg_dataset(tmp_path: Path, w: int = 4000, h: int = 3000) -> tuple[Dataset, Path]:
    images = tmp_path / "src"
    ds = Dataset()
    zebra, ant = ds.add_category("zebra"), ds.add_category("ant")
    big = ds.add_image("sub/big.png", w, h)
    small = ds.add_image("small.jpg", W, H)
    _image(images / "sub" / "big.png", w, h)
    _image(images / "small.jpg")
    ds.add_annotation(big["id"], ant, segmentation=[[100.123, 200.456, 3999.9, 10.001, 2000.5, 2999.25, 7.77, 1500.5]])
    ds.add_annotation(big["id"], zebra, segmentation=[[1234.5678, 987.654, 1500.0, 1000.0, 1300.25, 1800.75]])
    ds.add_annotation(small["id"], zebra, bbox=[3.25, 4.5, 20.0, 10.75])
    return ds, images


def _lines(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_segment_round_trip(tmp_path: Path) -> None:
    ds, images = _seg_dataset(tmp_path)
    out = tmp_path / "out"
    written = yolo.write(ds, images, out, ExportOptions())  # masks -> segment by default
    assert written[0] == out / "data.yaml"
    config = yaml.safe_load((out / "data.yaml").read_text())
    assert config["names"] == ["zebra", "ant"] and config["train"] == config["val"] == "images/train"
    assert Path(config["path"]) == out.resolve()
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == ["small.jpg", "sub__big.png"]
    small_line = _lines(out / "labels" / "train" / "small.txt")
    assert len(small_line) == 1 and len(small_line[0]) == 9  # the box as a 4-corner polygon

    res = yolo.read(out, None, ImportOptions())
    back = res.dataset
    assert res.warnings == []
    assert back.class_names == ["zebra", "ant"]
    by_name = {im["file_name"]: im for im in back.images}
    for im0 in ds.images:
        im1 = by_name["images/train/" + im0["file_name"].replace("/", "__")]
        a0, a1 = ds.anns_for_image(im0["id"]), back.anns_for_image(im1["id"])
        names0 = [ds.category(a["category_id"])["name"] for a in a0]
        assert [back.category(a["category_id"])["name"] for a in a1] == names0
        for x, y in zip(a0, a1):
            if x["segmentation"]:
                assert np.abs(np.subtract(y["segmentation"], x["segmentation"])).max() < 0.5
            np.testing.assert_allclose(y["bbox"], x["bbox"], atol=0.5)


def test_detect_round_trip(tmp_path: Path) -> None:
    ds, images = _seg_dataset(tmp_path)
    out = tmp_path / "out"
    yolo.write(ds, images, out, ExportOptions(task="detect"))
    assert [len(v) for v in _lines(out / "labels" / "train" / "sub__big.txt")] == [5, 5]
    back = yolo.read(out, None, ImportOptions()).dataset
    assert back.class_names == ["zebra", "ant"]
    got = {
        (back.image(a["image_id"])["file_name"], back.category(a["category_id"])["name"]): a["bbox"]
        for a in back.annotations
    }
    for a in ds.annotations:
        name = "images/train/" + ds.image(a["image_id"])["file_name"].replace("/", "__")
        key = (name, ds.category(a["category_id"])["name"])
        np.testing.assert_allclose(got[key], a["bbox"], atol=0.01)
    assert all(a["segmentation"] == [] for a in back.annotations)


def test_default_task_is_detect_for_boxes(tmp_path: Path) -> None:
    ds, images = _seg_dataset(tmp_path)
    ds.remove_image(ds.images[0]["id"])
    yolo.write(ds, images, tmp_path / "out", ExportOptions())
    assert [len(v) for v in _lines(tmp_path / "out" / "labels" / "train" / "small.txt")] == [5]


def test_multi_part_polygon_is_one_line(tmp_path: Path) -> None:
    ds = Dataset()
    cid = ds.add_category("thing")
    im = ds.add_image("a.jpg", W, H)
    parts = [[2, 2, 10, 2, 10, 10, 2, 10], [40, 30, 60, 30, 50, 45], [30, 2, 40, 2, 35, 8]]
    ds.add_annotation(im["id"], cid, segmentation=parts)
    yolo.write(ds, None, tmp_path / "out", ExportOptions(copy_images=False))
    (line,) = _lines(tmp_path / "out" / "labels" / "train" / "a.txt")
    assert line[0] == 0
    pts = {(round(x * W, 3), round(y * H, 3)) for x, y in zip(line[1::2], line[2::2])}
    assert pts == {(float(x), float(y)) for p in parts for x, y in zip(p[::2], p[1::2])}
    assert len(line[1:]) // 2 == 4 + 3 + 3 + 2 * 2  # every vertex, plus 2 points per bridge


def test_merge_parts_single_and_empty() -> None:
    assert yolo.merge_parts([]) == []
    assert yolo.merge_parts([[0, 0, 1, 0, 1, 1]]) == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]


def test_rle_and_crowd(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = Dataset()
    cid = ds.add_category("thing")
    im = ds.add_image("a.jpg", W, H)
    mask = np.zeros((H, W), np.uint8)
    mask[10:20, 5:25] = 1
    ds.add_annotation(im["id"], cid, segmentation=mask_to_rle(mask))
    ds.add_annotation(im["id"], cid, segmentation=mask_to_rle(mask), iscrowd=1)
    with caplog.at_level(logging.WARNING, logger="studio.core.formats.yolo"):
        yolo.write(ds, None, tmp_path / "out", ExportOptions(copy_images=False, task="segment"))
    assert "skipped 1 crowd annotation(s)" in caplog.text
    (line,) = _lines(tmp_path / "out" / "labels" / "train" / "a.txt")
    xy = np.array(line[1:]).reshape(-1, 2) * [W, H]
    extent = [xy[:, 0].min(), xy[:, 0].max(), xy[:, 1].min(), xy[:, 1].max()]
    np.testing.assert_allclose(extent, [5, 24, 10, 19], atol=1e-4)  # cv2 contour through the border pixels
    # which is what Ultralytics' polygon2mask (cv2.fillPoly on int32 points) fills back to the same pixels
    back = np.zeros((H, W), np.uint8)
    cv2.fillPoly(back, [np.round(xy).astype(np.int32)], 1)
    assert np.array_equal(back, mask)


def test_export_names_are_flat_and_unique() -> None:
    assert common.export_names(["images/train/a.jpg", "images/train/a.png", "images/val/b/c.jpg"]) == [
        "train__a.jpg",
        "train__a_1.png",
        "val__b__c.jpg",
    ]
    assert common.export_names(["images/train/a.jpg"]) == ["a.jpg"]


def test_failed_export_leaves_nothing(tmp_path: Path) -> None:
    ds, images = _seg_dataset(tmp_path, 80, 60)
    (images / "small.jpg").unlink()  # the last image: the first one is already placed when it fails
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="small.jpg"):
        yolo.write(ds, images, out, ExportOptions())
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no temporary folder left


# ----------------------------------------------------------------------------------------------
# real data
def _balloon_val() -> tuple[Dataset, Path]:
    """The balloon val set through the VIA importer, or built from the VIA JSON directly."""
    src = DATA / "balloon" / "val"
    if not (src / "via_region_data.json").is_file():
        pytest.skip(f"real data not found at {src} (see shared/data/README.md)")
    try:
        from studio.core.formats import via

        res = via.read(src / "via_region_data.json", None, ImportOptions(default_class="balloon"))
        return res.dataset, res.images_dir
    except (ImportError, AttributeError, NotImplementedError):
        pass
    import json

    ds = Dataset()
    cid = ds.add_category("balloon")
    for entry in json.loads((src / "via_region_data.json").read_text()).values():
        h, w = cv2.imread(str(src / entry["filename"])).shape[:2]
        im = ds.add_image(entry["filename"], w, h)
        for region in entry["regions"].values():
            sa = region["shape_attributes"]
            flat = [float(v) for xy in zip(sa["all_points_x"], sa["all_points_y"]) for v in xy]
            ds.add_annotation(im["id"], cid, segmentation=[flat])
    return ds, src


def test_balloon_round_trip(tmp_path: Path) -> None:
    ds, images = _balloon_val()
    assert len(ds.images) == 13 and len(ds.annotations) == 50
    yolo.write(ds, images, tmp_path / "out", ExportOptions())
    res = yolo.read(tmp_path / "out", None, ImportOptions())
    back = res.dataset
    assert res.warnings == [] and back.class_names == ds.class_names
    by_name = {Path(im["file_name"]).name: im for im in back.images}
    n = 0
    for im0 in ds.images:
        im1 = by_name[im0["file_name"]]
        assert (im1["width"], im1["height"]) == (im0["width"], im0["height"])
        a0, a1 = ds.anns_for_image(im0["id"]), back.anns_for_image(im1["id"])
        assert len(a0) == len(a1)
        for x, y in zip(a0, a1):
            assert np.abs(np.subtract(y["segmentation"], x["segmentation"])).max() < 0.5
            n += 1
    assert n == 50
