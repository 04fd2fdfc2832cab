"""The Train page's state without Qt: the run state machine and its control token, what each button allows,
resume / extend of the selected run, runs another process holds, the status texts and the log sections."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from studio.core.training.events import (
    CheckpointSaved,
    EpochEnd,
    IterationEnd,
    Message,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunStarted,
)
from studio.core.training.history import RunHistory
from studio.core.training.run_index import RunSummary
from studio.core.training.run_lock import LOCK_NAME
from studio.gui.train.state import (
    CANCELLED,
    ERROR,
    FAILED,
    FINISHED,
    IDLE,
    LOG,
    LOG_LINES,
    PAUSED,
    RUNNING,
    STARTING,
    STOPPING,
    TRAINING,
    TrainState,
)


def started(run_dir="runs/tiny", epochs=2, world=1) -> RunStarted:
    return RunStarted(str(run_dir), "det_lite", "detect", ("a", "b"), 0, epochs, 5, 2, "cpu", world, False, "bbox_mAP")


def iteration(epoch=1, it=3, eta=75.0, gpu=None) -> IterationEnd:
    return IterationEnd(epoch, it, it, 5, {"loss_cls": 0.5}, 0.5, 0.002, 8.0, 12.0, eta, gpu)


def epoch_end(epoch=1, metric=0.25) -> EpochEnd:
    return EpochEnd(epoch, 2, {"loss": 1.0}, {"bbox_mAP": metric}, {}, metric, metric, epoch, True, 1.0, 1.0)


def summary(path: Path, status: str, resumable: bool = True, epochs_done: int = 2) -> RunSummary:
    return RunSummary(
        path, path.name, "det_lite", "detect", epochs_done, 2, "bbox_mAP", 0.2, 2, 10.0, status, "", 0.0, resumable
    )


@pytest.fixture
def st(tmp_path) -> TrainState:
    s = TrainState()
    cfg = tmp_path / "configs" / "tiny.yaml"
    cfg.parent.mkdir()
    cfg.write_text("model: {}\n")
    s.config = cfg
    s.runs_root = tmp_path / "runs"
    s.lines = []  # what the log view shows
    s.clears = 0

    def on_log(line):  # the view: None clears it
        if line is None:
            s.lines.clear()
            s.clears += 1
        else:
            s.lines.append(line)

    s.on_log = on_log
    return s


def test_idle_buttons(st):
    b = st.buttons()
    assert st.phase == IDLE and st.control_state == IDLE and not st.is_training()
    assert b.start and not b.pause and not b.resume and not b.stop and not b.extend and b.config
    st.config = None
    assert not st.buttons().start and st.start() is None


def test_start_pause_resume_stop_and_the_outcome(st, tmp_path):
    run = st.start()
    assert run.config == st.config and run.run_dir == tmp_path / "runs" / "tiny" and run.resume is None
    assert st.phase == STARTING and st.control_state == RUNNING and st.is_training()
    assert st.live is run.history and st.live_dir == st.shown_dir == run.run_dir and st.control is not None
    assert st.lines[-1] == f"starting {st.config} -> {run.run_dir}" and st.take_section() == LOG
    assert st.take_section() is None, "once: the user may show another section"
    b = st.buttons()
    assert not b.start and b.pause and not b.resume and b.stop and not b.config and not b.extend
    assert st.start() is None, "one run at a time"
    assert st.live_dirs() == [run.run_dir]

    assert st.event(started(run.run_dir)), "a run started: the runs table is read again"
    assert st.phase == TRAINING and any(line.startswith("training det_lite on cpu") for line in st.lines)
    control = st.control
    assert st.pause() and st.phase == PAUSED and control.paused
    assert not st.pause(), "already paused"
    b = st.buttons()
    assert b.resume and not b.pause and b.stop
    run.history.add(started(run.run_dir))
    assert st.unpause() and st.phase == TRAINING and not control.paused
    assert not st.unpause(), "not paused"
    assert st.stop() and st.phase == STOPPING and control.cancelled
    assert not st.stop() and not st.buttons().stop and not st.buttons().start
    st.cancelled()
    assert st.phase == CANCELLED and not st.is_training(), "the outcome shows at once, while the worker winds down"
    assert st.control is control and st.lines[-1] == "stopped" and st.live_dirs() == []
    st.ended()
    assert st.phase == CANCELLED and st.control_state == IDLE and st.control is None and st.lines[-1] == "stopped"
    assert st.buttons().start and st.live_dirs() == []


def test_a_paused_start_resumes_to_starting_until_the_trainer_reports(st):
    run = st.start()
    st.pause()
    st.event(started())  # arrives while paused: the phase stays paused
    assert st.phase == PAUSED
    st.unpause()
    assert st.phase == STARTING, "the history has not started"
    run.history.add(started())
    st.pause()
    st.unpause()
    assert st.phase == TRAINING


def test_outcomes(st):
    st.start()
    st.finished("finished")
    st.ended()
    assert st.phase == FINISHED and not st.is_training()
    st.start()
    st.finished("cancelled")  # the trainer returned after a stop
    st.ended()
    assert st.phase == CANCELLED
    st.start()
    st.failed("bad key: epochz", "Traceback ...")
    assert st.error == "bad key: epochz\n\nTraceback ..." and st.take_section() == ERROR
    assert st.lines[-1] == "error: bad key: epochz"
    st.ended()
    assert st.phase == FAILED and st.buttons().start
    st.start()
    assert st.error == "" and st.take_section() == LOG, "a new run starts with an empty error"
    st.ended()
    assert st.phase == IDLE, "no outcome reported"


def test_a_failure_reported_by_the_trainer_keeps_its_traceback(st):
    st.start()
    st.event(RunFailed("val image gone", "Traceback (most recent call last): ...", 2, True))
    assert st.error.startswith("val image gone\n\nlast.pt is kept") and "Traceback" in st.error
    assert st.take_section() == ERROR
    assert not any("val image gone" in line for line in st.lines), "the error goes to its section, not the log"
    st.failed("RuntimeError: val image gone", "tb")
    assert st.error.startswith("val image gone"), "the trainer's own report stays"
    st.event(RunFailed("x", "tb", 1, False))
    assert "last.pt is kept" not in st.error


def test_checkpoints_newest_first(st):
    run = st.start()
    st.event(CheckpointSaved(1, str(run.run_dir / "last.pt"), "last"))
    st.event(CheckpointSaved(1, str(run.run_dir / "best.pt"), "best"))
    assert [(c.role, c.epoch) for c in st.checkpoints] == [("best", 1), ("last", 1)]
    from studio.gui.train.state import checkpoint_text

    assert checkpoint_text(st.checkpoints[0]) == "epoch 1  ·  best  ·  best.pt"


def test_resume_and_extend_the_selected_run(st, tmp_path):
    stopped, done = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    for status in ("cancelled", "failed", "interrupted"):
        st.selected = [summary(stopped, status)]
        assert st.resumable() is not None and st.buttons().resume and not st.buttons().extend
    st.selected = [summary(stopped, "cancelled", resumable=False)]
    assert st.resumable() is None, "no last.pt"
    st.selected = [summary(stopped, "cancelled"), summary(done, "finished")]
    assert st.resumable() is None and st.extendable() is None, "one run at a time"
    st.selected = [summary(done, "finished", epochs_done=2)]
    assert st.extendable() is not None and st.buttons().extend and not st.buttons().resume

    run = st.extend_run(st.extendable(), 3)
    assert run.run_dir == done and run.resume == done / "last.pt" and run.config == done / "config.yaml"
    assert run.overrides == ("train.epochs=5", "train.time_limit=null")
    assert st.lines[-1].startswith("resuming ") and not st.buttons().extend
    st.ended()

    st.selected = [summary(stopped, "cancelled")]
    run = st.resume_run(st.resumable())
    assert run.run_dir == stopped and run.overrides == () and run.history.started is None


def test_a_resumed_run_continues_its_curves(st, tmp_path):
    from studio.core.training.runlog import RunLog

    run_dir = tmp_path / "runs" / "a"
    log = RunLog(run_dir)
    log(started(run_dir))
    log(epoch_end(1))
    log.close()
    s = summary(run_dir, "interrupted")
    run = st.resume_run(s)
    assert run.history.started is not None and run.history.best() == (0.25, 1), "read from its events.jsonl"
    st.ended()
    shown = run.history
    again = st.resume_run(s, shown=shown)
    assert again.history is shown, "the charts show that run: its history goes on"
    st.ended()
    st.shown_dir = None
    assert st.resume_run(s, shown=shown).history is not shown


def test_runs_held_by_another_process_are_refused(st, tmp_path):
    held, free = tmp_path / "runs" / "held", tmp_path / "runs" / "free"
    held.mkdir(parents=True)
    free.mkdir()
    other = subprocess.Popen(["sleep", "60"])
    try:
        lock = {"pid": other.pid, "host": socket.gethostname(), "started": time.time(), "purpose": "studio train"}
        (held / LOCK_NAME).write_bytes(orjson.dumps(lock))
        assert st.held([free]) is None
        msg = st.held([free, held])
        assert f"pid {other.pid}" in msg and str(held / LOCK_NAME) in msg
        assert st.lines[-1] == f"error: {msg}"
    finally:
        other.kill()
        other.wait()
    assert st.held([held]) is None, "the holder is gone: the lock is stale"


def test_the_live_run_is_neither_deleted_nor_replaced_when_compared(st, tmp_path):
    run = st.start()
    other = tmp_path / "runs" / "other"
    assert st.deletable([run.run_dir, other]) == [other]
    read = [RunHistory(), RunHistory()]
    runs = st.comparison([run.run_dir, other], read)
    assert runs == [(run.run_dir.name, run.history), ("other", read[1])]
    st.ended()
    assert st.deletable([run.run_dir, other]) == [run.run_dir, other]


def test_open_a_run_replays_its_log_sections(st, tmp_path):
    run = st.start()
    assert st.open_run(run.run_dir) is run.history, "the live run: its own history"
    failed = RunHistory()
    failed.extend(
        [
            started(tmp_path / "runs" / "old"),
            Message("warning", "few images"),
            CheckpointSaved(1, str(tmp_path / "runs" / "old" / "last.pt"), "last"),
            RunFailed("out of memory", "Traceback ...", 1, True),
        ]
    )
    assert st.open_run(tmp_path / "runs" / "old") is None and st.shown_dir == tmp_path / "runs" / "old"
    st.take_section()
    clears = st.clears
    st.show(failed)
    assert st.clears == clears + 1, "the log is cleared first"
    assert st.lines[0] == "──── old ────", "one section per run, under its header"
    assert any("training det_lite" in line for line in st.lines) and any("few images" in line for line in st.lines)
    assert not any(str(st.config) in line for line in st.lines), "none of the live run's lines"
    assert not any("out of memory" in line for line in st.lines)
    assert [c.role for c in st.checkpoints] == ["last"]
    assert st.error.startswith("out of memory") and st.take_section() == ERROR
    st.show(run.history)
    assert st.lines == [f"──── {run.run_dir.name} ────", f"starting {st.config} -> {run.run_dir}"], (
        "the live run's own lines, kept while another run was shown"
    )


def test_the_log_keeps_the_last_lines(st):
    for i in range(LOG_LINES + 10):
        st.log(f"line {i}")
    assert len(st.log_lines) == LOG_LINES and st.log_lines[0] == "line 10"
    st.log_stream().write("a\n\nb\n")
    assert st.lines[-2:] == ["a", "b"], "empty lines are left out"


def test_status_headline_and_detail(st, tmp_path):
    assert st.status(None, []) == ("No run", "")
    assert st.status(None, ["a", "b"]) == ("Comparing runs", "a, b")
    run = st.start()
    h = run.history
    assert st.headline(h) == "tiny: starting…" and st.detail(h) == ""
    h.add(started(run.run_dir))
    h.add(iteration(gpu=1536.0))
    assert st.headline(h) == "tiny: training  ·  epoch 1/2, iteration 3/5"
    detail = st.detail(h)
    assert detail.startswith("det_lite on cpu  ·  2 classes  ·  batch 2  ·  8.0 img/s  ·  4.00 it/s  ·  ETA ")
    assert "GPU 1.50 GB" in detail and detail.endswith("lr 2.00e-03")
    st.pause()
    assert st.headline(h).startswith("tiny: paused")
    st.stop()
    assert st.headline(h).startswith("tiny: stopping…")
    h.add(epoch_end(1, 0.3))
    h.add(RunCancelled(1, 3, None))
    st.cancelled()
    st.ended()
    assert st.headline(h) == "tiny: stopped  ·  epoch 1/2, iteration 3/5  ·  best bbox_mAP 0.300 (epoch 1)"
    assert "ETA" not in st.detail(h), "no ETA once it stopped"

    done = RunHistory().extend([started(world=2), iteration(), RunFinished("early_stopping", 2, 0.3, 1, 5.0, {})])
    st.shown_dir = tmp_path / "runs" / "done"
    assert st.headline(done).startswith("done: finished (early stopping)")
    assert st.detail(done).startswith("det_lite on cpu x2") and "2.00 it/s" in st.detail(done)
    failed = RunHistory().extend([started(), RunFailed("x", "tb", 1, True)])
    assert st.headline(failed) == "done: failed"
    assert st.headline(RunHistory().extend([started()])) == "done: interrupted"
    assert st.headline(RunHistory()) == "done: no events"
    st.shown_dir = None
    assert st.headline(RunHistory()) == "run: no events"


def test_an_outcome_shows_at_once_and_no_later_report_overwrites_it(st):
    """The header said "training" with Stop enabled 5-10 s after the log said "finished" (the process winding
    down); a Cancel pressed meanwhile, or the worker's own result, must not relabel the run."""
    run = st.start()
    st.event(started(run.run_dir))
    control = st.control
    st.event(RunFinished("completed", 2, 0.3, 2, 5.0, {}))
    run.history.add(RunFinished("completed", 2, 0.3, 2, 5.0, {}))  # the worker fills the history first
    assert st.phase == FINISHED and not st.is_training() and st.control is control, "at once, worker still alive"
    b = st.buttons()
    assert not b.stop and not b.pause and b.start
    assert st.headline(run.history).startswith("tiny: finished (completed)")
    assert not st.pause() and not st.stop() and not control.cancelled
    st.cancelled()  # the status bar's Cancel while the process exits
    st.finished("cancelled")
    st.failed("the process exited with code 1", "tb")
    assert st.phase == FINISHED and st.outcome == FINISHED
    st.ended()
    assert st.phase == FINISHED and st.control is None

    run = st.start()
    st.event(started(run.run_dir))
    assert st.pause() and st.phase == PAUSED
    st.event(Message("info", "paused before epoch 1, iteration 2"))
    assert st.phase == PAUSED and st.headline(run.history).startswith("tiny: paused"), "a later event keeps it"
    st.stop()
    st.event(RunCancelled(1, 2, str(run.run_dir / "last.pt")))
    assert st.phase == CANCELLED and not st.is_training()
    st.finished("finished")
    st.ended()
    assert st.phase == CANCELLED


