"""The jobs the Config page runs in workers: plain Python over ``studio.core``, no Qt.

Reading the model zoo imports torch (seconds), the pre-flight check reads annotation files and
``init_config`` reads the training set, so none of them may run on the GUI thread. The pre-flight
report is reused while only keys it does not read change, so typing a learning rate does not parse a
10,000-image annotation file again. Each takes the
``progress`` and ``cancel`` keywords of :class:`studio.gui.common.workers.Worker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.core.config.form import FormSpec, field_specs
from studio.core.config.init import init_config
from studio.core.config.schema import Config
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.training.memory import GiB, MemoryEstimate, device_memory_bytes, estimate_gpu_memory
from studio.core.training.preflight import Finding, PreflightReport, preflight

MEMORY_WARNING_FRACTION = 0.9  # of the GPU's memory: above it the estimate warns
#: the train keys :func:`studio.core.training.preflight.preflight` reads (with all of model and data)
PREFLIGHT_TRAIN_KEYS = ("device", "amp", "patience")


def preflight_key(cfg: Config) -> dict:
    """What the pre-flight report's reading of the files depends on: editing anything else (lr, epochs...)
    reuses it rather than parsing the annotation files again, and only its budget findings are made again."""
    d = cfg.model_dump(mode="json")
    return {"model": d["model"], "data": d["data"], "train": {k: d["train"][k] for k in PREFLIGHT_TRAIN_KEYS}}


@dataclass
class PreflightResult:
    report: PreflightReport  # as preflight() made it; errors in it block Start
    key: dict  # preflight_key() of the config checked
    memory: MemoryEstimate | None
    memory_error: str | None
    gpu: tuple[str, int] | None  # (name, total bytes) of the CUDA device the run would use
    has_masks: bool | None  # the training set has polygons or masks (None: it could not be read)
    extra: list[Finding] = field(default_factory=list)  # the memory warning: advice, never blocking

    @property
    def findings(self) -> list[Finding]:
        return [*self.report.findings, *self.extra]


def load_form_spec(progress: Progress = no_progress, cancel: CancelToken | None = None) -> FormSpec:
    """The form's field specs, with the model zoo's architectures (plugins' included) read now."""
    progress(0, 1, "reading the model zoo")
    spec = field_specs()
    progress(1, 1, "model zoo read")
    return spec


def run_preflight(
    cfg: Config,
    previous: PreflightResult | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> PreflightResult:
    """The pre-flight report of ``cfg`` with the GPU memory estimate and, on CUDA, the device's memory.

    ``previous``: the last result; its report is reused when ``cfg`` differs only in keys the check
    does not read (the memory estimate, which depends on the batch and the optimiser, is always new).
    """
    key = preflight_key(cfg)
    progress(0, 2, "checking the config")
    if previous is not None and previous.key == key:
        report, has_masks = previous.report.replan(cfg), previous.has_masks  # the budget follows every edit
    else:
        report = preflight(cfg)
        has_masks = report.train.dataset.has_masks() if report.train is not None else None
    if cancel is not None:
        cancel.raise_if_cancelled()
    progress(1, 2, "estimating GPU memory")
    memory, memory_error, gpu, extra = None, None, None, []
    try:
        k = report.class_map.num_classes if report.class_map is not None else None
        memory = estimate_gpu_memory(cfg, num_classes=k)
    except StudioError as e:  # unknown architecture: the report already says so
        memory_error = e.message
    try:
        gpu = device_memory_bytes(cfg.train.device)
    except Exception as e:  # a broken driver must not hide the rest of the report
        memory_error = f"could not read the GPU's memory: {type(e).__name__}: {e}"
    if memory is not None and gpu is not None and memory.bytes > MEMORY_WARNING_FRACTION * gpu[1]:
        extra.append(
            Finding(
                "warning",
                "train.batch_size",
                f"estimated {memory.gib:.1f} GiB of GPU memory, {gpu[0]} has {gpu[1] / GiB:.1f} GiB: "
                "lower train.batch_size or data.image_size, or use train.amp=fp16",
            )
        )
    progress(2, 2, "checked")
    return PreflightResult(report, key, memory, memory_error, gpu, has_masks, extra)


def new_config(
    train_ann: Path,
    out: Path,
    val_ann: Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """``studio config init`` for ``train_ann`` (and ``val_ann``) written to ``out``; returns ``out``."""
    progress(0, 1, f"reading {Path(train_ann).name}")
    init_config(train_ann, out, val_ann=val_ann)
    progress(1, 1, f"wrote {Path(out).name}")
    return Path(out)
