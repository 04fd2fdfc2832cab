"""The child-process JSON reader gives exactly what orjson.loads gives, with the same error messages."""

from __future__ import annotations

import orjson
import pytest

from studio.core.dataset import json_child
from studio.core.dataset.model import Dataset, read_json
from studio.core.errors import DatasetError


def test_chunked_result_equals_orjson(tmp_path):
    doc = {
        "info": {"a": 1},
        "images": [{"id": i, "file_name": f"{i}.jpg", "w": [1.5, None, "é"]} for i in range(23)],
        "short": [1, 2],
        "categories": [],
        "n": None,
    }
    p = tmp_path / "a.json"
    p.write_bytes(orjson.dumps(doc))
    got = json_child.load_in_child(p, chunk=5)
    assert got == doc and list(got) == list(doc)  # same keys, same order


@pytest.mark.parametrize("doc", [[1, 2, 3], "text", 7])
def test_a_document_that_is_not_an_object(tmp_path, doc):
    p = tmp_path / "v.json"
    p.write_bytes(orjson.dumps(doc))
    assert json_child.load_in_child(p, chunk=1) == doc


def test_broken_json_names_line_and_column(tmp_path, monkeypatch):
    p = tmp_path / "broken.json"
    p.write_text('{"images": [\n  {"id": 1},\n  {"id": 2,,}\n]}')
    with pytest.raises(json_child.JSONChildError) as e:
        json_child.load_in_child(p)
    assert e.value.lineno == 3
    monkeypatch.setattr(json_child, "CHILD_MIN_BYTES", 0)
    with pytest.raises(DatasetError) as direct:
        read_json(p)
    with pytest.raises(DatasetError) as child:
        read_json(p, gil_friendly=True)
    assert str(child.value) == str(direct.value) and "broken.json" in str(child.value) and "line 3" in str(child.value)


def test_dataset_load_through_the_child(tmp_path, demo, monkeypatch):
    monkeypatch.setattr(json_child, "CHILD_MIN_BYTES", 0)
    monkeypatch.setattr(json_child, "CHUNK", 3)
    ann = demo["train"].annotations
    a, b = Dataset.load(ann), Dataset.load(ann, gil_friendly=True)
    assert a.images == b.images and a.annotations == b.annotations and a.categories == b.categories


def test_small_files_are_parsed_in_place(tmp_path, monkeypatch):
    p = tmp_path / "s.json"
    p.write_bytes(b'{"images": []}')
    monkeypatch.setattr(json_child, "load_in_child", lambda *a, **k: pytest.fail("no child for a small file"))
    assert read_json(p, gil_friendly=True) == {"images": []}
