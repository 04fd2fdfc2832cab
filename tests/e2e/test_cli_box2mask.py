"""``studio dataset box2mask`` on drawn images: what it converts and keeps, its flags, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.test_smart_box2mask import make_set

from studio import cli_smart
from studio.cli import main
from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir
from studio.core.smart import box2mask


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def ann(tmp_path) -> tuple[Path, dict]:
    """A COCO file beside its images folder (recorded in it, as `dataset import` does), and the truth ids."""
    ds, images, truth = make_set(tmp_path / "set")
    path = tmp_path / "set" / "boxes.json"
    record_images_dir(ds, images, path.parent)
    ds.save(path)
    return path, truth


def test_converts_only_box_only_annotations_keeping_ids_and_boxes(capsys, ann, tmp_path):
    path, truth = ann
    before = Dataset.load(path)
    out = tmp_path / "elsewhere" / "masks.json"
    out.parent.mkdir()
    code, stdout, stderr = run(capsys, "dataset", "box2mask", path, "-o", out)
    assert code == 0
    assert f"wrote {out}: 4 converted, 2 skipped" in stdout and "1 failed" in stdout
    assert "gone.png" in stderr and "warning:" in stderr
    res = Dataset.load(out)
    assert [a["id"] for a in res.annotations] == [a["id"] for a in before.annotations]
    for a in res.annotations:
        old = before.annotation(a["id"])
        assert a["bbox"] == old["bbox"]
        if a["id"] in truth:
            assert a["segmentation"] != old["segmentation"] and len(a["segmentation"][0]) > 8
        else:
            assert a == old
    # the images folder is recorded relative to the new file, so `dataset check` finds the images
    assert recorded_images_dir(out, res) == (path.parent / "images").resolve()
    assert Dataset.load(path).to_dict() == before.to_dict()  # the input is untouched


def test_all_and_refit_boxes(capsys, ann, tmp_path):
    path, truth = ann
    out = tmp_path / "all.json"
    code, stdout, _ = run(capsys, "dataset", "box2mask", path, "-o", out, "--all", "--refit-boxes", "--tolerance", "2")
    assert code == 0 and "1 skipped" in stdout  # only the crowd region
    before, res = Dataset.load(path), Dataset.load(out)
    for aid in truth:
        assert res.annotation(aid)["bbox"] != before.annotation(aid)["bbox"]


def test_images_option_overrides_the_recorded_folder(capsys, ann, tmp_path):
    path, _ = ann
    out = tmp_path / "none.json"
    code, stdout, stderr = run(capsys, "dataset", "box2mask", path, "-o", out, "--images", tmp_path / "nowhere")
    assert code == 0 and "0 converted" in stdout and "5 failed" in stdout
    assert str(tmp_path / "nowhere" / "img0.png") in stderr


def test_output_onto_the_input_is_refused(capsys, ann):
    path, _ = ann
    before = path.read_bytes()
    code, _, stderr = run(capsys, "dataset", "box2mask", path, "-o", path)
    assert code == 2 and str(path) in stderr and "never replaces its input" in stderr
    assert path.read_bytes() == before


def test_an_output_that_is_not_coco_or_a_folder_is_refused(capsys, ann, tmp_path):
    path, _ = ann
    other = tmp_path / "notes.json"
    other.write_text('{"hello": 1}')
    code, _, stderr = run(capsys, "dataset", "box2mask", path, "-o", other)
    assert code == 2 and "not a COCO annotation file" in stderr and other.read_text() == '{"hello": 1}'
    code, _, stderr = run(capsys, "dataset", "box2mask", path, "-o", tmp_path)
    assert code == 2 and "is a folder" in stderr


def test_broken_json_exits_2_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [')
    code, _, stderr = run(capsys, "dataset", "box2mask", bad, "-o", tmp_path / "out.json")
    assert code == 2 and str(bad) in stderr and "broken JSON" in stderr
    assert not (tmp_path / "out.json").exists()


def test_bad_tolerance_is_a_usage_error(capsys, ann, tmp_path):
    path, _ = ann
    with pytest.raises(SystemExit) as e:
        run(capsys, "dataset", "box2mask", path, "-o", tmp_path / "x.json", "--tolerance", "-1")
    assert e.value.code == 2
    assert "expected a number of pixels >= 0" in capsys.readouterr().err


def test_the_command_line_defaults_match_the_core():
    assert cli_smart.TOLERANCE == box2mask.TOLERANCE
    assert json.dumps(sorted(box2mask.METHODS)) == json.dumps(["grabcut"])
