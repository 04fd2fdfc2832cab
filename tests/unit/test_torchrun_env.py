"""torchrun's environment: detected, refused when half-set, and a master nobody answers fails clearly."""

from __future__ import annotations

import socket

import pytest

from studio.core.errors import StudioError
from studio.core.training.torchrun_env import DEFAULT_TIMEOUT_S, TorchrunEnv, torchrun_env

FULL = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29500"}


def test_no_launcher_variables_means_no_torchrun():
    assert torchrun_env({}) is None
    assert torchrun_env({"MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29500"}) is None  # leftovers alone


def test_a_full_environment_gives_rank_world_and_local_rank():
    env = torchrun_env(FULL)
    assert env == TorchrunEnv(3, 4, 1, "10.0.0.5", 29500, DEFAULT_TIMEOUT_S)
    assert not env.is_main and env.master == "10.0.0.5:29500"
    assert torchrun_env({**FULL, "RANK": "0", "LOCAL_RANK": "0"}).is_main
    assert torchrun_env({**FULL, "STUDIO_DIST_TIMEOUT": "12.5"}).timeout_s == 12.5


@pytest.mark.parametrize(
    "change, words",
    [
        ({"MASTER_ADDR": ""}, "MASTER_ADDR is not set"),
        ({"MASTER_ADDR": "", "MASTER_PORT": ""}, "MASTER_ADDR, MASTER_PORT are not set"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be a whole number, got 'two'"),
        ({"RANK": "4"}, "RANK must be between 0 and WORLD_SIZE-1 (3), got 4"),
        ({"LOCAL_RANK": "5"}, "LOCAL_RANK must be between 0 and RANK (3), got 5"),
        ({"MASTER_PORT": "70000"}, "MASTER_PORT must be a TCP port"),
        ({"STUDIO_DIST_TIMEOUT": "-1"}, "STUDIO_DIST_TIMEOUT must be a positive number"),
    ],
)
def test_a_half_set_or_inconsistent_environment_is_refused(change, words):
    with pytest.raises(StudioError, match="environment") as e:
        torchrun_env({**FULL, **change})
    assert words in str(e.value)


def test_only_rank_set_names_every_missing_variable():
    with pytest.raises(StudioError) as e:
        torchrun_env({"RANK": "1"})
    msg = str(e.value)
    assert "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set (given: RANK=1)" in msg
    assert "torchrun" in msg


def test_devices_with_torchrun_is_refused(monkeypatch, tmp_path):
    from studio.core.training.runs import train_job

    for k, v in {**FULL, "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {arch: seg_lite}\ndata: {train: {ann: a.json}}\n")
    with pytest.raises(StudioError, match="drop --devices"):
        train_job(cfg, devices=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_master_fails_within_the_timeout_with_what_to_check(monkeypatch):
    from studio.core.training.ddp import join_group

    monkeypatch.setenv("MASTER_ADDR", "unset")  # join_group sets both; monkeypatch puts them back
    monkeypatch.setenv("MASTER_PORT", "1")
    port = _free_port()  # nobody listens there
    with pytest.raises(StudioError) as e:
        join_group(TorchrunEnv(1, 2, 0, "127.0.0.1", port, 0.5), "gloo")
    msg = str(e.value)
    assert f"rank 1 of 2 (local rank 0), master 127.0.0.1:{port}" in msg
    assert "could not join the other training processes within 0.5 s" in msg
    assert "STUDIO_DIST_TIMEOUT" in msg and "firewall" in msg


def test_studio_train_with_a_half_set_environment_exits_2_naming_the_variables(monkeypatch, tmp_path, capsys):
    from studio.cli import main

    monkeypatch.setenv("RANK", "1")
    for k in ("WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set" in err
    assert not (tmp_path / "runs").exists()
