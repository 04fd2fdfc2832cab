"""A torn events.jsonl, a full disk, a failed checkpoint save: the run folder stays readable and its good files stay."""

from __future__ import annotations

import errno
import os

import orjson
import pytest
import torch

from studio.core import checkpoint as ckpt_io
from studio.core.errors import error_message
from studio.core.training.events import (
    CheckpointSaved,
    EpochEnd,
    EventKind,
    IterationEnd,
    Message,
    RunFailed,
    RunStarted,
)
from studio.core.training.history import RunHistory
from studio.core.training.run_index import list_runs, summarize_run
from studio.core.training.runlog import LOG_NAME, RunLog, last_of, read_events

TORN = b'{"kind": "epoch", "t": 17000'


def _started(run_dir):
    return RunStarted(str(run_dir), "det_lite", "detect", ("a", "b"), 0, 3, 5, 2, "cpu", 1, False, "bbox_mAP")


def _epoch(e):
    return EpochEnd(e, 3, {"loss": 1.0}, {"bbox_mAP": 0.1 * e}, {}, 0.1 * e, 0.1 * e, e, True, 1.0, 2.0 * e)


def _payload(n: int) -> dict:
    return {
        "arch": "x",
        "classes": {"cat_ids": [1], "names": ["a"]},
        "config": {},
        "model": {"w": torch.arange(n, dtype=torch.float32)},
    }


def test_every_reader_tolerates_a_torn_or_empty_line(tmp_path):
    run = tmp_path / "runs" / "r"
    log = RunLog(run, iter_interval_s=0)
    for ev in (_started(run), _epoch(1), CheckpointSaved(1, str(run / "last.pt"), "last")):
        log(ev)
    log.close()
    with open(run / LOG_NAME, "ab") as f:
        f.write(b"\n" + TORN)  # an empty line, then a line cut off by a full disk
    assert [e.kind for e in read_events(run)] == [EventKind.STARTED, EventKind.EPOCH, EventKind.CHECKPOINT]
    assert last_of(run, EventKind.EPOCH).epoch == 1
    s = summarize_run(run)
    assert s.epochs_done == 1 and s.best_metric == pytest.approx(0.1) and s.status == "interrupted"
    h = RunHistory.from_run(run)
    assert h.started is not None and h.last_epoch.epoch == 1
    assert [r.name for r in list_runs(run.parent)] == ["r"]

    # a log whose first line is torn or empty: the start time comes from the first readable line
    other = tmp_path / "runs" / "o"
    other.mkdir()
    good = orjson.loads((run / LOG_NAME).read_bytes().split(b"\n")[0])
    good["t"] = 1000.5  # not the file's mtime
    (other / LOG_NAME).write_bytes(b"\n" + TORN + b"\n" + orjson.dumps(good) + b"\n")
    assert summarize_run(other).started_at == 1000.5
    # a log that is nothing but a torn line: not a run, and no exception
    (other / LOG_NAME).write_bytes(TORN)
    assert summarize_run(other) is None and list(read_events(other)) == []
    assert RunHistory.from_run(other).started is None


def test_reopening_the_log_ends_a_torn_line_so_the_next_event_is_not_glued_to_it(tmp_path):
    log = RunLog(tmp_path, iter_interval_s=0)
    log(_started(tmp_path))
    log(_epoch(1))
    log.close()
    with open(tmp_path / LOG_NAME, "ab") as f:
        f.write(TORN)
    log = RunLog(tmp_path, iter_interval_s=0)  # the resumed run
    log(Message("info", "resumed"))
    log.close()
    lines = (tmp_path / LOG_NAME).read_bytes().split(b"\n")
    assert lines[2] == TORN and lines[3].startswith(b'{"kind":"message"') and lines[-1] == b""
    assert [e.kind for e in read_events(tmp_path)] == [EventKind.STARTED, EventKind.EPOCH, EventKind.MESSAGE]
    # a log that ends cleanly is left as it is
    size = (tmp_path / LOG_NAME).stat().st_size
    RunLog(tmp_path).close()
    assert (tmp_path / LOG_NAME).stat().st_size == size