def test_a_stopped_extension_leaves_the_run_finished(st, tmp_path):
    """Cancelling an Extend relabelled the completed run as cancelled: only the extension was stopped."""
    from studio.core.training.runlog import RunLog

    run_dir = tmp_path / "runs" / "done"
    log = RunLog(run_dir)
    for ev in (started(run_dir), epoch_end(1), epoch_end(2), RunFinished("completed", 2, 0.25, 1, 2.0, {})):
        log(ev)
    log.close()
    st.selected = [summary(run_dir, "finished")]
    run = st.extend_run(st.extendable(), 3)
    assert st.extending and run.history.finished is not None
    ext = RunStarted(str(run_dir), "det_lite", "detect", ("a", "b"), 2, 5, 5, 2, "cpu", 1, True, "bbox_mAP")
    for ev in (ext, iteration(epoch=3, it=2)):
        run.history.add(ev)
        st.event(ev)
    row = st.live_row(summary(run_dir, "finished"))
    assert (row.status, row.epochs_done, row.epochs) == ("running", 2, 5)
    st.stop()
    cancel = RunCancelled(3, 12, str(run_dir / "last.pt"))
    run.history.add(cancel)
    st.event(cancel)
    assert st.phase == FINISHED and st.outcome == FINISHED
    assert st.lines[-1].startswith("the extension was stopped: the run stays finished")
    assert st.headline(run.history).startswith("done: finished (completed), extension stopped")
    row = st.live_row(summary(run_dir, "cancelled"))
    assert row.status == "finished" and row.extension == "stopped" and row.epochs_done == row.epochs == 2
    st.cancelled()
    st.ended()
    assert st.phase == FINISHED
    assert st.headline(RunHistory.from_run(run_dir).extend([ext, cancel])).startswith(
        "done: finished (completed), extension stopped"
    ), "replayed from its log too"

    # stopped before the extension's trainer reported anything: the worker's cancel alone
    st.selected = [summary(run_dir, "finished")]
    st.extend_run(st.extendable(), 1)
    st.stop()
    st.cancelled()
    assert st.phase == FINISHED and st.lines[-1] == "extension stopped: the run stays finished"


