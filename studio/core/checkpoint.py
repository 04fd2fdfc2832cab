"""Studio checkpoints: one file holds everything eval, predict, inspect and export need.

``torch.save`` of a dict of plain types and tensors, so it loads with ``weights_only=True`` (no
pickled code runs). Writes are atomic and fsynced: a crash or a full disk mid-save leaves the previous
file intact.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from studio.core.atomic import clean_stale_temps, fsync_dir, fsync_file, naming
from studio.core.config.loader import validation_problems
from studio.core.config.schema import Config
from studio.core.data.classes import ClassMap
from studio.core.errors import StudioError

FORMAT = "studio-checkpoint"
VERSION = 1


class CheckpointError(StudioError):
    """A checkpoint cannot be read or does not fit what it is used for."""


def rng_state() -> dict:
    """Python, numpy and torch RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
    return {
        "python": pickle.dumps(random.getstate()).hex(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict) -> None:
    random.setstate(pickle.loads(bytes.fromhex(state["python"])))  # our own bytes, written by rng_state
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), int(n[2]), int(n[3]), float(n[4])))
    torch.set_rng_state(state["torch"])


def save(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (plus the format marker) atomically and durably.

    The bytes go to ``.<name>.<pid>.tmp``, are fsynced, then replace ``path``: a failed save (a full
    disk, a crash) never replaces the good file. An ``OSError`` names ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION, **payload}
    tmp = _temp(path)
    try:
        with naming(path, tmp):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                sink = _Sink(fd)
                try:
                    torch.save(data, sink)
                except RuntimeError:
                    if sink.error is not None:  # torch wraps the failed write: raise the OS error itself
                        raise sink.error from None
                    raise
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
    finally:
        _discard(tmp)
    fsync_dir(path.parent)
    return path


