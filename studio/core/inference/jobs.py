"""The eval and predict jobs behind ``studio eval`` / ``studio predict`` and the GUI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.core import atomic
from studio.core.dataset.model import record_images_dir
from studio.core.detections import check_score_thr
from studio.core.draw import draw_detections
from studio.core.errors import StudioError
from studio.core.evaluation.results import to_coco_results
from studio.core.imageio import list_images, save_image
from studio.core.inference.score_default import choose_score_thr
from studio.core.inference.to_coco import add_predictions, common_root, start_dataset
from studio.core.jobs import CancelToken, Progress, no_progress


def evaluate_checkpoint(
    ckpt_or_run: str | Path,
    *,
    ann: str | Path | None = None,
    images: str | Path | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 4,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
):
    """Evaluate a checkpoint on its val set (or ``ann``); writes the report into ``out``. Returns (ValResult, out)."""
    from studio.core.inference.val_set import evaluate_on_val  # deferred: pydantic

    ev = evaluate_on_val(
        ckpt_or_run,
        ann,
        images,
        no_val_set="the checkpoint's config has no val set; name one with --ann",
        split_name="eval",
        device=device,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
    )
    out = Path(out) if out else ev.checkpoint.parent / f"eval-{ev.split.ann.stem}"
    ev.result.write_report(out, ev.class_map)
    return ev.result, out


@dataclass(frozen=True)
class PredictSummary:
    out_dir: Path
    results_json: Path
    images: int
    detections: int
    coco_json: Path | None = None  # with ``to_coco``: the predictions as an annotation file
    coco_annotations: int = 0
    score_note: str = ""  # the score threshold used and where it came from (score_default.ScoreChoice.describe)


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Image files and folders (their images, sorted) -> image paths; a missing input is an error."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths.extend(sorted(list_images(p)))
        elif p.is_file():
            paths.append(p)
        else:
            raise StudioError("no such image or folder", file=p)
    if not paths:
        raise StudioError("no images to predict on")
    return paths


def out_names(paths: Sequence[Path]) -> list[str]:
    """Unique output names: the file name, with a counter where two inputs share one."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        n = p.name
        if n in seen:
            seen[n] += 1
            n = f"{p.stem}_{seen[p.name]}{p.suffix}"
        else:
            seen[n] = 0
        names.append(n)
    return names


def predict_images(
    ckpt: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    score_thr: float | None = None,
    device: str = "auto",
    draw: bool = True,
    to_coco: str | Path | None = None,
    to_coco_thr: float = 0.5,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> PredictSummary:
    """Predict on images; write drawn copies and ``predictions.json`` (COCO results + file_name) into ``out``.

    predictions.json is in the images' own pixels. An image of more than 16 MP is decoded at 1/2, 1/4 or
    1/8 of its size (no less than the model's input size; see
    :func:`studio.core.data.decode.decode_for_model`), and its drawn copy has that reduced size.
    ``score_thr`` and ``to_coco_thr`` must be from 0 to 1; without ``score_thr``, the run's F1-optimal threshold
    for this checkpoint, else the config's (:mod:`studio.core.inference.score_default`; the summary's
    ``score_note`` says which).

    ``to_coco``: also write the detections scoring at least ``to_coco_thr`` as an annotation
    file (polygons from masks, boxes otherwise) that opens in the editor for review: model-assisted
    labelling. Its images are named relative to the folder holding all inputs, recorded in
    ``info.images_dir``.
    """
    from studio.core import checkpoint as ckpt_io  # deferred: torch
    from studio.core.inference.predictor import Predictor  # deferred: torch

    score_thr = check_score_thr(score_thr)
    if to_coco is not None:
        to_coco_thr = check_score_thr(to_coco_thr, "--to-coco-thr")
    paths = expand_inputs(inputs)
    ck = ckpt_io.load(ckpt_io.resolve(ckpt))
    choice = choose_score_thr(ck, score_thr)  # no --score-thr: the run's F1-optimal one, else the config's
    pred = Predictor.from_checkpoint(ck, device=device, score_thr=choice.value)
    coco = start_dataset(pred.class_map) if to_coco is not None else None
    root = common_root(paths)
    out = Path(out)
    atomic.ensure_dir(out)
    names = out_names(paths)
    results: list[dict] = []
    images: list[dict] = []
    n_det = 0
    for i, item in enumerate(pred.predict_files(paths, progress=progress, cancel=cancel)):
        p, dets = item.path, item.original()  # in the file's pixels, also for a big image decoded reduced
        record = {"id": i + 1, "file_name": str(p), "width": item.width, "height": item.height}
        images.append(record)
        results.extend(to_coco_results(dets, record, pred.class_map))
        n_det += len(dets)
        if coco is not None:
            im = coco.add_image(p.resolve().relative_to(root).as_posix(), item.width, item.height)
            add_predictions(coco, im["id"], dets, pred.class_map, score_thr=to_coco_thr, with_masks=pred.with_masks)
        if draw:  # on the decoded image: a big image is drawn at its reduced size
            save_image(out / names[i], draw_detections(item.image, item.detections, list(pred.class_map.names)))
    results_json = out / "predictions.json"
    atomic.write_json(results_json, results)
    if coco is None:
        return PredictSummary(out, results_json, len(paths), n_det, score_note=choice.describe())
    record_images_dir(coco, root, Path(to_coco).parent)
    coco.save(to_coco, indent=True)
    return PredictSummary(
        out, results_json, len(paths), n_det, Path(to_coco), len(coco.annotations), score_note=choice.describe()
    )
