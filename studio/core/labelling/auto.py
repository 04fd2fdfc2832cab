"""Auto-label: a trained model proposes annotations that wait, pending, for a person to review them.

``studio label auto`` and the Data page's "Auto-label with…" run the same two steps:

* :func:`propose` runs a model over ``(image id, image path)`` pairs and returns plain
  :class:`Proposal` records (polygons from masks, else boxes, in the file's pixels). It reads no
  :class:`~studio.core.dataset.model.Dataset`, so the window runs it in a worker thread while the
  dataset stays the GUI thread's; a missing or broken image is skipped with a warning that names it.
* :func:`apply_proposals` (the command line; the editor has an undoable edit for the same thing) replaces
  the earlier pending model proposals of the processed images by the new ones, each marked
  :func:`studio.core.dataset.provenance.proposal` (``source: model``, ``status: pending``, its score and
  checkpoint), so running it again never piles up duplicates and never touches accepted annotations.

The model is a checkpoint or run folder (PyTorch, :class:`~studio.core.inference.predictor.Predictor`) or
an exported ONNX model / TensorRT engine run by the runtime ``studio infer`` uses
(:func:`studio.core.export.runtime.load_exported`): both give :class:`Detections` in original pixels.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from studio.core.data.decode import decode_for_model
from studio.core.dataset import provenance
from studio.core.dataset.model import (
    Dataset,
    image_path,
    record_images_dir,
    recorded_images_dir,
    usual_images_dir,
)
from studio.core.detections import Detections, ImagePrediction, check_score_thr
from studio.core.errors import DatasetError, StudioError
from studio.core.export.runtime import ExportedModel, load_exported
from studio.core.inference.to_coco import detection_shape
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.text import plural

if TYPE_CHECKING:
    from studio.core.inference.predictor import Predictor

LabellingModel = Union["Predictor", ExportedModel]
EXPORTED_SUFFIXES = (".onnx", ".xml", ".engine", ".plan", ".trt")  # .xml: an OpenVINO IR
BATCH = 4  # images decoded and predicted together (the Predictor batches them; an exported model runs one by one)


def load_model(path: str | Path, *, device: str = "auto", score_thr: float = 0.05) -> LabellingModel:
    """A checkpoint (``.pt``) or run folder -> a Predictor; an ``.onnx`` model or TensorRT engine -> an
    ExportedModel (``device`` "auto" runs ONNX Runtime on the CPU). Errors name the file."""
    path = Path(path)
    score_thr = check_score_thr(score_thr)
    if not path.exists():
        raise StudioError("model not found: name a checkpoint, a run folder or an exported .onnx model", file=path)
    if path.is_file() and path.suffix.lower() in EXPORTED_SUFFIXES:
        return load_exported(path, device="cpu" if device == "auto" else device, score_thr=score_thr)
    from studio.core.inference.predictor import Predictor  # deferred: torch

    return Predictor.from_checkpoint(path, device=device, score_thr=score_thr)


def checkpoint_label(path: str | Path) -> str:
    """What a proposal's ``checkpoint`` key says: the model's file name, with its run folder's name for a run
    folder's ``best.pt`` / ``last.pt`` (``run-3/best.pt``), so proposals of two runs stay apart."""
    path = Path(path)
    if path.is_dir():
        best = path / "best.pt"
        return f"{path.name}/{'best.pt' if best.is_file() else 'last.pt'}"
    if path.name in ("best.pt", "last.pt") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def model_input_size(model: LabellingModel) -> int:
    """The longest side the model looks at (big images are decoded reduced to about this size)."""
    size = getattr(model, "size", None)
    if size is None:
        info = getattr(model, "info", None)
        size = getattr(info, "image_size", None)
    return int(size or 640)


@dataclass(frozen=True)
class Proposal:
    """One proposed annotation, in the image's pixels (what an edit or :func:`apply_proposals` adds)."""

    image_id: Any
    category_name: str
    segmentation: list[list[float]]  # polygons in image pixels; [] for a box-only proposal
    bbox: list[float]  # xywh in image pixels
    score: float
    checkpoint: str  # the model's file name (what the annotation's `checkpoint` key gets)


