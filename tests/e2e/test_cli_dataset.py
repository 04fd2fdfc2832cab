"""The ``studio dataset`` command line on the real data and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.cli import main
from studio.core.dataset.model import Dataset
from studio.core.geometry import polygons_area, polygons_bbox


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------ real data
def test_balloon_import_check_stats(capsys, shared_data, tmp_path):
    for split, n_img, n_poly in (("train", 61, 255), ("val", 13, 50)):
        out = tmp_path / f"{split}.json"
        code, stdout, _ = run(
            capsys,
            "dataset",
            "import",
            "--format",
            "via",
            shared_data / "balloon" / split / "via_region_data.json",
            "-o",
            out,
        )
        assert code == 0 and f"{n_img} images, {n_poly} annotations, 1 class (balloon)" in stdout
        ds = Dataset.load(out)
        for a in ds.annotations:
            assert a["bbox"] == pytest.approx(polygons_bbox(a["segmentation"]))
            assert a["area"] == pytest.approx(polygons_area(a["segmentation"]))
        # the images folder was recorded, so check needs no --images
        code, stdout, _ = run(capsys, "dataset", "check", out, "--json", tmp_path / f"{split}_report.json")
        rep = json.loads((tmp_path / f"{split}_report.json").read_text())
        assert "missing_image" not in rep["problems"] and "size_mismatch" not in rep["problems"]
        assert code == (1 if rep["summary"]["errors"] else 0)
    code, stdout, _ = run(capsys, "dataset", "stats", tmp_path / "train.json", "--out", tmp_path / "plots")
    assert code == 0 and "balloon" in stdout and "255" in stdout
    assert (tmp_path / "plots" / "box_sizes.png").stat().st_size > 1000


def test_cat_missing_images_reported_not_crashing(capsys, shared_data, tmp_path):
    out = tmp_path / "cat.json"
    code, stdout, _ = run(
        capsys,
        "dataset",
        "import",
        "--format",
        "coco",
        shared_data / "cat" / "annotations" / "annotations_all.json",
        "-o",
        out,
    )
    assert code == 0 and "144 images, 159 annotations" in stdout
    code, stdout, _ = run(capsys, "dataset", "check", out, "--json", tmp_path / "r.json")
    assert code == 1
    assert "missing image files [missing_image]: 143" in stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    items = rep["problems"]["missing_image"]["items"]
    assert len(items) == 143 and all(
        Path(i["file"]).parent == (shared_data / "cat" / "images").resolve() for i in items
    )
    assert "IMG_20210627_225110.jpg" not in {Path(i["file"]).name for i in items}  # the one image that exists


def test_labelme_example(capsys, shared_data, tmp_path):
    out = tmp_path / "lm.json"
    code, stdout, _ = run(
        capsys,
        "dataset",
        "import",
        "--format",
        "labelme",
        shared_data / "labelme_example" / "data_annotated",
        "-o",
        out,
    )
    assert code == 0 and "3 images, 12 annotations" in stdout
    ds = Dataset.load(out)
    assert sum(len(im.get("ignore_regions", [])) for im in ds.images) == 2
    assert "__ignore__" not in ds.class_names


def test_format_is_detected_when_omitted(capsys, shared_data, tmp_path):
    code, stdout, _ = run(
        capsys, "dataset", "import", shared_data / "balloon" / "val" / "via_region_data.json", "-o", tmp_path / "v.json"
    )
    assert code == 0 and "13 images, 50 annotations" in stdout


# ------------------------------------------------------------------ synthetic
def test_export_every_format_then_split(capsys, demo, tmp_path):
    ann = demo["train"].annotations
    n = len(Dataset.load(ann).images)
    for fmt, marker in (
        ("coco", "annotations.json"),
        ("yolo", "data.yaml"),
        ("voc", "Annotations"),
        ("labelme", "labels.txt"),
    ):
        code, _, err = run(
            capsys, "dataset", "export", "--format", fmt, ann, "--images", demo["train"].images, "-o", tmp_path / fmt
        )
        assert code == 0, err
        assert (tmp_path / fmt / marker).exists()
    assert len(list((tmp_path / "labelme").glob("*.json"))) == n
    code, stdout, _ = run(
        capsys, "dataset", "split", ann, "--ratios", "0.8", "0.2", "--seed", "0", "-o", tmp_path / "split"
    )
    assert code == 0
    tr, va = Dataset.load(tmp_path / "split" / "train.json"), Dataset.load(tmp_path / "split" / "val.json")
    assert len(tr.images) + len(va.images) == n and len(va.images) in (1, 2, 3)


def test_demo_command(capsys, tmp_path):
    code, stdout, _ = run(capsys, "dataset", "demo", "-o", tmp_path / "d", "--train", "3", "--val", "2")
    assert code == 0
    assert len(Dataset.load(tmp_path / "d" / "annotations" / "train.json").images) == 3


# ------------------------------------------------------------------ bad input: clear message, exit != 0, no output
def _via(tmp_path: Path, xs, ys, image_bytes: bytes | None = None) -> Path:
    d = tmp_path / "via"
    d.mkdir()
    if image_bytes is None:
        cv2.imwrite(str(d / "a.jpg"), np.zeros((50, 60, 3), np.uint8))
    else:
        (d / "a.jpg").write_bytes(image_bytes)
    via = {
        "a.jpg1": {
            "filename": "a.jpg",
            "size": 1,
            "file_attributes": {},
            "regions": {
                "0": {
                    "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
                    "region_attributes": {"class": "thing"},
                }
            },
        }
    }
    p = d / "via.json"
    p.write_text(json.dumps(via))
    return p


@pytest.mark.parametrize(
    "case", ["truncated_json", "wrong_schema", "two_point_polygon", "unknown_category", "unreadable_image"]
)
def test_bad_input(capsys, tmp_path, case):
    out = tmp_path / "out" / "result.json"
    if case == "truncated_json":
        src = tmp_path / "t.json"
        src.write_text('{"images": [{"id": 1, "file_na')
        argv, expect = ["--format", "coco", src], [str(src), "broken JSON"]
    elif case == "wrong_schema":
        src = tmp_path / "w.json"
        src.write_text('{"images": [{"id": 1}], "annotations": [], "categories": []}')
        argv, expect = ["--format", "coco", src], [str(src), "images[0] (id 1)", "file_name"]
    elif case == "two_point_polygon":
        src = _via(tmp_path, [1, 20], [1, 20])
        argv, expect = ["--format", "via", src], [str(src), "a.jpg", "2 point"]
    elif case == "unknown_category":
        src = tmp_path / "u.json"
        src.write_text(
            json.dumps(
                {
                    "images": [{"id": 1, "file_name": "a.jpg", "width": 5, "height": 5}],
                    "categories": [{"id": 1, "name": "a"}],
                    "annotations": [{"id": 3, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}],
                }
            )
        )
        argv, expect = ["--format", "coco", src], [str(src), "annotations[0] (id 3)", "unknown category id 9"]
    else:
        src = _via(tmp_path, [1, 20, 20], [1, 1, 20], image_bytes=b"garbage")
        argv, expect = ["--format", "via", src], ["a.jpg", "unreadable image"]
    code, stdout, err = run(capsys, "dataset", "import", *argv, "-o", out)
    assert code == 2
    for e in expect:
        assert e in err, (e, err)
    assert not out.exists() and not out.parent.exists() or list(out.parent.iterdir()) == []


def test_failed_export_leaves_no_output(capsys, demo, tmp_path):
    ds = Dataset.load(demo["train"].annotations)
    ds.images[-1]["file_name"] = "gone.jpg"
    ann = tmp_path / "a.json"
    ds.save(ann)
    code, _, err = run(
        capsys, "dataset", "export", "--format", "coco", ann, "--images", demo["train"].images, "-o", tmp_path / "exp"
    )
    assert code == 2 and "gone.jpg" in err
    assert not (tmp_path / "exp").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_download_offline_says_what_to_fetch(capsys, tmp_path, monkeypatch):
    from studio.core.dataset import download

    pub = download.PUBLIC["balloon"]
    monkeypatch.setitem(
        download.PUBLIC,
        "balloon",
        download.PublicDataset(pub.name, "http://127.0.0.1:9/balloon_dataset.zip", pub.description, pub.layout),
    )
    code, _, err = run(capsys, "dataset", "download", "balloon", "--dest", tmp_path / "data")
    assert code == 2
    assert (
        "cannot download the balloon dataset" in err and "by hand" in err and str((tmp_path / "data").resolve()) in err
    )
    assert list((tmp_path / "data").iterdir()) == []
