"""torchvision pretrained weights: name resolution, the torch hub cache, and a short-timeout download.

torchvision's own ``weights.get_state_dict()`` downloads with no timeout and a progress bar on
stderr; an offline machine would hang at the start of training. Here the file is looked up where
torchvision would cache it (``torch.hub.get_dir()/checkpoints/<file name of the URL>``), so weights
downloaded by any torchvision program are reused and a file copied there by hand is found.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import urlopen

import torch
import torchvision.models
from torch.hub import HASH_REGEX
from torchvision.models import detection as tvd

from studio.core.atomic import atomic_path
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.models.errors import WeightsError

CHUNK = 1 << 20


@dataclass(frozen=True)
class HubWeights:
    """One torchvision weights enum member and where its file lives in the hub cache."""

    name: str  # "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1" (DEFAULT resolved to the real member)
    url: str
    path: Path
    num_categories: int

    @property
    def file_name(self) -> str:
        return self.path.name


def checkpoints_dir() -> Path:
    """The folder torchvision caches pretrained weights in (honours $TORCH_HOME and torch.hub.set_dir)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_enum(class_name: str):
    """The torchvision weights enum class named ``class_name`` (detection models first, then classifiers)."""
    for module in (tvd, torchvision.models):
        enum = getattr(module, class_name, None)
        if enum is not None:
            return enum
    raise WeightsError(f"torchvision {torchvision.__version__} has no weights enum {class_name}")


def resolve(arch: str, enum_name: str | None, text: str) -> HubWeights:
    """``DEFAULT`` / ``COCO_V1`` / ``<Enum>.COCO_V1`` -> the enum member of ``arch``, or a WeightsError."""
    if enum_name is None:
        raise WeightsError(
            f"{text!r} is not an existing file and {arch} has no torchvision weights; "
            "give a .pt/.pth file (a Studio checkpoint or a state dict) or none",
            item="model.weights",
        )
    enum = weights_enum(enum_name)
    members = list(enum.__members__)  # includes the DEFAULT alias
    prefix, _, member = text.strip().rpartition(".")
    if prefix and prefix != enum.__name__:
        raise WeightsError(
            f"{text} are weights of another architecture: {arch} takes {enum.__name__}.{{{', '.join(members)}}}",
            item="model.weights",
        )
    match = next((m for m in members if m.lower() == member.lower()), None)
    if match is None:
        raise WeightsError(
            f"{text!r} is neither an existing file nor one of {arch}'s torchvision weights "
            f"({', '.join(members)}, or {enum.__name__}.<name>)",
            item="model.weights",
        )
    w = enum[match]
    file_name = os.path.basename(urlparse(w.url).path)
    return HubWeights(
        f"{enum.__name__}.{w.name}", w.url, checkpoints_dir() / file_name, len(w.meta.get("categories") or [])
    )


def download(
    w: HubWeights,
    *,
    timeout: float = 10.0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Fetch ``w.url`` into the hub cache (atomically, sha256-checked like torch.hub) or raise WeightsError.

    ``timeout`` bounds the connection and each read, so an offline machine fails in seconds.
    """
    hint = f"Download {w.url} and save it as {w.file_name} in {w.path.parent}"
    m = HASH_REGEX.search(w.file_name)
    hash_prefix = m.group(1) if m else None
    try:
        with urlopen(w.url, timeout=timeout) as r, atomic_path(w.path) as tmp:
            total = int(r.headers.get("Content-Length") or 0)
            sha, done = hashlib.sha256(), 0
            with open(tmp, "wb") as f:
                while chunk := r.read(CHUNK):
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    f.write(chunk)
                    sha.update(chunk)
                    done += len(chunk)
                    progress(done, total, f"downloading {w.file_name}")
            if hash_prefix and not sha.hexdigest().startswith(hash_prefix):
                raise WeightsError(
                    f"downloaded file is corrupt (sha256 {sha.hexdigest()[:12]}..., expected {hash_prefix}...). {hint}",
                    file=w.path,
                    item=w.name,
                )
    except (URLError, OSError) as e:  # TimeoutError and ConnectionError are OSErrors
        reason = getattr(e, "reason", None) or e
        raise WeightsError(
            f"not on this computer, and the download failed ({reason}). {hint}", file=w.path, item=w.name
        ) from None
    return w.path
