"""The run folder's lock and the rule that a new run never replaces one (no training here: see
e2e/test_train_safety.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import orjson
import pytest

from studio.core.errors import StudioError
from studio.core.training.run_index import delete_run, list_runs
from studio.core.training.run_lock import (
    LOCK_NAME,
    RunHeldError,
    RunLock,
    live_lock,
    lock_holder,
    read_lock,
)
from studio.core.training.runlog import RunLog
from studio.core.training.runs import new_run_dir, resolve_run


@pytest.fixture
def foreign_pid():
    """The pid of a live process that is not this one (a `sleep`, killed afterwards)."""
    p = subprocess.Popen(["sleep", "60"])
    yield p.pid
    p.kill()
    p.wait()


@pytest.fixture
def dead_pid():
    """A pid whose process has ended (and was reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def write_lock(run_dir, pid, host=None, started=None, token="t0"):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_bytes(
        orjson.dumps(
            {
                "pid": pid,
                "host": host or socket.gethostname(),
                "started": time.time() if started is None else started,
                "purpose": "studio train other.yaml",
                "token": token,
            }
        )
    )


def fake_run(run_dir, *files):
    """A run folder with a readable log and the named files."""
    from studio.core.training.events import RunStarted

    log = RunLog(run_dir)
    log(RunStarted(str(run_dir), "det_lite", "detect", ("a",), 0, 2, 5, 2, "cpu", 1, False, "bbox_mAP"))
    log.close()
    for f in files:
        (run_dir / f).write_bytes(b"x")


def test_acquire_writes_pid_host_and_time_and_release_removes_it(tmp_path):
    lock = RunLock(tmp_path / "run", purpose="studio train a.yaml")
    assert lock.acquire() is None
    info = read_lock(tmp_path / "run")
    assert (info.pid, info.host, info.purpose) == (os.getpid(), socket.gethostname(), "studio train a.yaml")
    assert abs(info.started - time.time()) < 60
    raw = orjson.loads((tmp_path / "run" / LOCK_NAME).read_bytes())
    assert {"pid", "host", "started", "purpose"} <= set(raw)
    assert lock_holder(tmp_path / "run") is None  # held by this very process: not "another process"
    assert live_lock(tmp_path / "run").pid == os.getpid()
    # a second lock in the same process refuses too (two trainers in two threads)
    with pytest.raises(RunHeldError):
        RunLock(tmp_path / "run").acquire()
    lock.release()
    assert not (tmp_path / "run" / LOCK_NAME).exists() and read_lock(tmp_path / "run") is None
    with RunLock(tmp_path / "run"):  # free again
        assert (tmp_path / "run" / LOCK_NAME).exists()
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_live_foreign_holder_refuses_with_its_pid_host_and_the_way_out(tmp_path, foreign_pid):
    run = tmp_path / "run"
    write_lock(run, foreign_pid, started=time.time())
    before = (run / LOCK_NAME).read_bytes()
    with pytest.raises(RunHeldError) as e:
        RunLock(run).acquire()
    msg = str(e.value)
    assert msg.startswith(
        f"{run}: this run is being trained by another process (pid {foreign_pid} on host {socket.gethostname()} since "
    )
    assert f"if that process is gone, delete {run / LOCK_NAME}" in msg and "wait for it to end or stop it" in msg
    assert (run / LOCK_NAME).read_bytes() == before  # untouched
    assert (
        lock_holder(run).pid == foreign_pid
        and lock_holder(run).short() == f"held by pid {foreign_pid} ({socket.gethostname()})"
    )


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, dead_pid):
    run = tmp_path / "run"
    write_lock(run, dead_pid)
    assert read_lock(run).pid == dead_pid and lock_holder(run) is None and live_lock(run) is None
    lock = RunLock(run)
    stale = lock.acquire()
    assert stale is not None and stale.pid == dead_pid
    assert read_lock(run).pid == os.getpid() and read_lock(run).token == lock.info.token
    assert not [p for p in run.iterdir() if p.name != LOCK_NAME]  # the stale one moved away and removed
    lock.release()
    assert not (run / LOCK_NAME).exists()


def test_a_pid_reused_by_a_younger_process_is_stale(tmp_path, foreign_pid):
    if not os.path.exists(f"/proc/{foreign_pid}/stat"):
        pytest.skip("process start times come from /proc (Linux)")
    run = tmp_path / "run"
    write_lock(run, foreign_pid, started=time.time() - 3600)  # the lock is an hour older than that process
    assert lock_holder(run) is None
    assert RunLock(run).acquire().pid == foreign_pid


