"""Ultralytics YOLO txt import and export, detect (boxes) and segment (polygons).

Layout::

    ROOT/data.yaml            path, train / val / test, names (list or {index: name}), nc
    ROOT/images/train/a.jpg
    ROOT/labels/train/a.txt   one object a line, coordinates normalised to 0..1:
                              "cls cx cy w h" (detect) or "cls x1 y1 x2 y2 ..." (segment)

A split is a folder of images, a list of folders, or a ``.txt`` file listing image paths. The label
file of an image replaces the last ``images`` folder of its path by ``labels`` and the extension by
``.txt`` (Ultralytics' rule). Relative paths in data.yaml are resolved against ``path``, else
against the yaml's own folder; a relative ``path`` is relative to the yaml's folder.

Export writes one split, ``train`` (``val`` points at it too so the yaml loads in Ultralytics), and
an absolute ``path``: Ultralytics resolves a relative ``path`` against its own datasets folder, not
against the yaml. A segment line holds one polygon per instance, so the parts of a multi-part
instance are joined into one outline by zero-width bridges between their closest vertices (as
Ultralytics' ``merge_multi_segment`` does); crowd annotations are skipped. YOLO has no place for provenance:
:func:`studio.core.formats.export_dataset_report` hands this exporter the accepted annotations only (all of them,
as plain objects, with ``include_pending``).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml

from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError
from studio.core.formats import common
from studio.core.formats.common import (
    Collector,
    ExportOptions,
    ImportOptions,
    ImportResult,
    class_index,
    export_folder,
    export_names,
    finite_number,
    place_source_image,
    read_image_size,
)
from studio.core.geometry import (
    Flat,
    bbox_polygon,
    clip_bbox,
    flat_to_xy,
    is_rle,
    mask_to_polygons,
    segmentation_to_mask,
    xy_to_flat,
)
from studio.core.imageio import IMAGE_SUFFIXES

NAME = "yolo"
DESCRIPTION = "Ultralytics YOLO txt (data.yaml, images/, labels/): boxes (detect) and polygons (segment)"

SPLITS = ("train", "val", "test")
EXPORT_SPLIT = "train"
TASKS = ("detect", "segment")
DECIMALS = 6  # 0.5e-6 of 4000 px is 0.002 px
_COORD_TOL = 1e-6  # normalised coordinates may overshoot 0..1 by this much (float printing)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# detection
def find_yaml(src: Path) -> Path | None:
    """``src`` itself when it is a yaml file, else ``data.yaml`` (or the one yaml) in the folder."""
    src = Path(src)
    if src.is_file():
        return src if src.suffix.lower() in (".yaml", ".yml") else None
    if not src.is_dir():
        return None
    for name in ("data.yaml", "data.yml"):
        if (src / name).is_file():
            return src / name
    found = sorted(src.glob("*.yaml")) + sorted(src.glob("*.yml"))
    return found[0] if len(found) == 1 else None


def detect(src: Path) -> bool:
    """A data.yaml (or a folder holding one) with ``names``."""
    found = find_yaml(Path(src))
    if found is None:
        return False
    try:
        data = yaml.safe_load(found.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "names" in data


def probe(src: Path) -> common.Probe:
    """The data.yaml's name, class count and splits."""
    yaml_file = find_yaml(src)
    cfg = load_config(yaml_file) if yaml_file is not None else None
    if cfg is None:
        return common.Probe("YOLO data.yaml")
    return common.Probe(f"YOLO {yaml_file.name}", detail=f"{len(cfg.names)} classes", splits=tuple(cfg.splits))


# ----------------------------------------------------------------------------------------------
# data.yaml
@dataclass
class DataConfig:
    """What import needs from data.yaml."""

    yaml_file: Path
    root: Path  # the dataset root (``path``)
    names: dict[int, str]  # class index -> name
    splits: dict[str, list[str]]  # split -> folders or .txt lists, as written


