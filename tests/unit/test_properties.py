"""Property-based tests (hypothesis, fixed seed, bounded examples and time): the path-safety helper and
the importers.

* No name, whatever its characters, makes :func:`safe_join` return a path outside its folder, links included.
* An importer given a mutated file either refuses it with a DatasetError naming the file, or returns a
  dataset every later step can use: integer unique ids, known references, finite boxes, polygons of finite
  numbers, valid RLE; the COCO file it writes loads back, checks, gives statistics and exports.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from studio.core.dataset.check import check_dataset
from studio.core.dataset.model import Dataset
from studio.core.dataset.stats import compute_stats
from studio.core.errors import DatasetError
from studio.core.formats import ExportOptions, export_dataset, import_dataset
from studio.core.geometry import is_rle, rle_problem
from studio.core.safe_names import UnsafeNameError, name_problem, safe_join

SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --------------------------------------------------------------------------------------------- names
PIECES = ["..", ".", "a", "b.jpg", "", "/", "\\", "C:", "\x00", " ", "link", "ü", "\n", "~", "//", ".hidden"]
names = st.one_of(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("/".join),
    st.text(max_size=30),
)


@pytest.fixture(scope="module")
def jail(tmp_path_factory) -> Path:
    """A folder holding a link to a folder outside it and a link to a file outside it."""
    base = tmp_path_factory.mktemp("jail")
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_text("x")
    root = base / "root"
    (root / "a").mkdir(parents=True)
    os.symlink(base / "outside", root / "link")
    os.symlink(base / "outside" / "secret.txt", root / "a" / "file_link")
    return root


@settings(max_examples=600, **SETTINGS)
@given(name=names)
@pytest.mark.timeout(60)
def test_safe_join_never_leaves_its_folder(jail, name):
    try:
        p = safe_join(jail, name)
    except UnsafeNameError as e:
        assert str(jail) in str(e) or "outside" in str(e)
        return
    resolved = p.resolve()
    base = jail.resolve()
    assert resolved == base or resolved.is_relative_to(base), (name, resolved)


@settings(max_examples=600, **SETTINGS)
@given(name=names)
@pytest.mark.timeout(60)
def test_a_name_without_problem_is_relative_and_has_no_dotdot(name):
    if name_problem(name) is not None:
        return
    posix = PurePosixPath(name.replace("\\", "/"))
    assert not posix.is_absolute() and ".." not in posix.parts and "\x00" not in name and name.strip()


# --------------------------------------------------------------------------------------------- importers
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=10,
)


def _valid_coco() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [8, 8, 24, 16],
                "area": 384.0,
                "iscrowd": 0,
                "segmentation": [[8, 8, 32, 8, 32, 24, 8, 24]],
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 2,
                "bbox": [4, 4, 10, 10],
                "area": 100.0,
                "iscrowd": 0,
                "segmentation": [],
            },
            {
                "id": 3,
                "image_id": 2,
                "category_id": 1,
                "bbox": [0, 0, 4, 4],
                "area": 16.0,
                "iscrowd": 1,
                "segmentation": {"size": [48, 64], "counts": [0, 4, 44, 4, 44, 4, 44, 4, 2924]},
            },
        ],
    }


def _paths(obj, prefix=()):
    """Every (path, value) inside a JSON document."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_coco(draw):
    doc = _valid_coco()
    for _ in range(draw(st.integers(1, 3))):
        spots = [p for p, _ in _paths(doc) if p]
        path = draw(st.sampled_from(spots))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        how = draw(st.sampled_from(["value", "delete", "copy_sibling_id"]))
        if how == "delete":
            del parent[path[-1]]
        elif how == "copy_sibling_id" and isinstance(parent, dict) and "id" in parent:
            parent["id"] = draw(st.sampled_from([1, 2, "1", 1.0, True, None]))
        else:
            parent[path[-1]] = draw(json_values)
    return doc


