"""Provenance (source / status / score / checkpoint) through the formats: COCO and labelme keep it both ways,
VOC and YOLO write accepted annotations only (all of them, as plain objects, with ``include_pending`` and a
warning), and ``studio dataset export --include-pending`` / ``stats`` / ``check`` say so."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest

from studio import api
from studio.cli import main
from studio.core.dataset import provenance as pv
from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import ExportOptions, ImportOptions, export_dataset_report, import_dataset, keeps_provenance

TWO_PARTS = [[2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0], [40.0, 40.0, 50.0, 40.0, 50.0, 50.0, 40.0, 50.0]]


@pytest.fixture
def prov(demo, tmp_path) -> tuple[Path, Path]:
    """The demo val file with every kind of provenance: manual (no keys), an accepted model proposal, a smart
    polygon, two pending proposals (one of two parts). Returns (annotation file, images folder)."""
    ds = Dataset.load(demo["val"].annotations)
    assert len(ds.annotations) >= 4
    ds.annotations[1].update(pv.provenance(pv.MODEL, score=0.93, checkpoint="best.pt"))
    ds.annotations[2].update(pv.provenance(pv.SMART))
    ds.annotations[3].update(pv.proposal(0.61, "best.pt"))
    ds.add_annotation(ds.images[0]["id"], ds.categories[0]["id"], TWO_PARTS, **pv.proposal(0.55, "last.pt"))
    ann = tmp_path / "prov.json"
    ds.save(ann)
    return ann, demo["val"].images


def origins(ds: Dataset) -> list[tuple]:
    """Each annotation's image, class and provenance keys, sorted: what a round trip must keep."""
    names = {im["id"]: Path(im["file_name"]).name for im in ds.images}
    rows = [
        (names[a["image_id"]], ds.category(a["category_id"])["name"], tuple(sorted(pv.provenance_keys(a).items())))
        for a in ds.annotations
    ]
    return sorted(rows)


def export(ann: Path, images: Path, fmt: str, out: Path, copy_images: bool = False, **opts):
    options = ExportOptions(copy_images=copy_images, **opts)
    return export_dataset_report(fmt, Dataset.load(ann), images, out, options)


def test_which_formats_keep_provenance():
    assert keeps_provenance("coco") and keeps_provenance("labelme")
    assert not keeps_provenance("voc") and not keeps_provenance("yolo")


# -------------------------------------------------------------------------------------------- COCO
def test_coco_round_trip_keeps_every_key_and_leaves_pending_out_by_default(prov, tmp_path):
    ann, images = prov
    src = Dataset.load(ann)
    rep = export(ann, images, "coco", tmp_path / "all", include_pending=True)
    assert (rep.pending_written, rep.pending_left_out, rep.warnings) == (2, 0, [])
    back = import_dataset("coco", tmp_path / "all" / "annotations.json").dataset
    assert origins(back) == origins(src)
    assert [pv.provenance_keys(a) for a in back.annotations] == [pv.provenance_keys(a) for a in src.annotations]

    rep = export(ann, images, "coco", tmp_path / "accepted")
    assert (rep.pending_written, rep.pending_left_out) == (0, 2)
    back = import_dataset("coco", tmp_path / "accepted" / "annotations.json").dataset
    assert not any(pv.is_pending(a) for a in back.annotations)
    assert origins(back) == [o for o in origins(src) if ("status", "pending") not in o[2]]
    assert pv.count_provenance(back.annotations).by_source == {
        "manual": len(back.annotations) - 2,
        "model": 1,
        "smart": 1,
    }


def test_coco_import_refuses_an_unknown_source_naming_the_annotation(prov, tmp_path):
    ann, _ = prov
    data = orjson.loads(ann.read_bytes())
    data["annotations"][2]["source"] = "robot"
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(data))
    aid = data["annotations"][2]["id"]
    with pytest.raises(DatasetError, match=rf"annotations\[2\] \(id {aid}\).*source must be one of"):
        import_dataset("coco", bad)
    res = import_dataset("coco", bad, options=ImportOptions(strict=False))
    assert len(res.dataset.annotations) == len(data["annotations"]) - 1
    assert any("'robot'" in w and "skipped" in w for w in res.warnings)


# ------------------------------------------------------------------------------------------ labelme
def test_labelme_writes_the_keys_on_each_shape_and_reads_them_back(prov, tmp_path):
    ann, images = prov
    src = Dataset.load(ann)
    rep = export(ann, images, "labelme", tmp_path / "lm", include_pending=True)
    assert rep.pending_written == 2 and not rep.warnings
    first = src.images[0]["file_name"]
    doc = orjson.loads((tmp_path / "lm" / Path(first).with_suffix(".json")).read_bytes())
    parts = [s for s in doc["shapes"] if s.get("checkpoint") == "last.pt"]
    assert len(parts) == 2 and parts[0]["group_id"] == parts[1]["group_id"] is not None
    assert {k: parts[0][k] for k in pv.PROVENANCE_KEYS} == pv.proposal(0.55, "last.pt")
    plain = [s for s in doc["shapes"] if "source" not in s]
    assert plain and all("status" not in s for s in plain), "a manual shape stays as labelme writes it"
    back = import_dataset("labelme", tmp_path / "lm").dataset
    assert origins(back) == origins(src)

    export(ann, images, "labelme", tmp_path / "lm_accepted")
    back = import_dataset("labelme", tmp_path / "lm_accepted").dataset
    assert len(back.annotations) == len(src.annotations) - 2 and not any(pv.is_pending(a) for a in back.annotations)


