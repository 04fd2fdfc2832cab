"""What ``model.weights`` may name, resolved before training starts, and shape-tolerant loading.

``model.weights`` is one of:

- nothing (``None``, ``"none"``, ``""``): random initialisation;
- a torchvision weights name of the architecture: ``DEFAULT``, a member such as ``COCO_V1``, or the
  full ``FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1``. The file is taken from torch's hub cache, or
  downloaded there with a short timeout; offline, the error says which file to put in which folder;
- a file (``.pt`` / ``.pth``): a Studio checkpoint (its EMA weights when it kept them), a raw state
  dict, or a dict holding one under ``model`` / ``state_dict``; a run folder means its best.pt
  (else last.pt).

:func:`check_weights` is the pre-flight: it finds (or fetches) the file and reads a file's header
(memory-mapped, so nothing big is read) without touching a model. :func:`load_weights` loads into a
built model, skipping tensors whose shape differs (the class head when the number of classes
changes: fine-tuning), and refuses a file that matches almost nothing (weights of another
architecture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.models import hub
from studio.core.models.checkpoint_files import load_weights_file
from studio.core.models.errors import WeightsError
from studio.core.models.spec import ArchSpec
from studio.core.models.zoo import get_arch

NONE_WORDS = ("", "none")
FILE_SUFFIXES = (".pt", ".pth", ".ckpt")
MIN_FRACTION = 0.1  # below this share of the model's tensors loaded, the file is for another architecture
MAX_LOGGED = 40  # names per category sent to the log

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class WeightsSource:
    """Where the weights come from, known before any model is built."""

    kind: Literal["none", "torchvision", "file"]
    text: str = ""  # as written in the config
    path: Path | None = None
    url: str | None = None  # torchvision weights
    name: str | None = None  # torchvision enum member, e.g. "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1"
    file_kind: str | None = None  # "Studio checkpoint", "state dict"...
    arch: str | None = None  # the architecture a Studio checkpoint was trained as
    classes: tuple[str, ...] | None = None  # class names of a Studio checkpoint
    epoch: int | None = None

    def __str__(self) -> str:
        if self.kind == "none":
            return "random initialisation (no pretrained weights)"
        if self.kind == "torchvision":
            return f"torchvision {self.name} ({self.path})"
        if self.arch is not None:
            extra = [self.arch]
            if self.epoch is not None:
                extra.append(f"epoch {self.epoch}")
            if self.classes is not None:
                extra.append(f"{len(self.classes)} classes")
            return f"{self.file_kind} {self.path} ({', '.join(extra)})"
        return f"{self.file_kind} {self.path}"


def _spec(arch: str | ArchSpec | None, text: str) -> ArchSpec:
    if isinstance(arch, ArchSpec):
        return arch
    if arch is None:
        raise WeightsError(
            f"{text!r} is not an existing file, and no architecture was given to look it up as torchvision weights",
            item="model.weights",
        )
    return get_arch(arch)


def _looks_like_path(weights: str | Path, text: str) -> bool:
    if isinstance(weights, Path) or "/" in text or "\\" in text or text.lower().endswith(FILE_SUFFIXES):
        return True
    return Path(text).expanduser().exists()


def _run_folder_checkpoint(folder: Path) -> Path:
    for name in ("best.pt", "last.pt"):
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(
        "is a folder with no best.pt or last.pt; name a .pt/.pth weights file", file=folder, item="model.weights"
    )


def check_weights(
    arch: str | ArchSpec | None,
    weights: str | Path | WeightsSource | None,
    *,
    download: bool = True,
    timeout: float = 10.0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    backbone: str | None = None,
) -> WeightsSource:
    """Resolve ``model.weights`` for ``arch`` without building a model; raise WeightsError if unusable.

    ``arch`` is only needed for torchvision weight names (files work for any architecture); with a
    ``backbone`` choice of ``arch`` (``model.backbone``), the names are those of the backbone's weights.
    torchvision weights missing from the hub cache are downloaded (``download=True``) with a
    ``timeout`` of seconds per network operation, so offline machines fail fast with instructions.
    """
    if isinstance(weights, WeightsSource):
        return weights
    text = "" if weights is None else str(weights).strip()
    if text.lower() in NONE_WORDS:
        return WeightsSource("none")
    if _looks_like_path(weights, text):
        path = Path(text).expanduser()
        if not path.exists():
            raise WeightsError("weights file not found", file=path, item="model.weights")
        if path.is_dir():
            path = _run_folder_checkpoint(path)
        wf = load_weights_file(path, mmap=True)
        return WeightsSource("file", text, path, file_kind=wf.kind, arch=wf.arch, classes=wf.classes, epoch=wf.epoch)
    spec = _spec(arch, text)
    enum_name = spec.backbone_weights(backbone)
    label = spec.name if not spec.backbones else f"{spec.name} with backbone {backbone or spec.backbones[0][0]}"
    if enum_name is None and spec.backbones:
        pretrained = ", ".join(b for b, e in spec.backbones if e is not None)
        raise WeightsError(
            f"{text!r} is not an existing file and {label} has no torchvision weights: give a .pt/.pth file, "
            f"or none, or pick a model.backbone with ImageNet weights ({pretrained})",
            item="model.weights",
        )
    hw = hub.resolve(label, enum_name, text)
    if not hw.path.is_file():
        if not download:
            raise WeightsError(
                f"not on this computer. Download {hw.url} and save it as {hw.file_name} in {hw.path.parent}",
                file=hw.path,
                item=hw.name,
            )
        hub.download(hw, timeout=timeout, progress=progress, cancel=cancel)
    return WeightsSource("torchvision", text, hw.path, hw.url, hw.name, file_kind="torchvision weights")


def backbone_weights_file(spec: ArchSpec, backbone: str) -> hub.HubWeights | None:
    """Where ``backbone``'s ``DEFAULT`` torchvision weights live in the hub cache (None: it has none)."""
    enum_name = spec.backbone_weights(backbone)
    return hub.resolve(f"{spec.name} with backbone {backbone}", enum_name, "DEFAULT") if enum_name else None


