"""Multi-process training with torch.distributed: NCCL on CUDA (one process per GPU), gloo on CPU.

``launch`` spawns ``devices`` processes on this machine; each runs a :class:`Trainer` with its rank.
The sampler gives each rank its share of every epoch, gradients are averaged by DDP, and only rank 0
evaluates, writes checkpoints and the event log, and calls the callbacks (in the parent process, the
callbacks see rank 0's events through a queue).

``isolate=True`` runs even a single-device run in a child process this way: a trainer in one of the
caller's threads competes with its other threads for the GIL (data loading, evaluation and its plots
are Python), which froze the desktop app's window for up to a second at a time (bench/gui_train.py).
The child also runs at a lower CPU priority (``nice``); pause and stop reach it through shared flags
(:mod:`studio.core.training.relay`, which both ways of training in children share).
The app itself goes through :mod:`studio.core.training.isolated` (``train_job(isolate=True)`` with one
device), which runs the same ``worker`` but imports no torch in the window's process and starts the
child below the window's priority from its first instruction.

Across machines ``torchrun`` starts the processes instead (:func:`train_under_torchrun`): each joins the group
its environment names (:mod:`studio.core.training.torchrun_env`), spawns nothing, and takes the GPU of its
LOCAL_RANK; rank 0 picks the run folder and tells the others. See docs/gpu.md.
"""

from __future__ import annotations

import datetime
import os
import socket
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from studio.core.config.schema import Config
from studio.core.errors import StudioError, error_message
from studio.core.jobs import CancelToken
from studio.core.training.events import Event, RunFailed, RunResult
from studio.core.training.relay import POLL_S, Channel, SharedToken, run_result
from studio.core.training.torchrun_env import TIMEOUT_VAR, TorchrunEnv
from studio.core.training.trainer import Trainer

