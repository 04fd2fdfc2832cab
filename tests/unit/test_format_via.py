"""VIA (VGG Image Annotator) import: the real balloon set and synthetic 1.x / 2.x files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from studio.core.errors import DatasetError
from studio.core.formats import detect_format, via
from studio.core.formats.common import ImportOptions
from studio.core.geometry import polygons_bbox, shoelace_area

DATA = Path(__file__).parents[2].parent / "shared" / "data"
BALLOON = DATA / "balloon"


def _need_data() -> None:
    if not BALLOON.is_dir():
        pytest.skip("real data folder ../shared/data not found")


def _image(folder: Path, name: str, size: tuple[int, int] = (200, 100)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (40, 80, 120)).save(folder / name)


def _polygon_region(xs: list[float], ys: list[float], attrs: dict | None = None) -> dict:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": attrs if attrs is not None else {},
    }


def _v1(folder: Path, regions_by_image: dict[str, object], name: str = "via.json") -> Path:
    """A VIA 1.x file (dict keyed by filename+size) with the given regions per image."""
    data = {
        f"{fn}123": {"fileref": "", "size": 123, "filename": fn, "file_attributes": {}, "regions": r}
        for fn, r in regions_by_image.items()
    }
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def _read(path: Path, **kw) -> via.ImportResult:
    return via.read(path, None, ImportOptions(**kw))


# ----------------------------------------------------------------------------------------------
# the real balloon set
@pytest.mark.parametrize("split,n_images,n_polys", [("train", 61, 255), ("val", 13, 50)])
def test_balloon(split: str, n_images: int, n_polys: int) -> None:
    _need_data()
    src = BALLOON / split / "via_region_data.json"
    assert via.detect(src)
    assert detect_format(src) == "via"
    res = via.read(src, None, ImportOptions())
    ds = res.dataset
    assert res.images_dir == src.parent
    assert len(ds.images) == n_images
    assert len(ds.annotations) == n_polys
    assert ds.class_names == ["balloon"]
    inferred = [w for w in res.warnings if "inferred" in w]
    assert len(inferred) == 1 and "'balloon'" in inferred[0]
    for a in ds.annotations:
        parts = a["segmentation"]
        assert parts and all(len(p) >= 6 for p in parts)
        assert a["bbox"] == pytest.approx(polygons_bbox(parts))
        assert a["area"] == pytest.approx(sum(shoelace_area(p) for p in parts))
        assert a["area"] > 0 and a["iscrowd"] == 0
    # sizes come from the image headers
    im = ds.images[0]
    with Image.open(src.parent / im["file_name"]) as pil:
        assert (im["width"], im["height"]) == pil.size


def test_balloon_polygon_matches_json() -> None:
    _need_data()
    src = BALLOON / "val" / "via_region_data.json"
    raw = json.loads(src.read_text())
    entry = next(iter(raw.values()))
    region = entry["regions"]["0"]["shape_attributes"]
    ds = via.read(src, None, ImportOptions(default_class="balloon")).dataset
    im = next(i for i in ds.images if i["file_name"] == entry["filename"])
    ann = ds.anns_for_image(im["id"])[0]
    xs, ys = region["all_points_x"], region["all_points_y"]
    assert ann["bbox"] == [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def test_detect_rejects_other_files() -> None:
    _need_data()
    assert not via.detect(DATA / "cat" / "annotations" / "trainval.json")
    assert not via.detect(DATA / "labelme_example" / "data_annotated" / "2011_000003.json")
    assert not via.detect(BALLOON / "train")


# ----------------------------------------------------------------------------------------------
# synthetic files
def test_v2_project_shapes(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")

    def region(shape: dict, attrs: dict) -> dict:
        return {"shape_attributes": shape, "region_attributes": attrs}

    regions = [
        region({"name": "rect", "x": 10, "y": 20, "width": 30, "height": 15}, {"class": "box"}),
        region({"name": "circle", "cx": 100, "cy": 50, "r": 20}, {"kind": {"disc": True, "x": False}}),
        region({"name": "ellipse", "cx": 150, "cy": 50, "rx": 30, "ry": 10, "theta": 0}, {"label": "oval"}),
        _polygon_region([5, 40, 40, 5], [60, 60, 90, 90], {"note": "", "Class": "poly"}),
        region({"name": "polyline", "all_points_x": [1, 2], "all_points_y": [1, 2]}, {}),
        region({"name": "point", "cx": 3, "cy": 4}, {}),
    ]
    project = {
        "_via_settings": {"ui": {}, "core": {}, "project": {"name": "p"}},
        "_via_img_metadata": {
            "a.png1234": {"filename": "a.png", "size": 1234, "regions": regions, "file_attributes": {}}
        },
        "_via_attributes": {"region": {"class": {"type": "text"}}, "file": {}},
    }
    src = tmp_path / "project.json"
    src.write_text(json.dumps(project))
    assert via.detect(src) and detect_format(src) == "via"
    res = _read(src)
    ds = res.dataset
    assert ds.images[0]["width"] == 200 and ds.images[0]["height"] == 100
    assert ds.class_names == sorted(["box", "disc", "oval", "poly"])
    by = {ds.category(a["category_id"])["name"]: a for a in ds.annotations}
    assert len(ds.annotations) == 4
    assert by["box"]["bbox"] == [10, 20, 30, 15] and by["box"]["area"] == 450
    assert by["disc"]["bbox"] == pytest.approx([80, 30, 40, 40])
    assert by["disc"]["area"] == pytest.approx(math.pi * 400, rel=0.01)
    assert by["oval"]["bbox"] == pytest.approx([120, 40, 60, 20])
    assert by["oval"]["area"] == pytest.approx(math.pi * 300, rel=0.01)
    assert by["poly"]["segmentation"] == [[5, 60, 40, 60, 40, 90, 5, 90]]
    assert sum("polyline" in w for w in res.warnings) == 1
    assert sum("'point'" in w for w in res.warnings) == 1
    assert not any("inferred" in w for w in res.warnings)


def test_rotated_ellipse(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    sa = {"name": "ellipse", "cx": 100, "cy": 50, "rx": 30, "ry": 10, "theta": math.pi / 2}
    src = _v1(tmp_path, {"a.png": [{"shape_attributes": sa, "region_attributes": {"class": "e"}}]})
    a = _read(src).dataset.annotations[0]
    assert a["bbox"] == pytest.approx([90, 20, 20, 60], abs=1e-6)


def test_v2_json_export_with_list_regions(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    _image(tmp_path, "b.png")
    src = _v1(tmp_path, {"a.png": [_polygon_region([1, 9, 9], [1, 1, 9], {"class": "t"})], "b.png": []})
    assert via.detect(src)
    ds = _read(src).dataset
    assert [im["file_name"] for im in ds.images] == ["a.png", "b.png"]
    assert len(ds.annotations) == 1 and ds.anns_for_image(ds.images[1]["id"]) == []


def test_closing_point_dropped(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    src = _v1(tmp_path, {"a.png": {"0": _polygon_region([1, 9, 9, 1], [1, 1, 9, 1])}}, "x.json")
    a = _read(src, default_class="t").dataset.annotations[0]
    assert a["segmentation"] == [[1, 1, 9, 1, 9, 9]]


def test_class_attr_and_default_class(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    regions = {
        "0": _polygon_region([1, 9, 9], [1, 1, 9], {"class": "ignored", "species": "owl"}),
        "1": _polygon_region([20, 30, 30], [1, 1, 9], {"species": ""}),
    }
    src = _v1(tmp_path, {"a.png": regions})
    with pytest.raises(DatasetError, match=r"image a.png region 1.*'species'"):
        _read(src, class_attr="species")
    res = _read(src, class_attr="species", default_class="bird")
    names = [res.dataset.category(a["category_id"])["name"] for a in res.dataset.annotations]
    assert names == ["owl", "bird"]
    assert not any("inferred" in w for w in res.warnings)


def test_class_inferred_from_folder_skipping_split_names(tmp_path: Path) -> None:
    folder = tmp_path / "kittens" / "valid"
    _image(folder, "a.png")
    regions = {"0": _polygon_region([1, 9, 9], [1, 1, 9]), "1": _polygon_region([11, 19, 19], [1, 1, 9])}
    src = _v1(folder, {"a.png": regions})
    res = _read(src)
    assert res.dataset.class_names == ["kittens"]
    assert len(res.dataset.annotations) == 2
    warned = [w for w in res.warnings if "inferred" in w]
    assert len(warned) == 1 and "--default-class" in warned[0]
    assert _read(src, default_class="cat").dataset.class_names == ["cat"]


def test_two_point_polygon_is_an_error(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    regions = {"0": _polygon_region([1, 9, 9], [1, 1, 9]), "1": _polygon_region([1, 5], [1, 5])}
    src = _v1(tmp_path, {"a.png": regions})
    with pytest.raises(DatasetError) as e:
        _read(src, default_class="t")
    msg = str(e.value)
    assert str(src) in msg and "image a.png region 1" in msg and "2 point" in msg
    res = _read(src, default_class="t", strict=False)
    assert len(res.dataset.annotations) == 1
    assert any("image a.png region 1" in w and "skipped" in w for w in res.warnings)


def test_bow_tie_repaired_with_warning(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    # (0,0)-(10,10) crosses (10,0)-(0,4) at x = y = 20/7: two triangles
    src = _v1(tmp_path, {"a.png": [_polygon_region([0, 10, 10, 0], [0, 10, 0, 4])]})
    res = _read(src, default_class="t")
    (a,) = res.dataset.annotations
    assert len(a["segmentation"]) == 2
    assert a["area"] == pytest.approx(40 / 7 + 250 / 7)
    assert a["bbox"] == pytest.approx([0, 0, 10, 10])
    assert any("self-intersecting" in w and "image a.png region 0" in w for w in res.warnings)


def test_missing_image(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    src = _v1(tmp_path, {"a.png": [], "gone.jpg": [_polygon_region([1, 9, 9], [1, 1, 9])]})
    with pytest.raises(DatasetError, match=r"image gone.jpg.*not found.*gone.jpg"):
        _read(src, default_class="t")
    res = _read(src, default_class="t", strict=False)
    assert [im["file_name"] for im in res.dataset.images] == ["a.png"]
    assert not res.dataset.annotations
    assert any("gone.jpg" in w for w in res.warnings)


def test_images_argument(tmp_path: Path) -> None:
    _image(tmp_path / "pics", "a.png", (64, 32))
    src = _v1(tmp_path, {"a.png": [_polygon_region([1, 9, 9], [1, 1, 9])]})
    res = via.read(src, tmp_path / "pics", ImportOptions(default_class="t"))
    assert res.images_dir == tmp_path / "pics"
    assert (res.dataset.images[0]["width"], res.dataset.images[0]["height"]) == (64, 32)


def test_truncated_json(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    src = _v1(tmp_path, {"a.png": [_polygon_region([1, 9, 9], [1, 1, 9])]})
    src.write_text(src.read_text()[:-20])
    with pytest.raises(DatasetError, match="broken JSON") as e:
        _read(src)
    assert str(src) in str(e.value)
    assert not via.detect(src)


def test_bad_structure(tmp_path: Path) -> None:
    src = tmp_path / "list.json"
    src.write_text("[1, 2]")
    with pytest.raises(DatasetError, match="list") as e:
        _read(src)
    assert str(src) in str(e.value)
    src = tmp_path / "nofile.json"
    src.write_text(json.dumps({"img1": {"regions": [], "size": 3}}))
    with pytest.raises(DatasetError, match="filename") as e:
        _read(src)
    assert str(src) in str(e.value) and "img1" in str(e.value)


def test_unknown_shape_is_bad(tmp_path: Path) -> None:
    _image(tmp_path, "a.png")
    region = {"shape_attributes": {"name": "hexagon"}, "region_attributes": {}}
    src = _v1(tmp_path, {"a.png": [region, _polygon_region([1, 9, 9], [1, 1, 9])]})
    with pytest.raises(DatasetError, match=r"image a.png region 0.*hexagon"):
        _read(src, default_class="t")
    assert len(_read(src, default_class="t", strict=False).dataset.annotations) == 1


def test_detect_small_files(tmp_path: Path) -> None:
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [], "categories": []}))
    assert not via.detect(coco)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"filename": "x", "regions": []}))
    assert not via.detect(other)
    v = tmp_path / "v.json"
    v.write_text(json.dumps({"_via_img_metadata": {}}))
    assert via.detect(v)
    assert not via.detect(tmp_path / "missing.json")
