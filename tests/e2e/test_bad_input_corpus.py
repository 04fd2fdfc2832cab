"""The bad-input corpus: every case is a `studio` command on input built here by code.

Each case must exit 2 with one ``error:`` line naming the file or the item at fault, print no traceback,
and leave the whole work folder as it was: no output file, no temporary file, nothing outside the output
folder created or changed (a ``victim/`` folder with a precious file sits beside the data), and nothing new
at the file system root (where an absolute name once placed a hard link).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.cli import main

VICTIM = "victim/important.txt"


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], tuple[list, list[str]]]  # work folder -> (argv, strings stderr must hold)
    plugins: bool = False


# ---------------------------------------------------------------------------------------------- inputs
def _image(path: Path, w: int = 64, h: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), 90, np.uint8)
    cv2.rectangle(img, (8, 8), (w // 2, h // 2), (200, 40, 40), -1)
    assert cv2.imwrite(str(path), img)


def _coco(images: list[dict] | None = None, anns: list[dict] | None = None, cats: list[dict] | None = None) -> dict:
    images = (
        images
        if images is not None
        else [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ]
    )
    anns = (
        anns
        if anns is not None
        else [
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
        ]
    )
    cats = cats if cats is not None else [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    return {"images": images, "annotations": anns, "categories": cats}


def _write_coco(ws: Path, d: dict, name: str = "ann.json") -> Path:
    p = ws / "data" / name
    p.write_text(json.dumps(d))
    return p


def _with_name(ws: Path, name: str) -> Path:
    """The data set with image 2's file_name replaced by ``name``."""
    d = _coco()
    d["images"][1]["file_name"] = name
    return _write_coco(ws, d, "named.json")


def _victim_abs(ws: Path) -> str:
    return str(ws / "victim" / "evil.jpg")


def _voc(ws: Path, xmin="8", ymin="8", xmax="30", ymax="20", name="cat") -> Path:
    root = ws / "data" / "voc"
    (root / "Annotations").mkdir(parents=True)
    _image(root / "JPEGImages" / "a.jpg")
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height><depth>3</depth></size>"
        f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        "</bndbox></object></annotation>"
    )
    return root


def _voc_size(ws: Path, height: str) -> Path:
    root = _voc(ws)
    xml = root / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<height>48</height>", f"<height>{height}</height>"))
    return root


def _yolo(ws: Path, line: str, yaml_text: str | None = None) -> Path:
    root = ws / "data" / "yolo"
    _image(root / "images" / "train" / "a.jpg")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(line + "\n")
    (root / "data.yaml").write_text(yaml_text or "path: .\ntrain: images/train\nval: images/train\nnames: [cat, dog]\n")
    return root


def _via(ws: Path) -> Path:
    d = ws / "data" / "via"
    _image(d / "a.jpg")
    via = {
        "a.jpg1": {
            "filename": "a.jpg",
            "size": 1,
            "file_attributes": {},
            "regions": [
                {
                    "shape_attributes": {"name": "polygon", "all_points_x": [1, 20, 20], "all_points_y": [1, 1, 20]},
                    "region_attributes": {"class": "thing"},
                }
            ],
        }
    }
    p = d / "via_region_data.json"
    p.write_text(json.dumps(via))
    return p


def _labelme(ws: Path) -> Path:
    d = ws / "data" / "labelme"
    _image(d / "a.jpg")
    doc = {
        "version": "5.3.1",
        "flags": {},
        "imagePath": "a.jpg",
        "imageData": None,
        "imageHeight": 48,
        "imageWidth": 64,
        "shapes": [
            {
                "label": "cat",
                "points": [[2, 2], [30, 2], [30, 20]],
                "group_id": None,
                "shape_type": "polygon",
                "flags": {},
            }
        ],
    }
    (d / "a.json").write_text(json.dumps(doc))
    return d


def _ann(ws: Path) -> Path:
    return ws / "data" / "ann.json"


def _coco_case(mutate: Callable[[dict], None]) -> Callable[[Path], Path]:
    def build(ws: Path) -> Path:
        d = _coco()
        mutate(d)
        return _write_coco(ws, d, "bad.json")

    return build