def cached_backbones(spec: ArchSpec) -> list[str]:
    """The backbone choices of ``spec`` whose ``DEFAULT`` weights are already in the hub cache (no download)."""
    out = []
    for name, _ in spec.backbones:
        hw = backbone_weights_file(spec, name)
        if hw is not None and hw.path.is_file():
            out.append(name)
    return out


@dataclass
class LoadReport:
    """What a load did: tensors loaded, skipped for their shape, left at their init, or unused."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped_shape: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # name, file, model
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: kept at init
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    total: int = 0  # tensors of the model (BatchNorm batch counters not counted)
    key_mapping: str = "as saved"

    @property
    def fraction(self) -> float:
        return len(self.loaded) / self.total if self.total else 0.0

    def summary(self) -> str:
        text = (
            f"weights from {self.source}: loaded {len(self.loaded)}/{self.total} tensors"
            f", {len(self.skipped_shape)} skipped (shape differs), {len(self.missing)} not in the file"
            f", {len(self.unexpected)} unused"
        )
        return text if self.key_mapping == "as saved" else f"{text} (names matched with {self.key_mapping})"

    def details(self) -> list[str]:
        """One line per tensor not loaded (capped per category), for the run log."""
        lines: list[str] = []

        def add(title: str, items: list[str]) -> None:
            if not items:
                return
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  {s}" for s in items[:MAX_LOGGED])
            if len(items) > MAX_LOGGED:
                lines.append(f"  ... and {len(items) - MAX_LOGGED} more")

        add(
            "skipped, shape differs (file -> model; the class head when the classes differ)",
            [f"{n}: {list(a)} -> {list(b)}" for n, a, b in self.skipped_shape],
        )
        add("not in the file, left at their initial values", self.missing)
        add("in the file but not in the model, ignored", self.unexpected)
        return lines


def _strip(prefix: str) -> Callable[[str], str]:
    return lambda k: k[len(prefix) :] if k.startswith(prefix) else k


#: Ways a file's tensor names may differ from the model's; the one matching most names is used.
KEY_MAPPINGS: list[tuple[str, Callable[[str], str]]] = [
    ("as saved", lambda k: k),
    ("'module.' removed (DataParallel)", _strip("module.")),
    ("'model.' removed", _strip("model.")),
    ("'_orig_mod.' removed (torch.compile)", _strip("_orig_mod.")),
    ("backbone-only weights under 'backbone.body.'", lambda k: "backbone.body." + k),
    (
        "MobileNet 'features.' under 'backbone.body.'",
        lambda k: "backbone.body." + k[len("features.") :] if k.startswith("features.") else k,
    ),
]


def _countable(name: str) -> bool:
    return not name.endswith("num_batches_tracked")


def _align(sd: dict[str, torch.Tensor], model_keys: set[str]) -> tuple[dict[str, torch.Tensor], str]:
    best_name, best, best_hits = KEY_MAPPINGS[0][0], sd, -1
    for name, fn in KEY_MAPPINGS:
        mapped = {fn(k): v for k, v in sd.items()}
        hits = len(model_keys.intersection(mapped))
        if hits > best_hits:
            best_name, best, best_hits = name, mapped, hits
    return best, best_name


def load_weights(
    model: nn.Module,
    weights: str | Path | WeightsSource | None,
    log: LogFn | None = None,
    *,
    arch: str | ArchSpec | None = None,
    min_fraction: float = MIN_FRACTION,
    backbone: str | None = None,
) -> LoadReport:
    """Load ``weights`` into ``model``, skipping shape mismatches; the report's summary and details go to ``log``.

    ``arch`` defaults to ``model.studio_arch`` and ``backbone`` to ``model.studio_backbone`` (needed to
    resolve torchvision weight names). Raises
    WeightsError, leaving the model untouched, when less than ``min_fraction`` of the model's
    tensors would be loaded: the file holds weights of another architecture.
    """
    arch = arch if arch is not None else getattr(model, "studio_arch", None)
    backbone = backbone if backbone is not None else getattr(model, "studio_backbone", None)
    source = check_weights(arch, weights, backbone=backbone)
    if source.kind == "none":
        return LoadReport("random initialisation")
    arch_name = arch.name if isinstance(arch, ArchSpec) else (arch or type(model).__name__)
    wf = load_weights_file(source.path)
    state = wf.state_dict

    model_sd = model.state_dict()
    countable = [k for k in model_sd if _countable(k)]
    state, mapping = _align(state, set(model_sd))
    report = LoadReport(str(source), total=len(countable), key_mapping=mapping)
    to_load: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        target = model_sd.get(name)
        if target is not None and target.shape != tensor.shape:
            report.skipped_shape.append((name, tuple(tensor.shape), tuple(target.shape)))
        else:
            to_load[name] = tensor

    matching = sum(1 for k in countable if k in to_load)
    if matching < min_fraction * len(countable):
        trained_as = f" (a {wf.arch} checkpoint)" if wf.arch else ""
        raise WeightsError(
            f"only {matching} of the {len(countable)} tensors of {arch_name} match this file{trained_as}: "
            f"these are weights of another architecture; pick weights made for {arch_name}, or none",
            file=source.path,
            item="model.weights",
        )

    try:
        result = model.load_state_dict(to_load, strict=False)
    except RuntimeError as e:
        raise WeightsError(
            f"cannot be loaded into {arch_name}: {str(e).strip().splitlines()[-1][:300]}", file=source.path
        ) from None
    missing = set(result.missing_keys)
    skipped = {name for name, _, _ in report.skipped_shape}
    report.loaded = [k for k in countable if k not in missing]
    report.missing = [k for k in result.missing_keys if _countable(k) and k not in skipped]
    report.unexpected = list(result.unexpected_keys)

    if log is not None:
        if wf.arch and wf.arch != arch_name:
            log(f"{source.path} was trained as {wf.arch}; loading what matches into {arch_name}")
        log(report.summary())
        for line in report.details():
            log(line)
    return report