def test_one_log_section_per_run(st, tmp_path):
    """A new run's log was appended under the old one's: each run has its own section under a header line."""
    a = st.start()
    st.event(started(a.run_dir))
    st.event(Message("info", "hello from a"))
    st.finished("finished")
    st.ended()
    a_lines = list(st.lines)
    assert a_lines[0] == f"──── {a.run_dir.name} ────" and "hello from a" in a_lines
    st.config = st.config.with_name("other.yaml")
    b = st.start()
    assert b.run_dir != a.run_dir
    assert st.lines[0] == f"──── {b.run_dir.name} ────", "the log starts over with the new run's header"
    assert not any("hello from a" in line for line in st.lines)
    st.event(started(b.run_dir))
    old = RunHistory().extend([started(a.run_dir), Message("info", "hello from a")])
    st.open_run(a.run_dir)
    st.show(old)  # while b trains, the user shows a
    assert st.lines[0] == f"──── {a.run_dir.name} ────" and "hello from a" in st.lines
    st.event(Message("info", "hello from b"))
    assert "hello from b" not in st.lines, "b's lines go to b's section"
    assert st.open_run(b.run_dir) is b.history
    st.show(b.history)
    assert st.lines[0] == f"──── {b.run_dir.name} ────" and st.lines[-1] == "hello from b"