# ---------------------------------------------------------------------------------------------- cases
def _export(fmt: str, name_of: Callable[[Path], str], *extra: str, plugins: bool = False, cid: str = "") -> Case:
    def build(ws: Path):
        name = name_of(ws)
        src = _with_name(ws, name)
        return (
            ["dataset", "export", "--format", fmt, src, "--images", ws / "data" / "images", "-o", ws / "out", *extra],
            ["named.json", "image id 2", name],
        )

    return Case(cid or f"export_{fmt}_{name_of.__name__}{'_'.join(('',) + extra)}", build, plugins)


def dotdot(_ws: Path) -> str:
    return "../../victim/important.txt"


def absolute(ws: Path) -> str:
    return _victim_abs(ws)


def backslash(_ws: Path) -> str:
    return "..\\..\\victim\\important.txt"


def drive(_ws: Path) -> str:
    return "C:\\Windows\\evil.jpg"


def nested_dotdot(_ws: Path) -> str:
    return "sub/../../victim/x.jpg"


def _import_coco(mutate: Callable[[dict], None], *expect: str, lenient_ok: bool = False) -> Callable[[Path], tuple]:
    def build(ws: Path):
        src = _coco_case(mutate)(ws)
        return (
            ["dataset", "import", "--format", "coco", src, "--images", ws / "data" / "images", "-o", ws / "out.json"],
            ["bad.json", *expect],
        )

    return build


def _set(path: tuple, value) -> Callable[[dict], None]:
    def mutate(d: dict) -> None:
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return mutate


def _dup(section: str, k: int = 1) -> Callable[[dict], None]:
    def mutate(d: dict) -> None:
        d[section][k]["id"] = d[section][0]["id"]

    return mutate


def _split(*extra: str, expect: tuple[str, ...] = ("--names",)) -> Callable[[Path], tuple]:
    def build(ws: Path):
        return (["dataset", "split", _ann(ws), "-o", ws / "out", *extra], list(expect))

    return build


def _import_to(out_of: Callable[[Path], Path], *expect: str, src_of: Callable[[Path], Path] = _via) -> Callable:
    def build(ws: Path):
        src = src_of(ws)
        out = out_of(ws)
        return (["dataset", "import", src, "-o", out], [str(out), *expect])

    return build


def _file_in_the_way(ws: Path) -> Path:
    (ws / "blocker").write_text("a file, not a folder")
    return ws / "blocker"