def test_a_lock_of_another_host_always_refuses(tmp_path, dead_pid):
    run = tmp_path / "run"
    write_lock(run, dead_pid, host="elsewhere.example")
    with pytest.raises(RunHeldError, match=f"pid {dead_pid} on host elsewhere.example"):
        RunLock(run).acquire()
    assert lock_holder(run).host == "elsewhere.example"


def test_an_unreadable_lock_is_held_while_fresh_then_stale(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).write_bytes(b'{"pid": 12')  # its writer died between O_EXCL and the end of the write
    assert read_lock(run).pid == 0
    with pytest.raises(RunHeldError, match="an unknown process"):
        RunLock(run).acquire()
    old = time.time() - 60
    os.utime(run / LOCK_NAME, (old, old))
    lock = RunLock(run)
    assert lock.acquire().pid == 0 and read_lock(run).pid == os.getpid()
    lock.release()


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path, foreign_pid):
    run = tmp_path / "run"
    lock = RunLock(run)
    lock.acquire()
    write_lock(run, foreign_pid, token="theirs")  # someone judged ours stale and took over
    lock.release()
    assert read_lock(run).token == "theirs"


def test_the_lock_alone_is_not_a_run(tmp_path, foreign_pid):
    root = tmp_path / "runs"
    write_lock(root / "exp", foreign_pid)
    assert list_runs(root) == []
    assert new_run_dir("exp", root) == root / "exp-2"  # nor is the folder reused for a new run
    with pytest.raises(StudioError, match="not a run folder"):
        delete_run(root / "exp")


def test_the_run_index_shows_the_holder_and_delete_refuses(tmp_path, foreign_pid, dead_pid):
    root = tmp_path / "runs"
    fake_run(root / "held", "last.pt")
    fake_run(root / "free", "last.pt")
    fake_run(root / "stale", "last.pt")
    write_lock(root / "held", foreign_pid)
    write_lock(root / "stale", dead_pid)
    runs = {s.name: s for s in list_runs(root)}
    assert runs["held"].holder.pid == foreign_pid
    assert runs["held"].display_status == f"held by pid {foreign_pid} ({socket.gethostname()})"
    assert runs["free"].holder is None and runs["free"].display_status == "interrupted"
    assert runs["stale"].holder is None and runs["stale"].display_status == "interrupted"
    with pytest.raises(RunHeldError, match=f"pid {foreign_pid}"):
        delete_run(root / "held")
    assert (root / "held" / "last.pt").is_file()
    delete_run(root / "stale")  # a dead process's lock does not keep a run
    assert not (root / "stale").exists()


def test_resolve_run_refuses_an_existing_work_dir_and_a_held_run(tmp_path, foreign_pid, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default root is ./runs
    root = tmp_path / "runs"
    fake_run(root / "exp", "last.pt")
    with pytest.raises(StudioError) as e:
        resolve_run("cfg/exp.yaml", root / "exp", None)
    assert str(e.value) == (
        f"{root / 'exp'}: already holds a run (events.jsonl, last.pt); continue it with --resume, "
        "or choose another --work-dir"
    )
    for only in ("best.pt", "config.yaml", "events.jsonl"):
        (root / only.split(".")[0]).mkdir()
        (root / only.split(".")[0] / only).write_bytes(b"x")
        with pytest.raises(StudioError, match=rf"already holds a run \({only}\)"):
            resolve_run("cfg/exp.yaml", root / only.split(".")[0], None)
    # without --work-dir: a fresh folder, never the run
    from pathlib import Path

    assert resolve_run("cfg/exp.yaml", None, None) == (Path("runs") / "exp-2", None)
    # an empty folder, or one with unrelated files, is fine
    (root / "empty").mkdir()
    assert resolve_run("cfg/exp.yaml", root / "empty", None) == (root / "empty", None)
    # resume is the way to continue it, unless another process trains it
    assert resolve_run("cfg/exp.yaml", root / "exp", True) == (root / "exp", root / "exp" / "last.pt")
    write_lock(root / "exp", foreign_pid)
    with pytest.raises(RunHeldError, match=f"pid {foreign_pid}"):
        resolve_run("cfg/exp.yaml", root / "exp", True)
    with pytest.raises(RunHeldError):
        resolve_run("cfg/exp.yaml", None, root / "exp" / "last.pt")
