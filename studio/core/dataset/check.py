"""``studio dataset check``: find what is wrong with an annotation file and its images.

Problems are grouped by kind, each naming the offending file and the image / annotation id, so the
CLI can print them and the GUI can jump to the image and shape.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from studio.core.dataset.model import Dataset, image_path
from studio.core.dataset.provenance import count_pending, provenance_problem
from studio.core.errors import DatasetError
from studio.core.geometry import repair_polygon, rle_problem
from studio.core.imageio import read_image_size
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import quoted, unsafe_images
from studio.core.text import plural

ERROR, WARNING = "error", "warning"

#: kind -> (severity, title); the order is the order of the report
KINDS: dict[str, tuple[str, str]] = {
    "unsafe_file_name": (ERROR, "image file names that lead out of the images folder (absolute or '..')"),
    "missing_image": (ERROR, "missing image files"),
    "unreadable_image": (ERROR, "unreadable images"),
    "size_mismatch": (ERROR, "image size in JSON differs from the real image"),
    "duplicate_image_id": (ERROR, "duplicate image ids"),
    "duplicate_annotation_id": (ERROR, "duplicate annotation ids"),
    "duplicate_category_id": (ERROR, "duplicate category ids"),
    "unknown_image": (ERROR, "annotations on unknown images"),
    "unknown_category": (ERROR, "annotations on unknown categories"),
    "degenerate_polygon": (ERROR, "degenerate polygons (fewer than 3 points or zero area)"),
    "invalid_rle": (ERROR, "broken RLE masks (bad counts, or a size other than the image's)"),
    "invalid_bbox": (ERROR, "invalid boxes (not 4 numbers, or zero or negative size)"),
    "box_outside_image": (ERROR, "boxes entirely outside their image"),
    "invalid_provenance": (ERROR, "invalid provenance (source, status, score or checkpoint of an annotation)"),
    "self_intersection": (WARNING, "self-intersecting polygons (repairable)"),
    "box_partly_outside": (WARNING, "boxes partly outside their image"),
    "duplicate_file_name": (WARNING, "several image records with the same file"),
    "empty_category": (WARNING, "categories with no annotations"),
    "unannotated_image": (WARNING, "images with no annotations"),
    "pending_proposal": (WARNING, "pending model proposals"),
}

#: tolerance in pixels before a box counts as outside its image
OUTSIDE_TOL = 1.0
CHUNK = 256  # image headers read per batch of submitted tasks


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    file: str | None = None
    image_id: Any = None
    ann_id: Any = None
    category_id: Any = None

    @property
    def severity(self) -> str:
        return KINDS[self.kind][0]


@dataclass
class CheckReport:
    annotation_file: str | None
    images_dir: str | None
    num_images: int = 0
    num_annotations: int = 0
    num_categories: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def by_kind(self) -> dict[str, list[Problem]]:
        groups: dict[str, list[Problem]] = defaultdict(list)
        for p in self.problems:
            groups[p.kind].append(p)
        return {k: groups[k] for k in KINDS if k in groups}

    def for_image(self, image_id: Any) -> list[Problem]:
        return [p for p in self.problems if p.image_id == image_id]

    def to_dict(self) -> dict:
        return {
            "annotation_file": self.annotation_file,
            "images_dir": self.images_dir,
            "summary": {
                "images": self.num_images,
                "annotations": self.num_annotations,
                "categories": self.num_categories,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "by_kind": {k: len(v) for k, v in self.by_kind().items()},
            },
            "problems": {
                k: {
                    "severity": KINDS[k][0],
                    "title": KINDS[k][1],
                    "count": len(v),
                    "items": [{kk: vv for kk, vv in asdict(p).items() if kk != "kind"} for p in v],
                }
                for k, v in self.by_kind().items()
            },
        }

    def format_text(self, max_per_kind: int = 10) -> str:
        lines = [
            f"{self.annotation_file}: {self.num_images} images, {self.num_annotations} annotations, "
            f"{self.num_categories} categories"
        ]
        for kind, probs in self.by_kind().items():
            sev, title = KINDS[kind]
            lines.append(f"{sev.upper()} {title} [{kind}]: {len(probs)}")
            for p in probs[:max_per_kind]:
                where = p.file or ""
                ids = ", ".join(
                    f"{n} {v}"
                    for n, v in (("image", p.image_id), ("annotation", p.ann_id), ("category", p.category_id))
                    if v is not None
                )
                lines.append(f"  - {where}{' (' + ids + ')' if ids else ''}: {p.message}")
            if len(probs) > max_per_kind:
                lines.append(f"  ... and {len(probs) - max_per_kind} more (use --json for the full list)")
        lines.append(
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)" if self.problems else "no problems found"
        )
        return "\n".join(lines)


def _probe_image(path: Path, deep: bool) -> tuple[str, Any]:
    """("ok", (w, h)) / ("missing", None) / ("unreadable", reason)."""
    if not path.is_file():
        return "missing", None
    try:
        size = read_image_size(path)
    except DatasetError as e:
        return "unreadable", e.message
    if deep:
        try:
            with Image.open(path) as im:
                im.load()  # full decode: raises on truncated or corrupt data
        except Exception as e:
            return "unreadable", f"decoding failed: {e}"
    return "ok", size


def _check_images(
    ds: Dataset,
    images_dir: Path,
    deep: bool,
    progress: Progress,
    cancel: CancelToken | None,
    threads: int = 4,
    skip: frozenset = frozenset(),
) -> list[Problem]:
    """Missing, unreadable and wrongly sized images; images whose id is in ``skip`` are not read."""
    out: list[Problem] = []
    total = len(ds.images)

    # Reading a header is I/O wait plus some Python (PIL); threads hide the I/O latency on slow disks.
    # The app passes 1: more threads starve its GUI thread of the GIL. On cancel the queued reads are
    # dropped (cancel_futures), not finished.
    def probe(q: Path | None) -> tuple[str, Any]:
        if q is None or (cancel is not None and cancel.cancelled):  # queued reads of a cancelled check are skipped
            return "skipped", None
        return _probe_image(q, deep)

    pool = ThreadPoolExecutor(max_workers=max(1, threads))
    try:
        paths = [None if im["id"] in skip else image_path(images_dir, im) for im in ds.images]
        # submitted in chunks: 10k futures at once is a long burst of Python in this thread
        results = (r for start in range(0, total, CHUNK) for r in pool.map(probe, paths[start : start + CHUNK]))
        for k, (im, p, (status, val)) in enumerate(zip(ds.images, paths, results)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if status == "missing":
                out.append(Problem("missing_image", "image file not found", str(p), im["id"]))
            elif status == "unreadable":
                out.append(Problem("unreadable_image", str(val), str(p), im["id"]))
            elif status == "skipped":
                pass
            elif (im.get("width"), im.get("height")) != tuple(val):
                out.append(
                    Problem(
                        "size_mismatch",
                        f"JSON says {im.get('width')}x{im.get('height')}, the file is {val[0]}x{val[1]}",
                        str(p),
                        im["id"],
                    )
                )
            if k % 64 == 0 or k + 1 == total:
                progress(k + 1, total, "reading image headers")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out


def _duplicates(records: list[dict], kind: str, label: str, src: str) -> list[Problem]:
    counts = Counter(r.get("id") for r in records)
    return [Problem(kind, f"{label} id {rid} is used {n} times", src) for rid, n in counts.items() if n > 1]


def _check_box(a: dict, im: dict | None, src: str) -> list[Problem]:
    box = a.get("bbox")
    pid = dict(file=src, image_id=a["image_id"], ann_id=a["id"], category_id=a["category_id"])
    if box is None:
        if a.get("segmentation"):
            return []
        return [Problem("invalid_bbox", "no bbox and no segmentation", **pid)]
    if not (
        isinstance(box, (list, tuple))
        and len(box) == 4
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)
    ):
        return [Problem("invalid_bbox", f"bbox must be 4 finite numbers, got {box!r}", **pid)]
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return [Problem("invalid_bbox", f"bbox has zero or negative size ({w:g}x{h:g})", **pid)]
    if im is None or not im.get("width") or not im.get("height"):
        return []
    W, H = im["width"], im["height"]
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        return [
            Problem("box_outside_image", f"bbox {[round(v, 1) for v in box]} lies outside the {W}x{H} image", **pid)
        ]
    if x < -OUTSIDE_TOL or y < -OUTSIDE_TOL or x + w > W + OUTSIDE_TOL or y + h > H + OUTSIDE_TOL:
        return [
            Problem("box_partly_outside", f"bbox {[round(v, 1) for v in box]} extends beyond the {W}x{H} image", **pid)
        ]
    return []


def _check_segmentation(a: dict, im: dict | None, src: str) -> list[Problem]:
    seg = a.get("segmentation")
    if not seg:
        return []
    pid = dict(file=src, image_id=a["image_id"], ann_id=a["id"], category_id=a["category_id"])
    if isinstance(seg, dict):
        size = (im.get("height"), im.get("width")) if im is not None else (None, None)
        problem = rle_problem(seg, *size)
        return [Problem("invalid_rle", problem, **pid)] if problem else []
    if not isinstance(seg, list):
        return [Problem("degenerate_polygon", f"segmentation is a {type(seg).__name__}, not a list of polygons", **pid)]
    out = []
    for j, poly in enumerate(seg):
        if not isinstance(poly, list) or not all(isinstance(v, (int, float)) for v in poly):
            out.append(Problem("degenerate_polygon", f"polygon {j} is not a list of numbers", **pid))
            continue
        fix = repair_polygon(poly)
        if fix.kind == "degenerate":
            out.append(Problem("degenerate_polygon", f"polygon {j}: {fix.detail}", **pid))
        elif fix.kind == "repaired":
            out.append(Problem("self_intersection", f"polygon {j}: {fix.detail}", **pid))
    return out


def check_dataset(
    source: str | Path | Dataset,
    images_dir: str | Path | None = None,
    deep: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    threads: int = 4,
) -> CheckReport:
    """Check an annotation file (or a loaded Dataset) and, when ``images_dir`` is given, its images
    (``threads`` read image headers in parallel).

    Raises DatasetError only when the file cannot be read as COCO at all (broken JSON, wrong schema).
    """
    ds = source if isinstance(source, Dataset) else Dataset.load(source)
    src = str(ds.source) if ds.source is not None else "<dataset>"
    rep = CheckReport(
        src,
        str(images_dir) if images_dir is not None else None,
        len(ds.images),
        len(ds.annotations),
        len(ds.categories),
    )
    P = rep.problems
    P += _duplicates(ds.images, "duplicate_image_id", "image", src)
    P += _duplicates(ds.annotations, "duplicate_annotation_id", "annotation", src)
    P += _duplicates(ds.categories, "duplicate_category_id", "category", src)
    names = Counter(im["file_name"] for im in ds.images if isinstance(im["file_name"], str))
    P += [
        Problem("duplicate_file_name", f"{n} image records point to this file", name)
        for name, n in names.items()
        if n > 1
    ]
    unsafe = unsafe_images(ds.images)
    P += [
        Problem(
            "unsafe_file_name",
            f"file name {quoted(name)} {problem}: exports refuse it; rename the file and its "
            "record to a name relative to the images folder",
            src,
            iid,
        )
        for iid, name, problem in unsafe
    ]
    if images_dir is not None:
        P += _check_images(ds, Path(images_dir), deep, progress, cancel, threads, frozenset(i for i, _, _ in unsafe))
    used_cats: Counter = Counter()
    total = len(ds.annotations)
    for k, a in enumerate(ds.annotations):
        if cancel is not None and k % 1024 == 0:
            cancel.raise_if_cancelled()
        im = ds.image(a["image_id"]) if ds.has_image(a["image_id"]) else None
        if im is None:
            P.append(
                Problem(
                    "unknown_image",
                    f"image id {a['image_id']!r} is not in 'images'",
                    src,
                    a["image_id"],
                    a["id"],
                    a["category_id"],
                )
            )
        if not ds.has_category(a["category_id"]):
            P.append(
                Problem(
                    "unknown_category",
                    f"category id {a['category_id']!r} is not in 'categories'",
                    src,
                    a["image_id"],
                    a["id"],
                    a["category_id"],
                )
            )
        used_cats[a["category_id"]] += 1
        P += _check_box(a, im, src)
        P += _check_segmentation(a, im, src)
        problem = provenance_problem(a)
        if problem is not None:
            P.append(Problem("invalid_provenance", problem, src, a["image_id"], a["id"], a["category_id"]))
        if k % 4096 == 0 or k + 1 == total:
            progress(k + 1, total, "checking annotations")
    P += [
        Problem("empty_category", f"category '{c['name']}' has no annotations", src, category_id=c["id"])
        for c in ds.categories
        if used_cats[c["id"]] == 0
    ]
    P += _unannotated(ds, images_dir, src)
    pending = count_pending(ds.annotations)
    if pending:
        P.append(
            Problem("pending_proposal", f"{plural(pending, 'pending proposal')} (not ground truth until reviewed)", src)
        )
    return rep


def _unannotated(ds: Dataset, images_dir: str | Path | None, src: str) -> list[Problem]:
    """One warning per image without annotations; a dataset with no annotation at all (a new one, made from a
    folder of images by ``studio dataset new``) gets a single one: nothing is labelled yet, which is no defect of
    each image."""
    if ds.images and not ds.annotations:
        n = len(ds.images)
        return [Problem("unannotated_image", f"no image has annotations yet ({n} to label)", src)]
    return [
        Problem(
            "unannotated_image",
            "image has no annotations",
            str(image_path(images_dir, im)) if images_dir else im["file_name"],
            im["id"],
        )
        for im in ds.images
        if not ds.anns_for_image(im["id"])
    ]
