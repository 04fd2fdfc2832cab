"""The CVAT for images 1.1 format of plugins/studio_cvat: import, export, round trips and bad input."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import (
    ExportOptions,
    ImportOptions,
    Probe,
    detect_format,
    export_dataset,
    formats,
    import_dataset,
)
from studio.core.geometry import mask_to_rle, segmentation_to_mask


@pytest.fixture
def cvat(repo_plugins):
    return formats()["cvat"].module


def write_xml(path, body: str, labels=("cat", "dog")) -> None:
    meta = "".join(f"<label><name>{n}</name><color>#ff0000</color><attributes/></label>" for n in labels)
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta><task><id>7</id><name>pets</name><labels>{meta}</labels></task></meta>\n"
        f"{textwrap.dedent(body)}\n</annotations>\n"
    )


def test_the_format_joins_the_table_and_detection_tells_it_from_voc(cvat, tmp_path):
    assert formats()["cvat"].can_import and formats()["cvat"].can_export
    write_xml(tmp_path / "annotations.xml", '<image id="0" name="a.jpg" width="10" height="10"></image>')
    assert detect_format(tmp_path / "annotations.xml") == "cvat" and detect_format(tmp_path) == "cvat"
    voc = tmp_path / "voc.xml"
    voc.write_text("<annotation><filename>a.jpg</filename><size><width>4</width><height>4</height></size></annotation>")
    assert detect_format(voc) == "voc"


def test_the_import_wizard_probes_through_the_format_or_names_it(cvat, tmp_path, monkeypatch):
    from studio.gui.data.dialog_jobs import probe_source

    body = '<image id="0" name="a.jpg" width="10" height="10" subset="Train"></image><image id="1" name="b.jpg"/>'
    (tmp_path / "pets").mkdir()
    write_xml(tmp_path / "pets" / "annotations.xml", body)
    assert cvat.probe(tmp_path / "pets") == Probe("CVAT for images 1.1 XML", detail="2 images", splits=("Train",))
    info = probe_source(tmp_path / "pets" / "annotations.xml")
    assert (info.fmt, info.label) == ("cvat", "Detected: CVAT for images 1.1 XML (pets) — 2 images")
    monkeypatch.delattr(cvat, "probe")  # probe is optional for a format: without it, its name is shown
    info = probe_source(tmp_path / "pets")
    assert (info.summary, info.detail, info.splits) == ("CVAT", "", ())


def test_demo_round_trip_keeps_images_classes_and_polygons(cvat, demo, tmp_path):
    src = Dataset.load(demo["train"].annotations)
    written = export_dataset("cvat", src, demo["train"].images, tmp_path / "out")
    assert written[0] == tmp_path / "out" / "annotations.xml"
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == sorted(
        im["file_name"] for im in src.images
    )
    res = import_dataset("cvat", tmp_path / "out")
    back = res.dataset
    assert res.warnings == [] and res.images_dir == tmp_path / "out" / "images"
    assert back.class_names == src.class_names
    assert [(im["file_name"], im["width"], im["height"]) for im in back.images] == [
        (im["file_name"], im["width"], im["height"]) for im in src.images
    ]
    assert len(back.annotations) == len(src.annotations)
    for a, b in zip(src.annotations, back.annotations):
        assert src.category(a["category_id"])["name"] == back.category(b["category_id"])["name"]
        assert len(a["segmentation"]) == len(b["segmentation"])
        for pa, pb in zip(a["segmentation"], b["segmentation"]):
            assert np.allclose(pa, pb, atol=0.006)  # two decimals, as CVAT writes them
        assert np.allclose(a["bbox"], b["bbox"], atol=0.02)


def test_boxes_multipart_polygons_masks_and_attributes_round_trip(cvat, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"x")
    ds = Dataset()
    cat, dog = ds.add_category("cat"), ds.add_category("dog")
    im = ds.add_image("a.jpg", 40, 30)
    ds.add_annotation(im["id"], cat, bbox=[2, 3, 10.5, 7], attributes={"colour": "black"}, occluded=1)
    ds.add_annotation(im["id"], dog, segmentation=[[1, 1, 8, 1, 8, 8], [20, 20, 30, 20, 30, 28, 20, 28]])
    mask = np.zeros((30, 40), np.uint8)
    mask[10:14, 25:31] = 1
    mask[12, 25] = 0
    ds.add_annotation(im["id"], cat, segmentation=mask_to_rle(mask))
    ds.add_annotation(
        im["id"], dog, bbox=[0, 0, 5, 5], iscrowd=1, segmentation=mask_to_rle(np.ones((30, 40), np.uint8))
    )
    export_dataset("cvat", ds, images, tmp_path / "out")
    xml = (tmp_path / "out" / "annotations.xml").read_text()
    assert 'group_id="1"' in xml and "<mask " in xml and '<attribute name="colour">black</attribute>' in xml
    back = import_dataset("cvat", tmp_path / "out").dataset
    assert len(back.annotations) == 3  # the crowd region is not an object
    box, poly, m = back.annotations
    assert box["bbox"] == [2.0, 3.0, 10.5, 7.0] and box["segmentation"] == [] and box["occluded"] == 1
    assert box["attributes"] == {"colour": "black"}
    assert len(poly["segmentation"]) == 2 and back.category(poly["category_id"])["name"] == "dog"
    assert np.array_equal(segmentation_to_mask(m["segmentation"], 30, 40), mask)


def test_reading_cvat_shapes(cvat, tmp_path):
    write_xml(
        tmp_path / "annotations.xml",
        """
      <image id="0" name="sub/a.jpg" width="100" height="80" subset="Train">
        <box label="cat" occluded="0" xtl="10" ytl="10" xbr="30" ybr="20" rotation="90" z_order="0"/>
        <ellipse label="dog" cx="50" cy="40" rx="10" ry="5" occluded="0" z_order="0"/>
        <mask label="dog" rle="2, 3, 1" left="4" top="5" width="3" height="2" occluded="0" z_order="0"/>
        <polyline label="dog" points="1,1;5,5" occluded="0" z_order="0"/>
        <tag label="cat"/>
      </image>
      <image id="1" name="b.jpg" width="100" height="80" subset="Validation"/>
    """,
        labels=("cat", "dog", "bird"),
    )
    res = import_dataset("cvat", tmp_path / "annotations.xml")
    ds = res.dataset
    assert ds.class_names == ["cat", "dog", "bird"]  # the task's label list, in its order, with unused labels
    assert [im["file_name"] for im in ds.images] == ["sub/a.jpg", "b.jpg"]
    rotated, ellipse, mask = ds.annotations
    xs, ys = rotated["segmentation"][0][0::2], rotated["segmentation"][0][1::2]
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((15, 25, 5, 25))  # 20 x 10 turned upright
    assert rotated["area"] == pytest.approx(200)
    assert len(ellipse["segmentation"][0]) == 128 and ellipse["area"] == pytest.approx(np.pi * 50, rel=0.01)
    m = segmentation_to_mask(mask["segmentation"], 80, 100)
    expected = np.zeros((80, 100), np.uint8)
    expected[5, 6] = 1  # 2 zeros, 3 ones, 1 zero over the 3 x 2 window at (4, 5), row by row: 001 / 110
    expected[6, 4:6] = 1
    assert np.array_equal(m, expected)
    assert (
        sum("polyline 0: skipped" in w for w in res.warnings) == 1
        and sum("tag 0: skipped" in w for w in res.warnings) == 1
    )
    train = import_dataset("cvat", tmp_path / "annotations.xml", options=ImportOptions(split="train")).dataset
    assert [im["file_name"] for im in train.images] == ["sub/a.jpg"]
    with pytest.raises(DatasetError, match="no image in subset 'test' \\(subsets: Train, Validation\\)"):
        import_dataset("cvat", tmp_path / "annotations.xml", options=ImportOptions(split="test"))


def test_bad_input_names_the_file_and_the_item(cvat, tmp_path):
    xml = tmp_path / "annotations.xml"
    xml.write_text("<annotations><image name='a.jpg' width='4' height='4'>\n<box label='cat'</image></annotations>")
    with pytest.raises(DatasetError) as e:
        import_dataset("cvat", xml)
    assert e.value.file == str(xml) and "broken XML" in str(e.value) and "line 2" in str(e.value)

    write_xml(
        xml,
        '<image id="0" name="a.jpg" width="40" height="40">'
        '<polygon label="cat" points="1,1;5,5" occluded="0"/></image>',
    )
    with pytest.raises(DatasetError) as e:
        import_dataset("cvat", xml)
    assert str(e.value) == f"{xml}: image 'a.jpg' polygon 0: degenerate polygon: 2 point(s), a polygon needs at least 3"

    write_xml(
        xml,
        '<image id="0" name="a.jpg" width="40" height="40">'
        '<box label="cat" xtl="1" ytl="1" xbr="5" ybr="5"/><polygon label="horse" points="1,1;9,1;9,9"/></image>',
    )
    with pytest.raises(DatasetError) as e:
        import_dataset("cvat", xml)
    assert str(e.value) == f"{xml}: image 'a.jpg' polygon 0: label 'horse' is not in the label list (cat, dog)"
    res = import_dataset("cvat", xml, options=ImportOptions(strict=False))  # lenient: skipped, with a warning
    assert (
        len(res.dataset.annotations) == 1
        and "label 'horse' is not in the label list (cat, dog) (skipped)" in res.warnings[0]
    )

    for shape, words in (
        ('<polygon label="cat" points="1,1;9;9,9"/>', "points must be 'x,y;x,y;...'"),
        ('<box label="cat" xtl="5" ytl="1" xbr="5" ybr="5"/>', "box has no area"),
        ('<box label="cat" xtl="a" ytl="1" xbr="5" ybr="5"/>', "attribute xtl must be a number"),
        ('<mask label="cat" rle="1, 2" left="0" top="0" width="2" height="2"/>', "rle counts add up to 3"),
        ('<polygon points="1,1;9,1;9,9"/>', "without a label attribute"),
    ):
        write_xml(xml, f'<image id="0" name="a.jpg" width="40" height="40">{shape}</image>')
        with pytest.raises(DatasetError, match="image 'a.jpg' ") as e:
            import_dataset("cvat", xml)
        assert words in str(e.value) and e.value.file == str(xml)

    write_xml(xml, '<image id="0" name="a.jpg" width="zero" height="40"/>')
    with pytest.raises(DatasetError, match="image 'a.jpg': width and height must be positive numbers"):
        import_dataset("cvat", xml)
    other = tmp_path / "other.xml"
    other.write_text("<annotation><filename>a.jpg</filename></annotation>")
    with pytest.raises(DatasetError, match="root element is <annotation>, CVAT's is <annotations>"):
        import_dataset("cvat", other)


def test_export_without_images_folder_and_a_failed_export_leave_nothing(cvat, demo, tmp_path):
    src = Dataset.load(demo["train"].annotations)
    with pytest.raises(DatasetError, match="an images folder is needed"):
        export_dataset("cvat", src, None, tmp_path / "out")
    written = export_dataset("cvat", src, None, tmp_path / "refs", ExportOptions(copy_images=False))
    assert [p.name for p in written] == ["annotations.xml"]
    broken = src.copy()
    broken.images[-1]["file_name"] = "missing.jpg"
    with pytest.raises(DatasetError, match="image file not found"):
        export_dataset("cvat", broken, demo["train"].images, tmp_path / "out")
    assert not (tmp_path / "out").exists()
