"""Images/s of Studio's train data pipeline against a torchvision-reference-style pipeline.

Both are timed in this run on the same images with the same size and augmentations (scale jitter,
colour jitter, horizontal flip, crop/pad to size x size, sanitize; masks rasterised), over one
epoch, no cache, ``workers=0`` and one thread each, so the figures are the per-image cost that a
DataLoader worker pays:

* reference: PIL full-resolution decode (EXIF transposed), masks rasterised at full resolution,
  ``transforms.v2`` (ScaleJitter, ColorJitter, RandomHorizontalFlip, RandomCrop with padding,
  ClampBoundingBoxes, SanitizeBoundingBoxes, ToDtype) as in torchvision's detection references;
* Studio: :class:`studio.core.data.dataset.DetectionDataset` through :func:`make_loader`.

Prints both figures and the ratio (goal >= 1.5), then Studio's steady-state images/s with the
in-memory cache on (epochs after the first), and the RAM the cache holds per image: measured (the
images are held at the train resolution, uint8) against the DCT-reduced decode (JPEGs decoded at 1/2,
1/4 or 1/8 only), which is what the cache held before. Data: the balloon set from ../shared/data (imported to
COCO in a temporary folder), or the synthetic demo set with a note when balloon is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BALLOON = REPO.parent / "shared" / "data" / "balloon" / "train" / "via_region_data.json"


def prepare_data(tmp: Path) -> tuple[Path, Path, str]:
    """(annotation file, images folder, description) of the benchmark set."""
    from studio.api import dataset_import
    from studio.core.demo import generate

    if BALLOON.is_file():
        ann = tmp / "balloon_train.json"
        res = dataset_import(BALLOON, ann)
        return ann, res.images_dir, "balloon train (61 photos up to 2048 px, VIA polygons)"
    print(f"note: {BALLOON} not found; using the synthetic demo set (320x240 images) instead")
    sp = generate(tmp / "demo", n_train=60, n_val=1, seed=0)["train"]
    return sp.annotations, sp.images, "synthetic demo set (60 images 320x240)"


class ReferenceDataset:
    """torchvision-reference-style detection dataset: PIL decode, full-size masks, v2 transforms."""

    def __init__(self, ds, images_dir: Path, class_map, size: int, aug, with_masks: bool):
        import torch
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        from studio.core.data.transforms import JITTER

        self.ds, self.images_dir, self.class_map, self.with_masks = ds, images_dir, class_map, with_masks
        self.tv_tensors = tv_tensors
        steps = [v2.ScaleJitter((size, size), scale_range=tuple(aug.scale_jitter), antialias=True)]
        if aug.photometric > 0:
            steps.append(v2.RandomApply([v2.ColorJitter(**JITTER)], p=aug.photometric))
        if aug.hflip > 0:
            steps.append(v2.RandomHorizontalFlip(p=aug.hflip))
        steps += [
            v2.RandomCrop(size, pad_if_needed=True),
            v2.ClampBoundingBoxes(),
            v2.SanitizeBoundingBoxes(min_size=2.0),
            v2.ToDtype(torch.float32, scale=True),
        ]
        self.transforms = v2.Compose(steps)

    def __len__(self) -> int:
        return len(self.ds.images)

    def __getitem__(self, idx: int):
        import torch
        from PIL import Image, ImageOps
        from torchvision.transforms.v2 import functional as F

        from studio.core.geometry import bbox_polygon, segmentation_to_mask

        tv = self.tv_tensors
        im = self.ds.images[idx]
        with Image.open(self.images_dir / im["file_name"]) as pil:
            pil = ImageOps.exif_transpose(pil).convert("RGB")
        image = tv.Image(F.pil_to_tensor(pil))
        h, w = image.shape[-2:]
        anns = [a for a in self.ds.anns_for_image(im["id"]) if not a.get("iscrowd", 0)]
        boxes = torch.tensor(
            [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns],
            dtype=torch.float32,
        ).reshape(-1, 4)
        target = {
            "boxes": tv.BoundingBoxes(boxes, format="XYXY", canvas_size=(h, w)),
            "labels": torch.tensor([self.class_map.label_of(a["category_id"]) for a in anns], dtype=torch.int64),
        }
        if self.with_masks:
            masks = (
                np.stack([segmentation_to_mask(a["segmentation"] or [bbox_polygon(a["bbox"])], h, w) for a in anns])
                if anns
                else np.zeros((0, h, w), np.uint8)
            )
            target["masks"] = tv.Mask(torch.from_numpy(masks))
        target["image_id"] = im["id"]
        return self.transforms(image, target)


def time_epoch(loader) -> tuple[float, int]:
    """(seconds, images) for one pass over ``loader``."""
    n = 0
    t0 = time.perf_counter()
    for images, _ in loader:
        n += len(images)
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512, help="data.image_size (default 512, the config default)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="epochs timed per pipeline (best kept)")
    ap.add_argument("--no-masks", action="store_true", help="box model: no masks rasterised")
    a = ap.parse_args()

    import cv2
    import torch
    from torch.utils.data import DataLoader

    from studio.core.config.schema import AugmentConfig
    from studio.core.data.classes import ClassMap
    from studio.core.data.dataset import DetectionDataset
    from studio.core.data.loader import collate, make_loader, set_epoch
    from studio.core.dataset.model import Dataset

    torch.set_num_threads(1)  # what a DataLoader worker runs with
    cv2.setNumThreads(1)
    aug = AugmentConfig()  # the defaults: hflip 0.5, scale jitter 0.75-1.25, photometric 0.5
    with_masks = not a.no_masks
    with tempfile.TemporaryDirectory() as tmp:
        ann, images_dir, what = prepare_data(Path(tmp))
        ds = Dataset.load(ann)
        cm = ClassMap.from_dataset(ds)
        for im in ds.images:  # both pipelines then read from the OS page cache
            (Path(images_dir) / im["file_name"]).read_bytes()

        ref = ReferenceDataset(ds, Path(images_dir), cm, a.size, aug, with_masks)
        ref_loader = DataLoader(
            ref,
            batch_size=a.batch,
            shuffle=True,
            collate_fn=collate,
            num_workers=0,
            generator=torch.Generator().manual_seed(0),
        )
        t_ref, n = min(time_epoch(ref_loader) for _ in range(a.repeat))

        def studio_loader(cache: str):
            data = DetectionDataset(
                ds,
                images_dir,
                cm,
                size=a.size,
                letterbox=False,
                train=True,
                augment=aug,
                with_masks=with_masks,
                cache=cache,
            )
            return make_loader(data, a.batch, train=True, workers=0, device_type="cpu", seed=0)

        t_us = min(time_epoch(studio_loader("none"))[0] for _ in range(a.repeat))

        cached = studio_loader("ram")
        time_epoch(cached)  # first epoch fills the cache
        steady = []
        for epoch in (1, 2):
            set_epoch(cached, epoch)
            steady.append(time_epoch(cached)[0])
        t_cache = min(steady)
        held = cached.dataset.cache.nbytes
        reduced = sum(
            _reduced_bytes(Path(images_dir) / im["file_name"], cached.dataset.decode_long) for im in ds.images
        )

    print(
        f"data: {what}; size {a.size}, {'masks' if with_masks else 'boxes only'}, batch {a.batch}, workers=0, 1 thread"
    )
    print(f"reference (PIL + transforms v2), first epoch: {n / t_ref:6.1f} images/s")
    print(f"studio, first epoch, no cache:                {n / t_us:6.1f} images/s")
    print(f"ratio studio/reference: {t_ref / t_us:.2f}x (goal >= 1.5x)")
    print(f"studio, steady state with the RAM cache:      {n / t_cache:6.1f} images/s")
    k = len(ds.images)
    print(
        f"RAM cache per image: {held / k / 1e6:.2f} MB at the train resolution (longest side "
        f"{cached.dataset.decode_long} px), {reduced / k / 1e6:.2f} MB as a reduced decode "
        f"({reduced / max(held, 1):.2f}x); {held / 1e6:.0f} MB for {k} images"
    )


def _reduced_bytes(path: Path, long_side: int) -> int:
    """Bytes of ``path`` decoded with libjpeg's DCT reduction alone (no resize to the train resolution)."""
    from studio.core.data.decode import decode_rgb

    return int(decode_rgb(path, long_side)[0].nbytes)


if __name__ == "__main__":
    main()
