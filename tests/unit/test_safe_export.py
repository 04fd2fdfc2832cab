"""Untrusted names and the export folder: the helper every writer uses, import warnings, check errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from studio import api
from studio.core import output_folder as of
from studio.core.dataset.check import check_dataset
from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import ExportOptions, export_dataset, import_dataset
from studio.core.geometry import mask_to_rle
from studio.core.safe_names import UnsafeNameError, name_problem, plain_name_problem, safe_join


@pytest.mark.parametrize(
    "name, problem",
    [
        ("a.jpg", None),
        ("sub/dir/a.jpg", None),
        ("a..b.jpg", None),
        ("..a.jpg", None),
        ("ü n i.jpg", None),
        ("../a.jpg", "'..'"),
        ("a/../../b.jpg", "'..'"),
        ("..\\a.jpg", "'..'"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\a.jpg", "absolute"),
        ("C:\\a.jpg", "drive letter"),
        ("c:a.jpg", "drive letter"),
        ("", "empty"),
        ("   ", "empty"),
        ("a\x00.jpg", "NUL"),
        (None, "not a text"),
        (7, "not a text"),
    ],
)
def test_name_problem(name, problem):
    got = name_problem(name)
    assert (got is None) if problem is None else (problem in got), got


@pytest.mark.parametrize(
    "name, ok",
    [
        ("train", True),
        ("val-2", True),
        ("a/b", False),
        (".hidden", False),
        ("..", False),
        (" x", False),
        ("x\\y", False),
    ],
)
def test_plain_name_problem(name, ok):
    assert (plain_name_problem(name) is None) == ok


def test_safe_join_refuses_links_that_lead_out(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "link")
    assert safe_join(tmp_path / "out", "images/a.jpg") == (tmp_path / "out" / "images" / "a.jpg")
    with pytest.raises(UnsafeNameError, match="outside"):
        safe_join(tmp_path / "out", "link/a.jpg")
    with pytest.raises(UnsafeNameError, match=r"'\.\./x' contains '\.\.'"):
        safe_join(tmp_path / "out", "../x")


# ---------------------------------------------------------------------------------------------- output folder
def _write(path: Path, files: dict[str, str], **kw) -> None:
    with of.output_folder(path, fmt="test", **kw) as folder:
        for rel, text in files.items():
            folder.write_text(rel, text)


@pytest.mark.parametrize("exchange", [True, False])
def test_overwrite_replaces_a_previous_export_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(of, "_exchange", lambda a, b: False)  # the two-rename path (no renameat2)
    out = tmp_path / "out"
    _write(out, {"a.txt": "1", "sub/b.txt": "2"})
    assert json.loads((out / of.MARKER).read_text())["format"] == "test"
    with pytest.raises(DatasetError, match="not empty"):
        _write(out, {"a.txt": "new"})
    _write(out, {"c.txt": "3"}, overwrite=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [of.MARKER, "c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary or old folder left


def test_a_failed_export_leaves_the_previous_one(tmp_path):
    out = tmp_path / "out"
    _write(out, {"a.txt": "1"})
    with pytest.raises(RuntimeError):
        with of.output_folder(out, overwrite=True) as folder:
            folder.write_text("a.txt", "half")
            raise RuntimeError("disk pulled")
    assert (out / "a.txt").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_refuses_folders_that_are_not_exports_or_hold_the_source(tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    with pytest.raises(DatasetError, match="no previous Studio export"):
        _write(mine, {"a.txt": "1"}, overwrite=True)
    assert (mine / "thesis.txt").read_text() == "precious"
    out = tmp_path / "out"
    _write(out, {"ann.json": "{}"})
    with pytest.raises(DatasetError, match="own source"):
        _write(out, {"a.txt": "1"}, overwrite=True, protect=(out / "ann.json",))


def test_every_path_is_checked(tmp_path):
    with pytest.raises(UnsafeNameError):
        with of.output_folder(tmp_path / "out") as folder:
            folder.write_text("../escape.txt", "x")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- formats
def _bad_coco(tmp_path: Path, name: str) -> Path:
    d = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 8, "height": 8},
            {"id": 7, "file_name": name, "width": 8, "height": 8},
        ],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 0}],
    }
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("name", ["../../victim/important.txt", "/abs/evil.jpg", "C:\\evil.jpg"])
def test_import_warns_check_errors_export_refuses(tmp_path, name):
    src = _bad_coco(tmp_path, name)
    res = api.dataset_import(src, tmp_path / "imported.json", fmt="coco")
    warned = [w for w in res.warnings if "image id 7" in w]
    assert len(warned) == 1 and name in warned[0] and "exports will refuse it" in warned[0]
    rep = check_dataset(Dataset.load(tmp_path / "imported.json"), tmp_path)
    unsafe = rep.by_kind()["unsafe_file_name"]
    assert [p.image_id for p in unsafe] == [7] and rep.exit_code == 1
    assert "missing_image" not in rep.by_kind() or all(p.image_id != 7 for p in rep.by_kind()["missing_image"])
    for fmt in ("coco", "yolo", "voc", "labelme"):
        with pytest.raises(DatasetError, match="image id 7") as e:
            export_dataset(fmt, Dataset.load(src), tmp_path, tmp_path / f"out_{fmt}", ExportOptions(copy_images=False))
        assert name in str(e.value) and not (tmp_path / f"out_{fmt}").exists()


def test_check_reports_broken_rle(tmp_path):
    import numpy as np

    good = mask_to_rle(np.eye(8, dtype=np.uint8))
    d = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 8, 8],
                "area": 8,
                "iscrowd": 1,
                "segmentation": good,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 8, 8],
                "area": 8,
                "iscrowd": 1,
                "segmentation": {"size": [8, 8], "counts": "garbage!!"},
            },
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 8, 8],
                "area": 8,
                "iscrowd": 1,
                "segmentation": {"size": [16, 8], "counts": [128]},
            },
            {
                "id": 4,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 8, 8],
                "area": 8,
                "iscrowd": 1,
                "segmentation": {"size": [8, 8], "counts": [10, 20]},
            },
        ],
    }
    rep = check_dataset(Dataset.from_dict(d, "r.json"))
    bad = {p.ann_id: p.message for p in rep.by_kind()["invalid_rle"]}
    assert set(bad) == {2, 3, 4}
    assert "not an RLE digit" in bad[2] and "16x8" in bad[3] and "30 pixels" in bad[4]


def test_split_refuses_and_writes_nothing(tmp_path, demo):
    ann = demo["train"].annotations
    for kw, words in (
        ({"names": ["x", "x"]}, "twice"),
        ({"names": ["x", "X"]}, "twice"),
        ({"names": ["../x", "y"]}, "'..'"),
        ({"ratios": [float("nan"), 1]}, "finite"),
    ):
        args = {"ratios": [0.5, 0.5], **kw}
        with pytest.raises(DatasetError, match=words):
            api.dataset_split(ann, args["ratios"], tmp_path / "out", names=args.get("names"))
    assert not (tmp_path / "out").exists()
    parts = api.dataset_split(ann, [0.5, 0.5], tmp_path / "out", names=["a", "b"])
    assert sum(len(p.images) for p in parts.values()) == len(Dataset.load(ann).images)
    with pytest.raises(DatasetError, match="--overwrite"):
        api.dataset_split(ann, [0.5, 0.5], tmp_path / "out", names=["a", "b"])
    api.dataset_split(ann, [0.5, 0.5], tmp_path / "out", names=["a", "b"], overwrite=True, seed=3)


def test_yolo_export_with_an_absolute_name_among_relative_ones_writes_nothing(tmp_path, demo):
    ds = Dataset.load(demo["train"].annotations)
    ds.images[3]["file_name"] = str(tmp_path / "evil.jpg")
    root_before = set(os.listdir("/"))
    with pytest.raises(DatasetError, match=f"image id {ds.images[3]['id']}"):
        export_dataset("yolo", ds, demo["train"].images, tmp_path / "out")
    assert set(os.listdir("/")) == root_before and not (tmp_path / "out").exists()


def test_import_from_labelme_keeps_odd_but_safe_names(tmp_path):
    """Spaces, unicode and dots inside names are fine: only escaping names are refused."""
    import cv2
    import numpy as np

    d = tmp_path / "lm"
    d.mkdir()
    cv2.imwrite(str(d / "ein bild..ü.jpg"), np.zeros((8, 8, 3), np.uint8))
    (d / "ein bild..ü.json").write_text(
        json.dumps(
            {
                "version": "5.3.1",
                "flags": {},
                "imagePath": "ein bild..ü.jpg",
                "imageData": None,
                "imageHeight": 8,
                "imageWidth": 8,
                "shapes": [
                    {
                        "label": "x",
                        "points": [[1, 1], [6, 1], [6, 6]],
                        "group_id": None,
                        "shape_type": "polygon",
                        "flags": {},
                    }
                ],
            }
        )
    )
    res = import_dataset("labelme", d)
    assert not res.warnings
    out = export_dataset("coco", res.dataset, res.images_dir, tmp_path / "out")
    assert (tmp_path / "out" / "images" / "ein bild..ü.jpg").is_file() and out
