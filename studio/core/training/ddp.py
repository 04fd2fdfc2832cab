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
from studio.core.training.trainer import Trainer


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