CASES: list[Case] = [
    # ---- 1. exports write nothing outside their folder: every format, every kind of escaping name
    *[
        _export(fmt, kind)
        for fmt in ("coco", "yolo", "voc", "labelme")
        for kind in (dotdot, absolute, backslash, drive, nested_dotdot)
    ],
    *[
        _export(fmt, kind, "--no-copy-images")
        for fmt in ("coco", "yolo", "voc", "labelme")
        for kind in (dotdot, absolute)
    ],
    _export("cvat", dotdot, plugins=True),
    _export("cvat", absolute, plugins=True),
    Case(
        "export_into_non_empty_folder",
        lambda ws: (
            ["dataset", "export", "--format", "yolo", _ann(ws), "-o", ws / "victim"],
            [str(ws / "victim"), "not empty"],
        ),
    ),
    Case(
        "export_overwrite_refuses_a_folder_that_is_not_an_export",
        lambda ws: (
            ["dataset", "export", "--format", "yolo", _ann(ws), "-o", ws / "victim", "--overwrite"],
            [str(ws / "victim"), "no previous Studio export"],
        ),
    ),
    Case(
        "export_into_a_file",
        lambda ws: (
            ["dataset", "export", "--format", "coco", _ann(ws), "-o", ws / VICTIM],
            [str(ws / VICTIM), "is a file"],
        ),
    ),
    Case(
        "export_overwrite_of_the_folder_holding_the_source",
        lambda ws: (
            (ws / "data" / ".studio-export").write_text("{}"),
            ["dataset", "export", "--format", "coco", _ann(ws), "-o", ws / "data", "--overwrite"],
            [str(ws / "data"), "own source"],
        )[1:],
    ),
    Case(
        "export_under_a_file",
        lambda ws: (
            ["dataset", "export", "--format", "coco", _ann(ws), "-o", _file_in_the_way(ws) / "out"],
            ["blocker"],
        ),
    ),
    # ---- split
    Case(
        "split_duplicate_names",
        _split("--ratios", "0.5", "0.5", "--names", "x", "x", expect=("--names", "'x'", "twice")),
    ),
    Case(
        "split_names_differing_in_case",
        _split("--ratios", "0.5", "0.5", "--names", "Val", "val", expect=("--names", "twice")),
    ),
    Case(
        "split_name_with_dotdot",
        _split("--ratios", "0.5", "0.5", "--names", "../evil", "val", expect=("--names", "../evil")),
    ),
    Case(
        "split_name_with_folder", _split("--ratios", "0.5", "0.5", "--names", "a/b", "val", expect=("--names", "a/b"))
    ),
    Case(
        "split_name_absolute",
        _split("--ratios", "0.5", "0.5", "--names", "/tmp/evil", "val", expect=("--names", "/tmp/evil")),
    ),
    Case(
        "split_name_hidden",
        _split("--ratios", "0.5", "0.5", "--names", ".hidden", "val", expect=("--names", ".hidden")),
    ),
    Case("split_name_empty", _split("--ratios", "0.5", "0.5", "--names", "", "val", expect=("--names", "empty"))),
    Case("split_ratio_nan", _split("--ratios", "nan", "1", expect=("--ratios", "nan"))),
    Case("split_ratio_inf", _split("--ratios", "inf", "1", expect=("--ratios", "inf"))),
    Case("split_ratio_zero", _split("--ratios", "0", "1", expect=("--ratios",))),
    Case("split_ratio_negative", _split("--ratios", "-1", "2", expect=("--ratios",))),
    Case(
        "split_names_count",
        _split("--ratios", "0.5", "0.5", "--names", "a", expect=("--names", "2 ratios but 1 names")),
    ),
    Case(
        "split_existing_subset_files",
        lambda ws: (
            (ws / "out").mkdir(),
            (ws / "out" / "train.json").write_text("{}"),
            ["dataset", "split", _ann(ws), "--ratios", "0.5", "0.5", "-o", ws / "out"],
            [str(ws / "out"), "train.json", "--overwrite"],
        )[2:],
    ),
    Case(
        "split_replacing_its_source",
        lambda ws: (
            [
                "dataset",
                "split",
                _ann(ws),
                "--ratios",
                "0.5",
                "0.5",
                "--names",
                "ann",
                "val",
                "-o",
                ws / "data",
                "--overwrite",
            ],
            [str(ws / "data" / "ann.json"), "being split"],
        ),
    ),
    Case(
        "split_into_a_file",
        lambda ws: (
            ["dataset", "split", _ann(ws), "--ratios", "0.5", "0.5", "-o", ws / VICTIM],
            [str(ws / VICTIM), "is a file"],
        ),
    ),
    # ---- 2. an import never replaces a source
    Case(
        "import_onto_its_via_source", _import_to(lambda ws: ws / "data" / "via" / "via_region_data.json", "own source")
    ),
    Case(
        "import_onto_a_labelme_file",
        _import_to(lambda ws: ws / "data" / "labelme" / "a.json", "not a COCO", src_of=_labelme),
    ),
    Case(
        "import_onto_its_coco_source",
        lambda ws: (["dataset", "import", "--format", "coco", _ann(ws), "-o", _ann(ws)], [str(_ann(ws)), "own source"]),
    ),
    Case("import_onto_another_file", _import_to(lambda ws: ws / VICTIM, "not a COCO")),
    Case("import_onto_a_folder", _import_to(lambda ws: ws / "victim", "is a folder")),
    Case(
        "import_under_a_file",
        lambda ws: (
            ["dataset", "import", _via(ws), "-o", _file_in_the_way(ws) / "out.json"],
            [str(ws / "blocker"), "in the way"],
        ),
    ),
    Case(
        "import_labels_file_missing",
        lambda ws: (
            [
                "dataset",
                "import",
                "--format",
                "labelme",
                _labelme(ws),
                "--labels",
                ws / "nope.txt",
                "-o",
                ws / "out.json",
            ],
            ["nope.txt", "--labels", "not found"],
        ),
    ),
    Case(
        "import_labels_file_is_a_folder",
        lambda ws: (
            [
                "dataset",
                "import",
                "--format",
                "labelme",
                _labelme(ws),
                "--labels",
                ws / "victim",
                "-o",
                ws / "out.json",
            ],
            ["victim", "--labels"],
        ),
    ),
    Case(
        "import_labels_file_empty",
        lambda ws: (
            (ws / "labels.txt").write_text("\n\n"),
            [
                "dataset",
                "import",
                "--format",
                "labelme",
                _labelme(ws),
                "--labels",
                ws / "labels.txt",
                "-o",
                ws / "out.json",
            ],
            ["labels.txt", "no class name"],
        )[1:],
    ),
    # ---- 4. values that would corrupt the canonical file
    Case(
        "voc_xmax_nan",
        lambda ws: (
            ["dataset", "import", "--format", "voc", _voc(ws, xmax="nan"), "-o", ws / "out.json"],
            ["a.xml", "object 0"],
        ),
    ),
    Case(
        "voc_xmax_inf",
        lambda ws: (
            ["dataset", "import", "--format", "voc", _voc(ws, xmax="inf"), "-o", ws / "out.json"],
            ["a.xml", "object 0"],
        ),
    ),
    Case(
        "voc_ymin_minus_inf",
        lambda ws: (
            ["dataset", "import", "--format", "voc", _voc(ws, ymin="-inf"), "-o", ws / "out.json"],
            ["a.xml", "object 0"],
        ),
    ),
    Case(
        "voc_size_absurd",
        lambda ws: (
            ["dataset", "import", "--format", "voc", _voc_size(ws, "1.8446744073709552e+19"), "-o", ws / "out.json"],
            ["a.xml", "<size><height>"],
        ),
    ),
    Case("coco_image_id_beyond_64_bits", _import_coco(_set(("images", 0, "id"), 2**70), "images[0]", "integer")),
    Case(
        "voc_xmin_text",
        lambda ws: (
            ["dataset", "import", "--format", "voc", _voc(ws, xmin="left"), "-o", ws / "out.json"],
            ["a.xml", "object 0"],
        ),
    ),
    Case("coco_category_id_string", _import_coco(_set(("categories", 0, "id"), "1"), "categories[0]")),
    Case("coco_category_ids_duplicate", _import_coco(_dup("categories"), "categories[1] (id 1)", "used twice")),
    Case("coco_image_ids_duplicate", _import_coco(_dup("images"), "images[1] (id 1)", "used twice")),
    Case("coco_annotation_ids_duplicate", _import_coco(_dup("annotations"), "annotations[1] (id 1)", "used twice")),
    Case(
        "coco_bbox_strings",
        _import_coco(
            _set(("annotations", 1, "bbox"), ["4", "4", "10", "10"]),
            "annotations[1] (id 2)",
            "bbox[0] must be a number",
        ),
    ),
    Case("coco_bbox_three_numbers", _import_coco(_set(("annotations", 1, "bbox"), [4, 4, 10]), "annotations[1]")),
    Case("coco_bbox_null", _import_coco(_set(("annotations", 1, "bbox"), [4, 4, None, None]), "annotations[1]")),
    Case("coco_image_id_bool", _import_coco(_set(("images", 0, "id"), True), "images[0]")),
    Case("coco_image_width_string", _import_coco(_set(("images", 0, "width"), "64"), "images[0]")),
    Case("coco_image_height_zero", _import_coco(_set(("images", 1, "height"), 0), "images[1]")),
    Case(
        "coco_polygon_strings",
        _import_coco(_set(("annotations", 0, "segmentation"), [["a", "b", "c", "d", "e", "f"]]), "annotations[0]"),
    ),
    Case(
        "coco_rle_garbage",
        _import_coco(
            _set(("annotations", 0, "segmentation"), {"size": [48, 64], "counts": "garbage!!"}), "annotations[0]", "RLE"
        ),
    ),
    Case(
        "coco_rle_size_mismatch",
        _import_coco(
            _set(("annotations", 0, "segmentation"), {"size": [10, 10], "counts": [100]}), "annotations[0]", "RLE"
        ),
    ),
    Case("coco_unknown_category", _import_coco(_set(("annotations", 0, "category_id"), 9), "annotations[0]", "9")),
    Case("coco_unknown_image", _import_coco(_set(("annotations", 0, "image_id"), 99), "annotations[0]", "99")),
    Case(
        "coco_not_an_object",
        lambda ws: (
            (ws / "data" / "bad.json").write_text("[1, 2]"),
            ["dataset", "import", "--format", "coco", ws / "data" / "bad.json", "-o", ws / "out.json"],
            ["bad.json"],
        )[1:],
    ),
    Case(
        "coco_truncated",
        lambda ws: (
            (ws / "data" / "bad.json").write_text('{"images": [{"id": 1, "file_na'),
            ["dataset", "import", "--format", "coco", ws / "data" / "bad.json", "-o", ws / "out.json"],
            ["bad.json", "broken JSON"],
        )[1:],
    ),
    Case(
        "coco_nan_literal",
        lambda ws: (
            (ws / "data" / "bad.json").write_text(json.dumps(_coco()).replace("[4, 4, 10, 10]", "[4, 4, NaN, 10]")),
            ["dataset", "import", "--format", "coco", ws / "data" / "bad.json", "-o", ws / "out.json"],
            ["bad.json"],
        )[1:],
    ),
    Case(
        "yolo_nan_coordinate",
        lambda ws: (
            ["dataset", "import", "--format", "yolo", _yolo(ws, "0 nan 0.5 0.2 0.2"), "-o", ws / "out.json"],
            ["a.txt"],
        ),
    ),
    Case(
        "yolo_class_out_of_range",
        lambda ws: (
            ["dataset", "import", "--format", "yolo", _yolo(ws, "7 0.5 0.5 0.2 0.2"), "-o", ws / "out.json"],
            ["a.txt", "7"],
        ),
    ),
    Case(
        "yolo_yaml_python_tag",
        lambda ws: (
            [
                "dataset",
                "import",
                "--format",
                "yolo",
                _yolo(ws, "0 0.5 0.5 0.2 0.2", "names: !!python/object/apply:os.system ['true']\n"),
                "-o",
                ws / "out.json",
            ],
            ["data.yaml"],
        ),
    ),
    # ---- 3. OS failures are messages
    Case(
        "check_report_into_a_folder",
        lambda ws: (["dataset", "check", _ann(ws), "--json", ws / "victim"], [str(ws / "victim") + ":", "is a folder"]),
    ),
    Case(
        "stats_plots_under_a_file",
        lambda ws: (
            ["dataset", "stats", _ann(ws), "--out", _file_in_the_way(ws) / "plots"],
            [str(ws / "blocker") + ":", "in the way"],
        ),
    ),
    Case("check_missing_file", lambda ws: (["dataset", "check", ws / "nope.json"], ["nope.json", "not found"])),
    # ---- range messages
    Case("config_lr_nan", lambda ws: (["config", "show", _config(ws), "--set", "train.lr=nan"], ["train.lr"])),
    Case("config_lr_negative", lambda ws: (["config", "show", _config(ws), "--set", "train.lr=-0.1"], ["train.lr"])),
    Case(
        "config_score_threshold_above_one",
        lambda ws: (["config", "show", _config(ws), "--set", "model.score_thr=5"], ["model.score_thr"]),
    ),
]


