"""``studio dataset stats``: per-class counts, box size and aspect-ratio histograms (data + PNG), and the
annotations counted by source (manual / model / smart) and status (accepted / pending)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.core import atomic
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import ProvenanceCounts, annotations_line, count_provenance

#: COCO's small / medium / large limits on sqrt(area), in pixels
SIZE_LIMITS = (32.0, 96.0)


@dataclass
class ClassStats:
    id: int
    name: str
    instances: int = 0
    images: int = 0
    crowd: int = 0
    small: int = 0
    medium: int = 0
    large: int = 0


@dataclass
class DatasetStats:
    num_images: int
    num_annotations: int
    unannotated_images: int
    classes: list[ClassStats] = field(default_factory=list)
    box_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0))  # sqrt(w*h) per box
    aspect_ratios: np.ndarray = field(default_factory=lambda: np.zeros(0))  # w / h per box
    instances_per_image: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    provenance: ProvenanceCounts = field(default_factory=lambda: count_provenance(()))

    def to_dict(self, bins: int = 20) -> dict:
        def hist(values: np.ndarray, log: bool = False) -> dict:
            v = values[np.isfinite(values) & (values > 0)] if log else values[np.isfinite(values)]
            if not len(v):
                return {"edges": [], "counts": []}
            edges = (
                np.geomspace(v.min(), v.max() * 1.0001, bins + 1)
                if log and v.min() > 0
                else np.linspace(v.min(), v.max() + 1e-9, bins + 1)
            )
            counts, edges = np.histogram(v, edges)
            return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}

        return {
            "images": self.num_images,
            "annotations": self.num_annotations,
            "unannotated_images": self.unannotated_images,
            "provenance": {"source": dict(self.provenance.by_source), "status": dict(self.provenance.by_status)},
            "classes": [c.__dict__ for c in self.classes],
            "box_size": {**hist(self.box_sizes), "median": _median(self.box_sizes)},
            "aspect_ratio": {**hist(self.aspect_ratios, log=True), "median": _median(self.aspect_ratios)},
            "instances_per_image": {
                "mean": float(self.instances_per_image.mean()) if len(self.instances_per_image) else 0.0,
                "max": int(self.instances_per_image.max()) if len(self.instances_per_image) else 0,
            },
        }

    def format_text(self) -> str:
        w = max([len(c.name) for c in self.classes] + [5])
        lines = [
            f"{self.num_images} images ({self.unannotated_images} without annotations), "
            f"{self.num_annotations} annotations",
            annotations_line(self.provenance),
            f"{'class':<{w}}  {'instances':>9}  {'images':>6}  {'small':>5}  {'medium':>6}  {'large':>5}  {'crowd':>5}",
        ]
        for c in self.classes:
            lines.append(
                f"{c.name:<{w}}  {c.instances:>9}  {c.images:>6}  "
                f"{c.small:>5}  {c.medium:>6}  {c.large:>5}  {c.crowd:>5}"
            )
        if len(self.box_sizes):
            q = np.percentile(self.box_sizes, [5, 50, 95])
            lines.append(f"box size sqrt(w*h): p5 {q[0]:.1f}  median {q[1]:.1f}  p95 {q[2]:.1f} px")
            a = np.percentile(self.aspect_ratios, [5, 50, 95])
            lines.append(f"aspect ratio w/h:   p5 {a[0]:.2f}  median {a[1]:.2f}  p95 {a[2]:.2f}")
        return "\n".join(lines)


def _median(v: np.ndarray) -> float:
    return float(np.median(v)) if len(v) else 0.0


def compute_stats(ds: Dataset) -> DatasetStats:
    per_class = {c["id"]: ClassStats(c["id"], c["name"]) for c in sorted(ds.categories, key=lambda c: c["id"])}
    images_of: dict = {cid: set() for cid in per_class}
    sizes, aspects = [], []
    for a in ds.annotations:
        cs = per_class.get(a["category_id"])
        if cs is None:
            continue
        cs.instances += 1
        images_of[a["category_id"]].add(a["image_id"])
        if a.get("iscrowd"):
            cs.crowd += 1
        w, h = (a.get("bbox") or [0, 0, 0, 0])[2:]
        s = float(np.sqrt(max(a.get("area", w * h), 0.0)))
        if s < SIZE_LIMITS[0]:
            cs.small += 1
        elif s < SIZE_LIMITS[1]:
            cs.medium += 1
        else:
            cs.large += 1
        if w > 0 and h > 0:
            sizes.append(np.sqrt(w * h))
            aspects.append(w / h)
    for cid, cs in per_class.items():
        cs.images = len(images_of[cid])
    counts = Counter(a["image_id"] for a in ds.annotations)
    per_image = np.array([counts.get(im["id"], 0) for im in ds.images], dtype=int)
    return DatasetStats(
        num_images=len(ds.images),
        num_annotations=len(ds.annotations),
        unannotated_images=int((per_image == 0).sum()),
        classes=list(per_class.values()),
        box_sizes=np.asarray(sizes, float),
        aspect_ratios=np.asarray(aspects, float),
        instances_per_image=per_image,
        provenance=count_provenance(ds.annotations),
    )


def save_plots(stats: DatasetStats, out_dir: str | Path) -> list[Path]:
    """``class_counts.png``, ``box_sizes.png``, ``aspect_ratios.png`` and ``stats.json`` in ``out_dir``."""
    import matplotlib  # deferred: matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # deferred: matplotlib

    out_dir = Path(out_dir)
    atomic.ensure_dir(out_dir)
    written = []

    def save(fig, name: str) -> None:
        path = out_dir / name
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    names = [c.name for c in stats.classes]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(names) + 2), 3.6))
    ax.bar(names, [c.instances for c in stats.classes], color="#3b82f6", label="instances")
    ax.bar(names, [c.images for c in stats.classes], color="#f59e0b", width=0.4, label="images")
    ax.set_title("Instances and images per class")
    ax.legend()
    ax.tick_params(axis="x", rotation=45 if len(names) > 6 else 0)
    save(fig, "class_counts.png")

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if len(stats.box_sizes):
        ax.hist(stats.box_sizes, bins=30, color="#10b981")
        for lim in SIZE_LIMITS:
            ax.axvline(lim, color="k", ls="--", lw=0.8)
    ax.set_xlabel("sqrt(box w * h) [px]  (dashed: COCO small / medium / large)")
    ax.set_ylabel("boxes")
    ax.set_title("Box sizes")
    save(fig, "box_sizes.png")

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if len(stats.aspect_ratios):
        ax.hist(np.log2(stats.aspect_ratios), bins=30, color="#8b5cf6")
    ax.set_xlabel("log2(box w / h)  (0 = square)")
    ax.set_ylabel("boxes")
    ax.set_title("Box aspect ratios")
    save(fig, "aspect_ratios.png")

    atomic.write_json(out_dir / "stats.json", stats.to_dict())
    written.append(out_dir / "stats.json")
    return written