def _assert_usable(ds: Dataset, tmp: Path) -> None:
    event(f"imported {len(ds.annotations)} annotation(s)")
    for section in (ds.images, ds.categories, ds.annotations):
        ids = [r["id"] for r in section]
        assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids), ids
        assert len(set(ids)) == len(ids), ids
    assert all(isinstance(c["name"], str) and c["name"] for c in ds.categories)
    for im in ds.images:
        assert isinstance(im["width"], int) and im["width"] > 0 and isinstance(im["height"], int) and im["height"] > 0
    for a in ds.annotations:
        assert ds.has_image(a["image_id"]) and ds.has_category(a["category_id"])
        box = a["bbox"]
        assert len(box) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box
        ), box
        assert box[2] >= 0 and box[3] >= 0
        seg = a.get("segmentation") or []
        if is_rle(seg):
            im = ds.image(a["image_id"])
            assert rle_problem(seg, im["height"], im["width"]) is None
        else:
            assert all(
                isinstance(p, list)
                and len(p) >= 6
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
                for p in seg
            ), seg
    ds.save(tmp / "roundtrip.json")
    back = Dataset.load(tmp / "roundtrip.json")
    check_dataset(back)
    compute_stats(back)
    for fmt in ("yolo", "voc", "labelme"):
        out = tmp / f"export_{fmt}"
        export_dataset(fmt, back, None, out, ExportOptions(copy_images=False, overwrite=True))


@settings(max_examples=300, **SETTINGS)
@given(doc=mutated_coco(), lenient=st.booleans())
@pytest.mark.timeout(120)
def test_coco_import_refuses_or_gives_a_usable_dataset(tmp_path, doc, lenient):
    from studio.core.formats import ImportOptions

    src = tmp_path / "ann.json"
    src.write_text(json.dumps(doc))
    try:
        res = import_dataset("coco", src, tmp_path, ImportOptions(strict=not lenient))
    except DatasetError as e:
        event("refused")
        assert "ann.json" in str(e)
        return
    _assert_usable(res.dataset, tmp_path)


