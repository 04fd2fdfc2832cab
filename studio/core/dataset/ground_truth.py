"""What training and evaluation take as ground truth from an annotation file that is still being labelled.

Three rules, applied by :func:`studio.core.data.splits.open_split` for every run, evaluation and export check:

* a pending model proposal is never ground truth (:mod:`studio.core.dataset.provenance`);
* an image whose only annotations are pending proposals has not been reviewed: it is left out, not trained as
  background (which would teach the model that its objects are background);
* in a labelling project (a file made by ``studio dataset new``, marked ``info.labelling: true``) an image with
  no accepted annotation is not labelled yet and is left out too, unless it is marked ``background: true``
  (reviewed, nothing to label). Files from other tools keep their empty images as background, as COCO means.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import is_pending

LABELLING_KEY = "labelling"  # info.labelling: true in a file that ``studio dataset new`` made
BACKGROUND_KEY = "background"  # image.background: true: reviewed, nothing to label


@dataclass(frozen=True)
class GroundTruth:
    dataset: Dataset  # accepted annotations of the images that count
    pending: int  # pending proposals left out
    unlabelled: int  # images left out: not labelled yet, or holding only pending proposals


def is_labelling_project(ds: Dataset) -> bool:
    info = ds.extra.get("info")
    return isinstance(info, dict) and info.get(LABELLING_KEY) is True


def mark_labelling_project(ds: Dataset) -> None:
    """Mark ``ds`` as a labelling project: its images without accepted annotations are not labelled yet."""
    info = ds.extra.get("info")
    info = dict(info) if isinstance(info, dict) else {}
    info[LABELLING_KEY] = True
    ds.extra["info"] = info


def ground_truth(ds: Dataset) -> GroundTruth:
    """``ds`` as ground truth (see the module's rules). The same object comes back when no rule applies."""
    project = is_labelling_project(ds)
    pending = 0
    accepted_on: set = set()
    pending_on: set = set()
    for a in ds.annotations:
        if is_pending(a):
            pending += 1
            pending_on.add(a["image_id"])
        else:
            accepted_on.add(a["image_id"])
    drop = {
        im["id"]
        for im in ds.images
        if im["id"] not in accepted_on and (im["id"] in pending_on or (project and im.get(BACKGROUND_KEY) is not True))
    }
    if not pending and not drop:
        return GroundTruth(ds, 0, 0)
    images = [im for im in ds.images if im["id"] not in drop]
    anns = [a for a in ds.annotations if not is_pending(a) and a["image_id"] not in drop]
    return GroundTruth(Dataset(images, ds.categories, anns, extra=ds.extra, source=ds.source), pending, len(drop))