def test_labelme_import_refuses_a_bad_status_naming_file_and_shape(prov, tmp_path):
    ann, images = prov
    export(ann, images, "labelme", tmp_path / "lm", include_pending=True)
    path = sorted((tmp_path / "lm").glob("*.json"))[0]
    doc = orjson.loads(path.read_bytes())
    doc["shapes"][0]["status"] = "reviewed"
    path.write_bytes(orjson.dumps(doc))
    label = doc["shapes"][0]["label"]
    with pytest.raises(DatasetError, match=rf"shape 0 \({label}\).*status must be one of") as e:
        import_dataset("labelme", tmp_path / "lm")
    assert path.name in str(e.value)


# --------------------------------------------------------------------------------------- VOC, YOLO
def _voc_objects(out: Path) -> list[ET.Element]:
    return [o for x in sorted((out / "Annotations").glob("*.xml")) for o in ET.parse(x).getroot().iter("object")]


def _yolo_lines(out: Path) -> list[str]:
    return [ln for t in sorted((out / "labels" / "train").glob("*.txt")) for ln in t.read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_voc_and_yolo_write_accepted_only_unless_asked_then_warn(prov, tmp_path, fmt):
    ann, images = prov
    total = len(Dataset.load(ann).annotations)
    count = _voc_objects if fmt == "voc" else _yolo_lines
    rep = export(ann, images, fmt, tmp_path / "accepted")
    assert (rep.pending_left_out, rep.warnings) == (2, [])
    assert len(count(tmp_path / "accepted")) == total - 2
    rep = export(ann, images, fmt, tmp_path / "all", copy_images=True, include_pending=True)
    assert len(count(tmp_path / "all")) == total
    assert rep.pending_written == 2
    assert rep.warnings == [
        f"2 pending proposals written as plain objects: the {fmt} format cannot mark them as pending "
        "(COCO and labelme can)"
    ]
    back = import_dataset(fmt, tmp_path / "all").dataset
    assert len(back.annotations) == total
    assert not any(k in a for a in back.annotations for k in pv.PROVENANCE_KEYS)
    if fmt == "voc":
        assert not any(el.tag in pv.PROVENANCE_KEYS for o in _voc_objects(tmp_path / "all") for el in o.iter())


def test_api_export_logs_the_warning(prov, tmp_path, caplog):
    ann, images = prov
    opts = ExportOptions(copy_images=False, include_pending=True)
    written = api.dataset_export(ann, "yolo", tmp_path / "y", images=images, options=opts)
    assert tmp_path / "y" / "data.yaml" in written
    assert "cannot mark them as pending" in caplog.text


# --------------------------------------------------------------------------------------------- CLI
def test_cli_export_include_pending_stats_and_check(prov, tmp_path, capsys):
    ann, images = prov
    base = ["dataset", "export", str(ann), "--images", str(images), "--no-copy-images"]
    assert main([*base, "--format", "voc", "-o", str(tmp_path / "v")]) == 0
    out = capsys.readouterr()
    assert "2 pending proposals left out (--include-pending writes them)" in out.out and not out.err
    assert main([*base, "--format", "voc", "-o", str(tmp_path / "v2"), "--include-pending"]) == 0
    out = capsys.readouterr()
    assert "2 pending proposals written" in out.out
    assert "warning: 2 pending proposals written as plain objects: the voc format" in out.err
    assert main([*base, "--format", "labelme", "-o", str(tmp_path / "l"), "--include-pending"]) == 0
    assert not capsys.readouterr().err

    n = len(Dataset.load(ann).annotations)
    assert main(["dataset", "stats", str(ann), "--out", str(tmp_path / "stats")]) == 0
    assert f"annotations: {n - 4} manual · 3 model · 1 smart; 2 pending" in capsys.readouterr().out
    saved = orjson.loads((tmp_path / "stats" / "stats.json").read_bytes())["provenance"]
    assert saved["status"] == {"accepted": n - 2, "pending": 2}

    assert main(["dataset", "check", str(ann)]) == 0, "pending proposals are a warning, not an error"
    assert "2 pending proposals (not ground truth until reviewed)" in capsys.readouterr().out
    data = orjson.loads(ann.read_bytes())
    data["annotations"][0]["status"] = "maybe"
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(data))
    assert main(["dataset", "check", str(bad)]) == 1
    aid = data["annotations"][0]["id"]
    assert f"annotation {aid}, category" in (text := capsys.readouterr().out) and "status must be one of" in text