class _Sink:
    """``torch.save``'s output file: every byte is written to ``fd``, and a failed write is kept
    (torch reports it as a RuntimeError "unexpected pos", which hides the full disk)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.error: OSError | None = None

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as e:
            self.error = e
            raise
        return n

    def flush(self) -> None:
        pass


def copy(src: str | Path, dst: str | Path) -> Path:
    """Atomic, durable copy of a written checkpoint (best.pt / epoch_N.pt from last.pt: serialised once)."""
    src, dst = Path(src), Path(dst)
    tmp = _temp(dst)
    try:
        with naming(dst, tmp):
            shutil.copyfile(src, tmp)
            fsync_file(tmp)
            os.replace(tmp, dst)
    finally:
        _discard(tmp)
    fsync_dir(dst.parent)
    return dst


def _temp(path: Path) -> Path:
    """This process's temporary sibling of ``path``; those of dead processes (kill -9) are removed first."""
    clean_stale_temps(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: ``data`` is the saved dict, :attr:`config` its run config, validated once."""

    path: Path
    data: dict

    @property
    def arch(self) -> str:
        return self.data["arch"]

    @property
    def classes(self) -> ClassMap:
        return ClassMap.from_dict(self.data["classes"])

    @property
    def raw_config(self) -> dict:
        """The config as saved (a plain dict): for writing it back; read :attr:`config` otherwise."""
        return self.data["config"]

    @cached_property
    def config(self) -> Config:
        """The run config, validated on first use (a checkpoint that is only resumed or copied never needs
        it). CheckpointError naming the file and the first bad key when it no longer validates (a config
        from an older Studio, or a hand-edited file)."""
        try:
            return Config.model_validate(self.raw_config)
        except ValidationError as e:
            problems = validation_problems(e)
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CheckpointError(
                f"its config does not validate (written by an older Studio, or edited?): {problems[0]}{more}",
                file=self.path,
            ) from None

    @property
    def epoch(self) -> int:
        return int(self.data.get("epoch", 0))

    def weights(self, prefer_ema: bool = True) -> dict:
        ema = self.data.get("ema")
        return ema if (prefer_ema and ema) else self.data["model"]


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint is, without its weights: :func:`describe`."""

    path: Path
    arch: str
    task: str | None  # "detect" / "segment"; None in a checkpoint that does not say
    classes: tuple[str, ...]
    epoch: int
    best_metric: float | None
    metric_name: str | None  # what best_metric measures, e.g. segm_mAP
    image_size: int  # the config's data.image_size: the model's input size
    params: int | None = None  # parameters, with ``describe(complexity=True)``
    gflops: float | None = None  # 1e9 FLOPs (multiply-add = 2) of one image at image_size x image_size

    def complexity_text(self) -> str:
        """``3.25 M parameters, 2.78 GFLOPs at 320x320`` (empty when not counted)."""
        if self.params is None:
            return ""
        text = f"{self.params / 1e6:.2f} M parameters"  # formatted here: the window reads it without torch
        if self.gflops is not None:
            text += f", {self.gflops:.2f} GFLOPs at {self.image_size}x{self.image_size}"
        return text

    def lines(self) -> list[str]:
        """The description as ``key: value`` lines (``studio models --checkpoint``)."""
        out = [
            f"checkpoint: {self.path}",
            f"architecture: {self.arch} ({self.task or 'task unknown'}), input {self.image_size}x{self.image_size}",
            f"epoch: {self.epoch}",
        ]
        if self.best_metric is not None:
            out.append(f"best {self.metric_name or 'metric'}: {self.best_metric:.4f}")
        out.append(f"classes ({len(self.classes)}): {', '.join(self.classes)}")
        if self.params is not None:
            out.append(f"complexity: {self.complexity_text()} (torch's FlopCounterMode, multiply-add = 2 FLOPs)")
        return out


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate a Studio checkpoint; every failure names the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", file=path)
    if path.is_dir():
        raise CheckpointError(
            "is a folder, not a checkpoint (for a run folder, name best.pt or last.pt in it)", file=path
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (
        zipfile.BadZipFile,
        RuntimeError,
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        OSError,
        IndexError,  # a garbage file read as a legacy pickle: "pop from empty list"
        KeyError,
        TypeError,
    ) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"not a readable checkpoint (truncated or corrupt?): {first}", file=path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            "not a Studio checkpoint (no 'format: studio-checkpoint' marker); "
            "use it as model.weights to fine-tune from it",
            file=path,
        )
    if int(data.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"written by a newer Studio (checkpoint version {data.get('version')}, this Studio reads {VERSION})",
            file=path,
        )
    for key in ("arch", "classes", "config", "model"):
        if key not in data:
            raise CheckpointError(f"incomplete checkpoint: no {key!r}", file=path)
    return Checkpoint(path, data)


def resolve(path_or_run: str | Path) -> Path:
    """A checkpoint file, or the best (else last) checkpoint of a run folder."""
    p = Path(path_or_run)
    if p.is_dir():
        for name in ("best.pt", "last.pt"):
            if (p / name).is_file():
                return p / name
        raise CheckpointError("no best.pt or last.pt in this run folder", file=p)
    return p


def describe(ckpt: Checkpoint, complexity: bool = False) -> CheckpointInfo:
    """What ``ckpt`` is: architecture, task, classes, epoch, best metric and input size; with ``complexity``
    also its parameters and GFLOPs at that size (the model is built and run once: about a second for the
    fast models on a CPU, see :mod:`studio.core.models.complexity`)."""
    d = ckpt.data
    params = gflops = None
    if complexity:
        c = _complexity(ckpt)
        params, gflops = c.params, c.gflops
    return CheckpointInfo(
        path=ckpt.path,
        arch=ckpt.arch,
        task=d.get("task"),
        classes=tuple(ckpt.classes.names),
        epoch=ckpt.epoch,
        best_metric=d.get("best_metric"),
        metric_name=d.get("metric_name"),
        image_size=ckpt.config.data.image_size,
        params=params,
        gflops=gflops,
    )


def _complexity(ckpt: Checkpoint):
    """The checkpoint's model, with its weights, counted at its input size."""
    from studio.core.models import build_model  # deferred: torchvision
    from studio.core.models.complexity import model_complexity  # deferred: torchvision

    cfg = ckpt.config
    model = build_model(
        ckpt.arch,
        ckpt.classes.num_classes,
        image_size=cfg.data.image_size,
        score_thr=cfg.model.score_thr,
        max_detections=cfg.model.max_detections,
        backbone=getattr(cfg.model, "backbone", None),
    )
    try:
        model.load_state_dict(ckpt.weights())
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit {ckpt.arch}: {str(e).splitlines()[0]}", file=ckpt.path) from None
    return model_complexity(model, cfg.data.image_size)
