"""Run folders: where a new run goes, which checkpoint ``--resume`` continues, and the train job."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from studio.core.config.loader import load_config, relative_amount
from studio.core.config.schema import Config
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken
from studio.core.training.events import Event
from studio.core.training.isolated import launch_isolated
from studio.core.training.run_folder import refuse_existing_run
from studio.core.training.run_index import summarize_run
from studio.core.training.run_lock import refuse_if_held
from studio.core.training.torchrun_env import torchrun_env

DEFAULT_ROOT = Path("runs")


def new_run_dir(name: str, root: Path = DEFAULT_ROOT) -> Path:
    """``root/name``, or ``root/name-2``, ``-3``... when that already holds a run (never overwrite one)."""
    cand = root / name
    n = 2
    while cand.exists() and any(cand.iterdir()):
        cand = root / f"{name}-{n}"
        n += 1
    return cand


def resolve_run(
    cfg_path: str | Path, work_dir: str | Path | None, resume: bool | str | Path | None
) -> tuple[Path, Path | None]:
    """(run folder, checkpoint to resume or None) for ``studio train CFG [--work-dir] [--resume [CKPT]]``.

    A new run never replaces one: without ``work_dir`` a fresh ``runs/NAME-2``... is picked, an explicit
    ``work_dir`` that holds a run is refused; a folder another process trains is refused either way
    (the trainer checks both again once it holds the folder's lock).
    """
    run_dir, ckpt = _resolve(Path(cfg_path).stem, work_dir, resume)
    if ckpt is None:
        refuse_existing_run(run_dir)
    refuse_if_held(run_dir)
    return run_dir, ckpt


def _resolve(stem: str, work_dir, resume) -> tuple[Path, Path | None]:
    if resume in (None, False):
        return (Path(work_dir) if work_dir else new_run_dir(stem)), None
    if resume is True:
        run_dir = Path(work_dir) if work_dir else DEFAULT_ROOT / stem
        last = run_dir / "last.pt"
        if not last.is_file():
            raise StudioError("nothing to resume: no last.pt (name the checkpoint: --resume PATH)", file=run_dir)
        return run_dir, last
    ckpt = Path(resume)
    if ckpt.is_dir():
        ckpt = ckpt / "last.pt"
    if not ckpt.is_file():
        raise StudioError("checkpoint to resume not found", file=ckpt)
    return (Path(work_dir) if work_dir else ckpt.parent), ckpt


def extension_overrides(overrides: Sequence[str], ckpt: Path) -> list[str]:
    """``train.epochs=+N`` resuming ``ckpt``: N more epochs than its run has done (read from the run's
    events.jsonl; without one, N more than the config says). Unless ``train.time_limit`` is also set, the
    extension has no time limit: the first run's budget is spent, as with the Train page's Extend."""
    summary = summarize_run(ckpt.parent)
    out, extends = [], False
    for o in overrides:
        more = relative_amount(o)
        if more is not None and _key(o) == "train.epochs":
            extends = True
            if summary is not None:
                o = f"train.epochs={summary.epochs_done + int(more)}"
        out.append(o)
    if extends and not any(_key(o) == "train.time_limit" for o in out):
        out.append("train.time_limit=null")
    return out


def _pick_run(
    config: Config, source: Path | None, name: str, overrides: Sequence[str], work_dir, resume
) -> tuple[Path, Path | None, Config]:
    """The run folder, the checkpoint to resume (or None) and the config to train (reread for ``+N`` epochs)."""
    run_dir, ckpt = resolve_run(source or name, work_dir, resume)
    if source is not None and ckpt is not None and any(relative_amount(o) is not None for o in overrides):
        config = load_config(source, extension_overrides(overrides, ckpt))
    return run_dir, ckpt, config


def _key(override: str) -> str:
    return override.split("=", 1)[0].strip()


def train_job(
    cfg: str | Path | Config,
    *,
    overrides: Sequence[str] = (),
    work_dir: str | Path | None = None,
    resume: bool | str | Path | None = None,
    devices: int = 1,
    callbacks: Iterable[Callable[[Event], None]] = (),
    cancel: CancelToken | None = None,
    isolate: bool = False,
    dist_timeout: float | None = None,
):
    """Load the config, pick the run folder and train (DDP when ``devices`` > 1). Returns a RunResult.

    ``isolate``: train in a child process at a lower CPU priority (the desktop app; one device: see
    studio.core.training.isolated, several: ddp.launch). Started by torchrun (RANK, WORLD_SIZE... set), this
    process trains as its rank (ddp.train_under_torchrun); ``dist_timeout`` is then how many seconds it waits
    for the master and the other ranks.
    """
    env = None if isolate else torchrun_env()  # a half-set launch environment is refused before anything else
    if isinstance(cfg, Config):
        if overrides:
            raise StudioError("overrides apply to a config file; edit the Config object instead")
        config, source, name = cfg, None, "run"
    else:
        config, source, name = load_config(cfg, overrides), Path(cfg), Path(cfg).stem
    if devices < 1:
        raise StudioError(f"--devices must be at least 1, got {devices}")
    if env is not None:  # started by torchrun: join its processes, spawn none
        if devices != 1:
            raise StudioError(
                "under torchrun the processes come from its --nnodes and --nproc-per-node: drop --devices",
                item="--devices",
            )
        if dist_timeout is not None:
            env = replace(env, timeout_s=dist_timeout)
        from studio.core.training.ddp import train_under_torchrun  # deferred: torch

        def pick() -> tuple[Path, Path | None, Config]:
            return _pick_run(config, source, name, overrides, work_dir, resume)

        return train_under_torchrun(env, config, pick, callbacks=callbacks, cancel=cancel, source=source)
    run_dir, ckpt, config = _pick_run(config, source, name, overrides, work_dir, resume)
    if isolate and devices < 2:  # the app: a child process, and no torch import in the window's threads
        return launch_isolated(config, run_dir, callbacks=callbacks, cancel=cancel, resume=ckpt, source=source, nice=5)
    from studio.core.training.ddp import launch  # deferred: torch

    return launch(
        config,
        run_dir,
        devices,
        callbacks=callbacks,
        cancel=cancel,
        resume=ckpt,
        source=source,
        isolate=isolate,
        nice=5 if isolate else 0,
    )
