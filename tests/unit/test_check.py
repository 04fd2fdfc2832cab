import json

import cv2
import numpy as np
import pytest

from studio.core.dataset.check import KINDS, check_dataset
from studio.core.errors import CancelledError, DatasetError
from studio.core.jobs import CancelToken


def _write(tmp_path, d):
    p = tmp_path / "ann.json"
    p.write_text(json.dumps(d))
    return p


@pytest.fixture
def broken(tmp_path):
    """A file with one problem of (almost) every kind, and its images folder."""
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    cv2.imwrite(str(img_dir / "ok.jpg"), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(img_dir / "wrongsize.jpg"), np.zeros((40, 60, 3), np.uint8))
    (img_dir / "corrupt.jpg").write_bytes(b"not an image")
    poly = [5, 5, 20, 5, 20, 20, 5, 20, 3, 12]
    d = {
        "images": [
            {"id": 1, "file_name": "ok.jpg", "width": 60, "height": 40},
            {"id": 2, "file_name": "missing.jpg", "width": 60, "height": 40},
            {"id": 3, "file_name": "wrongsize.jpg", "width": 600, "height": 400},
            {"id": 4, "file_name": "corrupt.jpg", "width": 60, "height": 40},
            {"id": 4, "file_name": "ok.jpg", "width": 60, "height": 40},
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "unused"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 15, 15], "segmentation": [poly]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, 15, 15], "segmentation": [[1, 1, 9, 9]]},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "segmentation": [[0, 0, 10, 10, 10, 0, 0, 10]],
            },
            {"id": 4, "image_id": 99, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 5, "image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10]},
            {"id": 6, "image_id": 1, "category_id": 1, "bbox": [100, 100, 10, 10]},
            {"id": 7, "image_id": 1, "category_id": 1, "bbox": [50, 30, 20, 20]},
            {"id": 8, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 10]},
            {"id": 9, "image_id": 3, "category_id": 1, "bbox": [5, 5, 10, 10]},
        ],
    }
    return _write(tmp_path, d), img_dir


def test_every_kind_found_with_file_and_ids(broken):
    ann, img_dir = broken
    rep = check_dataset(ann, img_dir)
    kinds = rep.by_kind()
    expected = {
        "missing_image": 1,
        "unreadable_image": 1,
        "size_mismatch": 1,
        "duplicate_image_id": 1,
        "duplicate_annotation_id": 1,
        "unknown_image": 1,
        "unknown_category": 1,
        "degenerate_polygon": 1,
        "invalid_bbox": 1,
        "box_outside_image": 1,
        "self_intersection": 1,
        "box_partly_outside": 1,
        "duplicate_file_name": 1,
        "empty_category": 1,
        "unannotated_image": 3,  # per record: ids 2, 4, 4
    }
    assert {k: len(v) for k, v in kinds.items()} == expected
    assert list(kinds) == [k for k in KINDS if k in expected]  # report order
    miss = kinds["missing_image"][0]
    assert miss.file.endswith("missing.jpg") and miss.image_id == 2
    deg = kinds["degenerate_polygon"][0]
    assert deg.ann_id == 2 and deg.image_id == 1 and "2 point" in deg.message and deg.file == str(ann)
    assert "600x400" in kinds["size_mismatch"][0].message and "60x40" in kinds["size_mismatch"][0].message
    assert rep.exit_code == 1
    d = rep.to_dict()
    assert d["summary"]["errors"] == len(rep.errors) and d["problems"]["missing_image"]["items"][0]["image_id"] == 2
    text = rep.format_text()
    assert "missing.jpg" in text and "ERROR" in text and "WARNING" in text


def test_warnings_only_exit_zero(tmp_path):
    ann = _write(
        tmp_path,
        {
            "images": [{"id": 1, "file_name": "x.jpg", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "a"}],
            "annotations": [],
        },
    )
    rep = check_dataset(ann)  # no images folder: only the JSON is checked
    assert rep.exit_code == 0 and {p.kind for p in rep.problems} == {"empty_category", "unannotated_image"}


def test_deep_check_finds_truncated_jpeg(tmp_path):
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (img_dir / "t.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    ann = _write(
        tmp_path,
        {
            "images": [{"id": 1, "file_name": "t.jpg", "width": 64, "height": 64}],
            "categories": [{"id": 1, "name": "a"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        },
    )
    shallow = check_dataset(ann, img_dir)
    deep = check_dataset(ann, img_dir, deep=True)
    assert "unreadable_image" not in shallow.by_kind()
    assert len(deep.by_kind()["unreadable_image"]) == 1


def test_broken_json_raises_naming_file(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('{"images": [')
    with pytest.raises(DatasetError, match="t.json: broken JSON"):
        check_dataset(p)


def test_cancel(broken):
    ann, img_dir = broken
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(CancelledError):
        check_dataset(ann, img_dir, cancel=tok)


def test_progress_reaches_total(broken):
    ann, img_dir = broken
    seen = []
    check_dataset(ann, img_dir, progress=lambda d, t, m="": seen.append((d, t, m)))
    assert (5, 5, "reading image headers") in seen and (9, 9, "checking annotations") in seen


def test_cat_set_reports_143_missing_images(shared_data):
    cat = shared_data / "cat"
    rep = check_dataset(cat / "annotations" / "annotations_all.json", cat / "images")
    kinds = rep.by_kind()
    assert len(kinds["missing_image"]) == 143
    assert all(p.file.startswith(str(cat / "images")) for p in kinds["missing_image"])
    assert rep.num_images == 144 and rep.num_annotations == 159 and rep.exit_code == 1


def test_demo_is_clean(demo):
    for split in demo.values():
        rep = check_dataset(split.annotations, split.images)
        assert rep.problems == []


def test_cancel_stops_reading_headers_at_once(tmp_path, monkeypatch):
    """Cancelling drops the queued header reads instead of finishing all of them."""
    import threading

    import studio.core.dataset.check as check_mod
    from studio.core.dataset.model import Dataset
    from studio.core.errors import CancelledError
    from studio.core.jobs import CancelToken

    ds = Dataset.from_dict(
        {
            "images": [{"id": i, "file_name": f"{i}.jpg", "width": 1, "height": 1} for i in range(1, 2001)],
            "annotations": [],
            "categories": [{"id": 1, "name": "a"}],
        }
    )
    calls = []
    lock = threading.Lock()
    token = CancelToken()

    def probe(path, deep):
        with lock:
            calls.append(path)
            if len(calls) == 10:
                token.cancel()
        return "missing", None

    monkeypatch.setattr(check_mod, "_probe_image", probe)
    with pytest.raises(CancelledError):
        check_mod.check_dataset(ds, tmp_path, cancel=token)
    assert len(calls) < 200
