import pytest

from studio.core import atomic


def test_write_json_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.json"
    atomic.write_json(p, {"x": 1})
    atomic.write_json(p, {"x": 2})
    assert p.read_text().replace(" ", "").replace("\n", "") == '{"x":2}'
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_content(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_dir_new_and_merge_and_failure(tmp_path):
    out = tmp_path / "out"
    with atomic.atomic_dir(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "f.txt").write_text("1")
    assert (out / "sub" / "f.txt").read_text() == "1"
    (out / "keep.txt").write_text("k")
    with atomic.atomic_dir(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "f.txt").write_text("2")
    assert (out / "sub" / "f.txt").read_text() == "2" and (out / "keep.txt").read_text() == "k"
    with pytest.raises(ValueError):
        with atomic.atomic_dir(tmp_path / "never") as tmp:
            (tmp / "x").write_text("x")
            raise ValueError
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out"]
