"""Studio checkpoints: one file holds everything eval, predict, inspect and export need.

``torch.save`` of a dict of plain types and tensors, so it loads with ``weights_only=True`` (no
pickled code runs). Writes are atomic: a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
    """Write ``payload`` (plus the format marker) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION, **payload}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(data, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def copy(src: str | Path, dst: str | Path) -> Path:
    """Atomic copy of a written checkpoint (best.pt / epoch_N.pt from last.pt: serialised once)."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dst


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    data: dict

    @property
    def arch(self) -> str:
        return self.data["arch"]

    @property
    def classes(self) -> ClassMap:
        return ClassMap.from_dict(self.data["classes"])

    @property
    def config(self) -> dict:
        return self.data["config"]

    @property
    def epoch(self) -> int:
        return int(self.data.get("epoch", 0))

    def weights(self, prefer_ema: bool = True) -> dict:
        ema = self.data.get("ema")
        return ema if (prefer_ema and ema) else self.data["model"]


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and validate a Studio checkpoint; every failure names the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", file=path)
    if path.is_dir():
        raise CheckpointError("is a folder, not a checkpoint (for a run folder, name best.pt or last.pt in it)", file=path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (zipfile.BadZipFile, RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"not a readable checkpoint (truncated or corrupt?): {first}", file=path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError("not a Studio checkpoint (no 'format: studio-checkpoint' marker); use it as model.weights to fine-tune from it", file=path)
    if int(data.get("version", 0)) > VERSION:
        raise CheckpointError(f"written by a newer Studio (checkpoint version {data.get('version')}, this Studio reads {VERSION})", file=path)
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


def describe(ckpt: Checkpoint) -> dict[str, Any]:
    return {
        "arch": ckpt.arch,
        "classes": list(ckpt.classes.names),
        "epoch": ckpt.epoch,
        "best_metric": ckpt.data.get("best_metric"),
        "metric_name": ckpt.data.get("metric_name"),
    }