plausible = st.one_of(st.integers(0, 64).map(str), st.floats(0, 64).map(lambda v: f"{v:.2f}"))
inner_unit = st.floats(0.1, 0.9).map(lambda v: f"{v:.4f}")
numbers_as_text = st.one_of(
    plausible,
    plausible,
    plausible,
    st.sampled_from(["nan", "inf", "-inf", "", "1e400", "NaN", "-0", "1,5", "0x10", " 12 ", "1e-400", "Infinity"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.text(max_size=6),
)


@pytest.fixture(scope="module")
def jpg(tmp_path_factory) -> bytes:
    p = tmp_path_factory.mktemp("img") / "a.jpg"
    cv2.imwrite(str(p), np.full((48, 64, 3), 120, np.uint8))
    return p.read_bytes()


def _xml_text(s: str) -> str:
    return "".join(c for c in s if c.isprintable()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@settings(max_examples=300, **SETTINGS)
@given(values=st.lists(numbers_as_text, min_size=6, max_size=6), lenient=st.booleans())
@pytest.mark.timeout(120)
def test_voc_import_refuses_or_gives_a_usable_dataset(tmp_path, jpg, values, lenient):
    from studio.core.formats import ImportOptions

    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "JPEGImages").mkdir(exist_ok=True)
    (root / "JPEGImages" / "a.jpg").write_bytes(jpg)
    w, h, x0, y0, x1, y1 = (_xml_text(v) for v in values)
    (root / "Annotations" / "a.xml").write_text(
        f"<annotation><filename>a.jpg</filename><size><width>{w}</width><height>{h}</height></size>"
        f"<object><name>cat</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
        "</bndbox></object></annotation>"
    )
    try:
        res = import_dataset("voc", root, None, ImportOptions(strict=not lenient))
    except DatasetError as e:
        event("refused")
        assert "a.xml" in str(e) or "voc" in str(e)
        return
    _assert_usable(res.dataset, tmp_path)


@settings(max_examples=300, **SETTINGS)
@given(
    tokens=st.one_of(
        st.lists(numbers_as_text, min_size=1, max_size=9),
        st.tuples(
            st.sampled_from(["0", "1", "2", "-1", "1.0"]),
            st.lists(st.one_of(inner_unit, inner_unit, inner_unit, numbers_as_text), min_size=4, max_size=8),
        ).map(lambda t: [t[0], *t[1]]),
    ),
    lenient=st.booleans(),
)
@pytest.mark.timeout(120)
def test_yolo_import_refuses_or_gives_a_usable_dataset(tmp_path, jpg, tokens, lenient):
    from studio.core.formats import ImportOptions

    root = tmp_path / "yolo"
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
    (root / "images" / "train" / "a.jpg").write_bytes(jpg)
    line = " ".join(t.replace("\n", " ") for t in tokens)
    (root / "labels" / "train" / "a.txt").write_text(line + "\n", encoding="utf-8")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames: [cat, dog]\n")
    try:
        res = import_dataset("yolo", root, None, ImportOptions(strict=not lenient))
    except DatasetError as e:
        event("refused")
        assert "a.txt" in str(e) or "yolo" in str(e)
        return
    _assert_usable(res.dataset, tmp_path)


@settings(max_examples=300, **SETTINGS)
@given(
    points=st.one_of(
        st.lists(st.lists(json_values, min_size=0, max_size=3), min_size=0, max_size=5),
        st.lists(
            st.lists(
                st.one_of(st.floats(2, 60), st.floats(2, 60), st.integers(-5, 70), json_values), min_size=2, max_size=2
            ),
            min_size=2,
            max_size=6,
            unique_by=str,
        ),
    ),
    shape_type=st.sampled_from(["polygon", "rectangle", "circle", "point", "linestrip", "mask", None, 3]),
    lenient=st.booleans(),
)
@pytest.mark.timeout(120)
def test_labelme_import_refuses_or_gives_a_usable_dataset(tmp_path, jpg, points, shape_type, lenient):
    from studio.core.formats import ImportOptions

    root = tmp_path / "lm"
    root.mkdir(exist_ok=True)
    (root / "a.jpg").write_bytes(jpg)
    doc = {
        "version": "5.3.1",
        "flags": {},
        "imagePath": "a.jpg",
        "imageData": None,
        "imageHeight": 48,
        "imageWidth": 64,
        "shapes": [{"label": "cat", "points": points, "group_id": None, "shape_type": shape_type, "flags": {}}],
    }
    (root / "a.json").write_text(json.dumps(doc))
    try:
        res = import_dataset("labelme", root, None, ImportOptions(strict=not lenient))
    except DatasetError as e:
        event("refused")
        assert "a.json" in str(e) or "lm" in str(e)
        return
    _assert_usable(res.dataset, tmp_path)


@settings(max_examples=300, **SETTINGS)
@given(
    attrs=st.dictionaries(
        st.sampled_from(
            ["name", "all_points_x", "all_points_y", "x", "y", "width", "height", "cx", "cy", "r", "rx", "ry", "theta"]
        ),
        st.one_of(
            json_values,
            st.integers(1, 64),
            st.floats(1, 64),
            st.lists(
                st.one_of(st.integers(0, 64), st.floats(2, 60), st.floats(2, 60), json_values),
                min_size=3,
                max_size=6,
                unique_by=repr,
            ),
        ),
        min_size=2,
        max_size=8,
    ),
    name=st.sampled_from(["polygon", "rect", "circle", "ellipse", "polyline", "point", "other"]),
    lenient=st.booleans(),
)
@pytest.mark.timeout(120)
def test_via_import_refuses_or_gives_a_usable_dataset(tmp_path, jpg, attrs, name, lenient):
    from studio.core.formats import ImportOptions

    root = tmp_path / "via"
    root.mkdir(exist_ok=True)
    (root / "a.jpg").write_bytes(jpg)
    attrs = {"name": name, **{k: v for k, v in attrs.items() if k != "name"}}
    via = {
        "a.jpg1": {
            "filename": "a.jpg",
            "size": 1,
            "file_attributes": {},
            "regions": [{"shape_attributes": attrs, "region_attributes": {"class": "thing"}}],
        }
    }
    (root / "via.json").write_text(json.dumps(via))
    try:
        res = import_dataset("via", root / "via.json", None, ImportOptions(strict=not lenient))
    except DatasetError as e:
        event("refused")
        assert "via.json" in str(e)
        return
    _assert_usable(res.dataset, tmp_path)
