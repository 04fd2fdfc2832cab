"""Worker threads, the job registry, the status bar and the log panel."""

from __future__ import annotations

import logging
import threading
import time

from studio.core.errors import DatasetError
from studio.gui.common.workers import Jobs, Worker


def _count(n, progress, cancel, delay=0.0):
    for i in range(n):
        cancel.raise_if_cancelled()
        time.sleep(delay)
        progress(i + 1, n, "counting")
    return ("done", threading.current_thread().name)


def test_worker_runs_in_a_thread_and_reports(qtbot):
    w = Worker(_count, 5, title="count")
    seen = []
    w.progress.connect(lambda d, t, m: seen.append((d, t, m, threading.current_thread() is threading.main_thread())))
    with qtbot.waitSignal(w.finished, timeout=5000) as blocker:
        w.start()
    qtbot.waitUntil(lambda: not w.running)
    result, thread_name = blocker.args[0]
    assert result == "done"
    assert thread_name != threading.main_thread().name
    assert seen and seen[-1][:3] == (5, 5, "counting")
    assert all(in_main for *_, in_main in seen), "progress must be delivered in the GUI thread"


def test_worker_failure_carries_message_and_traceback(qtbot):
    def boom(progress, cancel):
        raise DatasetError("broken JSON", file="x.json")

    w = Worker(boom)
    with qtbot.waitSignal(w.failed, timeout=5000) as blocker:
        w.start()
    message, tb = blocker.args
    assert message == "x.json: broken JSON"
    assert "Traceback" in tb and "boom" in tb
    assert isinstance(w.error, DatasetError)


def test_worker_failure_from_the_os_is_the_cli_message(qtbot):
    import errno

    def full(progress, cancel):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/exports/a.jpg")

    w = Worker(full)
    with qtbot.waitSignal(w.failed, timeout=5000) as blocker:
        w.start()
    message, _tb = blocker.args
    assert message == (
        "/data/exports/a.jpg: no space left on the disk; free some space, or choose a folder on another disk"
    )


def test_worker_cancel(qtbot):
    w = Worker(_count, 1000, delay=0.005)
    finished = []
    w.finished.connect(finished.append)
    w.start()
    with qtbot.waitSignal(w.cancelled, timeout=5000):
        w.cancel()
    qtbot.waitUntil(lambda: not w.running)
    assert finished == []


def test_jobs_shutdown_joins_threads_and_status_bar_follows(qtbot):
    from studio.gui.common.job_status import JobStatus

    jobs = Jobs()
    status = JobStatus(jobs)
    qtbot.addWidget(status)
    status.show()
    idle_height = status.sizeHint().height()
    jobs.run(_count, 10_000, delay=0.002, title="Long job")
    qtbot.waitUntil(lambda: "Long job" in status.label.text(), timeout=3000)
    assert status.cancel_button.isVisible() and status.bar.isVisible()
    assert status.sizeHint().height() == idle_height  # a starting job does not resize the window's pages
    status.cancel_button.click()
    qtbot.waitUntil(lambda: jobs.is_idle(), timeout=5000)
    assert status.label.text() == "Ready"
    assert not status.cancel_button.isVisible()
    w2 = jobs.run(_count, 10_000, delay=0.002)
    jobs.shutdown()
    assert w2.token.cancelled and w2.wait(0)


def test_log_panel_receives_records_from_threads(qtbot):
    from studio.gui.common.log_panel import LogPanel

    panel = LogPanel()
    qtbot.addWidget(panel)
    try:
        logging.getLogger("studio.test").info("hello from the GUI thread")
        t = threading.Thread(target=lambda: logging.getLogger("studio.core.x").warning("hello from a worker"))
        t.start()
        t.join()
        logging.getLogger("other").warning("not ours")
        qtbot.waitUntil(lambda: "hello from a worker" in panel.plain_text(), timeout=3000)
        text = panel.plain_text()
        assert "hello from the GUI thread" in text
        assert "WARNING" in text and "studio.core.x" in text
        assert "not ours" not in text
    finally:
        panel.detach()
    logging.getLogger("studio.test").info("after detach")
    qtbot.wait(50)
    assert "after detach" not in panel.plain_text()


def test_image_loader_caches_and_evicts(qtbot, tmp_path):
    import cv2
    import numpy as np

    from studio.gui.common.image_cache import ImageLoader

    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), np.full((8, 12, 3), i * 40, np.uint8))
        paths.append(str(p))
    jobs = Jobs()
    loader = ImageLoader(jobs, capacity=2)
    for p in paths:
        with qtbot.waitSignal(loader.loaded, timeout=5000) as blocker:
            assert loader.request(p) is None
        assert blocker.args[0] == p and blocker.args[1].width() == 12
        qtbot.waitUntil(lambda: not loader.pending())
    assert loader.cached(paths[0]) is None  # evicted: only the last two are kept
    img = loader.request(paths[2])
    assert img is not None and img.height() == 8
    with qtbot.waitSignal(loader.failed, timeout=5000) as blocker:
        loader.request(str(tmp_path / "nope.jpg"))
    assert blocker.args[1] == f"image file not found: {tmp_path / 'nope.jpg'}"
    jobs.shutdown()


def test_run_connects_result_handlers_before_the_job_can_finish(qtbot):
    """An instant job's result is never lost (handlers given to run, connected before start)."""
    from studio.gui.common.workers import Jobs

    jobs = Jobs()
    got = []
    for i in range(20):
        jobs.run(lambda i=i, progress=None, cancel=None: i, on_finished=got.append, show=False)
    qtbot.waitUntil(lambda: len(got) == 20 and jobs.is_idle(), timeout=10_000)
    assert sorted(got) == list(range(20))
    jobs.shutdown()


def _own_nice(progress, cancel):
    import os

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _run_for_result(qtbot, fn):
    w = Worker(fn)
    with qtbot.waitSignal(w.finished, timeout=5000) as blocker:
        w.start()
    qtbot.waitUntil(lambda: not w.running)
    return blocker.args[0]


def test_worker_threads_run_below_the_gui_thread(qtbot, monkeypatch):
    """Workers get a higher nice than the GUI thread (Linux), so a busy decoder or check cannot delay a repaint."""
    import os
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread nice is Linux only")
    base = os.getpriority(os.PRIO_PROCESS, os.getpid())
    if base >= 19:
        pytest.skip("this process already runs at the lowest priority")
    monkeypatch.setenv("STUDIO_WORKER_NICE", "3")
    assert _run_for_result(qtbot, _own_nice) == min(base + 3, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base, "the GUI thread keeps its priority"
    monkeypatch.setenv("STUDIO_WORKER_NICE", "0")
    assert _run_for_result(qtbot, _own_nice) == base