@dataclass(frozen=True)
class ProposalBatch:
    """What one run of a model over some images proposes."""

    proposals: list[Proposal]
    images_done: list  # image ids run through the model (their old pending proposals get replaced)
    warnings: list[str]  # missing / broken image -> skipped, message names file and image id
    below: int = 0  # detections the model made that score under the threshold (a hint when it is too high)


def detections_to_proposals(
    image_id: Any, dets: Detections, model: LabellingModel, *, score_thr: float, checkpoint: str, size: tuple[int, int]
) -> list[Proposal]:
    """The detections of one image scoring at least ``score_thr`` as proposals (``size``: the file's (h, w))."""
    out = []
    for i in range(len(dets)):
        if float(dets.scores[i]) < score_thr:
            continue
        shape = detection_shape(dets, i, with_masks=model.with_masks, image_size=size)
        if shape is None:
            continue
        name = model.class_map.name_of_label(shape.label)
        out.append(Proposal(image_id, name, shape.polygons, shape.bbox, round(shape.score, 5), checkpoint))
    return out


def predict_items(
    model: LabellingModel,
    items: Sequence[tuple[Any, Path]],
    *,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """Yield ``(image_id, ImagePrediction | None, warning | None)`` per item, a batch at a time; an image that
    cannot be read gives None and a warning naming the file and the image id (the job goes on)."""
    size = model_input_size(model)
    total = len(items)
    for start in range(0, total, BATCH):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = items[start : start + BATCH]
        decoded: list[tuple[Any, Path, Any]] = []
        for image_id, p in chunk:
            try:
                decoded.append((image_id, Path(p), decode_for_model(p, size)))
            except DatasetError as e:
                yield image_id, None, f"{e} (image {image_id}): skipped"
        dets = model.predict([img for _, _, (img, _, _) in decoded]) if decoded else []
        for (image_id, p, (img, factor, (w, h))), d in zip(decoded, dets):
            yield image_id, ImagePrediction(p, img, d, w, h, factor), None
        progress(min(start + BATCH, total), total, Path(chunk[-1][1]).name)


def propose(
    model: LabellingModel,
    items: Sequence[tuple[Any, Path]],
    *,
    score_thr: float = 0.5,
    checkpoint: str = "",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> ProposalBatch:
    """Run ``model`` over ``items`` (image id, image path): the proposals scoring at least ``score_thr``.

    Thread-safe: reads no Dataset (the GUI calls it in a worker). Cancelling raises CancelledError.
    """
    score_thr = check_score_thr(score_thr)
    proposals: list[Proposal] = []
    done: list = []
    warnings: list[str] = []
    below = 0
    for image_id, pred, warning in predict_items(model, list(items), progress=progress, cancel=cancel):
        if pred is None:
            warnings.append(str(warning))
            continue
        dets = pred.original()
        below += int((dets.scores < score_thr).sum()) if len(dets) else 0
        proposals.extend(
            detections_to_proposals(
                image_id,
                dets,
                model,
                score_thr=score_thr,
                checkpoint=checkpoint,
                size=(pred.height, pred.width),
            )
        )
        done.append(image_id)
    return ProposalBatch(proposals, done, warnings, below)


def remove_model_proposals(ds: Dataset, image_ids: Sequence[Any]) -> int:
    """Remove (in place) the pending model proposals of ``image_ids``; accepted annotations and pending
    ones of other sources stay. Returns how many went."""
    wanted = set(image_ids)
    gone = [
        a["id"]
        for a in ds.annotations
        if a["image_id"] in wanted and provenance.is_pending(a) and provenance.source_of(a) == provenance.MODEL
    ]
    for aid in gone:
        ds.remove_annotation(aid)
    return len(gone)


def apply_proposals(ds: Dataset, batch: ProposalBatch) -> int:
    """In place, for the command line: the pending model proposals of ``batch.images_done`` replaced by
    ``batch.proposals`` (categories added by name when missing). Returns how many were added."""
    remove_model_proposals(ds, batch.images_done)
    for p in batch.proposals:
        if not ds.has_image(p.image_id):
            raise StudioError("no such image in the dataset", file=ds.source, item=f"image {p.image_id}")
        cat = ds.add_category(p.category_name)
        keys = provenance.proposal(p.score, p.checkpoint or None)
        if p.segmentation:
            ds.add_annotation(p.image_id, cat, segmentation=[list(q) for q in p.segmentation], **keys)
        else:
            ds.add_annotation(p.image_id, cat, segmentation=[], bbox=list(p.bbox), **keys)
    return len(batch.proposals)


@dataclass(frozen=True)
class AutoLabelSummary:
    """What ``studio label auto`` did."""

    out: Path
    images: int  # images run through the model
    proposals: int  # pending proposals added
    replaced: int  # earlier pending model proposals of those images, removed
    seconds: float
    checkpoint: str
    warnings: list[str] = field(default_factory=list)
    below: int = 0  # detections scoring under --score-thr (not proposed)
    score_thr: float = 0.5

    def text(self) -> str:
        parts = [f"{plural(self.proposals, 'pending proposal')} on {plural(self.images, 'image')}"]
        if self.replaced:
            parts.append(f"{plural(self.replaced, 'earlier proposal')} replaced")
        if self.warnings:
            parts.append(f"{plural(len(self.warnings), 'image')} skipped")
        return ", ".join(parts)

    def hint(self) -> str | None:
        """A weak model (a short first training) scores low: say what a lower threshold would give."""
        if self.images and self.proposals < self.images and self.below > self.proposals:
            return (
                f"{plural(self.below, 'more detection')} scored under {self.score_thr:g}: "
                "a model trained for minutes scores low; try a lower --score-thr (e.g. 0.3) and review them"
            )
        return None


def check_label_output(ann: str | Path, out: str | Path) -> None:
    """Refuse an output that is a folder or an existing file that is not COCO. ``out`` may be ``ann`` itself:
    the user named it, and it is replaced atomically."""
    ann, out = Path(ann), Path(out)
    if out.is_dir():
        raise DatasetError("is a folder: name the COCO file to write (-o OUT.json)", file=out)
    if not out.exists() or (ann.exists() and out.resolve() == ann.resolve()):
        return
    try:
        Dataset.load(out)
    except DatasetError:
        raise DatasetError(
            "exists and is not a COCO annotation file: it is not replaced; choose another -o", file=out
        ) from None


def images_folder(ann: str | Path, ds: Dataset, images: str | Path | None) -> Path:
    """``images`` when given, else the folder recorded at import, else the usual place beside ``ann``."""
    if images is not None:
        folder = Path(images)
        if not folder.is_dir():
            raise DatasetError("images folder not found", file=folder)
        return folder
    return recorded_images_dir(ann, ds) or usual_images_dir(ann)


def auto_label(
    model_path: str | Path,
    ann: str | Path,
    out: str | Path,
    *,
    images: str | Path | None = None,
    all_images: bool = False,
    score_thr: float = 0.5,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> AutoLabelSummary:
    """``studio label auto``: pending proposals of ``model_path`` for the images of ``ann`` without accepted
    annotations (every image with ``all_images``), written to ``out`` (atomically; ``ann`` itself only when
    ``out`` names it). Earlier pending model proposals of the processed images are replaced."""
    t0 = time.perf_counter()
    score_thr = check_score_thr(score_thr)
    check_label_output(ann, out)
    ds = Dataset.load(ann)
    folder = images_folder(ann, ds, images)
    chosen = ds.images if all_images else provenance.unlabelled_images(ds)
    items = [(im["id"], image_path(folder, im)) for im in chosen]
    label = checkpoint_label(model_path)
    model = load_model(model_path, device=device, score_thr=min(0.05, score_thr))
    batch = propose(model, items, score_thr=score_thr, checkpoint=label, progress=progress, cancel=cancel)
    replaced = remove_model_proposals(ds, batch.images_done)
    added = apply_proposals(ds, batch)
    record_images_dir(ds, folder, Path(out).parent)
    ds.save(out)
    return AutoLabelSummary(
        Path(out),
        len(batch.images_done),
        added,
        replaced,
        time.perf_counter() - t0,
        label,
        list(batch.warnings),
        batch.below,
        score_thr,
    )
