"""labelme import and export: the real instance-segmentation example, synthetic shapes, round trip."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import detect_format, labelme
from studio.core.formats.common import ExportOptions, ImportOptions
from studio.core.geometry import mask_to_rle, polygons_bbox, segmentation_to_mask, shoelace_area

DATA = Path(__file__).parents[2].parent / "shared" / "data"
EXAMPLE = DATA / "labelme_example"
ANNOTATED = EXAMPLE / "data_annotated"


def _need_data() -> None:
    if not ANNOTATED.is_dir():
        pytest.skip("real data folder ../shared/data not found")


def _png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _shape(label: str, points: list, shape_type: str = "polygon", group_id: int | None = None, **kw) -> dict:
    return {"label": label, "points": points, "group_id": group_id, "shape_type": shape_type, "flags": {}, **kw}


def _doc(
    shapes: list[dict], image: str = "a.png", w: int | None = 100, h: int | None = 80, data: str | None = None
) -> dict:
    d = {"version": "5.3.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": data}
    if w is not None:
        d.update(imageWidth=w, imageHeight=h)
    return d


def _write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _names(ds: Dataset) -> Counter:
    return Counter(ds.category(a["category_id"])["name"] for a in ds.annotations)


# ----------------------------------------------------------------------------------------------
# the real example
def test_example_with_labels() -> None:
    _need_data()
    labels = labelme.read_labels(EXAMPLE / "labels.txt")
    assert labels[0] == "aeroplane" and "__ignore__" not in labels and "_background_" not in labels
    assert detect_format(ANNOTATED) == "labelme"
    res = labelme.read(ANNOTATED, None, ImportOptions(labels=labels))
    ds = res.dataset
    assert res.images_dir == ANNOTATED
    assert len(ds.images) == 3
    assert len(ds.annotations) == 12
    assert sum(len(im.get("ignore_regions", [])) for im in ds.images) == 2
    assert ds.class_names == labels
    assert ds.category_id("person") == labels.index("person") + 1
    assert _names(ds) == Counter(person=6, bus=2, bottle=1, chair=1, sofa=1, car=1)
    sofa = next(a for a in ds.annotations if a["category_id"] == ds.category_id("sofa"))
    assert len(sofa["segmentation"]) >= 4  # four shapes with one group_id make one instance
    for im in ds.images:
        assert (ANNOTATED / im["file_name"]).is_file()
        with Image.open(ANNOTATED / im["file_name"]) as pil:
            assert (im["width"], im["height"]) == pil.size
    for a in ds.annotations:
        assert a["bbox"] == pytest.approx(polygons_bbox(a["segmentation"]))
        assert a["area"] == pytest.approx(sum(shoelace_area(p) for p in a["segmentation"]))


def test_example_labels_txt_beside_folder_is_used() -> None:
    _need_data()
    res = labelme.read(ANNOTATED, None, ImportOptions())
    ds = res.dataset
    assert ds.class_names[:4] == ["aeroplane", "bicycle", "bird", "boat"] and len(ds.class_names) == 20
    assert any("labels.txt" in w and "class list taken" in w for w in res.warnings)
    assert len(ds.annotations) == 12


def test_sorted_categories_without_labels_file(tmp_path: Path) -> None:
    _need_data()
    for p in ANNOTATED.glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    ds = labelme.read(tmp_path, None, ImportOptions()).dataset
    assert ds.class_names == ["bottle", "bus", "car", "chair", "person", "sofa"]
    assert [c["id"] for c in sorted(ds.categories, key=lambda c: c["name"])] == [1, 2, 3, 4, 5, 6]
    assert len(ds.annotations) == 12


def test_labels_txt_at_root_and_missing_images(tmp_path: Path) -> None:
    _need_data()
    for p in ANNOTATED.glob("*.json"):
        shutil.copy(p, tmp_path / p.name)  # JSON only: the images are missing
    shutil.copy(EXAMPLE / "labels.txt", tmp_path / "labels.txt")
    res = labelme.read(tmp_path, None, ImportOptions())
    ds = res.dataset
    assert len(ds.categories) == 20 and ds.category_id("aeroplane") == 1
    assert len(ds.annotations) == 12
    assert {(im["width"], im["height"]) for im in ds.images} == {(500, 338), (500, 375)}
    single = labelme.read(tmp_path / "2011_000025.json", None, ImportOptions()).dataset
    assert len(single.images) == 1 and _names(single) == Counter(bus=2, car=1)


# ----------------------------------------------------------------------------------------------
# synthetic files
def test_shape_types(tmp_path: Path) -> None:
    Image.new("RGB", (100, 80)).save(tmp_path / "a.png")
    crop = np.zeros((6, 10), np.uint8)
    crop[1:4, 2:9] = 255  # 21 pixels at x 2..8, y 1..3 of the crop
    shapes = [
        _shape("box", [[30, 20], [10, 5]], "rectangle"),
        _shape("disc", [[50, 40], [50, 30]], "circle"),
        _shape("blob", [[5, 7], [14, 12]], "mask", mask=_png_b64(crop)),
        _shape("two", [[0, 0], [4, 0], [4, 4]], group_id=3),
        _shape("two", [[10, 10], [14, 10], [14, 14]], group_id=3),
        _shape("two", [[60, 60], [64, 60], [64, 64]], group_id=4),
        _shape("solo", [[70, 0], [80, 0], [80, 10]], flags={"iscrowd": True}),
        _shape("solo", [[70, 20], [80, 20], [80, 30]]),
        _shape("edge", [[0, 0], [5, 5]], "line"),
        _shape("edge", [[0, 0], [5, 5], [9, 1]], "linestrip"),
        _shape("dot", [[1, 1]], "point"),
        _shape("_background_", [[0, 0], [99, 0], [99, 79]]),
        _shape("__ignore__", [[90, 70], [99, 70], [99, 79]]),
    ]
    src = _write(tmp_path / "a.json", _doc(shapes))
    assert labelme.detect(src) and labelme.detect(tmp_path)
    res = labelme.read(tmp_path, None, ImportOptions())
    ds = res.dataset
    assert ds.class_names == ["blob", "box", "disc", "solo", "two"]
    assert _names(ds) == Counter(two=2, solo=2, box=1, disc=1, blob=1)
    by = {ds.category(a["category_id"])["name"]: a for a in ds.annotations}
    assert by["box"]["bbox"] == [10, 5, 20, 15] and by["box"]["area"] == 300
    assert by["disc"]["bbox"] == pytest.approx([40, 30, 20, 20])
    assert by["disc"]["area"] == pytest.approx(math.pi * 100, rel=0.01)
    blob = by["blob"]
    assert blob["segmentation"]["size"] == [80, 100]
    assert blob["area"] == 21 and blob["bbox"] == [7, 8, 7, 3]
    two = [a for a in ds.annotations if a["category_id"] == ds.category_id("two")]
    assert sorted(len(a["segmentation"]) for a in two) == [1, 2]
    solo = [a for a in ds.annotations if a["category_id"] == ds.category_id("solo")]
    assert sorted(a["iscrowd"] for a in solo) == [0, 1]
    assert ds.images[0]["ignore_regions"] == [[90, 70, 99, 70, 99, 79]]
    assert sum("'line'" in w for w in res.warnings) == 1
    assert sum("'linestrip'" in w for w in res.warnings) == 1
    assert sum("'point'" in w for w in res.warnings) == 1


def test_unknown_label_with_labels(tmp_path: Path) -> None:
    shapes = [_shape("cat", [[0, 0], [9, 0], [9, 9]]), _shape("dog", [[0, 0], [9, 0], [0, 9]])]
    _write(tmp_path / "a.json", _doc(shapes))
    with pytest.raises(DatasetError, match=r"a.json: shape 1 \(dog\): unknown label 'dog'"):
        labelme.read(tmp_path, None, ImportOptions(labels=["__ignore__", "cat"]))
    res = labelme.read(tmp_path, None, ImportOptions(labels=["cat", "_background_"], strict=False))
    assert res.dataset.class_names == ["cat"] and len(res.dataset.annotations) == 1
    assert any("unknown label 'dog'" in w for w in res.warnings)


def test_degenerate_and_self_intersecting(tmp_path: Path) -> None:
    shapes = [_shape("a", [[0, 0], [5, 5]]), _shape("b", [[0, 0], [10, 10], [10, 0], [0, 4]])]
    src = _write(tmp_path / "a.json", _doc(shapes))
    with pytest.raises(DatasetError) as e:
        labelme.read(src, None, ImportOptions())
    assert str(src) in str(e.value) and "shape 0 (a)" in str(e.value) and "2 point" in str(e.value)
    res = labelme.read(src, None, ImportOptions(strict=False))
    (ann,) = res.dataset.annotations
    assert len(ann["segmentation"]) == 2 and ann["area"] == pytest.approx(290 / 7)
    assert any("self-intersecting" in w and "shape 1 (b)" in w for w in res.warnings)


def test_truncated_json(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.json", _doc([_shape("a", [[0, 0], [9, 0], [9, 9]])]))
    src.write_text(src.read_text()[:-15])
    with pytest.raises(DatasetError, match="broken JSON") as e:
        labelme.read(tmp_path, None, ImportOptions())
    assert str(src) in str(e.value)


def test_other_json_in_folder_ignored_and_empty_folder(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", _doc([_shape("a", [[0, 0], [9, 0], [9, 9]])]))
    _write(tmp_path / "meta.json", {"name": "not labelme"})
    res = labelme.read(tmp_path, None, ImportOptions())
    assert len(res.dataset.images) == 1 and any("meta.json" in w for w in res.warnings)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no labelme JSON"):
        labelme.read(tmp_path / "empty", None, ImportOptions())


def test_embedded_image(tmp_path: Path) -> None:
    pixels = np.full((30, 40, 3), 200, np.uint8)
    doc = _doc([_shape("a", [[0, 0], [9, 0], [9, 9]])], image="sub/pic.png", w=None, data=_png_b64(pixels))
    _write(tmp_path / "ann" / "pic.json", doc)
    res = labelme.read(tmp_path, None, ImportOptions())
    im = res.dataset.images[0]
    assert im["file_name"] == "ann/sub/pic.png" and (im["width"], im["height"]) == (40, 30)
    assert any("only embedded" in w for w in res.warnings)
    out = tmp_path / "out"
    labelme.write(res.dataset, res.images_dir, out, ExportOptions(copy_images=True))
    with Image.open(out / "ann" / "sub" / "pic.png") as pil:
        assert pil.size == (40, 30)
    assert json.loads((out / "ann" / "sub" / "pic.json").read_text())["imagePath"] == "pic.png"


# ----------------------------------------------------------------------------------------------
# export and round trip
def _sample(images_dir: Path) -> Dataset:
    """Categories out of name order, a multi-part polygon, an RLE mask, a box, a crowd, an ignore region."""
    images_dir.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (120, 90)).save(images_dir / "one.png")
    (images_dir / "sub").mkdir()
    Image.new("RGB", (64, 48)).save(images_dir / "sub" / "two.png")
    ds = Dataset()
    zebra, ant, bee = ds.add_category("zebra"), ds.add_category("ant"), ds.add_category("bee")
    one = ds.add_image("one.png", 120, 90, ignore_regions=[[100.5, 70, 119, 70, 119, 89]])["id"]
    two = ds.add_image("sub/two.png", 64, 48)["id"]
    ds.add_annotation(one, zebra, [[1.25, 2.5, 20.75, 2.5, 20.75, 30.5], [40, 40, 60, 40, 50, 55.5]])
    mask = np.zeros((90, 120), np.uint8)
    mask[50:80, 10:40] = 1
    ds.add_annotation(one, ant, mask_to_rle(mask))
    ds.add_annotation(one, bee, bbox=[70, 5, 30, 20])
    ds.add_annotation(two, zebra, [[5, 5, 30, 5, 30, 30, 5, 30]], iscrowd=1)
    ds.add_annotation(two, ant, [[33.3, 1.1, 60.7, 3.9, 44.4, 40.2]])
    return ds


def _mask_iou(a: dict, b: dict, h: int, w: int) -> float:
    ma, mb = segmentation_to_mask(a["segmentation"], h, w), segmentation_to_mask(b["segmentation"], h, w)
    return float((ma & mb).sum() / (ma | mb).sum())


@pytest.mark.parametrize("copy_images", [True, False])
def test_round_trip(tmp_path: Path, copy_images: bool) -> None:
    ds = _sample(tmp_path / "images")
    out = tmp_path / "out"
    written = labelme.write(ds, tmp_path / "images", out, ExportOptions(copy_images=copy_images))
    assert (out / "labels.txt").read_text().splitlines() == ["__ignore__", "_background_", "zebra", "ant", "bee"]
    assert {p.relative_to(out).as_posix() for p in written} == {"labels.txt", "one.json", "sub/two.json"}
    doc = json.loads((out / "one.json").read_text())
    assert doc["version"] == "5.3.1" and doc["imageData"] is None
    assert (doc["imageWidth"], doc["imageHeight"]) == (120, 90)
    assert doc["imagePath"] == ("one.png" if copy_images else "../images/one.png")
    assert (out / "sub" / "two.png").is_file() == copy_images
    groups = [s["group_id"] for s in doc["shapes"] if s["label"] == "zebra"]
    assert len(groups) == 2 and groups[0] is not None and groups[0] == groups[1]
    assert [s["shape_type"] for s in doc["shapes"] if s["label"] == "bee"] == ["rectangle"]

    back = labelme.read(out, None, ImportOptions()).dataset
    assert [(c["id"], c["name"]) for c in back.categories] == [(c["id"], c["name"]) for c in ds.categories]
    assert len(back.annotations) == len(ds.annotations)
    for im in ds.images:
        bim = next(b for b in back.images if Path(b["file_name"]).name == Path(im["file_name"]).name)
        assert (out / bim["file_name"]).is_file() or not copy_images
        assert (bim["width"], bim["height"]) == (im["width"], im["height"])
        assert bim.get("ignore_regions", []) == im.get("ignore_regions", [])
        before, after = ds.anns_for_image(im["id"]), back.anns_for_image(bim["id"])
        assert [a["category_id"] for a in after] == [a["category_id"] for a in before]
        for a, b in zip(before, after):
            assert b["iscrowd"] == a["iscrowd"]
            assert b["bbox"] == pytest.approx(a["bbox"], abs=1.0)
            seg = a["segmentation"]
            if isinstance(seg, dict):  # RLE -> polygons: same pixels, give or take the outline
                assert _mask_iou(a, b, im["height"], im["width"]) > 0.9
            elif seg:
                assert len(b["segmentation"]) == len(seg)
                for p, q in zip(seg, b["segmentation"]):
                    assert np.abs(np.subtract(p, q)).max() <= 0.5
            else:
                assert b["bbox"] == a["bbox"]


def test_write_is_atomic(tmp_path: Path) -> None:
    ds = _sample(tmp_path / "images")
    (tmp_path / "images" / "sub" / "two.png").unlink()
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="two.png"):
        labelme.write(ds, tmp_path / "images", out, ExportOptions(copy_images=True))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["images"]