def load_config(yaml_file: Path, col: Collector | None = None) -> DataConfig:
    """Parse and check data.yaml; errors name the file (and the line for YAML syntax errors)."""
    data = _parse_yaml(yaml_file)
    names = _names(data, yaml_file)
    root = _root(data, yaml_file, col)
    splits: dict[str, list[str]] = {}
    for key in SPLITS:
        value = data.get(key)
        if value:
            splits[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return DataConfig(yaml_file, root, names, splits)


def _parse_yaml(yaml_file: Path) -> dict:
    try:
        data = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError("file not found", file=yaml_file) from None
    except UnicodeDecodeError:
        raise DatasetError("not a UTF-8 text file", file=yaml_file) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise DatasetError(f"broken YAML ({getattr(e, 'problem', None) or e})", file=yaml_file, item=where) from None
    if not isinstance(data, dict):
        raise DatasetError("expected a mapping with 'names' and 'train' at the top level", file=yaml_file)
    return data


def _names(data: dict, yaml_file: Path) -> dict[int, str]:
    """``names`` as {index: name}: a list, a {index: name} mapping, or ``nc`` alone (class_0...)."""
    raw = data.get("names")
    nc = data.get("nc")
    if raw is None:
        if isinstance(nc, int) and nc > 0:
            return {i: f"class_{i}" for i in range(nc)}
        raise DatasetError("no 'names' (the class names)", file=yaml_file)
    if isinstance(raw, list):
        names = {i: str(n) for i, n in enumerate(raw)}
    elif isinstance(raw, dict):
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise DatasetError("'names' keys must be class indexes (0, 1, ...)", file=yaml_file) from None
    else:
        raise DatasetError(f"'names' must be a list or a mapping, got {type(raw).__name__}", file=yaml_file)
    if nc is not None and nc != len(names):
        raise DatasetError(f"'nc' is {nc} but 'names' lists {len(names)} classes", file=yaml_file)
    return dict(sorted(names.items()))


def _root(data: dict, yaml_file: Path, col: Collector | None) -> Path:
    """``path`` (relative to the yaml's folder); the yaml's folder when absent or missing."""
    here = yaml_file.parent
    value = data.get("path")
    if not value:
        return here
    root = Path(str(value)).expanduser()
    root = root if root.is_absolute() else here / root
    if root.is_dir():
        return root
    if col is not None:
        col.warn(yaml_file, "path", f"dataset root {root} not found; using the yaml's folder {here}")
    return here


def _resolve(cfg: DataConfig, entry: str) -> Path:
    """A split entry relative to the root, else to the yaml's folder."""
    p = Path(entry).expanduser()
    if p.is_absolute():
        return p
    for base in (cfg.root, cfg.yaml_file.parent):
        if (base / p).exists():
            return base / p
    return cfg.root / p


# ----------------------------------------------------------------------------------------------
# import
def read(src: Path, images: Path | None, options: ImportOptions) -> ImportResult:
    """Read a YOLO dataset from its data.yaml (or the folder holding it).

    ``images`` is not used: the images are where data.yaml says they are.
    """
    src = Path(src)
    yaml_file = find_yaml(src)
    if yaml_file is None:
        raise DatasetError("no data.yaml found", file=src)
    col = Collector(options.strict)
    cfg = load_config(yaml_file, col)
    files = _image_files(cfg, options.split, col)
    ds = Dataset(source=yaml_file)
    ds.categories = [{"id": i + 1, "name": n, "supercategory": ""} for i, n in cfg.names.items()]
    ds.reindex()
    for k, img in enumerate(files):
        _read_image(ds, cfg, img, col)
        if options.progress:
            options.progress(k + 1, len(files))
    return ImportResult(ds, cfg.root, col.warnings)


def _image_files(cfg: DataConfig, split: str | None, col: Collector) -> list[Path]:
    """Images of one split, or of all splits de-duplicated, in order."""
    if split is not None and split not in cfg.splits:
        known = ", ".join(cfg.splits) or "none"
        raise DatasetError(f"no split '{split}' in data.yaml (available splits: {known})", file=cfg.yaml_file)
    chosen = [split] if split is not None else list(cfg.splits)
    if not chosen:
        raise DatasetError("data.yaml names no split (train, val or test)", file=cfg.yaml_file)
    seen: dict[Path, None] = {}
    for name in chosen:
        for entry in cfg.splits[name]:
            path = _resolve(cfg, entry)
            if not path.exists():
                if split is not None:
                    raise DatasetError(f"split '{name}' not found", file=path)
                col.warn(cfg.yaml_file, name, f"split folder or list {path} not found; skipped")
                continue
            for img in _split_images(cfg, path):
                seen.setdefault(Path(os.path.abspath(img)), None)
    if not seen:
        raise DatasetError("no images found in the splits", file=cfg.yaml_file)
    return list(seen)


def _split_images(cfg: DataConfig, path: Path) -> list[Path]:
    """The images of a split entry: a folder (searched recursively) or a .txt list of paths."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [_listed_image(line, path, cfg.root) for line in lines if line]


def _listed_image(line: str, txt: Path, root: Path) -> Path:
    """A path from a .txt image list: ``./x`` is relative to the list, else to the root (or the list)."""
    if line.startswith("./"):
        return txt.parent / line[2:]
    p = Path(line)
    if p.is_absolute():
        return p
    for base in (root, txt.parent):
        if (base / p).exists():
            return base / p
    return root / p


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder becomes ``labels``, the extension ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _read_image(ds: Dataset, cfg: DataConfig, img: Path, col: Collector) -> None:
    try:
        width, height = read_image_size(img)
    except DatasetError as e:
        col.bad(e.file, e.item, e.message)
        return
    # explicit ids: the model's own next-id lookup scans all records (quadratic on big sets)
    im = ds.add_image(Path(os.path.relpath(img, cfg.root)).as_posix(), width, height, id=len(ds.images) + 1)
    lbl = label_path(img)
    if not lbl.is_file():
        return
    try:
        text = lbl.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        col.bad(lbl, None, f"cannot read the label file ({e.__class__.__name__})")
        return
    for n, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if tokens:
            _add_line(ds, im, tokens, cfg.names, lbl, f"line {n}", col)


def _add_line(
    ds: Dataset, im: dict, tokens: list[str], names: dict[int, str], lbl: Path, item: str, col: Collector
) -> None:
    """One label line as an annotation (a box for 5 values, else a polygon)."""
    try:
        values = [finite_number(t, f"value {k + 1}", text=True) for k, t in enumerate(tokens)]
    except ValueError as e:  # not a number, or nan / inf
        col.bad(lbl, item, f"expected finite numbers: {e} (line {' '.join(tokens)[:60]!r})")
        return
    cls, coords = values[0], values[1:]
    if cls != int(cls) or int(cls) not in names:
        col.bad(lbl, item, f"class index {tokens[0]} but data.yaml names {len(names)} classes")
        return
    if len(coords) != 4 and (len(coords) < 6 or len(coords) % 2):
        col.bad(lbl, item, f"expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...', got {len(values)} values")
        return
    if min(coords) < -_COORD_TOL or max(coords) > 1 + _COORD_TOL:
        col.bad(lbl, item, "coordinates must be normalised to 0..1")
        return
    cid = int(cls) + 1
    w, h = im["width"], im["height"]
    if len(coords) == 4:
        cx, cy, bw, bh = coords
        if bw <= 0 or bh <= 0:
            col.bad(lbl, item, "zero-size box")
            return
        box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
        ds.add_annotation(im["id"], cid, bbox=box, id=len(ds.annotations) + 1)
        return
    flat = [v * (w if i % 2 == 0 else h) for i, v in enumerate(coords)]
    parts = col.polygon(flat, lbl, item)
    if parts:
        ds.add_annotation(im["id"], cid, segmentation=parts, id=len(ds.annotations) + 1)


# ----------------------------------------------------------------------------------------------
# export
def write(ds: Dataset, images_dir: Path | None, out_dir: Path, options: ExportOptions) -> list[Path]:
    """Write ``OUT/data.yaml``, ``OUT/labels/train/*.txt`` (+ ``OUT/images/train/`` when copying).

    Image names are flattened (``a/b.jpg`` -> ``a__b.jpg``) after dropping the folders all images
    share, so no name contains an ``images`` folder that would confuse the label rule.
    """
    out_dir = Path(out_dir)
    task = _task(ds, options.task)
    if options.copy_images and images_dir is None:
        raise DatasetError("an images folder is needed to copy the images", file=ds.source)
    index = class_index(ds)
    names = export_names([im["file_name"] for im in ds.images])
    skipped: Counter[str] = Counter()
    written = [out_dir / "data.yaml"]
    with export_folder(ds, images_dir, out_dir, options, NAME) as folder:
        for k, (im, name) in enumerate(zip(ds.images, names)):
            if options.copy_images:
                place_source_image(folder, images_dir, im, f"images/{EXPORT_SPLIT}/{name}")
            lines = _label_lines(ds, im, index, task, skipped)
            rel = f"labels/{EXPORT_SPLIT}/{PurePosixPath(name).stem}.txt"
            written.append(folder.write_text(rel, "".join(f"{line}\n" for line in lines)))
            if options.progress:
                options.progress(k + 1, len(ds.images))
        folder.write_text("data.yaml", data_yaml(out_dir, ds.class_names))
    _report(skipped, out_dir)
    return written


def _task(ds: Dataset, task: str | None) -> str:
    if task is None:
        return "segment" if ds.has_masks() else "detect"
    if task not in TASKS:
        raise DatasetError(f"unknown YOLO task '{task}' (known: {', '.join(TASKS)})")
    return task


def data_yaml(out_dir: Path, names: list[str]) -> str:
    data = {
        "path": str(Path(os.path.abspath(out_dir))),
        "train": f"images/{EXPORT_SPLIT}",
        "val": f"images/{EXPORT_SPLIT}",
        "nc": len(names),
        "names": list(names),
    }
    head = "# Written by Studio. One split: 'val' points at 'train' so Ultralytics accepts the file.\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _label_lines(ds: Dataset, im: dict, index: dict[Any, int], task: str, skipped: Counter[str]) -> list[str]:
    w, h = im["width"], im["height"]
    if not (w > 0 and h > 0):
        raise DatasetError(f"image size must be positive, got {w}x{h}", item=f"image id {im['id']} ({im['file_name']})")
    lines = []
    for ann in ds.anns_for_image(im["id"]):
        if ann.get("iscrowd"):
            skipped["crowd"] += 1
            continue
        coords = _box_coords(ann, w, h) if task == "detect" else _polygon_coords(ann, w, h)
        if not coords:
            skipped["empty"] += 1
            continue
        if ann["category_id"] not in index:
            raise DatasetError(f"unknown category id {ann['category_id']!r}", item=f"annotation id {ann['id']}")
        lines.append(f"{index[ann['category_id']]} " + " ".join(f"{v:.{DECIMALS}f}" for v in coords))
    return lines


def _box_coords(ann: dict, w: int, h: int) -> list[float]:
    """Normalised ``cx cy w h`` of the box clipped to the image; empty when nothing is left."""
    x, y, bw, bh = clip_bbox(ann["bbox"], w, h)
    if bw <= 0 or bh <= 0:
        return []
    return [(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]


def _polygon_coords(ann: dict, w: int, h: int) -> list[float]:
    """Normalised outline of the instance (its parts merged), clipped to 0..1."""
    flat = merge_parts(instance_polygons(ann, w, h))
    if not flat:
        return []
    xy = flat_to_xy(flat) / np.array([w, h], dtype=np.float64)
    return xy_to_flat(np.clip(xy, 0.0, 1.0))


def instance_polygons(ann: dict, w: int, h: int) -> list[Flat]:
    """Polygon parts of an annotation: its polygons, its RLE's contours, or its box's corners."""
    seg = ann.get("segmentation")
    if is_rle(seg):
        # through the border pixels' centres, as Ultralytics' own masks2segments traces and its polygon2mask
        # (cv2.fillPoly on integer points) fills back: mask_outline's edges would come back a pixel wider
        return mask_to_polygons(segmentation_to_mask(seg, h, w))
    parts = [list(map(float, p)) for p in seg or [] if len(p) >= 6]
    return parts if parts else [bbox_polygon(ann["bbox"])]


def merge_parts(parts: Sequence[Sequence[float]]) -> Flat:
    """Join polygon parts into one outline.

    The parts are linked by a minimum spanning tree whose edges join the closest vertices of two
    parts; the outline walks every part once and crosses each bridge twice (out and back), so the
    bridges have zero width and every original vertex is kept.
    """
    rings = [flat_to_xy(p) for p in parts if len(p) >= 6]
    if len(rings) <= 1:
        return xy_to_flat(rings[0]) if rings else []
    return xy_to_flat(np.array(_walk(rings, _bridge_tree(rings))))


Bridges = dict[int, dict[int, list[tuple[int, int]]]]  # part -> vertex -> [(child part, child vertex)]


def _bridge_tree(rings: list[np.ndarray]) -> Bridges:
    """Prim's algorithm from part 0; edge weight = closest vertex distance between two parts."""
    tree: Bridges = defaultdict(lambda: defaultdict(list))
    best = {j: _closest(rings, 0, j) for j in range(1, len(rings))}
    while best:
        j = min(best, key=lambda r: best[r][0])
        _, i, vi, vj = best.pop(j)
        tree[i][vi].append((j, vj))
        for r in best:
            cand = _closest(rings, j, r)
            if cand[0] < best[r][0]:
                best[r] = cand
    return tree


def _closest(rings: list[np.ndarray], i: int, j: int, chunk: int = 2048) -> tuple[float, int, int, int]:
    """``(squared distance, i, vertex of i, vertex of j)`` of the closest vertices of parts i and j."""
    a, b = rings[i], rings[j]
    best = (math.inf, i, 0, 0)
    for start in range(0, len(a), chunk):
        d = ((a[start : start + chunk, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
        vi, vj = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[vi, vj] < best[0]:
            best = (float(d[vi, vj]), i, start + int(vi), int(vj))
    return best


def _walk(rings: list[np.ndarray], tree: Bridges) -> list[np.ndarray]:
    """Outline of the tree of parts from part 0, detouring into each child where it is bridged."""
    out: list[np.ndarray] = []
    # frames: (part, start vertex, steps done, point to return to when the part is finished)
    stack: list[tuple[int, int, int, np.ndarray | None]] = [(0, 0, 0, None)]
    while stack:
        p, start, k, back = stack.pop()
        ring = rings[p]
        if k == len(ring):
            if back is not None:  # close the child's ring and cross the bridge back
                out.extend([ring[start], back])
            continue
        v = (start + k) % len(ring)
        out.append(ring[v])
        stack.append((p, start, k + 1, back))
        for child, cv in reversed(tree[p].get(v, [])):
            stack.append((child, cv, 0, ring[v]))
    return out


def _report(skipped: Counter[str], out_dir: Path) -> None:
    if skipped["crowd"]:
        log.warning("%s: skipped %d crowd annotation(s) (iscrowd=1 regions are not objects)", out_dir, skipped["crowd"])
    if skipped["empty"]:
        log.warning("%s: skipped %d annotation(s) with nothing inside the image", out_dir, skipped["empty"])


__all__ = [
    "NAME",
    "DESCRIPTION",
    "detect",
    "read",
    "write",
    "find_yaml",
    "load_config",
    "label_path",
    "merge_parts",
    "instance_polygons",
    "data_yaml",
]
