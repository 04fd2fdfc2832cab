"""A new dataset from a folder of unlabelled images, and images added to an open dataset (core, no Qt)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.dataset.check import check_dataset
from studio.core.dataset.model import Dataset, recorded_images_dir
from studio.core.dataset.new_project import (
    add_images,
    check_class_names,
    find_images,
    new_dataset,
    outside_images,
    parse_class_names,
    scan_images,
)
from studio.core.errors import CancelledError, DatasetError
from studio.core.jobs import CancelToken


def _image(path: Path, w: int, h: int, value: int = 120, exif_orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.full((h, w, 3), value, np.uint8))
    if exif_orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(path, exif=exif)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    """img2 / img10 (natural order), a sub-folder with spaces and accents, an EXIF-rotated photo, a broken
    file, a hidden file and a non-image."""
    root = tmp_path / "photos"
    _image(root / "img10.png", 30, 20)
    _image(root / "img2.jpg", 40, 10)
    _image(root / "sous dossier" / "été 1.JPG", 5, 7)
    _image(root / "turned.jpg", 60, 20, exif_orientation=6)  # displayed 20 x 60
    (root / "broken.jpg").write_bytes(b"not an image")
    _image(root / ".hidden" / "x.jpg", 4, 4)
    (root / "._img2.jpg").write_bytes(b"AppleDouble")
    (root / "notes.txt").write_text("hello")
    return root


def test_new_dataset_lists_every_image_with_its_size_and_no_annotations(folder, tmp_path):
    ann = tmp_path / "annotations" / "photos.json"
    res = new_dataset(folder, ["cat", "dog", "bird"], ann)
    ds = Dataset.load(ann)
    assert [(im["id"], im["file_name"], im["width"], im["height"]) for im in ds.images] == [
        (1, "img2.jpg", 40, 10),
        (2, "img10.png", 30, 20),
        (3, "sous dossier/été 1.JPG", 5, 7),
        (4, "turned.jpg", 20, 60),  # EXIF orientation 6: width and height as displayed
    ]
    assert ds.annotations == [] and [(c["id"], c["name"]) for c in ds.categories] == [
        (1, "cat"),
        (2, "dog"),
        (3, "bird"),
    ]
    assert recorded_images_dir(ann, ds) == folder.resolve()
    assert res.skipped == 1 and len(res.warnings) == 1
    assert str(folder / "broken.jpg") in res.warnings[0] and "left out" in res.warnings[0]
    assert not list(ann.parent.glob(".*.tmp"))  # written atomically, no temporary file left


def test_the_same_folder_gives_the_same_ids(folder, tmp_path):
    a = new_dataset(folder, ["x"], tmp_path / "a.json").dataset
    b = new_dataset(folder, ["x"], tmp_path / "b.json").dataset
    assert a.images == b.images


def test_check_accepts_a_new_dataset_with_one_warning_for_the_unlabelled_images(folder, tmp_path):
    ann = tmp_path / "new.json"
    new_dataset(folder, ["cat", "dog"], ann)
    rep = check_dataset(ann, folder)
    assert rep.exit_code == 0 and not rep.errors
    unlabelled = rep.by_kind()["unannotated_image"]
    assert len(unlabelled) == 1 and "no image has annotations yet (4 to label)" in unlabelled[0].message
    assert {p.kind for p in rep.problems} == {"unannotated_image", "empty_category"}


@pytest.mark.parametrize(
    "classes, message",
    [
        (["cat", "Cat "], "class 'Cat' is given twice (as 'cat')"),
        (["cat", "cat"], "class 'cat' is given twice"),
        (["cat", "  "], "class name 2 is empty"),
        ([], "no class names given"),
    ],
)
def test_bad_class_lists_are_refused_naming_the_name(folder, tmp_path, classes, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        new_dataset(folder, classes, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_class_names_from_text():
    assert parse_class_names("__ignore__\n_background_\ncat, dog\n\n  bird \n") == ["cat", "dog", "bird"]
    assert check_class_names([" a ", "b"]) == ["a", "b"]


def test_an_existing_file_is_never_replaced_unless_asked(folder, tmp_path):
    ann = tmp_path / "mine.json"
    ann.write_text('{"precious": true}')
    with pytest.raises(DatasetError, match="exists already") as exc:
        new_dataset(folder, ["cat"], ann)
    assert exc.value.file == str(ann) and ann.read_text() == '{"precious": true}'
    new_dataset(folder, ["cat"], ann, overwrite=True)
    assert len(Dataset.load(ann).images) == 4


@pytest.mark.parametrize(
    "what, message",
    [("missing", "no such folder"), ("file", "is a file"), ("empty", "no images found"), ("broken", "none of the")],
)
def test_bad_folders_are_refused_naming_the_folder(tmp_path, what, message):
    src = tmp_path / what
    if what == "file":
        src.write_text("x")
    elif what == "empty":
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text("x")
    elif what == "broken":
        src.mkdir()
        (src / "a.png").write_bytes(b"nope")
    with pytest.raises(DatasetError, match=message) as exc:
        new_dataset(src, ["cat"], tmp_path / "out.json")
    assert exc.value.file == str(src) and not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("out, message", [("out.txt", "must end in .json"), ("photos", "is a folder")])
def test_bad_outputs_are_refused(folder, tmp_path, out, message):
    with pytest.raises(DatasetError, match=message):
        new_dataset(folder, ["cat"], tmp_path / out)


def test_cancel_stops_before_anything_is_written(folder, tmp_path):
    token = CancelToken()
    seen = []

    def progress(done, total, message=""):
        seen.append(message)
        if done >= 2:
            token.cancel()

    with pytest.raises(CancelledError):
        new_dataset(folder, ["cat"], tmp_path / "x.json", progress=progress, cancel=token)
    assert not (tmp_path / "x.json").exists() and "reading image sizes" in seen


def test_find_images_skips_hidden_and_does_not_follow_folder_links(folder):
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    names = [p.relative_to(folder).as_posix() for p in find_images(folder)]
    assert names == ["broken.jpg", "img2.jpg", "img10.png", "sous dossier/été 1.JPG", "turned.jpg"]


# ----------------------------------------------------------------------------------------------- add images
@pytest.fixture
def opened(folder, tmp_path):
    ann = tmp_path / "new.json"
    new_dataset(folder, ["cat"], ann)
    return Dataset.load(ann), folder


def test_add_images_adds_new_files_only(opened):
    ds, folder = opened
    _image(folder / "later" / "n1.png", 11, 12)
    added, warnings = add_images(ds, folder, [folder])  # the whole folder again: only the new file is added
    assert [(im["id"], im["file_name"], im["width"], im["height"]) for im in added] == [(5, "later/n1.png", 11, 12)]
    assert ds.image(5)["file_name"] == "later/n1.png" and ds.anns_for_image(5) == []
    assert any("broken.jpg" in w for w in warnings) and "4 files listed already: skipped" in warnings
    again, warnings = add_images(ds, folder, [folder / "later" / "n1.png"])
    assert again == [] and warnings == ["1 file listed already: skipped"]


def test_files_outside_the_images_folder_are_left_out_or_copied_in(opened, tmp_path):
    ds, folder = opened
    elsewhere = tmp_path / "elsewhere"
    same = elsewhere / "img2.jpg"
    same.parent.mkdir()
    same.write_bytes((folder / "img2.jpg").read_bytes())  # the very same bytes as a listed image
    other = _image(elsewhere / "img10.png", 8, 8, value=7)  # same name as a listed image, other pixels
    fresh = _image(elsewhere / "deep" / "ü.png", 9, 3)
    assert outside_images(folder, [same, folder / "img2.jpg", elsewhere]) == [same, elsewhere]

    before = sorted(p.name for p in folder.iterdir())
    added, warnings = add_images(ds, folder, [other, fresh])
    assert added == [] and len(warnings) == 2 and all("outside the images folder" in w for w in warnings)
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing copied without asking

    listed = [im["file_name"] for im in ds.images]
    scan = scan_images(listed, folder, [same, other, elsewhere / "deep"], copy_outside=True)
    assert [r["file_name"] for r in scan.images] == ["img10-2.png", "deep/ü.png"]  # never replaces a file
    assert scan.listed == 1  # img2.jpg's bytes are listed already under that name
    assert (folder / "img10-2.png").read_bytes() == other.read_bytes()
    assert (folder / "img10.png").read_bytes() != other.read_bytes()
    assert [p.name for p in scan.copied] == ["img10-2.png", "ü.png"]


def test_a_missing_images_folder_is_named(opened, tmp_path):
    ds, _ = opened
    with pytest.raises(DatasetError, match="images folder is not there") as exc:
        add_images(ds, tmp_path / "gone", [tmp_path])
    assert exc.value.file == str(tmp_path / "gone")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
def test_a_linked_images_folder_counts_as_inside(opened, tmp_path):
    ds, folder = opened
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    _image(folder / "z.png", 3, 3)
    added, _ = add_images(ds, folder, [link / "z.png"])
    assert [im["file_name"] for im in added] == ["z.png"]
