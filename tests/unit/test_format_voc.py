"""Pascal VOC import and export."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import common, voc
from studio.core.formats.common import ExportOptions, ImportOptions

W, H = 64, 48


def _image(path: Path, w: int = W, h: int = H) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), 127, np.uint8))


def _object(name: str, box: tuple[float, float, float, float] | None, difficult: int = 0) -> str:
    bnd = ""
    if box is not None:
        x0, y0, x1, y1 = box
        bnd = f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>"
    return f"<object><name>{name}</name><truncated>1</truncated><difficult>{difficult}</difficult>{bnd}</object>"


def _xml(root: Path, stem: str, objects: list[str], size: bool = True) -> Path:
    size_el = f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size>" if size else ""
    text = f"<annotation><folder>VOC</folder><filename>{stem}.jpg</filename>{size_el}{''.join(objects)}</annotation>"
    path = root / "Annotations" / f"{stem}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    _image(root / "JPEGImages" / f"{stem}.jpg")
    return path


@pytest.fixture
def voc_root(tmp_path: Path) -> Path:
    root = tmp_path / "VOC"
    _xml(root, "000001", [_object("dog", (10, 5, 29, 24)), _object("cat", (1, 1, 64, 48), difficult=1)])
    _xml(root, "000002", [_object("cat", (3, 4, 5, 6))])
    _xml(root, "000003", [])
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "train.txt").write_text("000003\n000001\n")
    (main / "val.txt").write_text("000002\n")
    return root


def test_detect(voc_root: Path, tmp_path: Path) -> None:
    assert voc.detect(voc_root)
    assert voc.detect(voc_root / "Annotations" / "000001.xml")
    assert not voc.detect(tmp_path / "nothing")
    (tmp_path / "other.xml").write_text("<svg/>")
    assert not voc.detect(tmp_path / "other.xml")


def test_probe(voc_root: Path) -> None:
    p = voc.probe(voc_root)
    assert p == common.Probe("Pascal VOC XML", detail="3 XML file(s)", splits=("train", "val"))
    assert voc.probe(voc_root / "Annotations" / "000001.xml").detail == "1 XML file(s)"


def test_import_all(voc_root: Path) -> None:
    res = voc.read(voc_root, None, ImportOptions())
    ds = res.dataset
    assert res.images_dir == voc_root / "JPEGImages"
    assert res.warnings == []
    assert [im["file_name"] for im in ds.images] == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert ds.class_names == ["cat", "dog"]  # sorted
    dog, cat = ds.anns_for_image(ds.images[0]["id"])
    # VOC 1-based inclusive: xmin 10..xmax 29 is 20 pixels starting at x = 9
    assert dog["bbox"] == [9.0, 4.0, 20.0, 20.0]
    assert dog["segmentation"] == [] and dog["area"] == 400.0
    assert ds.category(dog["category_id"])["name"] == "dog"
    assert "difficult" not in dog
    assert cat["difficult"] == 1 and cat["bbox"] == [0.0, 0.0, 64.0, 48.0]
    assert ds.anns_for_image(ds.images[2]["id"]) == []


def test_import_split(voc_root: Path) -> None:
    ds = voc.read(voc_root, None, ImportOptions(split="train")).dataset
    assert [im["file_name"] for im in ds.images] == ["000003.jpg", "000001.jpg"]  # split file order
    assert len(ds.annotations) == 2


def test_missing_split_lists_available(voc_root: Path) -> None:
    with pytest.raises(DatasetError, match=r"no split 'test' \(available splits: train, val\)"):
        voc.read(voc_root, None, ImportOptions(split="test"))


def test_split_listing_missing_xml(voc_root: Path) -> None:
    (voc_root / "ImageSets" / "Main" / "val.txt").write_text("000002\n000009\n")
    with pytest.raises(DatasetError, match="000009.xml"):
        voc.read(voc_root, None, ImportOptions(split="val"))
    res = voc.read(voc_root, None, ImportOptions(split="val", strict=False))
    assert len(res.dataset.images) == 1 and "000009.xml" in res.warnings[0]


def test_malformed_xml_names_file_and_line(voc_root: Path) -> None:
    bad = voc_root / "Annotations" / "000004.xml"
    bad.write_text("<annotation>\n<object>\n<name>dog</name>\n</annotation>\n")
    with pytest.raises(DatasetError) as e:
        voc.read(voc_root, None, ImportOptions())
    assert "000004.xml" in str(e.value) and "line 4" in str(e.value)


def test_bad_objects(voc_root: Path) -> None:
    _xml(voc_root, "000005", [_object("dog", (1, 1, 5, 5)), _object("dog", None), _object("cat", (9, 1, 4, 5))])
    with pytest.raises(DatasetError) as e:
        voc.read(voc_root, None, ImportOptions())
    assert "000005.xml" in str(e.value) and "object 1 (dog)" in str(e.value) and "bndbox" in str(e.value)
    res = voc.read(voc_root, None, ImportOptions(strict=False))
    assert len(res.warnings) == 2
    assert "object 1 (dog)" in res.warnings[0] and "object 2 (cat)" in res.warnings[1]
    im = next(i for i in res.dataset.images if i["file_name"] == "000005.jpg")
    assert [a["bbox"] for a in res.dataset.anns_for_image(im["id"])] == [[0.0, 0.0, 5.0, 5.0]]


def test_fixed_labels(voc_root: Path) -> None:
    ds = voc.read(voc_root, None, ImportOptions(labels=["dog", "cat", "bird"])).dataset
    assert ds.class_names == ["dog", "cat", "bird"]
    with pytest.raises(DatasetError, match="label 'dog' is not in the label list"):
        voc.read(voc_root, None, ImportOptions(labels=["cat"]))


def test_size_from_image_and_xml_folder(tmp_path: Path) -> None:
    """A bare folder of XML files, no <size>: sizes come from the images next to them."""
    _xml(tmp_path / "voc", "a", [_object("dog", (1, 1, 2, 2))], size=False)
    xml_dir = tmp_path / "flat"
    xml_dir.mkdir()
    (tmp_path / "voc" / "Annotations" / "a.xml").rename(xml_dir / "a.xml")
    _image(xml_dir / "a.jpg", 40, 30)
    res = voc.read(xml_dir, None, ImportOptions())
    assert res.images_dir == xml_dir
    assert (res.dataset.images[0]["width"], res.dataset.images[0]["height"]) == (40, 30)
    # an Annotations folder given directly still finds JPEGImages beside it
    _xml(tmp_path / "voc", "b", [])
    assert voc.read(tmp_path / "voc" / "Annotations", None, ImportOptions()).images_dir.name == "JPEGImages"


def _dataset(tmp_path: Path) -> tuple[Dataset, Path]:
    images = tmp_path / "src_images"
    ds = Dataset()
    zebra, ant = ds.add_category("zebra"), ds.add_category("ant")  # not in sorted order
    a = ds.add_image("a/x.jpg", W, H)
    b = ds.add_image("b/x.jpg", W, H)
    c = ds.add_image("c.png", W, H)
    for im in (a, b, c):
        _image(images / im["file_name"])
    ds.add_annotation(a["id"], zebra, bbox=[10.25, 3.5, 20.125, 7.0])
    ds.add_annotation(a["id"], ant, bbox=[0, 0, 64, 48], difficult=1)
    ds.add_annotation(b["id"], ant, segmentation=[[5, 5, 25, 5, 15, 30.5]])  # becomes its box
    return ds, images


def test_round_trip_keeps_boxes_and_classes(tmp_path: Path) -> None:
    ds, images = _dataset(tmp_path)
    out = tmp_path / "out"
    written = voc.write(ds, images, out, ExportOptions())
    assert out / "Annotations" / "a__x.xml" in written and out / "Annotations" / "b__x.xml" in written
    assert (out / "ImageSets" / "Main" / "trainval.txt").read_text().split() == ["a__x", "b__x", "c"]
    assert (out / "labels.txt").read_text().split() == ["zebra", "ant"]
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["a__x.jpg", "b__x.jpg", "c.png"]
    xml = (out / "Annotations" / "a__x.xml").read_text()
    assert "<xmin>11.25</xmin>" in xml and "<xmax>30.375</xmax>" in xml and "<xmax>64</xmax>" in xml
    assert "<depth>3</depth>" in xml and "<pose>Unspecified</pose>" in xml

    back = voc.read(out, None, ImportOptions()).dataset
    assert back.class_names == ["zebra", "ant"]
    assert [im["file_name"] for im in back.images] == ["a__x.jpg", "b__x.jpg", "c.png"]
    for im0, im1 in zip(ds.images, back.images):
        a0, a1 = ds.anns_for_image(im0["id"]), back.anns_for_image(im1["id"])
        assert len(a0) == len(a1)
        for x, y in zip(a0, a1):
            np.testing.assert_allclose(y["bbox"], x["bbox"], atol=1e-6)
            assert ds.category(x["category_id"])["name"] == back.category(y["category_id"])["name"]
            assert x.get("difficult", 0) == y.get("difficult", 0)
            assert y["segmentation"] == []


def test_crowd_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds, images = _dataset(tmp_path)
    ds.add_annotation(ds.images[2]["id"], 1, bbox=[1, 1, 5, 5], iscrowd=1)
    with caplog.at_level(logging.WARNING, logger="studio.core.formats.voc"):
        voc.write(ds, images, tmp_path / "out", ExportOptions())
    assert "skipped 1 crowd annotation(s)" in caplog.text
    assert "<object>" not in (tmp_path / "out" / "Annotations" / "c.xml").read_text()


def test_export_without_copy_keeps_original_names(tmp_path: Path) -> None:
    ds, images = _dataset(tmp_path)
    out = tmp_path / "out"
    voc.write(ds, None, out, ExportOptions(copy_images=False))
    assert not (out / "JPEGImages").exists()
    back = voc.read(out, images, ImportOptions())
    assert [im["file_name"] for im in back.dataset.images] == ["a/x.jpg", "b/x.jpg", "c.png"]


def test_failed_export_leaves_nothing(tmp_path: Path) -> None:
    ds, images = _dataset(tmp_path)
    (images / "c.png").unlink()  # the last image: the others are already placed when it fails
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="c.png"):
        voc.write(ds, images, out, ExportOptions())
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src_images"]  # no temporary folder left


def test_flat_stems_unique() -> None:
    assert common.flat_stems(["a/b.jpg", "a__b.png", "A__B.jpg", "../c.jpg"]) == ["a__b", "a__b_1", "A__B_2", "c"]
