"""The eval and predict jobs behind ``studio eval`` / ``studio predict`` and the GUI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset
from studio.core.detections import check_score_threshold
from studio.core.errors import StudioError
from studio.core.imageio import list_images
from studio.core.jobs import CancelToken, ProgressFn, no_progress


def eval_class_map(ckpt_classes: ClassMap, ds: Dataset, ann: str | Path) -> ClassMap:
    """The checkpoint's labels mapped onto ``ds``'s category ids by class name; refuses on any difference."""
    names = set(ds.class_names)
    want = set(ckpt_classes.names)
    if names != want:
        parts = []
        if want - names:
            parts.append(f"the model has {sorted(want - names)} which the file lacks")
        if names - want:
            parts.append(f"the file has {sorted(names - want)} which the model was not trained on")
        raise StudioError(f"classes do not match the checkpoint: {'; '.join(parts)}", file=ann)
    return ClassMap(tuple(ds.category_id(n) for n in ckpt_classes.names), ckpt_classes.names)


def evaluate_checkpoint(
    ckpt_or_run: str | Path,
    *,
    ann: str | Path | None = None,
    images: str | Path | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 4,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
):
    """Evaluate a checkpoint on its val set (or ``ann``); writes the report into ``out``. Returns (ValResult, out)."""
    from studio.core import checkpoint as ckpt_io
    from studio.core.config.schema import Config, DatasetRef
    from studio.core.data.dataset import DetectionDataset
    from studio.core.data.splits import open_split
    from studio.core.inference.predictor import Predictor
    from studio.core.inference.val import evaluate_model

    path = ckpt_io.resolve(ckpt_or_run)
    ck = ckpt_io.load(path)
    cfg = Config.model_validate(ck.config)
    if ann is None:
        if cfg.data.val is None:
            raise StudioError("the checkpoint's config has no val set; name one with --ann", file=path)
        ref = DatasetRef(ann=cfg.data.val.ann, images=images or cfg.data.val.images)
    else:
        ref = DatasetRef(ann=str(ann), images=str(images) if images else None)
    split = open_split(ref, "eval")
    cmap = eval_class_map(ck.classes, split.dataset, split.ann)
    pred = Predictor.from_checkpoint(ck, device=device, batch_size=batch_size)
    val_set = DetectionDataset(
        split.dataset,
        split.images_dir,
        cmap,
        size=pred.size,
        letterbox=pred.letterbox,
        train=False,
        augment=None,
        with_masks=pred.with_masks,
        cache="none",
    )
    val_set.validate()
    res = evaluate_model(
        pred.model,
        val_set,
        split.dataset,
        cmap,
        device=pred.device,
        batch_size=batch_size,
        cancel=cancel,
        progress=progress,
    )
    out = Path(out) if out else path.parent / f"eval-{split.ann.stem}"
    res.write_report(out, cmap)
    return res, out


@dataclass(frozen=True)
class PredictSummary:
    out_dir: Path
    results_json: Path
    images: int
    detections: int
    coco_json: Path | None = None  # with ``to_coco``: the predictions as an annotation file
    coco_annotations: int = 0


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
    score_threshold: float | None = None,
    device: str = "auto",
    draw: bool = True,
    to_coco: str | Path | None = None,
    to_coco_score_thr: float = 0.5,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> PredictSummary:
    """Predict on images; write drawn copies and ``predictions.json`` (COCO results + file_name) into ``out``.

    predictions.json is in the images' own pixels. An image of more than 16 MP is decoded at 1/2, 1/4 or
    1/8 of its size (no less than the model's input size; see
    :func:`studio.core.data.decode.decode_for_model`), and its drawn copy has that reduced size.
    ``score_threshold`` and ``to_coco_score_thr`` must be from 0 to 1.

    ``to_coco``: also write the detections scoring at least ``to_coco_score_thr`` as an annotation
    file (polygons from masks, boxes otherwise) that opens in the editor for review: model-assisted
    labelling. Its images are named relative to the folder holding all inputs, recorded in
    ``info.images_dir``.
    """
    from studio.core import atomic
    from studio.core.dataset.model import record_images_dir
    from studio.core.evaluation.draw import draw_detections, save_image
    from studio.core.evaluation.results import to_coco_results
    from studio.core.inference.predictor import Predictor
    from studio.core.inference.to_coco import add_predictions, common_root, start_dataset

    score_threshold = check_score_threshold(score_threshold)
    if to_coco is not None:
        to_coco_score_thr = check_score_threshold(to_coco_score_thr, "--to-coco-thr")
    paths = expand_inputs(inputs)
    pred = Predictor.from_checkpoint(ckpt, device=device, score_threshold=score_threshold)
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
            add_predictions(
                coco, im["id"], dets, pred.class_map, score_thr=to_coco_score_thr, with_masks=pred.with_masks
            )
        if draw:  # on the decoded image: a big image is drawn at its reduced size
            save_image(out / names[i], draw_detections(item.image, item.detections, list(pred.class_map.names)))
    results_json = out / "predictions.json"
    atomic.write_json(results_json, results)
    if coco is None:
        return PredictSummary(out, results_json, len(paths), n_det)
    record_images_dir(coco, root, Path(to_coco).parent)
    coco.save(to_coco, indent=True)
    return PredictSummary(out, results_json, len(paths), n_det, Path(to_coco), len(coco.annotations))