# rank 0's choice of run folder, checkpoint to resume and config: (run_dir, resume or None, config)
Resolved = tuple[Path, Path | None, Config]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(
    rank: int,
    world: int,
    port: int,
    cfg_json: dict,
    run_dir: str,
    resume,
    source,
    events,
    cancel_flag,
    pause_flag=None,
    nice: int = 0,
) -> None:
    """One training process, rank ``rank`` of ``world``: what :func:`launch` spawns, and what the child process of
    :mod:`studio.core.training.isolated` runs (rank 0 of 1)."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    cfg = Config.model_validate(cfg_json)
    use_cuda = torch.cuda.is_available() and cfg.train.device != "cpu"
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(rank)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    token = SharedToken(cancel_flag, pause_flag if pause_flag is not None else mp.get_context("spawn").Value("b", 0))
    callbacks = [events.put] if rank == 0 else []
    trainer = None
    try:
        if world > 1:
            dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(minutes=30))
        trainer = Trainer(
            cfg, run_dir, callbacks=callbacks, cancel=token, resume=resume, rank=rank, world_size=world, source=source
        )
        trainer.run()
    except BaseException as e:  # Trainer.run already reported it as RunFailed; report what came before
        if rank == 0 and trainer is None:  # the parent raises StudioError(this one line); no traceback on stderr
            events.put(RunFailed(error_message(e), traceback.format_exc(), 0, False))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(
    cfg: Config,
    run_dir: str | Path,
    devices: int,
    *,
    callbacks: Iterable[Callable[[Event], None]] = (),
    cancel: CancelToken | None = None,
    resume: str | Path | None = None,
    source: str | Path | None = None,
    isolate: bool = False,
    nice: int = 0,
) -> RunResult:
    """Train with ``devices`` processes (DDP). Blocks until they finish; events reach ``callbacks``.

    One device trains in this process unless ``isolate``; ``nice`` lowers the children's CPU priority.
    """
    if devices < 2 and not isolate:
        return Trainer(cfg, run_dir, callbacks=callbacks, cancel=cancel, resume=resume, source=source).run()
    ch = Channel(mp.get_context("spawn"))
    args = (devices, _free_port(), *ch.child_args(cfg, run_dir, resume, source), nice)
    procs = mp.start_processes(worker, args=args, nprocs=devices, join=False, start_method="spawn")

    def ended() -> bool:
        try:
            return procs.join(timeout=POLL_S)
        except mp.ProcessRaisedException as e:
            raise StudioError(f"a training process failed: {str(e).strip().splitlines()[-1]}") from None

    last = ch.relay(callbacks, ended, cancel)
    return run_result(last, run_dir, "the training processes ended without reporting a result")


def train_under_torchrun(
    env: TorchrunEnv,
    config: Config,
    resolve: Callable[[], Resolved],
    *,
    callbacks: Iterable[Callable[[Event], None]] = (),
    cancel: CancelToken | None = None,
    source: str | Path | None = None,
) -> RunResult:
    """Train as rank ``env.rank`` of a torchrun launch: join the process group (NCCL on CUDA, gloo on the CPU),
    let rank 0 pick the run folder (``resolve``: only rank 0 calls it, so two ranks on one machine cannot
    pick two folders), then run the same :class:`Trainer` as :func:`launch`'s children. Only rank 0 writes the
    run folder and reports events; ``config`` (this rank's own reading of the config) only chooses the backend.
    """
    use_cuda = torch.cuda.is_available() and config.train.device != "cpu"
    if use_cuda:
        if env.local_rank >= torch.cuda.device_count():
            raise StudioError(
                f"LOCAL_RANK is {env.local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
                "give torchrun at most that many --nproc-per-node",
                item="environment",
            )
        torch.cuda.set_device(env.local_rank)
    if env.world_size == 1:
        run_dir, ckpt, cfg = resolve()
        return Trainer(cfg, run_dir, callbacks=callbacks, cancel=cancel, resume=ckpt, source=source).run()
    join_group(env, "nccl" if use_cuda else "gloo")
    try:
        run_dir, ckpt, cfg = _agree(env, resolve)
        trainer = Trainer(
            cfg,
            run_dir,
            callbacks=callbacks,
            cancel=cancel,
            resume=ckpt,
            rank=env.rank,
            world_size=env.world_size,
            source=source,
        )
        return trainer.run()
    finally:
        dist.destroy_process_group()


def join_group(env: TorchrunEnv, backend: str) -> None:
    """``init_process_group`` from the environment, with a message that says what to check when the master
    cannot be reached or the other ranks do not come within ``env.timeout_s``."""
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = env.master_addr, str(env.master_port)  # env:// reads them
    try:
        dist.init_process_group(
            backend,
            init_method="env://",
            rank=env.rank,
            world_size=env.world_size,
            timeout=datetime.timedelta(seconds=env.timeout_s),
        )
    except (RuntimeError, TimeoutError, OSError) as e:
        cause = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise StudioError(
            f"{env.describe()}: could not join the other training processes within {env.timeout_s:g} s ({cause}). "
            f"Check that node 0 is running, that {env.master} is reachable from this machine (address, port, "
            f"firewall) and that every node was started with the same --nnodes and --master-port; "
            f"{TIMEOUT_VAR}=SECONDS sets how long to wait",
            item="environment",
        ) from None


def _agree(env: TorchrunEnv, resolve: Callable[[], Resolved]) -> Resolved:
    """Rank 0 resolves the run, every rank gets its answer (or its refusal) through one broadcast."""
    box: list = [None]
    failure: Exception | None = None
    if env.is_main:
        try:
            run_dir, ckpt, cfg = resolve()
            box[0] = (str(run_dir), str(ckpt) if ckpt else None, cfg.model_dump(mode="json"), None)
        except Exception as e:  # noqa: BLE001 - the other ranks must hear of it, or they wait for the broadcast
            failure = e
            box[0] = (None, None, None, error_message(e))
    dist.broadcast_object_list(box, src=0)
    run_dir, ckpt, cfg_json, error = box[0]
    if failure is not None:
        raise failure
    if error is not None:
        raise StudioError(f"rank 0 refused the run: {error}")
    return Path(run_dir), Path(ckpt) if ckpt else None, Config.model_validate(cfg_json)