def _config(ws: Path) -> Path:
    from studio.core.config.init import init_config

    cfg = ws / "data" / "cfg.yaml"
    if not cfg.exists():
        init_config(_ann(ws), cfg, arch="det_fast")
    return cfg


# ---------------------------------------------------------------------------------------------- the check
def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames:
            p = Path(dirpath) / n
            out[str(p.relative_to(root)) + "/"] = ("dir",)
        for n in filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """data/ann.json (records its images folder), data/images/{a,b}.jpg and a victim/ beside them."""
    root = tmp_path_factory.mktemp("template")
    for name in ("a.jpg", "b.jpg"):
        _image(root / "data" / "images" / name)
    d = _coco()
    d["info"] = {"images_dir": "images"}
    (root / "data" / "ann.json").write_text(json.dumps(d))
    (root / "victim").mkdir()
    (root / VICTIM).write_text("precious")
    return root


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, template: Path, tmp_path: Path, capsys, request):
    if case.plugins:
        request.getfixturevalue("repo_plugins")
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    argv, expect = case.build(ws)
    before = _snapshot(ws)
    root_before = set(os.listdir("/"))
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 2, (out.out, out.err)
    assert "Traceback" not in out.err + out.out
    errors = [ln for ln in out.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, out.err
    for e in expect:
        assert e in errors[0], (e, errors[0])
    assert _snapshot(ws) == before, "files were created or changed"
    assert set(os.listdir("/")) == root_before
    assert (ws / VICTIM).read_text() == "precious"
