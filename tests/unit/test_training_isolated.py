"""The app's training child process: started below the window's CPU priority, relayed without torch."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time

import pytest

from studio.core.training.isolated import _below, _start, lower_priority

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")


def _priority(pid: int | str = "thread-self") -> tuple[int, int]:
    """(nice, scheduling policy) from /proc: fields 19 and 41 of stat."""
    path = "/proc/thread-self/stat" if pid == "thread-self" else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[16]), int(fields[38])


@linux
def test_lowering_a_thread_leaves_the_others_alone():
    before = _priority()
    seen = {}

    def run():
        seen["how"] = lower_priority(5)
        seen["inside"] = _priority()
        seen["below"] = _below(before[0])

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert _priority() == before  # this thread (the window's, in the app) kept its priority
    assert seen["how"] and seen["below"]
    nice, policy = seen["inside"]
    assert nice > before[0] or policy == os.SCHED_IDLE  # at nice 19 already: SCHED_IDLE is the only way down
    assert lower_priority(0) == ""


@linux
def test_the_child_starts_below_the_window_from_its_first_instruction():
    mine = _priority()
    proc = mp.get_context("spawn").Process(target=time.sleep, args=(20,))
    _start(proc, 5)
    try:
        nice, policy = _priority(proc.pid)  # read while the child is still starting its interpreter
        assert nice > mine[0] or policy == os.SCHED_IDLE
        assert _priority() == mine  # the calling thread was not lowered
    finally:
        proc.kill()
        proc.join(10)


def test_relaying_a_run_imports_neither_torch_nor_the_trainer():
    code = (
        "import sys; import studio.core.training.runs, studio.core.training.isolated, studio.gui.train.jobs; "
        "bad = [m for m in ('torch', 'studio.core.training.trainer', 'studio.core.training.ddp') if m in sys.modules]; "
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_the_relay_forwards_pause_and_stop_and_hands_back_every_event(tmp_path):
    """One relay for DDP and the app's child: flags out, events in, the last event made the run's result."""
    from studio.core.errors import StudioError
    from studio.core.training.control import RunControl
    from studio.core.training.events import Message, RunCancelled, RunFailed
    from studio.core.training.relay import Channel, SharedToken, run_result

    ch = Channel(mp.get_context("spawn"))
    control = RunControl()
    control.pause()
    seen: list = []
    polls = iter(range(3))

    def ended() -> bool:  # a child that sends its events while the parent waits, then ends
        k = next(polls, None)
        if k == 0:
            ch.events.put(Message("info", "epoch 1"))
        elif k == 1:
            assert ch.pause_flag.value == 1 and ch.cancel_flag.value == 0  # the pause reached the child's flags
            control.cancel()
            ch.events.put(RunCancelled(3, 7, None))
        return k is None

    last = ch.relay([seen.append], ended, control)
    assert [type(e) for e in seen] == [Message, RunCancelled] and last is seen[-1]
    assert ch.cancel_flag.value == 1
    token = SharedToken(ch.cancel_flag, ch.pause_flag)  # the child's side of the same flags
    assert token.cancelled and token.wait_while_paused() == 0.0  # a stopped run does not wait
    res = run_result(last, tmp_path, "no result")
    assert (res.status, res.epochs_done, res.run_dir) == ("cancelled", 2, tmp_path)
    with pytest.raises(StudioError, match="disk full"):
        run_result(RunFailed("disk full", "", 1, False), tmp_path, "no result")
    with pytest.raises(StudioError, match="no result"):
        run_result(None, tmp_path, "no result")
