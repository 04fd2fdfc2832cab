"""Run history arrays, the runs index and pausing a run (RunControl)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.core.training.control import RunControl
from studio.core.training.events import EpochEnd, EventKind, IterationEnd, RunFinished, RunStarted
from studio.core.training.history import RunHistory, Series
from studio.core.training.run_index import delete_run, list_runs, summarize_run


def test_series_grows_and_keeps_values():
    s = Series(capacity=4)
    for i in range(3000):
        s.append(i, None if i == 5 else float(i) * 2)
    x, y = s.xy()
    assert len(s) == 3000 and x[-1] == 2999 and y[-1] == 5998 and np.isnan(y[5])


def _started(**kw):
    d = dict(
        run_dir="r",
        arch="seg_lite",
        task="segm",
        classes=("a", "b"),
        start_epoch=0,
        epochs=2,
        iters_per_epoch=4,
        batch_size=2,
        device="cpu",
        world_size=1,
        resumed=False,
        metric_name="segm_mAP",
    )
    d.update(kw)
    return RunStarted(**d)


def test_history_puts_iterations_and_epochs_on_one_epoch_axis():
    h = RunHistory()
    h.add(_started())
    for it in range(1, 5):
        h.add(IterationEnd(1, it, it, 4, {"loss_a": 1.0 / it, "loss_b": 0.5}, 1.0 / it + 0.5, 0.01, 8.0, it, 10.0))
    h.add(
        EpochEnd(
            1,
            2,
            {"loss_a": 0.5},
            {"segm_mAP": 0.25, "bbox_mAP": 0.3},
            {"segm": np.array([0.2, np.nan])},
            0.25,
            0.25,
            1,
            True,
            4.0,
            4.0,
        )
    )
    x, y = h.losses["loss"].xy()
    assert list(x) == [0.25, 0.5, 0.75, 1.0] and y[0] == pytest.approx(1.5)
    assert set(h.losses) == {"loss", "loss_a", "loss_b"}
    mx, my = h.metric_curve().xy()
    assert list(mx) == [1.0] and list(my) == [0.25]
    assert h.best() == (0.25, 1)
    epoch, ap = h.latest_per_class_ap()
    assert epoch == 1 and ap["segm"][0] == pytest.approx(0.2) and np.isnan(ap["segm"][1])
    v = h.version
    h.add(RunFinished("completed", 1, 0.25, 1, 4.0, {}))
    assert h.version > v and h.outcome.kind is EventKind.FINISHED


def test_a_trained_run_replays_and_is_listed(trained_checkpoint, tmp_path):
    run = trained_checkpoint.parent
    h = RunHistory.from_run(run)
    assert h.started.arch == "seg_lite" and len(h.losses["loss"]) >= 3
    assert len(h.metric_curve()) == 3 and h.outcome.kind is EventKind.FINISHED
    assert {c.role for c in h.checkpoints} >= {"last", "best"}
    (s,) = [r for r in list_runs(run.parent) if r.path == run]
    assert (s.status, s.arch, s.epochs_done, s.epochs, s.reason) == ("finished", "seg_lite", 3, 3, "completed")
    assert s.best_metric == h.best()[0] and s.duration_s > 0 and s.resumable
    assert summarize_run(run, live=lambda p: True).status == "running"


def test_runs_without_an_outcome_are_interrupted_and_junk_is_skipped(tmp_path):
    import orjson

    from studio.core.training.events import to_record

    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_bytes(orjson.dumps(to_record(_started(), 1.0)) + b"\n{torn")
    (tmp_path / "runs" / "not_a_run").mkdir()
    (s,) = list_runs(tmp_path / "runs")
    assert s.status == "interrupted" and s.started_at == 1.0 and not s.resumable
    with pytest.raises(StudioError, match="not a run folder"):
        delete_run(tmp_path / "runs" / "not_a_run")
    delete_run(run)
    assert not run.exists() and list_runs(tmp_path / "runs") == []


def test_pause_holds_the_run_between_batches_and_resume_continues(tmp_path, demo):
    from studio import api
    from studio.core.config.init import init_config

    init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="det_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0},
            "train": {"epochs": 1, "batch_size": 2, "device": "cpu", "warmup_iters": 1},
        },
    )
    ctl = RunControl()
    events, paused_at = [], []

    def cb(ev):
        events.append((time.monotonic(), ev))
        if ev.kind is EventKind.ITERATION and ev.global_iter == 1:
            ctl.pause()
            paused_at.append(time.monotonic())

    t = threading.Thread(
        target=lambda: api.train(tmp_path / "c.yaml", work_dir=tmp_path / "run", callbacks=[cb], cancel=ctl)
    )
    t.start()
    deadline = time.monotonic() + 60
    while not paused_at and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    n_paused = len([e for _t, e in events if e.kind is EventKind.ITERATION])
    assert n_paused == 1 and ctl.paused
    ctl.resume()
    t.join(120)
    its = [e for _t, e in events if e.kind is EventKind.ITERATION]
    msgs = [e.text for _t, e in events if e.kind is EventKind.MESSAGE]
    assert sum(e.iterations for e in its) == 5  # every iteration, in one event per log point
    assert its[1].global_iter == 2, "the first iteration after the pause is a log point: the charts move at once"
    assert any(m.startswith("paused before epoch 1, iteration 2") for m in msgs) and "resumed" in msgs
    fin = [e for _t, e in events if e.kind is EventKind.FINISHED][0]
    wall = events[-1][0] - events[0][0]
    assert fin.elapsed_s < wall - 1.0  # the pause is not training time


def test_stop_while_paused_cancels(tmp_path, demo):
    from studio import api
    from studio.core.config.init import init_config

    init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="det_lite",
        overrides={"data": {"image_size": 64, "workers": 0}, "train": {"epochs": 2, "batch_size": 2, "device": "cpu"}},
    )
    ctl = RunControl()
    ctl.pause()
    threading.Timer(0.5, ctl.cancel).start()
    res = api.train(tmp_path / "c.yaml", work_dir=tmp_path / "run", cancel=ctl)
    assert res.status == "cancelled" and (tmp_path / "run" / "last.pt").is_file()


def test_peak_decimate_keeps_every_spike_and_the_visible_window():
    from studio.core.training.history import peak_decimate

    x = np.arange(100_000, dtype=float)
    y = np.zeros_like(x)
    y[[123, 50_001, 99_998]] = [5.0, -3.0, 7.0]
    y[777] = np.nan
    dx, dy = peak_decimate(x, y, bins=500)
    assert len(dx) <= 2 * 500 + 200 and np.all(np.diff(dx) >= 0)
    assert {5.0, -3.0, 7.0} <= set(dy.tolist())
    wx, wy = peak_decimate(x, y, 1000, 2000, bins=2000)  # zoomed in: every point of the window
    assert wx[0] == 999 and wx[-1] == 2001 and len(wx) == 1003
    short = np.arange(10.0)
    assert peak_decimate(short, short, bins=100)[0] is not None and len(peak_decimate(short, short, bins=100)[0]) == 10


def test_a_resumed_run_replaces_the_iterations_its_stop_abandoned():
    h = RunHistory()
    for g, (e, i) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2)], start=1):  # stopped during epoch 2
        h.add(IterationEnd(e, i, g, 2, {}, 1.0, 0.1, 1.0, 0.0, 0.0))
    h.add(IterationEnd(2, 1, 3, 2, {}, 0.5, 0.1, 1.0, 0.0, 0.0))  # resumed from the end of epoch 1
    x, y = h.losses["loss"].xy()
    assert list(x) == [0.5, 1.0, 1.5] and y[-1] == 0.5


def _reference_decimation(y: np.ndarray, lo: int, hi: int, size: int) -> np.ndarray:
    """What Series.decimated documents, point by point: y[lo:hi] cut at the multiples of ``size``, each run
    drawn as its min and max in x order (NaN skipped unless the whole run is NaN), plus the first and
    the last point, no index twice."""
    idx = [lo]
    edges = sorted({lo, hi, *range(-(-lo // size) * size, hi, size)})
    for a, b in zip(edges[:-1], edges[1:]):
        run = y[a:b]
        nan = np.isnan(run)
        i, j = a + int(np.where(nan, np.inf, run).argmin()), a + int(np.where(nan, -np.inf, run).argmax())
        idx += sorted((i, j))
    idx.append(hi - 1)
    return np.array([k for n, k in enumerate(idx) if n == 0 or k != idx[n - 1]])


def _window(n: int, x0: float, x1: float) -> tuple[int, int]:
    x = np.arange(n, dtype=float)
    return max(int(np.searchsorted(x, x0, side="left")) - 1, 0), min(int(np.searchsorted(x, x1, side="right")) + 1, n)


def test_the_min_max_pyramid_gives_exactly_the_documented_points():
    import math

    from studio.core.training.history import peak_decimate

    rng = np.random.default_rng(0)
    for trial in range(120):
        n = int(rng.integers(1, 40_000))
        y = rng.normal(size=n)
        y[rng.random(n) < 0.01] = np.nan
        if trial % 3 == 0:
            y[100:5000] = np.nan  # a gap longer than any run: kept as NaN points
        if trial % 5 == 0:
            y = np.round(y)  # ties: the earlier point, as argmin / argmax
        s = Series(capacity=16)
        cut = int(rng.integers(0, n))
        for i in range(cut):
            s.append(float(i), y[i])
        s.decimated(bins=int(rng.integers(1, 300)))  # a pyramid built halfway, then brought up to date
        for i in range(cut, n):
            s.append(float(i), y[i])
        bins = int(rng.integers(1, 500))
        x0, x1 = (-np.inf, np.inf) if trial % 4 == 0 else (float(rng.integers(-5, n)), float(rng.integers(0, 2 * n)))
        dx, dy = s.decimated(x0, x1, bins)
        lo, hi = _window(n, x0, x1)
        assert np.array_equal(dy, s.y[dx.astype(int)], equal_nan=True)
        if hi - lo <= 2 * bins:
            assert np.array_equal(dx, np.arange(lo, hi)), trial  # few enough: every point
            continue
        size = 1 << round(math.log2((hi - lo) / bins))
        if size < 8:  # a small window: peak_decimate itself
            ex, _ey = peak_decimate(np.arange(n, dtype=float), s.y[:n], x0, x1, bins)
            assert np.array_equal(dx, ex), trial
            continue
        assert np.array_equal(dx, _reference_decimation(s.y[:n], lo, hi, size)), trial
        assert len(dx) <= 2 * ((hi - lo) / size + 2) + 2  # ~2 * bins: between 1.41 and 2.83 bins


def test_the_pyramid_matches_peak_decimate_on_the_same_runs_and_keeps_every_spike():
    n, size = 1 << 17, 256
    x = np.arange(n, dtype=float)
    y = np.sin(x / 900.0)
    spikes = [123, 50_001, 99_998, n - 1]
    y[spikes] = [5.0, -3.0, 7.0, 9.0]
    y[70_000:70_600] = np.nan  # more than two runs missing: a gap in the chart
    s = Series()
    for a, b in zip(x, y):
        s.append(a, b)
    from studio.core.training.history import peak_decimate

    dx, dy = s.decimated(bins=n // size)  # runs of exactly 256 points, aligned at 0
    px, _py = peak_decimate(x, y, bins=n // size)  # the same runs (n // bins = 256)
    assert np.array_equal(dx, np.unique(np.concatenate([px, [0.0, n - 1.0]])))  # plus the first and last point
    assert {5.0, -3.0, 7.0, 9.0} <= set(dy[np.isfinite(dy)].tolist())
    gap = dx[np.isnan(dy)]  # a whole run of NaN is drawn as one NaN point: the line breaks there
    assert len(gap) and np.all((gap >= 70_000) & (gap < 70_600)) and np.all(np.diff(dx) > 0)


def test_decimation_follows_appends_and_resumes_and_repeats_itself_when_unchanged():
    s = Series()
    for i in range(20_000):
        s.append(float(i), float(np.sin(i)))
    first = s.decimated(bins=100)
    assert s.decimated(bins=100) is first  # unchanged: the same arrays (a chart skips the curve)
    stamp = s.stamp
    for i in range(5_000, 21_000):  # resumed from x = 5000: the later points are replaced
        s.append(float(i), -1.0 if i == 7_777 else 0.5)
    assert s.stamp != stamp
    dx, dy = s.decimated(bins=100)
    ref = Series()
    for i in range(21_000):
        ref.append(float(i), float(np.sin(i)) if i < 5_000 else (-1.0 if i == 7_777 else 0.5))
    rx, ry = ref.decimated(bins=100)
    assert np.array_equal(dx, rx) and np.array_equal(dy, ry) and 7_777.0 in dx.tolist()
    assert dx[-1] == 20_999  # the newest point ends the curve


def test_decimating_a_long_curve_is_cheap_once_built():
    s = Series()
    for i in range(200_000):
        s.append(float(i), float(i % 977))
    s.decimated(bins=500)
    t = time.perf_counter()
    for k in range(50):
        s.append(200_000.0 + k, 1.0)
        s.decimated(bins=500)
    per_call = (time.perf_counter() - t) / 50
    assert per_call < 0.002, f"{per_call * 1000:.2f} ms per redraw"  # O(bins); a full pass over 200k points is ~1 ms


def _it(epoch, it, elapsed, ipe=4, progress=None) -> IterationEnd:
    return IterationEnd(
        epoch, it, (epoch - 1) * ipe + it, ipe, {"l": 1.0}, 1.0, 0.01, 5.0, elapsed, 10.0, progress=progress
    )


def _epoch(epoch, epochs=2, elapsed=1.0) -> EpochEnd:
    return EpochEnd(epoch, epochs, {"l": 1.0}, {"segm_mAP": 0.1}, {}, 0.1, 0.1, epoch, True, 1.0, elapsed)


def test_the_run_index_follows_a_growing_log_and_reads_only_what_was_appended(tmp_path, monkeypatch):
    """A running run's row follows its log (it showed "0/4 · 0m00s" throughout): epochs done and time from the
    newest iteration; each call parses only the lines appended since the last."""
    from studio.core.training import run_index
    from studio.core.training.runlog import RunLog

    run = tmp_path / "runs" / "live"
    log = RunLog(run, iter_interval_s=0)
    log(_started(epochs=4, time_limit_s=60.0))
    s = summarize_run(run)
    assert (s.status, s.epochs_done, s.epochs, s.duration_s, s.time_limit_s) == ("interrupted", 0, 4, 0.0, 60.0)
    parsed = []
    real = run_index.from_record
    monkeypatch.setattr(run_index, "from_record", lambda rec: parsed.append(rec["kind"]) or real(rec))
    log(_it(1, 4, 7.5))
    log(_epoch(1, 4, 8.0))
    log(_it(2, 1, 9.0))
    s = summarize_run(run)
    assert parsed == ["iteration", "epoch", "iteration"], "the start was not read again"
    assert (s.epochs_done, s.epochs, s.duration_s) == (1, 4, 9.0)
    assert s.progress == pytest.approx(9.0 / 60.0), "a time limit: progress in time"
    parsed.clear()
    assert summarize_run(run) == s and parsed == [], "nothing appended: nothing parsed"
    with open(run / "events.jsonl", "ab") as f:
        f.write(b'{"kind": "iteration", "t": 5, "epo')  # being written: not yet a line
    assert summarize_run(run).duration_s == 9.0
    log.close()
    # the same file rewritten (not appended to): read again from its start
    log = RunLog(tmp_path / "runs" / "other", iter_interval_s=0)
    log(_started(epochs=3))
    log(_epoch(1, 3, 2.0))
    log(RunFinished("completed", 1, 0.1, 1, 2.0, {}))
    log.close()
    (run / "events.jsonl").write_bytes((tmp_path / "runs" / "other" / "events.jsonl").read_bytes())
    s = summarize_run(run)
    assert (s.status, s.epochs_done, s.epochs, s.time_limit_s) == ("finished", 1, 3, None)


def test_a_finished_run_whose_extension_stopped_stays_finished(tmp_path):
    from studio.core.training.events import RunCancelled
    from studio.core.training.runlog import RunLog

    run = tmp_path / "runs" / "r"
    log = RunLog(run, iter_interval_s=0)
    for ev in (_started(), _epoch(1), _epoch(2, elapsed=2.0), RunFinished("completed", 2, 0.1, 2, 2.0, {})):
        log(ev)
    (run / "last.pt").write_bytes(b"x")
    assert summarize_run(run).status == "finished"
    log(_started(start_epoch=2, epochs=5, resumed=True))  # Extend by 3 epochs
    log(_epoch(3, 5, elapsed=3.0))
    log(_it(4, 1, 3.5))
    s = summarize_run(run)
    assert (s.status, s.extension) == ("finished", "interrupted"), "the extension's process died: still finished"
    log(RunCancelled(4, 13, str(run / "last.pt")))
    log.close()
    s = summarize_run(run)
    assert (s.status, s.reason, s.extension, s.epochs_done, s.epochs) == ("finished", "completed", "stopped", 3, 3)
    assert s.duration_s == 3.5
    h = RunHistory.from_run(run)
    assert h.extension_ended == "stopped" and h.finished.reason == "completed"
    # a run that never finished stays cancelled
    other = tmp_path / "runs" / "o"
    log = RunLog(other, iter_interval_s=0)
    log(_started())
    log(RunCancelled(1, 2, None))
    log.close()
    assert summarize_run(other).status == "cancelled" and RunHistory.from_run(other).extension_ended == ""


def test_run_progress_is_in_time_with_a_time_limit():
    """The progress bar counted epochs while the time limit ended the run at 32 %."""
    from studio.core.training.events import run_progress

    st = _started(epochs=10, time_limit_s=100.0)
    assert run_progress(st, _it(1, 2, 50.0)) == pytest.approx(0.5), "time is further along than 2 of 40 iterations"
    assert run_progress(_started(epochs=10), _it(1, 2, 50.0)) == pytest.approx(2 / 40)
    assert run_progress(st, _it(1, 2, 500.0)) == 1.0
    assert run_progress(st, _it(1, 2, 50.0, progress=0.42)) == pytest.approx(0.42), "the trainer's own figure"
    h = RunHistory().extend([st, _it(1, 2, 32.0)])
    assert h.progress() == pytest.approx(0.32) and RunHistory().progress() is None


def test_runs_stamp_moves_with_new_runs_files_and_log_growth(tmp_path):
    import os

    from studio.core.training.run_index import runs_stamp
    from studio.core.training.runlog import RunLog

    root = tmp_path / "runs"
    assert runs_stamp(root) == ()
    log = RunLog(root / "a", iter_interval_s=0)
    log(_started())
    a, a_ckpt = runs_stamp(root), runs_stamp(root, logs=False)
    time.sleep(0.05)
    log(_it(1, 1, 1.0))
    assert runs_stamp(root) != a and runs_stamp(root, logs=False) == a_ckpt, "a longer log moves the log stamp only"
    before = runs_stamp(root, logs=False)
    time.sleep(0.05)  # file times move by the kernel's tick
    (root / "a" / "best.pt.tmp").write_bytes(b"x")
    os.replace(root / "a" / "best.pt.tmp", root / "a" / "best.pt")
    assert runs_stamp(root, logs=False) != before, "a new checkpoint (written aside, then renamed) moves it"
    (root / "b").mkdir()
    assert len(runs_stamp(root, logs=False)) == 2
    log.close()
