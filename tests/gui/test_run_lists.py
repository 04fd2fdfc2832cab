"""Run lists that are always current (Train, Inspect and Export follow the runs folder without a Refresh), the live
row of the runs table, outcomes shown at once, a stopped extension that stays finished, the log that follows its
tail with one section per run, and progress in time under a time limit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from studio.gui.common.run_watch import RunWatch
from studio.gui.export.page import ExportPage
from studio.gui.inspect.page import InspectPage
from studio.gui.train.page import IDLE, TrainPage

SHOTS = Path("/tmp/shots_helper_a")


@pytest.fixture
def workspace(tmp_path, demo, checkpoint_factory):
    """A workspace with a det_lite config on the demo images at 64 px (5 iterations an epoch) and one older run
    holding a checkpoint (no log: as a copied-in run folder)."""
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "t")
    init_config(
        demo["train"].annotations,
        ws.folder("configs") / "tiny.yaml",
        val_ann=demo["val"].annotations,
        arch="det_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0, "cache": "none"},
            "train": {"epochs": 1, "batch_size": 2, "device": "cpu", "warmup_iters": 2},
        },
    )
    old = ws.folder("runs") / "old-1"
    old.mkdir()
    shutil.copy(checkpoint_factory("det_lite", 64), old / "best.pt")
    shutil.copy(ws.folder("configs") / "tiny.yaml", old / "config.yaml")
    os.utime(old / "best.pt", (time.time() - 3600, time.time() - 3600))
    return ws


def _page(qtbot, cls, jobs, ws):
    p = cls(jobs)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    p.set_workspace(ws)
    return p


@pytest.fixture
def pickers(qtbot, jobs, workspace):
    """The Inspect and Export pages on the workspace, showing its one run."""
    inspect, export = _page(qtbot, InspectPage, jobs, workspace), _page(qtbot, ExportPage, jobs, workspace)
    old = workspace.folder("runs") / "old-1"
    qtbot.waitUntil(lambda: inspect.run is not None and export.run is not None, timeout=20_000)
    assert inspect.run.path == export.run.path == old
    yield inspect, export
    export.stop_and_wait()
    inspect.stop()


def _fake_run(run_dir: Path, config: Path, ckpt: Path, *, finished: bool, holder_pid: int | None = None) -> None:
    """A run folder as ``studio train`` in a terminal writes it: events.jsonl, config.yaml, checkpoints written aside
    then renamed into place, and run.lock while its process trains."""
    from studio.core.training.events import CheckpointSaved, EpochEnd, RunFinished, RunStarted
    from studio.core.training.run_lock import LOCK_NAME
    from studio.core.training.runlog import RunLog

    run_dir.mkdir(parents=True, exist_ok=True)
    if holder_pid is not None:
        lock = {"pid": holder_pid, "host": socket.gethostname(), "started": time.time(), "purpose": "studio train"}
        (run_dir / LOCK_NAME).write_bytes(orjson.dumps(lock))
    shutil.copy(config, run_dir / "config.yaml")
    log = RunLog(run_dir)
    log(RunStarted(str(run_dir), "det_lite", "detect", ("a",), 0, 2, 5, 2, "cpu", 1, False, "bbox_mAP"))
    log(EpochEnd(1, 2, {"loss": 1.0}, {"bbox_mAP": 0.1}, {}, 0.1, 0.1, 1, True, 1.0, 1.0))
    for name in ("last.pt", "best.pt"):
        shutil.copy(ckpt, run_dir / f".{name}.tmp")
        os.replace(run_dir / f".{name}.tmp", run_dir / name)
        log(CheckpointSaved(1, str(run_dir / name), name[:-3]))
    if finished:
        log(EpochEnd(2, 2, {"loss": 1.0}, {"bbox_mAP": 0.2}, {}, 0.2, 0.2, 2, True, 1.0, 2.0))
        log(RunFinished("completed", 2, 0.2, 2, 2.0, {}))
    log.close()


def test_a_run_finishing_in_the_app_shows_at_once_and_is_selected_on_every_page(
    qtbot, jobs, workspace, pickers, monkeypatch
):
    """Inspect and Export said "No run with a checkpoint yet" after a run finished, and Refresh kept the oldest run:
    the Train page's run reaches both at once (their polling is off here: the app's own notice does it)."""
    inspect, export = pickers
    for p in (inspect, export):
        p.run_watch.timer.stop()
        monkeypatch.setattr(p.run_watch, "poll", lambda: pytest.fail("polled"))
    train = _page(qtbot, TrainPage, jobs, workspace)
    train.isolate = False
    reads = (inspect.run_watch.reads, export.run_watch.reads)
    seen = []  # what the page showed when its outcome arrived
    train.training_changed.connect(
        lambda on: (
            None if on else seen.append((train.status.text(), train.stop_button.isEnabled(), train.worker is not None))
        )
    )
    assert train.start()
    run = train.live_dir
    qtbot.waitUntil(lambda: train.state == IDLE and train.worker is None, timeout=300_000)
    assert (run / "best.pt").is_file()
    headline, stop_enabled, worker_alive = seen[0]
    assert "finished (completed)" in headline and not stop_enabled and worker_alive, seen
    for p in (inspect, export):
        qtbot.waitUntil(lambda p=p: p.runs and p.runs[0].status == "finished", timeout=20_000)
        assert p.run.path == run and p.checkpoint == run / "best.pt" and p.runs[0].path == run
    assert inspect.run_watch.reads > reads[0] and export.run_watch.reads > reads[1]
    assert inspect.run_combo.currentIndex() == 0 and export.run_list.currentRow() == 0
    assert str(run) in inspect.info.text()
    qtbot.waitUntil(lambda: train.runs.summary_of(run) is not None, timeout=20_000)
    assert train.runs.selected_paths() == [run] and train.runs.status_of(run) == "finished"


def test_runs_of_another_process_appear_and_the_users_choice_stays(qtbot, jobs, workspace, pickers, checkpoint_factory):
    """A run written by ``studio train`` in a terminal is seen by polling; it is shown while the page showed the
    newest run, never when the user picked an older one; its checkpoint is read again once it ended rewritten."""
    inspect, export = pickers
    train = _page(qtbot, TrainPage, jobs, workspace)
    runs, cfg, ckpt = (
        workspace.folder("runs"),
        workspace.folder("configs") / "tiny.yaml",
        checkpoint_factory("det_lite"),
    )
    other = subprocess.Popen(["sleep", "120"])
    try:
        cli = runs / "cli-1"
        _fake_run(cli, cfg, ckpt, finished=False, holder_pid=other.pid)
        for p in (inspect, export):
            qtbot.waitUntil(lambda p=p: p.run is not None and p.run.path == cli, timeout=20_000)
        assert export.runs[0].training and "training" in export.run_list.item(0).text()
        assert "training" in inspect.run_combo.itemText(0)
        qtbot.waitUntil(lambda: train.runs.summary_of(cli) is not None, timeout=20_000)
        assert train.runs.selected_paths() == [cli], "the newest run, selected: nothing was before"
        loaded = inspect.checkpoint
        # the run goes on and ends: best.pt rewritten, the log finished, the lock gone
        time.sleep(0.05)
        shutil.copy(ckpt, cli / ".best.pt.tmp")
        os.replace(cli / ".best.pt.tmp", cli / "best.pt")
        from studio.core.training.events import RunFinished
        from studio.core.training.runlog import RunLog

        log = RunLog(cli)
        log(RunFinished("completed", 1, 0.1, 1, 1.0, {}))
        log.close()
        (cli / "run.lock").unlink()
        qtbot.waitUntil(lambda: export.runs and export.runs[0].status == "finished", timeout=20_000)
        for p in (inspect, export):  # read again: the checkpoint shown was the unfinished run's
            qtbot.waitUntil(lambda p=p: p._read is not None and p._read[1] == (cli / "best.pt").stat().st_mtime)
        assert inspect.checkpoint == loaded == cli / "best.pt"
        qtbot.waitUntil(lambda: train.runs.status_of(cli) == "finished", timeout=20_000)
    finally:
        other.kill()
        other.wait()

    # the user picks the older run: a new run is listed, not shown
    old = runs / "old-1"
    export.run_list.setCurrentRow(1)
    inspect.run_combo.setCurrentIndex(1)
    assert export.run.path == old and inspect.run.path == old and not export.following
    assert train.runs.summary_of(old) is None, "a run folder without a log is no run of the Train page's table"
    train.runs.select_run(cli)
    _fake_run(runs / "cli-2", cfg, ckpt, finished=True)
    for p in (inspect, export):
        qtbot.waitUntil(lambda p=p: len(p.runs) == 3, timeout=20_000)
        assert p.run.path == old and p.runs[0].path == runs / "cli-2"
    assert inspect.checkpoint == old / "best.pt"
    qtbot.waitUntil(lambda: train.runs.summary_of(runs / "cli-2") is not None, timeout=20_000)
    assert train.runs.selected_paths() == [runs / "cli-2"], "the selection was the newest: the new run is"
    train.runs.select_run(cli)
    # back on the newest: following again
    export.run_list.setCurrentRow(0)
    assert export.following and export.run.path == runs / "cli-2"
    _fake_run(runs / "cli-3", cfg, ckpt, finished=True)
    qtbot.waitUntil(lambda: export.run.path == runs / "cli-3", timeout=20_000)
    assert inspect.run.path == old, "Inspect still shows what the user picked"
    qtbot.waitUntil(lambda: train.runs.summary_of(runs / "cli-3") is not None, timeout=20_000)
    assert train.runs.selected_paths() == [cli], "an older run the user picked stays picked"


def test_a_time_limited_run_live_row_pause_progress_extension_and_log(qtbot, jobs, workspace, demo, checkpoint_factory):
    """One run under a time limit: its row follows it live and says "paused" at once; the status bar's progress is
    in time (the limit ended runs at "32 %"); its outcome shows at once; the log follows its tail unless scrolled
    up and shows one run at a time; a stopped Extend leaves the run finished."""
    from studio.core.config.init import init_config
    from studio.core.training.run_index import summarize_run
    from studio.gui.common.job_status import JobStatus

    cfg = init_config(
        demo["train"].annotations,
        workspace.folder("configs") / "timed.yaml",
        val_ann=demo["val"].annotations,
        arch="det_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0, "cache": "none"},
            "train": {"epochs": 300, "batch_size": 2, "device": "cpu", "warmup_iters": 2, "time_limit": 30},
        },
    )
    assert cfg.train.time_limit == 30 and cfg.train.epochs == 300
    status = JobStatus(jobs)
    qtbot.addWidget(status)
    records = []  # (done, total, message, bar value, bar maximum) as the status bar got them
    jobs.added.connect(
        lambda w: w.progress.connect(
            lambda d, t, m: records.append((d, t, m, status.bar.value(), status.bar.maximum()))
        )
    )
    train = _page(qtbot, TrainPage, jobs, workspace)
    train.isolate = False
    seen = []
    train.training_changed.connect(
        lambda on: (
            None if on else seen.append((train.status.text(), train.stop_button.isEnabled(), train.worker is not None))
        )
    )
    assert train.start(workspace.folder("configs") / "timed.yaml")
    run = train.live_dir
    qtbot.waitUntil(lambda: train.runs.summary_of(run) is not None, timeout=30_000)
    assert train.runs.selected_paths() == [run], "the run started here is selected"
    first = train.runs.cells_of(run)
    assert first[2].endswith("/300") and first[4].endswith("/0m30s") and first[5] == "running", first
    qtbot.waitUntil(lambda: train.runs.cells_of(run)[4] != first[4], timeout=120_000)  # its time moves on, live
    assert train.runs.cells_of(run)[4].endswith("/0m30s") and train.runs.status_of(run) == "running"

    # the log follows its tail; scrolled up, it stays (the lines of a pause and a resume come while it is)
    log = train.log_view
    bar = log.verticalScrollBar()
    for i in range(60):
        train.train_state.log(f"a note {i}")
    assert bar.maximum() > 0 and log.at_bottom()
    bar.setValue(0)
    train.pause()
    assert train.runs.status_of(run) == "paused", "at once, not when the batch in flight is done"
    assert "paused" in train.status.text()
    qtbot.waitUntil(lambda: "paused before epoch" in log.toPlainText(), timeout=120_000)
    assert bar.value() == 0 and not log.following, "a new line does not yank the user down"
    assert train.runs.status_of(run) == "paused", "a later event does not overwrite it"
    bar.setValue(bar.maximum())
    train.resume()
    assert train.runs.status_of(run) == "running"
    qtbot.waitUntil(lambda: "\nresumed" in log.toPlainText(), timeout=60_000)
    assert log.at_bottom(), "at the bottom again: it follows"

    qtbot.waitUntil(lambda: train.state == IDLE and train.worker is None, timeout=300_000)
    headline, stop_enabled, worker_alive = seen[0]
    assert "finished (time limit)" in headline and not stop_enabled and worker_alive, seen
    s = summarize_run(run)
    assert s.status == "finished" and s.reason == "time_limit" and s.epochs_done < 300
    its = [r for r in records if " of 0m30s" in r[2]]
    assert its and all(t == 1000 for _, t, *_ in its)
    last = its[-1]
    assert last[0] >= 800 and (last[3], last[4]) == (last[0], 1000), f"in time, not {s.epochs_done}/300 epochs"
    assert records[-1][:2] == (1000, 1000) and records[-1][2].startswith("finished")
    qtbot.waitUntil(lambda: train.runs.status_of(run) == "finished", timeout=20_000)
    cells = train.runs.cells_of(run)
    assert cells[2] == f"{s.epochs_done}/300" and not cells[4].endswith("/0m30s"), "an ended run: its time alone"

    # another run, from elsewhere, opened: the log shows that run alone
    cli = workspace.folder("runs") / "cli-1"
    _fake_run(cli, workspace.folder("configs") / "tiny.yaml", checkpoint_factory("det_lite", 64), finished=True)
    qtbot.waitUntil(lambda: train.runs.summary_of(cli) is not None, timeout=20_000)
    train.open_run(cli)
    qtbot.waitUntil(lambda: log.toPlainText().startswith(f"──── {cli.name} ────"), timeout=20_000)
    assert str(run) not in log.toPlainText()

    # Extend, then stop the extension: the run stays finished
    assert train.runs.select_run(run)
    assert train.extend_button.isEnabled()
    assert train.extend(50)
    text = log.toPlainText()
    assert text.startswith(f"──── {run.name} ────") and "cli-1" not in text and "resuming" in text
    assert "finished (time_limit)" in text, "the run's own earlier lines, replayed in its section"
    qtbot.waitUntil(
        lambda: (
            train.live is not None
            and train.live.last_iteration is not None
            and train.live.last_iteration.epoch > s.epochs_done
        ),
        timeout=120_000,
    )
    train.stop()
    qtbot.waitUntil(lambda: train.state == IDLE and train.worker is None, timeout=120_000)
    assert "finished (time limit), extension stopped" in train.status.text()
    assert "the run stays finished" in log.toPlainText()
    qtbot.waitUntil(lambda: train.runs.summary_of(run).extension == "stopped", timeout=20_000)
    assert train.runs.status_of(run) == "finished"
    assert summarize_run(run).status == "finished" and train.extend_button.isEnabled()


def test_the_log_view_follows_its_tail_even_while_hidden(qtbot):
    from studio.gui.common.log_panel import TailLog

    log = TailLog(200)
    qtbot.addWidget(log)
    log.resize(300, 120)
    log.show()
    bar = log.verticalScrollBar()
    for i in range(50):
        log.append_line(f"line {i}")
    assert bar.maximum() > 0 and log.at_bottom()
    log.hide()  # another tab
    for i in range(50, 80):
        log.append_line(f"line {i}")
    log.show()
    assert log.at_bottom(), "lines added while hidden are followed"
    bar.setValue(3)
    for i in range(80, 90):
        log.append_line(f"line {i}")
    assert bar.value() == 3 and not log.following
    for i in range(90, 300):  # the oldest lines go (200 kept): the view stays up, where it was
        log.append_line(f"line {i}")
    assert not log.at_bottom() and log.blockCount() == 200
    log.clear()
    log.append_line("new run")
    assert log.following and log.at_bottom()


def test_a_watch_reads_once_for_a_burst_of_notices_and_never_twice_at_a_time(qtbot, jobs, tmp_path):
    from studio.gui.common.run_watch import notify_runs_changed

    calls = []

    def lister(root, progress=None, cancel=None):
        calls.append(time.monotonic())
        time.sleep(0.3)
        return sorted(p.name for p in Path(root).iterdir())

    root = tmp_path / "runs"
    root.mkdir()
    watch = RunWatch(jobs, lister, logs=False, poll_ms=100_000)
    got = []
    watch.listed.connect(got.append)
    watch.set_root(root)
    qtbot.waitUntil(lambda: len(got) == 1, timeout=5_000)
    (root / "a").mkdir()
    for _ in range(5):
        notify_runs_changed(root / "a")
    notify_runs_changed(tmp_path / "elsewhere")  # another folder: not this watch's
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5_000)
    qtbot.wait(400)
    assert got[-1] == ["a"] and len(calls) == 2, "five notices, one read"
    watch.refresh()
    watch.refresh()  # while the first runs: once more after it
    qtbot.waitUntil(lambda: len(got) == 4, timeout=5_000)
    assert calls[3] - calls[2] >= 0.29, "never two reads at a time"
    (root / "b").mkdir()
    watch.poll()  # the folder changed on disk: polling sees it
    qtbot.waitUntil(lambda: len(got) == 5, timeout=5_000)
    assert got[-1] == ["a", "b"]
    watch.poll()
    qtbot.wait(400)
    assert len(got) == 5, "nothing changed: not read again"
