"""Whether this process was started by ``torchrun`` (or any launcher that sets its variables), and as what.

``torchrun --nnodes 2 --node-rank R --master-addr A --master-port P --nproc-per-node K -m studio train CFG``
starts K processes on each machine and tells each who it is through the environment: RANK (0..world-1, across
all machines), WORLD_SIZE, LOCAL_RANK (0..K-1 on this machine, which GPU it takes), MASTER_ADDR and MASTER_PORT
(where rank 0's rendezvous listens). ``studio train`` then joins that group instead of spawning its own
processes (:func:`studio.core.training.ddp.train_under_torchrun`). Pure Python (no torch), so the check costs
nothing when the variables are absent, and a half-set environment is refused before torch is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from studio.core.errors import StudioError

# torchrun sets all five; RANK, WORLD_SIZE or LOCAL_RANK alone mark a launch (MASTER_* alone are common leftovers)
MARKERS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
REQUIRED = (*MARKERS, "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_VAR = "STUDIO_DIST_TIMEOUT"  # seconds to wait for the master and the other ranks (default 30 min)
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class TorchrunEnv:
    """This process's place in a torchrun launch."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"rank {self.rank} of {self.world_size} (local rank {self.local_rank}), master {self.master}"

    @property
    def master(self) -> str:
        return f"{self.master_addr}:{self.master_port}"


def torchrun_env(environ: Mapping[str, str] | None = None) -> TorchrunEnv | None:
    """The launch this process belongs to, or None when no launcher set RANK / WORLD_SIZE / LOCAL_RANK.

    A half-set environment (some of the variables, or values that do not fit together) is a StudioError naming
    what is missing or wrong: training alone while the other machines wait for this rank would hang them.
    """
    env = os.environ if environ is None else environ
    if not any(env.get(k) for k in MARKERS):
        return None
    missing = [k for k in REQUIRED if not env.get(k)]
    if missing:
        given = ", ".join(f"{k}={env[k]}" for k in REQUIRED if env.get(k))
        raise StudioError(
            f"a distributed launch needs {', '.join(REQUIRED)}; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set (given: {given}). Start it with torchrun, "
            "or unset these variables to train on this machine alone",
            item="environment",
        )
    rank, world, local = (_int(env, k) for k in MARKERS)
    port = _int(env, "MASTER_PORT")
    if world < 1:
        raise StudioError(f"WORLD_SIZE must be at least 1, got {world}", item="environment")
    if not 0 <= rank < world:
        raise StudioError(f"RANK must be between 0 and WORLD_SIZE-1 ({world - 1}), got {rank}", item="environment")
    if not 0 <= local <= rank:
        raise StudioError(f"LOCAL_RANK must be between 0 and RANK ({rank}), got {local}", item="environment")
    if not 0 < port < 65536:
        raise StudioError(f"MASTER_PORT must be a TCP port (1-65535), got {port}", item="environment")
    return TorchrunEnv(rank, world, local, env["MASTER_ADDR"], port, _timeout(env))


def _int(env: Mapping[str, str], key: str) -> int:
    try:
        return int(env[key])
    except ValueError:
        raise StudioError(f"{key} must be a whole number, got {env[key]!r}", item="environment") from None


def _timeout(env: Mapping[str, str]) -> float:
    raw = env.get(TIMEOUT_VAR)
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise StudioError(f"{TIMEOUT_VAR} must be a positive number of seconds, got {raw!r}", item="environment")
    return value
