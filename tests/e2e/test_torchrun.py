"""``studio train`` under torchrun: two gloo "nodes" on localhost train one run that rank 0 alone writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.training.events import EventKind
from studio.core.training.runlog import read_events

REPO = Path(__file__).resolve().parents[2]
TINY = {
    "data": {"image_size": 64, "workers": 0, "augment": {"scale_jitter": [0.9, 1.1]}},
    "train": {"epochs": 1, "batch_size": 2, "device": "cpu", "warmup_iters": 1, "eval_every": 1},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(rank: int, port: int, cfg: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "STUDIO_DIST_TIMEOUT": "120"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--node-rank",
        str(rank),
        "--nproc-per-node",
        "1",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        "-m",
        "studio",
        "train",
        str(cfg),
    ]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


REFUSING_RANK = """
from types import SimpleNamespace
from studio.core.errors import StudioError
from studio.core.training.ddp import train_under_torchrun
from studio.core.training.torchrun_env import torchrun_env

def resolve():
    raise StudioError("holds a run already", file="runs/x")

try:
    train_under_torchrun(torchrun_env(), SimpleNamespace(train=SimpleNamespace(device="cpu")), resolve)
except StudioError as e:
    print("refused:", e)
"""


@pytest.mark.slow  # two processes that import torch: 19 s on the shared 2-core machine
def test_when_rank_0_refuses_the_run_every_rank_stops_with_its_reason(tmp_path):
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "STUDIO_DIST_TIMEOUT": "60",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", REFUSING_RANK], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
            )
        )
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert "refused: runs/x: holds a run already" in outs[0]
    assert "refused: rank 0 refused the run: runs/x: holds a run already" in outs[1]


@pytest.mark.slow
def test_two_torchrun_nodes_train_one_run_written_by_rank_0(tmp_path, demo):
    from studio.core.config.init import init_config

    cfg = tmp_path / "tiny.yaml"
    init_config(demo["train"].annotations, cfg, val_ann=demo["val"].annotations, arch="seg_lite", overrides=TINY)
    port = _free_port()
    nodes = [_node(r, port, cfg, tmp_path) for r in (0, 1)]
    try:
        outs = [p.communicate(timeout=240)[0] for p in nodes]
    finally:
        for p in nodes:
            if p.poll() is None:
                p.kill()
    for p, out in zip(nodes, outs):
        assert p.returncode == 0, out
    runs = sorted((tmp_path / "runs").iterdir())
    assert [r.name for r in runs] == ["tiny"], "rank 1 must not pick a folder of its own"  # not also runs/tiny-2
    run = runs[0]
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file() and (run / "config.yaml").is_file()
    logged = list(read_events(run))
    started = [e for e in logged if e.kind is EventKind.STARTED]
    assert len(started) == 1 and started[0].world_size == 2
    its = [e for e in logged if e.kind is EventKind.ITERATION]
    assert its and its[-1].iters_per_epoch == 3  # 10 images over 2 ranks, batch 2: 5 images, 3 batches each
    assert sum(e.kind is EventKind.FINISHED for e in logged) == 1
    assert "epoch 1/1" in outs[0] and "epoch 1/1" not in outs[1]  # rank 0 alone reports
    assert f"run folder: {Path('runs') / 'tiny'}" in outs[1]  # rank 1 was told rank 0's folder