def test_the_live_runs_row_follows_its_history_and_shows_paused(st, tmp_path):
    """The runs table showed "0/4 · 0m00s" and "running" while paused: the row follows the live history."""
    run = st.start()
    s = summary(run.run_dir, "running", epochs_done=0)
    other = summary(tmp_path / "runs" / "other", "finished")
    assert st.live_row(other) is other
    limited = RunStarted(
        str(run.run_dir), "det_lite", "detect", ("a",), 0, 4, 5, 2, "cpu", 1, False, "bbox_mAP", time_limit_s=40.0
    )
    run.history.add(limited)
    st.event(limited)
    run.history.add(iteration(epoch=2, it=3))  # 12 s of training
    run.history.add(epoch_end(1))
    row = st.live_row(s)
    assert (row.status, row.epochs_done, row.epochs, row.duration_s) == ("running", 1, 4, 12.0)
    assert row.time_limit_s == 40.0 and row.progress == pytest.approx(0.3)
    assert "elapsed 0m12s of 0m40s (30%)" in st.detail(run.history)
    st.pause()
    assert st.live_row(s).status == "paused"
    st.unpause()
    st.stop()
    assert st.live_row(s).status == "stopping"
    st.cancelled()
    assert st.live_row(s).status == "cancelled"
    st.ended()
    assert st.live_row(s) is s, "once the worker is gone, the folder says"


def test_the_state_modules_import_without_qt():
    """Importing the four pages' states loads no Qt (pytest-qt has PySide6 in this process: a fresh one checks)."""
    import sys

    code = (
        "import sys\n"
        "import studio.gui.config.state, studio.gui.editor.state, studio.gui.inspect.predictions_state\n"
        "import studio.gui.train.state\n"
        "assert 'PySide6' not in sys.modules, sorted(m for m in sys.modules if m.startswith('PySide6'))\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('pyqtgraph', 'superqt', 'shiboken6')]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
