"""The jobs the Data page runs in workers: plain Python over ``studio.core``, no Qt.

Each takes ``progress`` and ``cancel`` keywords (see :class:`studio.gui.common.workers.Worker`) and returns
everything the widgets need to render, already counted, so no widget computes on the dataset.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.dataset.check import ERROR, CheckReport, Problem, check_dataset
from studio.core.dataset.model import Dataset, recorded_images_dir, usual_images_dir
from studio.core.dataset.summary import ClassStat, ImageSummary, summarize
from studio.core.demo import ensure_demo
from studio.core.jobs import CancelToken, Progress, no_progress


@dataclass
class LoadedDataset:
    dataset: Dataset
    annotations: Path
    images_dir: Path
    class_stats: list[ClassStat]
    images: list[ImageSummary]


@dataclass
class ImageProblems:
    errors: int = 0
    warnings: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def severity(self) -> str | None:
        return "error" if self.errors else "warning" if self.warnings else None


@dataclass
class CheckResult:
    report: CheckReport
    by_image: dict[Any, ImageProblems]


def load_dataset(
    annotations: str | Path,
    images_dir: str | Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> LoadedDataset:
    """Parse the annotation file and count what the Data page shows.

    Without ``images_dir``: the folder recorded at import (``info.images_dir``), else the usual places.
    """
    progress(0, 2, f"reading {Path(annotations).name}")
    with _frozen_for_gc():
        ds = Dataset.load(annotations, gil_friendly=True)
        if images_dir is None:
            images_dir = images_dir_for(annotations, ds)
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(1, 2, "counting classes")
        stats, rows = summarize(ds)
    progress(2, 2, "loaded")
    return LoadedDataset(ds, Path(annotations), Path(images_dir), stats, rows)


@contextlib.contextmanager
def _frozen_for_gc() -> Iterator[None]:
    """Keep the cyclic garbage collector off a freshly loaded dataset.

    A 10,000-image file is ~500,000 dicts and lists. Left to the collector, the first collections after the
    load walk all of them (25-90 ms each, measured), holding the GIL, so the GUI thread stalls. The
    collector is paused during the load and everything alive afterwards is moved to the permanent
    generation (``gc.freeze``), which collections skip. The dataset's objects hold no reference cycles, so
    reference counting still frees them when the dataset is closed.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()


def check_loaded(
    dataset: Dataset,
    images_dir: str | Path,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CheckResult:
    """Run the dataset check and index its problems by image."""
    # one header-reading thread: more would starve the GUI thread of the GIL (bench/gui_latency.py)
    report = check_dataset(dataset, images_dir, progress=progress, cancel=cancel, threads=1)
    by_image: dict[Any, ImageProblems] = {}
    for p in report.problems:
        if p.image_id is None:
            continue
        entry = by_image.setdefault(p.image_id, ImageProblems())
        entry.problems.append(p)
        if p.severity == ERROR:
            entry.errors += 1
        else:
            entry.warnings += 1
    return CheckResult(report, by_image)


def prepare_demo(progress: Progress = no_progress, cancel: CancelToken | None = None) -> tuple[Path, Path]:
    """The built-in demo's train split, generated on first use: ``(annotation file, images folder)``."""
    progress(0, 1, "preparing the demo dataset")
    train = ensure_demo()["train"]
    progress(1, 1, "demo ready")
    return train.annotations, train.images


def images_dir_for(annotations: str | Path, ds: Dataset) -> Path:
    """The folder recorded at import (``info.images_dir``) when it exists, else the usual places."""
    recorded = recorded_images_dir(annotations, ds)
    return recorded if recorded is not None and recorded.is_dir() else usual_images_dir(annotations)
