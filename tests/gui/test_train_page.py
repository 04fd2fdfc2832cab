"""The Train page drives a real (tiny) training: charts fill, pause, stop, resume, extend, failures, runs table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from studio.core.training.run_index import list_runs
from studio.gui.train.page import IDLE, PAUSED, RUNNING, TrainPage


@pytest.fixture
def workspace(tmp_path, demo):
    """A workspace with a det_lite config on the 10 demo images at 64 px (5 iterations an epoch)."""
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "t")
    init_config(
        demo["train"].annotations,
        ws.folder("configs") / "tiny.yaml",
        val_ann=demo["val"].annotations,
        arch="det_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0},
            "train": {"epochs": 2, "batch_size": 2, "device": "cpu", "warmup_iters": 2},
        },
    )
    return ws


@pytest.fixture
def page(qtbot, jobs, workspace):
    p = TrainPage(jobs)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    p.set_workspace(workspace)
    yield p
    if p.control is not None:
        p.control.cancel()


def _iters(p: TrainPage) -> int:
    h = p.live
    return len(h.losses["loss"]) if h is not None and "loss" in h.losses else 0


def _wait_idle(qtbot, p, timeout=300_000):
    qtbot.waitUntil(lambda: p.state == IDLE and p.worker is None, timeout=timeout)


def _select(qtbot, p, run_dir: Path):
    qtbot.waitUntil(
        lambda: p.runs.summary_of(run_dir) is not None and p.runs.summary_of(run_dir).status != "running",
        timeout=20_000,
    )
    p.runs.select_run(run_dir)


def test_start_pause_stop_resume_extend(qtbot, page, workspace):
    assert page.config.name == "tiny.yaml" and page.start_button.isEnabled()
    assert not page.pause_button.isEnabled() and not page.stop_button.isEnabled()
    page.extend_spin.setValue(1)
    assert page.start()
    assert page.state == RUNNING and not page.start_button.isEnabled()
    qtbot.waitUntil(lambda: _iters(page) >= 2, timeout=60_000)
    qtbot.waitUntil(lambda: page.charts.redraws >= 2, timeout=5_000)  # points reached the charts
    assert page.charts._curves[("loss", "loss")].getData()[0] is not None
    page.pause()
    assert page.state == PAUSED and page.resume_button.isEnabled()
    # the batch in flight finishes first (however slowly: on a busy machine the trainer runs at the lowest priority)
    qtbot.waitUntil(lambda: "paused before epoch" in page.log_view.toPlainText(), timeout=120_000)
    held = _iters(page)
    qtbot.wait(1200)
    assert _iters(page) == held, "iterations continued while paused"
    assert "paused" in page.status.text()
    page.resume()
    assert page.state == RUNNING
    qtbot.waitUntil(lambda: _iters(page) > held, timeout=30_000)
    page.stop()
    _wait_idle(qtbot, page)
    run = page.live_dir
    assert (run / "last.pt").is_file()
    _select(qtbot, page, run)
    assert page.runs.summary_of(run).status == "cancelled"
    assert page.resume_button.isEnabled() and not page.extend_button.isEnabled()
    n_before = _iters(page)
    assert page.resume()  # from last.pt, into the same folder, curves continued
    _wait_idle(qtbot, page)
    _select(qtbot, page, run)
    s = page.runs.summary_of(run)
    assert s.status == "finished" and s.epochs_done == 2
    assert _iters(page) > n_before and page.checkpoints.count() >= 2
    assert page.extend_button.isEnabled()
    assert page.extend(1)
    _wait_idle(qtbot, page)
    _select(qtbot, page, run)
    assert page.runs.summary_of(run).epochs_done == 3 and page.runs.summary_of(run).status == "finished"
    assert "extending a finished run from 2 to 3 epochs" in page.log_view.toPlainText()
    assert len(list_runs(workspace.folder("runs"))) == 1


def test_the_default_model_trains_with_its_loss_terms_charted(qtbot, jobs, tmp_path, demo):
    """The default architecture (seg_fast, from `config init` without --arch) trains from the page like any other."""
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "d")
    cfg = init_config(
        demo["train"].annotations,
        ws.folder("configs") / "default.yaml",
        val_ann=demo["val"].annotations,
        overrides={
            "data": {"image_size": 64, "workers": 0},
            "train": {"epochs": 1, "batch_size": 4, "device": "cpu", "warmup_iters": 2},
        },
    )
    assert cfg.model.arch == "seg_fast"
    p = TrainPage(jobs)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    p.set_workspace(ws)
    assert p.start()
    _wait_idle(qtbot, p)
    p.charts.refresh(force=True)
    terms = {k for plot, k in p.charts._curves if plot == "loss"}
    assert {"loss", "loss_cls", "loss_box", "loss_dfl", "loss_mask"} <= terms
    assert {k for plot, k in p.charts._curves if plot == "metric"} >= {"segm_mAP", "bbox_mAP"}
    assert p.runs.summary_of(p.live_dir) is not None


@pytest.mark.slow  # two trainings in child processes; ~30 s on a quiet 2-core machine
def test_a_trainer_exception_shows_its_traceback_and_the_run_stays_resumable(qtbot, page, workspace, demo, tmp_path):
    """A val image vanishes during epoch 2: the trainer (in its child process) fails in the evaluation."""
    import shutil

    from studio.core.config.init import init_config

    val_images = tmp_path / "val_images"
    shutil.copytree(demo["val"].images, val_images)
    cfg = workspace.folder("configs") / "fragile.yaml"
    init_config(
        demo["train"].annotations,
        cfg,
        val_ann=demo["val"].annotations,
        val_images=val_images,
        arch="det_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0, "cache": "none"},
            "train": {"epochs": 2, "batch_size": 2, "device": "cpu", "warmup_iters": 2},
        },
    )
    page.start(cfg)
    qtbot.waitUntil(lambda: page.live is not None and page.live.last_epoch is not None, timeout=300_000)
    moved = tmp_path / "moved"
    shutil.move(str(val_images), str(moved))
    _wait_idle(qtbot, page)
    err = page.error_view.toPlainText()
    assert "Traceback" in err and "Resume" in err and "val_images" in err, err[:2000]
    assert page.tabs.currentWidget() is page.error_view
    run = page.live_dir
    _select(qtbot, page, run)
    assert page.runs.summary_of(run).status == "failed" and page.resume_button.isEnabled()
    shutil.move(str(moved), str(val_images))
    page.resume()
    _wait_idle(qtbot, page)
    _select(qtbot, page, run)
    assert page.runs.summary_of(run).status == "finished"


def test_a_bad_config_fails_before_a_run_folder_exists(qtbot, page, workspace):
    bad = workspace.folder("configs") / "bad.yaml"
    bad.write_text(page.config.read_text().replace("epochs: 2", "epochz: 2"))
    page.start(bad)
    _wait_idle(qtbot, page)
    assert "epochz" in page.error_view.toPlainText()
    assert not any(workspace.folder("runs").glob("bad*"))


def test_runs_open_compare_delete(qtbot, page, workspace, monkeypatch):
    from studio import api

    cfg = page.config
    api.train(cfg, work_dir=workspace.folder("runs") / "a", overrides=["train.epochs=1"])
    api.train(cfg, work_dir=workspace.folder("runs") / "b", overrides=["train.epochs=1", "train.lr=0.004"])
    page.refresh_runs()
    qtbot.waitUntil(lambda: len(page.runs.runs) == 2, timeout=10_000)
    page.runs.select_run(workspace.folder("runs") / "a")
    page.open_run(workspace.folder("runs") / "a")
    qtbot.waitUntil(lambda: page.charts.history is not None and page.charts.history.started is not None, timeout=10_000)
    assert "a: finished (completed)" in page.status.text() and "epoch 1" in page.log_view.toPlainText()
    page.compare_runs([workspace.folder("runs") / "a", workspace.folder("runs") / "b"])
    qtbot.waitUntil(lambda: len(page.charts.compared) == 2, timeout=10_000)
    assert ("loss", "b") in page.charts._curves and ("metric", "a") in page.charts._curves
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    page.delete_runs([workspace.folder("runs") / "a"])
    qtbot.waitUntil(lambda: len(page.runs.runs) == 1, timeout=10_000)
    assert not (workspace.folder("runs") / "a").exists()


def test_closing_the_window_during_training_asks_then_stops_cleanly(qtbot, tmp_path, workspace, monkeypatch):
    from studio.gui.main_window import MainWindow

    w = MainWindow(persist=False)
    qtbot.addWidget(w)
    w.show()
    w.train_page.set_workspace(workspace)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), QMessageBox.StandardButton.No)[1])
    w.train_page.start(workspace.folder("configs") / "tiny.yaml")
    qtbot.waitUntil(lambda: _iters(w.train_page) >= 1, timeout=60_000)
    assert not w.close() and w.train_page.is_training()  # "No": keeps training
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), QMessageBox.StandardButton.Yes)[1]
    )
    run = w.train_page.live_dir
    t0 = time.monotonic()
    assert w.close()
    assert len(asked) == 2 and "Stop it and quit" in asked[0]
    assert (run / "last.pt").is_file() and time.monotonic() - t0 < 60
    (s,) = list_runs(workspace.folder("runs"))
    assert s.status == "cancelled" and s.resumable


def test_the_config_pages_start_trains_on_the_train_page(qtbot, workspace, monkeypatch):
    from studio.gui.main_window import MainWindow

    w = MainWindow(persist=False)
    qtbot.addWidget(w)
    w.show()
    w.workspace_ui.opened.emit(workspace) if hasattr(w.workspace_ui, "opened") else None
    started = []
    monkeypatch.setattr(w.train_page, "start", lambda path=None: started.append(Path(path)) or True)
    w.config_page.start_requested.emit(workspace.folder("configs") / "tiny.yaml")
    assert started == [workspace.folder("configs") / "tiny.yaml"] and w.current_page() is w.train_page


def _fake_run(run_dir: Path, finished: bool) -> None:
    """A run folder as another process leaves it while training: a log and a last.pt (never loaded here)."""
    from studio.core.training.events import EpochEnd, RunFinished, RunStarted
    from studio.core.training.runlog import RunLog

    log = RunLog(run_dir)
    log(RunStarted(str(run_dir), "det_lite", "detect", ("a",), 0, 2, 5, 2, "cpu", 1, False, "bbox_mAP"))
    log(EpochEnd(1, 2, {"loss": 1.0}, {"bbox_mAP": 0.1}, {}, 0.1, 0.1, 1, True, 1.0, 1.0))
    if finished:
        log(EpochEnd(2, 2, {"loss": 1.0}, {"bbox_mAP": 0.2}, {}, 0.2, 0.2, 2, True, 1.0, 2.0))
        log(RunFinished("completed", 2, 0.2, 2, 2.0, {}))
    log.close()
    (run_dir / "last.pt").write_bytes(b"not loaded: the refusal comes first")


def test_a_run_held_by_another_process_is_shown_and_left_alone(qtbot, page, workspace, monkeypatch):
    import socket
    import subprocess

    import orjson

    from studio.core.training.run_lock import LOCK_NAME

    other = subprocess.Popen(["sleep", "60"])
    try:
        runs = workspace.folder("runs")
        held, done = runs / "held", runs / "done"
        _fake_run(held, finished=False)
        _fake_run(done, finished=True)
        for d in (held, done):  # e.g. `studio train` in a terminal, or a second window
            (d / LOCK_NAME).write_bytes(
                orjson.dumps(
                    {
                        "pid": other.pid,
                        "host": socket.gethostname(),
                        "started": time.time(),
                        "purpose": "studio train tiny.yaml",
                    }
                )
            )
        page.refresh_runs()
        qtbot.waitUntil(lambda: len(page.runs.runs) == 2, timeout=10_000)
        label = f"held by pid {other.pid} ({socket.gethostname()})"
        rows = {page.runs.table.item(r, 0).text(): r for r in range(page.runs.table.rowCount())}
        cell = page.runs.table.item(rows["held"], 5)
        assert (
            cell.text() == label and f"this run is being trained by another process (pid {other.pid}" in cell.toolTip()
        )
        assert page.runs.table.item(rows["done"], 5).text() == label

        warned = []
        monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text, *a, **k: warned.append((title, text)))
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("asked to delete a held run"))
        page.runs.select_run(held)
        assert page.resume_button.isEnabled()  # an interrupted run with a last.pt: pressing Resume says why not
        assert not page.resume() and page.state == IDLE and page.worker is None
        assert (
            warned[-1][0] == "Resume" and f"pid {other.pid}" in warned[-1][1] and str(held / LOCK_NAME) in warned[-1][1]
        )
        assert f"error: {held}: this run is being trained by another process" in page.log_view.toPlainText()
        page.runs.select_run(done)
        assert not page.extend(1) and page.state == IDLE and warned[-1][0] == "Extend"
        page.delete_runs([held, done])
        assert warned[-1][0] == "Delete runs" and len(warned) == 3
        assert (held / "last.pt").is_file() and (done / "last.pt").is_file()
        # once that process is gone, the lock is stale: the run is an ordinary one again
        other.kill()
        other.wait()
        page.refresh_runs()
        qtbot.waitUntil(
            lambda: page.runs.summary_of(held) is not None and page.runs.summary_of(held).holder is None, timeout=10_000
        )
        rows = {page.runs.table.item(r, 0).text(): r for r in range(page.runs.table.rowCount())}
        assert page.runs.table.item(rows["held"], 5).text() == "interrupted"
    finally:
        other.kill()
        other.wait()
