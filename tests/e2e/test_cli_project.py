"""``studio dataset new`` and ``studio dataset classes`` end to end: new -> check -> import round trip, the label
manager's edits for scripts, and exit 2 with a message naming the file on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.core.dataset.model import Dataset


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    (root / "day 2").mkdir(parents=True)
    for name, (w, h) in {"a.png": (32, 24), "b.jpg": (16, 40), "day 2/ç.png": (8, 8)}.items():
        Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(root / name)
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    return root


def test_new_check_import_round_trip(capsys, photos, tmp_path):
    ann = tmp_path / "ann" / "photos.json"
    code, out, err = run(capsys, "dataset", "new", photos, "--classes", "cat,dog", "bird", "-o", ann)
    assert code == 0, err
    assert f"wrote {ann}: 3 images, no annotations, 3 classes (cat, dog, bird)" in out
    assert "broken.png: unreadable image" in err and "1 unreadable image left out" in err

    code, out, _ = run(capsys, "dataset", "check", ann, "--json", tmp_path / "report.json")  # the recorded folder
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0 and report["summary"]["errors"] == 0 and report["images_dir"] == str(photos.resolve())
    assert "no image has annotations yet (3 to label)" in out

    imported = tmp_path / "imported.json"
    code, out, err = run(capsys, "dataset", "import", "--format", "coco", ann, "--images", photos, "-o", imported)
    assert code == 0, err
    a, b = Dataset.load(ann), Dataset.load(imported)
    assert a.images == b.images and a.class_names == b.class_names == ["cat", "dog", "bird"] and b.annotations == []


def test_classes_from_a_labels_file(capsys, photos, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("__ignore__\n_background_\nballoon\nkite\n", encoding="utf-8")
    code, _, err = run(capsys, "dataset", "new", photos, "--classes-file", labels, "-o", tmp_path / "x.json")
    assert code == 0, err
    assert Dataset.load(tmp_path / "x.json").class_names == ["balloon", "kite"]


@pytest.mark.parametrize(
    "case, needle",
    [
        ("no folder", "gone: no such folder"),
        ("no images", "empty: no images found"),
        ("twice", "class 'Cat' is given twice (as 'cat')"),
        ("exists", "x.json: exists already and is not replaced"),
        ("labels missing", "nolabels.txt: class names file not found"),
        ("labels empty", "empty.txt: holds no class name"),
    ],
)
def test_new_refuses_bad_input_with_exit_2_naming_it(capsys, photos, tmp_path, case, needle):
    out = tmp_path / "x.json"
    args = [photos, "--classes", "cat", "-o", out]
    if case == "no folder":
        args[0] = tmp_path / "gone"
    elif case == "no images":
        (tmp_path / "empty").mkdir()
        args[0] = tmp_path / "empty"
    elif case == "twice":
        args[2:3] = ["cat", "Cat"]
    elif case == "exists":
        out.write_text("{}")
    elif case == "labels missing":
        args[1:3] = ["--classes-file", tmp_path / "nolabels.txt"]
    elif case == "labels empty":
        (tmp_path / "empty.txt").write_text("\n__ignore__\n")
        args[1:3] = ["--classes-file", tmp_path / "empty.txt"]
    code, _, err = run(capsys, "dataset", "new", *args)
    assert code == 2 and needle in err and err.startswith("error: ")
    assert case == "exists" or not out.exists()
    if case == "exists":
        assert out.read_text() == "{}"  # never replaced without --overwrite


@pytest.fixture
def labelled(tmp_path) -> Path:
    coco = {
        "info": {"images_dir": "images"},
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 50, "height": 50} for i in (1, 2)],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "kitten"}, {"id": 3, "name": "dog"}],
        "annotations": [
            {"id": k, "image_id": 1 + k % 2, "category_id": 1 + k % 3, "bbox": [1, 1, 5, 5], "area": 25.0}
            for k in range(1, 10)
        ],
    }
    (tmp_path / "data" / "images").mkdir(parents=True)
    ann = tmp_path / "data" / "ann.json"
    ann.write_text(json.dumps(coco))
    return ann


def test_classes_rename_merge_delete_in_order(capsys, labelled, tmp_path):
    out = tmp_path / "elsewhere" / "out.json"
    code, stdout, err = run(
        capsys, "dataset", "classes", labelled, "--merge", "kitten=cat", "--rename", "cat=feline", "--delete", "dog",
        "-o", out,
    )  # fmt: skip
    assert code == 0, err
    assert stdout.splitlines()[:3] == [
        "merged class 'kitten' into 'cat' (3 annotations)",
        "renamed class 'cat' to 'feline'",
        "deleted class 'dog' and its 3 annotations",
    ]
    ds = Dataset.load(out)
    assert ds.class_names == ["feline"] and len(ds.annotations) == 6
    assert {a["category_id"] for a in ds.annotations} == {1}
    assert (out.parent / ds.extra["info"]["images_dir"]).resolve() == (labelled.parent / "images").resolve()
    assert len(Dataset.load(labelled).annotations) == 9  # the source is untouched


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--rename", "wolf=dog"], "ann.json: class 'wolf': no class named 'wolf' (classes: 'cat', 'kitten', 'dog')"),
        (["--rename", "cat=Dog"], "class 'cat' (id 1): a class named 'dog' already exists"),
        (["--merge", "cat=cat"], "a class cannot be merged into itself"),
        ([], "no class edit given"),
    ],
)
def test_classes_refuses_bad_edits_with_exit_2(capsys, labelled, tmp_path, args, needle):
    out = tmp_path / "out.json"
    code, _, err = run(capsys, "dataset", "classes", labelled, *args, "-o", out)
    assert code == 2 and needle in err and not out.exists()


def test_classes_replaces_its_input_only_when_asked(capsys, labelled):
    code, _, err = run(capsys, "dataset", "classes", labelled, "--delete", "dog", "-o", labelled)
    assert code == 2 and "exists already" in err and len(Dataset.load(labelled).annotations) == 9
    code, _, err = run(capsys, "dataset", "classes", labelled, "--delete", "dog", "-o", labelled, "--overwrite")
    assert code == 0 and len(Dataset.load(labelled).annotations) == 6


def test_new_on_the_balloon_images_gives_their_real_sizes(capsys, shared_data, tmp_path):
    images = shared_data / "balloon" / "val"
    via = json.loads((images / "via_region_data.json").read_text())
    ann = tmp_path / "balloon_new.json"
    code, out, err = run(capsys, "dataset", "new", images, "--classes", "balloon", "-o", ann)
    assert code == 0, err
    ds = Dataset.load(ann)
    assert len(ds.images) == len(via) == 13
    for im in ds.images:
        with Image.open(images / im["file_name"]) as pil:
            assert (im["width"], im["height"]) == pil.size
    code, out, _ = run(capsys, "dataset", "check", ann)
    assert code == 0 and "size_mismatch" not in out
