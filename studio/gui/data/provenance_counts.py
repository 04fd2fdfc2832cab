"""The Data page header's counts by source and status ("40 manual · 12 model · 3 smart; 5 pending"), kept current
after every edit without recounting the whole dataset each time.

Most edits touch one image (a shape drawn, a proposal accepted or rejected on the image shown): the counts of that
image are taken again and the totals move by the difference. An edit across images (proposals of a model run, a bulk
accept, a class merged, images added) counts everything again, once. Plain Python: no Qt.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from studio.core.dataset.edits import EditEvent
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import ProvenanceCounts, Tally, counts_of, tally


class ProvenanceFollower:
    """The counts of one dataset, brought up to date by :meth:`follow` after each edit (see the module docstring)."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self._recount()

    def _recount(self) -> None:
        by_image: dict[Any, list[dict]] = {}
        for a in self.ds.annotations:
            by_image.setdefault(a["image_id"], []).append(a)
        self.per_image: dict[Any, Tally] = {image_id: tally(anns) for image_id, anns in by_image.items()}
        self.total: Tally = sum(self.per_image.values(), Counter())

    @property
    def counts(self) -> ProvenanceCounts:
        return counts_of(self.total)

    def follow(self, event: EditEvent) -> ProvenanceCounts:
        """The counts after ``event`` (done, undone or redone on ``self.ds``)."""
        command = event.command
        image_id = command.image
        if image_id is None or event.images_changed or event.categories_changed:
            self._recount()
            return self.counts
        before = self.per_image.pop(image_id, Counter())
        after = tally(self.ds.anns_for_image(image_id)) if self.ds.has_image(image_id) else Counter()
        if after:
            self.per_image[image_id] = after
        self.total.subtract(before)
        self.total.update(after)
        self.total = +self.total  # drop the zeros
        return self.counts
