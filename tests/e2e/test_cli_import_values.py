"""``studio dataset import`` refuses values that would corrupt the canonical file: exit 2, one
``error:`` line naming the file and the item, no traceback, and no output (an existing output file
is left as it was). ``--lenient`` skips the item where that makes sense."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.cli import main
from studio.core.dataset.model import Dataset


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _coco(tmp_path: Path, mutate) -> Path:
    d = {
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
                "area": 384,
                "iscrowd": 0,
                "segmentation": [[8, 8, 32, 8, 32, 24, 8, 24]],
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 2,
                "bbox": [4, 4, 10, 10],
                "area": 100,
                "iscrowd": 0,
                "segmentation": [],
            },
        ],
    }
    mutate(d)
    p = tmp_path / "annotations.json"
    p.write_text(json.dumps(d))
    return p


def _voc(tmp_path: Path, xmax: str) -> Path:
    root = tmp_path / "VOC"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    cv2.imwrite(str(root / "JPEGImages" / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
        f"<object><name>dog</name><bndbox><xmin>9</xmin><ymin>9</ymin><xmax>{xmax}</xmax><ymax>20</ymax></bndbox></object>"
        "</annotation>"
    )
    return root


def _set(*path_and_value):
    *path, value = path_and_value

    def mutate(d):
        node = d
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value

    return mutate


def _dup(section: str):
    return lambda d: d[section].append(dict(d[section][-1]))


# (id, build(tmp_path) -> (format, src), strings the error line must hold, lenient exit code)
CASES = [
    ("voc_xmax_nan", lambda t: ("voc", _voc(t, "nan")), ["a.xml", "object 0 (dog)", "<xmax>", "'nan'"], 0),
    ("voc_xmax_inf", lambda t: ("voc", _voc(t, "inf")), ["a.xml", "object 0 (dog)", "<xmax>", "'inf'"], 0),
    (
        "coco_category_id_string",
        lambda t: ("coco", _coco(t, _set("categories", 1, "id", "3"))),
        ["annotations.json", "categories[1] (id '3')", "category id must be an integer, got '3'"],
        2,
    ),
    (
        "coco_category_ids_duplicate",
        lambda t: ("coco", _coco(t, _set("categories", 1, "id", 1))),
        ["annotations.json", "categories[1] (id 1)", "category id 1 is used twice"],
        2,
    ),
    (
        "coco_image_ids_duplicate",
        lambda t: ("coco", _coco(t, _dup("images"))),
        ["annotations.json", "images[2] (id 2)", "image id 2 is used twice"],
        0,
    ),
    (
        "coco_annotation_ids_duplicate",
        lambda t: ("coco", _coco(t, _dup("annotations"))),
        ["annotations.json", "annotations[2] (id 2)", "annotation id 2 is used twice"],
        0,
    ),
    (
        "coco_bbox_strings",
        lambda t: ("coco", _coco(t, _set("annotations", 1, "bbox", ["4", "4", "10", "10"]))),
        ["annotations.json", "annotations[1] (id 2)", "bbox[0] must be a number, got '4'"],
        0,
    ),
    (
        "coco_rle_garbage",
        lambda t: ("coco", _coco(t, _set("annotations", 0, "segmentation", {"size": [48, 64], "counts": "garbage!!"}))),
        ["annotations.json", "annotations[0] (id 1)", "RLE counts are not a valid compressed string"],
        0,
    ),
    (
        "coco_rle_size_mismatch",
        lambda t: ("coco", _coco(t, _set("annotations", 0, "segmentation", {"size": [10, 10], "counts": [100]}))),
        ["annotations.json", "annotations[0] (id 1)", "RLE size 10x10 (height x width) differs from the image's 48x64"],
        0,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_import_refuses_and_writes_nothing(capsys, tmp_path, case):
    _, build, expect, lenient_code = case
    fmt, src = build(tmp_path)
    out = tmp_path / "out" / "dataset.json"
    code, stdout, err = run(capsys, "dataset", "import", "--format", fmt, src, "-o", out)
    assert code == 2, (stdout, err)
    assert "Traceback" not in err + stdout
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, err
    for e in expect:
        assert e in errors[0], (e, errors[0])
    assert not out.exists() and not out.parent.exists()

    # an existing output file is left exactly as it was
    out.parent.mkdir()
    out.write_text("previous content")
    assert run(capsys, "dataset", "import", "--format", fmt, src, "-o", out)[0] == 2
    assert out.read_text() == "previous content" and [p.name for p in out.parent.iterdir()] == ["dataset.json"]

    # --lenient: the bad item is skipped with a warning naming it (categories: still an error)
    lenient = tmp_path / "lenient.json"
    code, stdout, err = run(capsys, "dataset", "import", "--lenient", "--format", fmt, src, "-o", lenient)
    assert code == lenient_code, err
    assert "Traceback" not in err
    if code == 0:
        assert any(ln.startswith("warning: ") and expect[1] in ln for ln in err.splitlines()), err
        ds = Dataset.load(lenient)
        assert len({a["id"] for a in ds.annotations}) == len(ds.annotations)
        assert len({im["id"] for im in ds.images}) == len(ds.images)
        # the file it wrote goes through stats without a TypeError
        assert run(capsys, "dataset", "stats", lenient)[0] == 0
    else:
        assert not lenient.exists()


def test_a_string_category_id_no_longer_writes_then_crashes(capsys, tmp_path):
    """It used to write the output, then die on sorting the class names (TypeError, traceback)."""
    src = _coco(tmp_path, _set("categories", 1, "id", "3"))
    out = tmp_path / "o.json"
    code, _, err = run(capsys, "dataset", "import", "--format", "coco", src, "-o", out)
    assert code == 2 and f"error: {src}: categories[1] (id '3'): category id must be an integer, got '3'" in err
    assert not out.exists()
