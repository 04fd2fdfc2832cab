"""Reading a weights file the user named: a Studio checkpoint, a raw state dict, or a dict holding one.

Always ``torch.load(weights_only=True)``: a weights file may come from anywhere, and unpickling
arbitrary objects runs arbitrary code. Every failure names the file and says what is wrong with it.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from studio.core.models.errors import WeightsError

STUDIO_FORMAT = "studio-checkpoint"
STUDIO_VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class WeightsFile:
    """A weights file's state dict and what is known of where it came from."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    kind: str  # "Studio checkpoint", "state dict", "'model' of a checkpoint"...
    arch: str | None = None
    classes: tuple[str, ...] | None = None
    epoch: int | None = None
    ema: bool = False


def read_file(path: str | Path, *, mmap: bool = False) -> object:
    """``torch.load`` the file on the CPU; ``mmap`` maps tensors instead of reading them (cheap pre-flight)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise WeightsError(f"cannot be read ({e.strerror or e})", file=path) from None
    if size == 0:
        raise WeightsError("is empty (0 bytes): not a weights file", file=path)
    is_zip = zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and is_zip)
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            raise WeightsError(
                "holds pickled Python objects, not only tensors (a whole model saved with torch.save(model)?); "
                "save model.state_dict() instead",
                file=path,
            ) from None
        raise WeightsError(f"is not a PyTorch checkpoint ({_first_line(e)})", file=path) from None
    except Exception as e:  # torch.load reports corrupt files with RuntimeError, EOFError, KeyError...
        with open(path, "rb") as f:
            starts_like_zip = f.read(4) == ZIP_MAGIC
        if starts_like_zip and not is_zip:
            raise WeightsError(
                "is truncated: an incomplete PyTorch archive (was it still being written or downloaded?)", file=path
            ) from None
        raise WeightsError(
            f"is not a readable PyTorch checkpoint: corrupt or another kind of file ({_first_line(e)})", file=path
        ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__


def _tensors(obj: object) -> dict[str, torch.Tensor] | None:
    """``obj`` as a state dict (its tensor entries), or None when it holds no tensors under string keys."""
    if not isinstance(obj, dict):
        return None
    sd = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    return sd or None


def state_dict_of(obj: object, path: Path) -> WeightsFile:
    """Find the state dict in what ``torch.load`` returned: Studio checkpoint (its EMA if kept), raw, or nested."""
    if not isinstance(obj, dict):
        raise WeightsError(f"holds a {type(obj).__name__}, not a state dict or a checkpoint", file=path)
    if obj.get("format") == STUDIO_FORMAT:
        version = int(obj.get("version", 0))
        if version > STUDIO_VERSION:
            raise WeightsError(
                f"written by a newer Studio (checkpoint version {version}, this Studio reads {STUDIO_VERSION})",
                file=path,
            )
        use_ema = bool(obj.get("ema"))
        sd = _tensors(obj.get("ema") if use_ema else obj.get("model"))
        if sd is None:
            raise WeightsError("Studio checkpoint without model weights (no tensors under 'model')", file=path)
        classes = obj.get("classes")
        names = tuple(str(n) for n in classes["names"]) if isinstance(classes, dict) and "names" in classes else None
        epoch = obj.get("epoch")
        return WeightsFile(
            path, sd, "Studio checkpoint", obj.get("arch"), names, int(epoch) if epoch is not None else None, use_ema
        )
    raw = _tensors(obj)
    if raw is not None and len(raw) >= len(obj) / 2:
        return WeightsFile(path, raw, "state dict")
    for key in ("model", "state_dict", "model_state_dict"):
        sd = _tensors(obj.get(key))
        if sd is not None:
            return WeightsFile(path, sd, f"'{key}' of a checkpoint")
    keys = ", ".join(repr(k) for k in list(obj)[:8]) + (", ..." if len(obj) > 8 else "")
    raise WeightsError(
        "no weights found: expected a Studio checkpoint, a state dict, or a dict with 'model' or 'state_dict' "
        f"(keys: {keys})",
        file=path,
    )


def load_weights_file(path: str | Path, *, mmap: bool = False) -> WeightsFile:
    path = Path(path)
    return state_dict_of(read_file(path, mmap=mmap), path)
