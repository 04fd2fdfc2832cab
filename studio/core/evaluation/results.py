"""Predictions in the COCO results form: one JSON object per detection.

This is the interchange format of ``studio eval`` / ``studio predict``: pycocotools, the confusion
matrix and external tools all read it. Each record carries the image's ``file_name`` next to its
``image_id`` so results still match a dataset after a re-import gave the images other ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from studio.core import atomic
from studio.core.data.classes import ClassMap
from studio.core.dataset.model import Dataset, read_json
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.geometry import is_rle, mask_to_rle


def to_coco_results(dets: Detections, image: dict, class_map: ClassMap) -> list[dict]:
    """One COCO result dict per detection of ``image`` (a dataset image record).

    ``bbox`` is ``[x, y, w, h]`` in original image pixels rounded to 2 decimals, ``score`` rounded to
    5 decimals (enough to keep the ranking, small files). Mask models add ``segmentation`` as
    compressed RLE with ``counts`` a str.
    """
    n = len(dets)
    if n == 0:
        return []
    boxes = np.asarray(dets.boxes, dtype=np.float64).reshape(-1, 4)
    masks = dets.masks
    if masks is not None:
        want = (int(image.get("height", masks.shape[1])), int(image.get("width", masks.shape[2])))
        if tuple(masks.shape[1:]) != want:
            raise StudioError(
                f"masks are {masks.shape[2]}x{masks.shape[1]} but the image is {want[1]}x{want[0]}: "
                "masks must be at the original image size",
                file=image.get("file_name"),
                item=f"image {image.get('id')}",
            )
    out: list[dict] = []
    for i in range(n):
        x0, y0, x1, y1 = boxes[i]
        rec: dict[str, Any] = {
            "image_id": image["id"],
            "file_name": image["file_name"],
            "category_id": class_map.cat_id_of(int(dets.labels[i])),
            "bbox": [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)],
            "score": round(float(dets.scores[i]), 5),
        }
        if masks is not None:
            rec["segmentation"] = mask_to_rle(masks[i])
        out.append(rec)
    return out


def write_results(path: str | Path, results: list[dict]) -> None:
    """Atomic write of a results list as compact JSON (results files get large)."""
    atomic.write_json(path, results, indent=False)


def read_results(path: str | Path) -> list[dict]:
    """Read a COCO results file written by :func:`write_results` or another tool; errors name the file."""
    data = read_json(path)
    if not isinstance(data, list):
        raise StudioError(f"a results file holds a JSON list of detections, got {type(data).__name__}", file=path)
    for i, r in enumerate(data):
        if not isinstance(r, dict):
            raise StudioError(f"expected an object, got {type(r).__name__}", file=path, item=f"results[{i}]")
    return data


def resolve_results(
    gt: Dataset,
    results: list[dict],
    cat_ids: Iterable[Any],
    *,
    need_bbox: bool = True,
    need_segm: bool = False,
) -> list[dict]:
    """Checked copies of ``results`` tied to the images of ``gt``, ready for matching.

    Each copy holds ``image_id`` (the GT image's id), ``category_id``, ``score`` (float), ``bbox``
    (4 floats, derived from the mask when only a mask was given and ``need_bbox``) and, when the
    result has one, ``segmentation`` as compressed RLE with bytes counts (polygons and uncompressed
    RLE are encoded). A result matches its image by ``file_name`` when the GT knows that name (ids
    change on re-import, names do not), else by ``image_id``. Results naming images the GT lacks,
    or categories outside ``cat_ids``, are errors that list them: silently dropping them (what
    pycocotools does) would report a score for predictions that were never scored.
    """
    where = str(gt.source) if gt.source is not None else "the ground truth"
    cats = set(cat_ids)
    by_file: dict[str, dict] = {}
    names_seen: set[str] = set()
    for im in gt.images:
        fn = im["file_name"]
        if fn in names_seen:
            by_file.pop(fn, None)  # a name two images share is ambiguous: those results match by id
        else:
            names_seen.add(fn)
            by_file[fn] = im
    out: list[dict] = []
    unknown_img: list[Any] = []
    unknown_cat: list[Any] = []
    for i, r in enumerate(results):
        item = f"results[{i}]"
        if not isinstance(r, dict):
            raise StudioError(f"expected an object, got {type(r).__name__}", item=item)
        if "image_id" not in r and "file_name" not in r:
            raise StudioError("a result needs 'image_id' or 'file_name'", item=item)
        image = by_file.get(r["file_name"]) if isinstance(r.get("file_name"), str) else None
        if image is None:
            try:
                image = gt.image(r.get("image_id"))
            except (KeyError, TypeError):  # unknown or unhashable id
                unknown_img.append(r.get("file_name", r.get("image_id")))
                continue
        if "category_id" not in r:
            raise StudioError("a result needs 'category_id'", item=item)
        try:
            known = r["category_id"] in cats
        except TypeError:
            known = False
        if not known:
            unknown_cat.append(r["category_id"])
            continue
        score = r.get("score")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not np.isfinite(score):
            raise StudioError(f"'score' must be a finite number, got {score!r}", item=item)
        rec: dict[str, Any] = {"image_id": image["id"], "category_id": r["category_id"], "score": float(score)}
        if "bbox" in r:
            rec["bbox"] = _check_bbox(r["bbox"], item)
        if "segmentation" in r:
            rec["segmentation"] = _result_rle(r["segmentation"], image, item)
        if need_bbox and "bbox" not in rec:
            if "segmentation" not in rec:
                raise StudioError("a result needs 'bbox' (or 'segmentation') for box matching", item=item)
            from pycocotools import mask as mask_utils  # deferred: pycocotools

            rec["bbox"] = [float(v) for v in mask_utils.toBbox(rec["segmentation"])]
        if need_segm and "segmentation" not in rec:
            raise StudioError("a result needs 'segmentation' for mask AP", item=item)
        out.append(rec)
    if unknown_img:
        raise StudioError(
            f"{len(unknown_img)} result(s) for image(s) not in {where}: {listing(unknown_img)}", item="results"
        )
    if unknown_cat:
        raise StudioError(
            f"{len(unknown_cat)} result(s) with category id(s) not among the evaluated categories "
            f"{listing(sorted(cats))} of {where}: {listing(unknown_cat)}",
            item="results",
        )
    return out


def _check_bbox(bbox: Any, item: str) -> list[float]:
    try:
        box = [float(v) for v in bbox]
    except (TypeError, ValueError):
        box = []
    if len(box) != 4 or not all(np.isfinite(box)):
        raise StudioError(f"'bbox' must be 4 finite numbers [x, y, w, h], got {bbox!r}", item=item)
    return box


def _result_rle(seg: Any, image: dict, item: str) -> dict:
    """A result's segmentation as compressed RLE with bytes counts (what pycocotools requires)."""
    from pycocotools import mask as mask_utils  # deferred: pycocotools

    if is_rle(seg) and isinstance(seg["counts"], (str, bytes)):
        counts = seg["counts"].encode("ascii") if isinstance(seg["counts"], str) else seg["counts"]
        return {"size": [int(v) for v in seg["size"]], "counts": counts}
    if is_rle(seg):  # uncompressed
        h, w = seg["size"]
        return mask_utils.frPyObjects(seg, int(h), int(w))
    if isinstance(seg, list) and "height" in image and "width" in image:
        h, w = int(image["height"]), int(image["width"])
        polys = [list(map(float, p)) for p in seg if isinstance(p, list) and len(p) >= 6]
        if polys:
            return mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        return mask_utils.encode(np.zeros((h, w), np.uint8, order="F"))
    raise StudioError("'segmentation' must be an RLE, or polygons of an image with a known size", item=item)


def listing(values: Iterable[Any], limit: int = 8) -> str:
    """``'a', 'b', 3 and 5 more``: the first distinct values of a list, for error messages."""
    vals = list(dict.fromkeys(values))
    shown = ", ".join(repr(v) for v in vals[:limit])
    return shown + (f" and {len(vals) - limit} more" if len(vals) > limit else "")
