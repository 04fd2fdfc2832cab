"""Export formats from plugins: the job around a plugin's export function.

:func:`studio.core.export.jobs.export_checkpoint` prepares the export of a format with an ``exporter`` as
it does a built-in one (:func:`studio.core.export.setup.prepare_export`: options checked against the table,
the checkpoint loaded, the verification images read) and hands it to :func:`run_plugin_export`, which does
the rest as for the built-in formats -- everything written into a temporary folder that replaces the output
folder only on success, ``export_report.json`` -- and calls the plugin's function in the middle::

    def export(ctx: ExportContext) -> ExportOutput:
        path = ctx.out_dir / "model.xyz"
        ...write it...
        loaded = ...load it back...
        return ExportOutput(model=path, verification=ctx.verify(lambda rgb: loaded.predict(rgb)))

Plugins written against ``studio.core.export.plugin_export`` find the same two classes there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core import atomic
from studio.core.errors import StudioError
from studio.core.export.report import REPORT_NAME, build_report, write_report
from studio.core.export.setup import ExportResult, ExportSetup, jsonable
from studio.core.jobs import CancelToken, Progress, no_progress

if TYPE_CHECKING:  # types only: these import torch (or pydantic)
    from studio.core.config.schema import Config
    from studio.core.inference.predictor import Predictor
    from studio.core.models.spec import ArchSpec


@dataclass
class ExportContext:
    """What an exporter gets. Write only inside ``out_dir`` (a temporary folder, moved into place afterwards)."""

    checkpoint: Path
    arch: ArchSpec  # the zoo's entry
    config: Config  # the run's config
    classes: list[str]
    predictor: Predictor  # on the CPU: predictor.predict([rgb]) -> [Detections]
    options: dict  # the format's options, checked, with score_thr and max_det resolved from the checkpoint
    out_dir: Path
    images: list[tuple[Any, str, Any]]  # the verification images: (image id, name, HxWx3 uint8 RGB)
    progress: Progress = no_progress
    cancel: CancelToken | None = None
    latency_runs: int = 10
    _vset: Any = field(default=None, repr=False)

    @property
    def model(self):
        """The PyTorch model (eval mode, CPU)."""
        return self.predictor.model

    @property
    def task(self) -> str:
        return self.arch.task

    def check_cancelled(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    def verify(self, predict: Callable[[Any], Any], name: str = "exported") -> dict | None:
        """Studio's verification of ``predict(rgb) -> Detections`` (original pixels) against PyTorch on the
        verification images: box match, mAP of both when the images have annotations, latency of both.
        Returns the report part to pass as ``ExportOutput.verification`` (None without images)."""
        if not self.images:
            return None
        from studio.core.export.verify import VerifyImage, verify  # deferred: numpy

        items = [VerifyImage(iid, n, rgb) for iid, n, rgb in self.images]
        pt = lambda im: self.predictor.predict([im])[0]  # noqa: E731
        return verify(
            pt,
            predict,
            items,
            gt=self._vset.gt if self._vset else None,
            class_map=self._vset.class_map if self._vset else None,
            with_masks=self.task == "segment",
            latency_fns={"pytorch_cpu": pt, name: predict},
            latency_runs=self.latency_runs,
            progress=lambda d, n, m: self.progress(1 + d, 2 + len(self.images), m),
            cancel=self.cancel,
        )


@dataclass
class ExportOutput:
    """What an exporter returns: the file to deploy and the other files it wrote (all inside ``ctx.out_dir``)."""

    model: Path
    files: list[Path] = field(default_factory=list)
    verification: dict | None = None  # ctx.verify(...); None: the report says it was not verified
    info: dict = field(default_factory=dict)  # model metadata for the report (input size, outputs...)
    warnings: list[str] = field(default_factory=list)


def run_plugin_export(
    setup: ExportSetup,
    exporter: Callable[[ExportContext], ExportOutput],
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    *,
    latency_runs: int = 10,
    started: float | None = None,
) -> ExportResult:
    """Run the export ``setup`` of a plugin's format with its ``exporter``
    (:func:`studio.core.export.formats.exporter_of` of ``setup.fmt``).

    ``started``: the :func:`time.perf_counter` the report's total time counts from (default: now)."""
    t0 = time.perf_counter() if started is None else started
    fmt, spec, vset, opts, out_dir = setup.fmt, setup.spec, setup.vset, setup.options, setup.out_dir
    total = 2 + len(vset.items)
    progress(0, total, "loading the checkpoint")
    predictor, images = setup.load()
    with atomic.atomic_dir(out_dir) as tmp:
        ctx = ExportContext(
            setup.checkpoint,
            spec,
            setup.config,
            list(predictor.class_map.names),
            predictor,
            dict(opts),
            tmp,
            images,
            progress,
            cancel,
            latency_runs,
            vset,
        )
        progress(1, total, f"exporting {spec.name} to {fmt.title}")
        t = time.perf_counter()
        try:
            out = exporter(ctx)
        except StudioError:
            raise
        except Exception as e:
            raise StudioError(f"the {fmt.name} exporter failed: {type(e).__name__}: {e}", item=fmt.name) from e
        if not isinstance(out, ExportOutput):
            raise StudioError(
                f"the {fmt.name} exporter returned {type(out).__name__}, not an ExportOutput", item=fmt.name
            )
        files = list(dict.fromkeys([Path(out.model), *map(Path, out.files)]))
        rel = []
        for p in files:
            try:
                rel.append(p.resolve().relative_to(tmp.resolve()))
            except ValueError:
                raise StudioError(
                    f"the {fmt.name} exporter returned {p}, which is not inside its output folder (ctx.out_dir)",
                    item=fmt.name,
                ) from None
            if not p.is_file():
                raise StudioError(f"the {fmt.name} exporter returned {p.name}, which it did not write", item=fmt.name)
        timings = {"export": time.perf_counter() - t, "total": time.perf_counter() - t0}
        not_verified = None
        if out.verification is None:
            not_verified = vset.why_none if not images else f"the {fmt.name} exporter does not verify its output"
        report = build_report(
            fmt=fmt.name,
            arch=spec.name,
            task=spec.task,
            checkpoint=setup.checkpoint,
            model_file=Path(out.model),
            options=jsonable(opts),
            info={"format": fmt.name, "arch": spec.name, **out.info},
            files=files + [tmp / REPORT_NAME],
            verification=out.verification,
            not_verified=not_verified,
            warnings=list(out.warnings),
            timings=timings,
        )
        write_report(tmp, report)
    progress(total, total, "done")
    return ExportResult(
        out_dir,
        out_dir / rel[0],
        tuple(out_dir / r for r in rel) + (out_dir / REPORT_NAME,),
        out_dir / REPORT_NAME,
        report,
    )