def test_the_log_is_fsynced_at_checkpoints_and_at_the_end(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    log = RunLog(tmp_path, iter_interval_s=0)
    log(_started(tmp_path))
    log(IterationEnd(1, 1, 1, 5, {"l": 1.0}, 1.0, 0.1, 1.0, 0.0, 0.0))
    assert synced == []  # not every line: that would slow a fast GPU run down
    log(CheckpointSaved(1, str(tmp_path / "last.pt"), "last"))
    assert len(synced) == 1
    log(RunFailed("boom", "tb", 1, True))
    assert len(synced) == 2
    log.close()
    assert len(synced) == 3


def test_a_write_error_is_raised_once_naming_the_log_then_the_log_is_off(tmp_path):
    log = RunLog(tmp_path, iter_interval_s=0)
    log(_started(tmp_path))

    class Full:
        closed = False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def fileno(self):
            return -1

        def close(self):
            self.closed = True

    log._f.close()
    log._f = Full()
    with pytest.raises(OSError) as e:
        log(_epoch(1))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / LOG_NAME)
    assert (
        error_message(e.value)
        == f"{tmp_path / LOG_NAME}: no space left on the disk; free some space, or choose a folder on another disk"
    )
    log(RunFailed(error_message(e.value), "tb", 1, False))  # logging the failure does not raise again
    log.sync()
    log.close()
    assert [ev.kind for ev in read_events(tmp_path)] == [EventKind.STARTED]


def test_the_log_on_a_really_full_disk(small_disk):
    disk = small_disk("8k")
    log = RunLog(disk, iter_interval_s=0)
    log(_started(disk))
    with pytest.raises(OSError) as e:
        for i in range(10_000):
            log(Message("info", f"line {i} " + "x" * 200))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(disk / LOG_NAME)
    log(RunFailed("full", "tb", 1, False))
    log.close()
    evs = list(read_events(disk))
    assert evs[0].kind is EventKind.STARTED and len(evs) > 5 and all(ev.kind is not EventKind.FAILED for ev in evs)


def test_a_save_that_fails_midway_never_replaces_the_good_checkpoint(tmp_path, monkeypatch):
    good = ckpt_io.save(tmp_path / "last.pt", _payload(1000))
    before = good.read_bytes()
    real_save = torch.save

    def half_then_fail(obj, f, *a, **k):
        import io

        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise RuntimeError("killed midway")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(RuntimeError, match="killed midway"):
        ckpt_io.save(tmp_path / "last.pt", _payload(5000))
    assert good.read_bytes() == before and ckpt_io.load(good).data["model"]["w"].numel() == 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left

    # a failed write (as torch reports it: a RuntimeError "unexpected pos") surfaces as the OS error, naming the file
    def write_fails(obj, f, *a, **k):
        try:
            f.write(memoryview(b"PK" * 100))
            f.write(b"x")
            raise AssertionError("unreachable")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    monkeypatch.setattr(torch, "save", write_fails)
    monkeypatch.setattr(ckpt_io.os, "write", _write_then_full(200))
    with pytest.raises(OSError) as e:
        ckpt_io.save(tmp_path / "last.pt", _payload(5000))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "last.pt")
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def _write_then_full(limit: int):
    real = os.write
    written = [0]

    def write(fd, data):
        if written[0] + len(data) > limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        written[0] += len(data)
        return real(fd, data)

    return write


def test_a_copy_that_fails_never_replaces_the_good_file(tmp_path, monkeypatch):
    last = ckpt_io.save(tmp_path / "last.pt", _payload(2000))
    best = ckpt_io.copy(last, tmp_path / "best.pt")
    ckpt_io.save(last, _payload(3000))
    before = best.read_bytes()

    def copy_half(src, dst, **k):
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            fo.write(fi.read()[:100])
        e = OSError(errno.ENOSPC, "No space left on device")
        e.filename, e.filename2 = str(src), str(dst)  # as shutil's sendfile path reports it
        raise e

    monkeypatch.setattr(ckpt_io.shutil, "copyfile", copy_half)
    with pytest.raises(OSError) as e:
        ckpt_io.copy(last, best)
    assert e.value.filename == str(best) and e.value.filename2 is None  # names best.pt, not the temporary file
    assert best.read_bytes() == before and ckpt_io.load(best).data["model"]["w"].numel() == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def test_on_a_really_full_disk_the_old_last_pt_still_loads(small_disk):
    disk = small_disk("256k")
    last = ckpt_io.save(disk / "last.pt", _payload(20_000))  # ~80 KB
    before = last.read_bytes()
    best = ckpt_io.copy(last, disk / "best.pt")
    with pytest.raises(OSError) as e:
        ckpt_io.save(last, _payload(60_000))  # ~240 KB: does not fit beside the others
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(last)
    assert error_message(e.value).startswith(f"{last}: no space left on the disk")
    assert last.read_bytes() == before and ckpt_io.load(last).data["model"]["w"].numel() == 20_000
    assert sorted(p.name for p in disk.iterdir()) == ["best.pt", "last.pt"]
    ckpt_io.save(disk / "big.pt", _payload(12_000))  # ~48 KB: room left for little else
    with pytest.raises(OSError) as e:
        ckpt_io.copy(last, disk / "epoch_2.pt")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(disk / "epoch_2.pt")
    assert sorted(p.name for p in disk.iterdir()) == ["best.pt", "big.pt", "last.pt"]
    assert ckpt_io.load(best).data["model"]["w"].numel() == 20_000
