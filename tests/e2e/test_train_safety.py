"""Runs are never silently replaced or mixed, and a full disk fails with one line: real (tiny) trainings.

Each training is det_lite on the 10 demo images at 64 px, one epoch (a few seconds on 2 cores).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import orjson
import pytest

from studio import api
from studio.cli import main
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken
from studio.core.training.events import EventKind
from studio.core.training.run_index import summarize_run
from studio.core.training.run_lock import LOCK_NAME, RunHeldError, read_lock
from studio.core.training.runlog import LOG_NAME, read_events

FULL = "no space left on the disk; free some space, or choose a folder on another disk"


@pytest.fixture()
def cfg(tmp_path, demo):
    from studio.core.config.init import init_config

    init_config(
        demo["train"].annotations,
        tmp_path / "tiny.yaml",
        val_ann=demo["val"].annotations,
        arch="det_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0},
            "train": {"epochs": 1, "batch_size": 2, "device": "cpu", "warmup_iters": 2},
        },
    )
    return tmp_path / "tiny.yaml"


@pytest.fixture
def foreign_pid():
    p = subprocess.Popen(["sleep", "60"])
    yield p.pid
    p.kill()
    p.wait()


def _lock(run_dir, pid, started=None):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_NAME).write_bytes(
        orjson.dumps({"pid": pid, "host": socket.gethostname(), "started": started or time.time(), "purpose": "other"})
    )


def _snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def _kinds(run_dir, kind):
    return [e for e in read_events(run_dir) if e.kind is kind]


def test_a_new_run_never_replaces_one(cfg, tmp_path, capsys, monkeypatch):
    # a run folder (from an earlier training: its files are all that matters here)
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    for name in ("last.pt", "best.pt", "config.yaml"):
        (run / name).write_bytes(b"the earlier run's " + name.encode())
    (run / LOG_NAME).write_bytes(b'{"kind":"message","t":1,"level":"info","text":"earlier"}\n')
    before = _snapshot(run)
    # an explicit --work-dir that holds it: refused, naming the folder and the way out; nothing touched
    assert main(["train", str(cfg), "--work-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {run}: already holds a run (events.jsonl, last.pt, best.pt, config.yaml); "
        "continue it with --resume, or choose another --work-dir\n"
    )
    assert _snapshot(run) == before
    # without --work-dir: a fresh runs/tiny-2
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(cfg)]) == 0
    assert "run folder: runs/tiny-2" in capsys.readouterr().out
    assert _snapshot(run) == before and (tmp_path / "runs" / "tiny-2" / "last.pt").is_file()
    assert not (tmp_path / "runs" / "tiny-2" / LOCK_NAME).exists()  # released at the end


def test_two_trainings_into_one_folder_the_second_is_refused(cfg, tmp_path):
    """The second starts while the first trains (in this process: the trainer's own check, not train_job's)."""
    from studio.core.config.loader import load_config
    from studio.core.training.trainer import Trainer

    run = tmp_path / "run"
    second: dict = {}

    def during_first(ev):
        if ev.kind is EventKind.ITERATION and ev.global_iter == 1 and not second:
            assert read_lock(run).pid == os.getpid()
            evs: list = []
            try:
                Trainer(load_config(cfg), run, callbacks=[evs.append]).run()
            except BaseException as e:  # noqa: BLE001
                second["error"], second["events"] = e, evs

    res = api.train(cfg, work_dir=run, callbacks=[during_first])
    assert res.status == "finished"
    e = second["error"]
    assert isinstance(e, RunHeldError) and f"pid {os.getpid()} on host {socket.gethostname()}" in str(e)
    failed = [ev for ev in second["events"] if ev.kind is not EventKind.MESSAGE]  # the pre-flight's warnings
    assert [ev.kind for ev in failed] == [EventKind.FAILED] and failed[0].error == str(e)
    assert not failed[0].resumable
    # the first run's log has its own events only: one start, one outcome, and it finished
    assert len(_kinds(run, EventKind.STARTED)) == 1 and not _kinds(run, EventKind.FAILED)
    assert summarize_run(run).status == "finished" and not (run / LOCK_NAME).exists()


def test_a_folder_held_by_another_process_is_refused_everywhere(cfg, tmp_path, capsys, foreign_pid):
    from studio.core.config.loader import load_config
    from studio.core.training.trainer import Trainer

    run = tmp_path / "run"
    _lock(run, foreign_pid)
    lock_bytes = (run / LOCK_NAME).read_bytes()
    assert main(["train", str(cfg), "--work-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: this run is being trained by another process (pid {foreign_pid} on host ")
    assert f"delete {run / LOCK_NAME}" in err and err.count("\n") == 1
    # the trainer's own check (a race train_job could not see): refused after setup, nothing written
    with pytest.raises(RunHeldError, match=f"pid {foreign_pid}"):
        Trainer(load_config(cfg), run).run()
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME] and (run / LOCK_NAME).read_bytes() == lock_bytes
    # resume too
    (run / "last.pt").write_bytes(b"x")
    assert main(["train", str(cfg), "--work-dir", str(run), "--resume"]) == 2
    assert f"pid {foreign_pid}" in capsys.readouterr().err


def test_a_stale_lock_is_taken_over_and_every_ending_releases_the_lock(cfg, tmp_path, monkeypatch):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    run = tmp_path / "run"
    _lock(run, p.pid)
    evs: list = []
    assert api.train(cfg, work_dir=run, callbacks=[evs.append]).status == "finished"
    msgs = [e.text for e in evs if e.kind is EventKind.MESSAGE]
    assert f"took over a stale lock of pid {p.pid} on host {socket.gethostname()}" in msgs
    assert any(e.kind is EventKind.MESSAGE and e.text.startswith("took over a stale lock") for e in read_events(run))
    assert not (run / LOCK_NAME).exists()

    # cancelled: released, and resumable
    cancel = CancelToken()
    held = []

    def stop(ev):
        if ev.kind is EventKind.ITERATION:
            held.append(read_lock(tmp_path / "c") is not None and read_lock(tmp_path / "c").pid == os.getpid())
            cancel.cancel()

    assert api.train(cfg, work_dir=tmp_path / "c", callbacks=[stop], cancel=cancel).status == "cancelled"
    assert held == [True] and not (tmp_path / "c" / LOCK_NAME).exists()

    # failed: released, one RunFailed in the log
    from studio.core.training.trainer import Trainer

    def broken(self, epoch):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(Trainer, "evaluate", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        api.train(cfg, work_dir=tmp_path / "f")
    assert not (tmp_path / "f" / LOCK_NAME).exists()
    (failed,) = _kinds(tmp_path / "f", EventKind.FAILED)
    assert failed.error == "RuntimeError: evaluation broke" and "Traceback" in failed.traceback


def test_resume_after_a_torn_log_line(cfg, tmp_path):
    cancel = CancelToken()
    run = tmp_path / "run"

    def stop(ev):
        if ev.kind is EventKind.ITERATION and ev.global_iter >= 2:  # the first log point past iteration 1
            cancel.cancel()

    assert api.train(cfg, work_dir=run, callbacks=[stop], cancel=cancel).status == "cancelled"
    with open(run / LOG_NAME, "ab") as f:
        f.write(b'{"kind": "iteration", "epoch": 1, "it')  # killed mid-write
    assert summarize_run(run).status == "cancelled"
    assert api.train(cfg, work_dir=run, resume=True).status == "finished"
    lines = (run / LOG_NAME).read_bytes().split(b"\n")
    assert b'{"kind": "iteration", "epoch": 1, "it' in lines  # on a line of its own
    assert [e.kind for e in read_events(run)][-1] is EventKind.FINISHED
    assert summarize_run(run).status == "finished" and len(_kinds(run, EventKind.STARTED)) == 2


def test_a_full_disk_fails_with_one_line_and_a_readable_log(cfg, tmp_path, capsys, small_disk):
    disk = small_disk("512k")  # room for config.yaml and events.jsonl, not for last.pt (tens of MB)
    run = disk / "run"
    code = main(["train", str(cfg), "--work-dir", str(run)])
    cap = capsys.readouterr()
    assert code == 2
    assert cap.err == f"error: {run / 'last.pt'}: {FULL}\n"
    assert "Traceback" not in cap.err + cap.out
    evs = list(read_events(run))
    assert evs[0].kind is EventKind.STARTED
    (failed,) = [e for e in evs if e.kind is EventKind.FAILED]
    assert failed.error == f"{run / 'last.pt'}: {FULL}" and "Traceback" in failed.traceback
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", LOG_NAME]  # no temporary file, no lock
    assert summarize_run(run).status == "failed"


def test_a_full_disk_in_the_apps_child_process_comes_back_as_one_line(cfg, tmp_path, small_disk):
    """The app trains in a child process: the parent raises StudioError with the same line."""
    from studio.core.training.runs import train_job

    disk = small_disk("512k")
    evs: list = []
    with pytest.raises(StudioError) as e:
        train_job(cfg, work_dir=disk / "run", isolate=True, callbacks=[evs.append])
    assert str(e.value) == f"{disk / 'run' / 'last.pt'}: {FULL}"
    assert [ev.error for ev in evs if ev.kind is EventKind.FAILED] == [str(e.value)]
    assert not (disk / "run" / LOCK_NAME).exists()
