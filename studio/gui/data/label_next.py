"""The image list's "Label next (model)" order: the unlabelled images worth labelling next first, best first.

Picking the order runs :func:`studio.core.labelling.rank.rank_images` with the page's labelling model over the
images without accepted annotations, in a worker, with progress and Cancel under the list. The model looks at a
sample of the labelled images too, so images like those already labelled rank lower. The ranked images then lead
the list, each with its figure (and the reason in its tooltip); the labelled ones follow in file order. The ranking
is a snapshot: edits do not re-rank (pick the order again for a fresh one); opening another dataset drops it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from studio.core.dataset.model import Dataset, image_path
from studio.core.dataset.provenance import labelled_image_ids, unlabelled_images
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.labelling.auto import EXPORTED_SUFFIXES
from studio.core.labelling.rank import CANDIDATE_THR, RankedImage, decision_threshold, rank_images
from studio.core.text import plural
from studio.gui.common.job_slot import JobSlot
from studio.gui.data.image_list import FILE_ORDER, LABEL_NEXT

if TYPE_CHECKING:  # the page owns this helper: no import at run time (it would be a cycle)
    from studio.gui.data.page import DataPage

log = logging.getLogger("studio.gui.data")

LABELLED_SAMPLE = 200  # labelled images the model looks at for the novelty figure (evenly spread over the file)


def ranking_items(ds: Dataset, images_dir: Path) -> tuple[list[tuple[Any, Path]], list[tuple[Any, Path]]]:
    """(image id, path) of the unlabelled images to rank, and of a sample of the labelled ones to compare with."""
    todo = [(im["id"], image_path(images_dir, im)) for im in unlabelled_images(ds)]
    done_ids = labelled_image_ids(ds)
    done = [(im["id"], image_path(images_dir, im)) for im in ds.images if im["id"] in done_ids]
    if len(done) > LABELLED_SAMPLE:
        step = len(done) / LABELLED_SAMPLE
        done = [done[int(i * step)] for i in range(LABELLED_SAMPLE)]
    return todo, done


def rank_job(
    model_path: Path,
    items: list[tuple[Any, Path]],
    labelled: list[tuple[Any, Path]],
    *,
    device: str = "auto",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> list[RankedImage]:
    """Load the checkpoint (its score threshold is the decision the uncertainty is measured against), then rank."""
    path = Path(model_path)
    if path.is_file() and path.suffix.lower() in EXPORTED_SUFFIXES:
        raise StudioError(
            "the label-next order needs a checkpoint (.pt) or a run folder: an exported model gives no features",
            file=path,
        )
    if not path.exists():
        raise StudioError("model not found", file=path)
    progress(0, 0, f"loading {path.name}")
    from studio.core import checkpoint as ckpt_io  # deferred: torch
    from studio.core.inference.predictor import Predictor  # deferred: torch

    ck = ckpt_io.load(ckpt_io.resolve(path))
    threshold = decision_threshold(float(ck.config.model.score_thr))
    model = Predictor.from_checkpoint(ck, device=device, score_thr=min(CANDIDATE_THR, threshold))
    return rank_images(model, items, labelled=labelled, threshold=threshold, progress=progress, cancel=cancel)


class LabelNextOrder(QObject):
    """Follows the image list's order box: File order, or Label next (which ranks, see the module docstring)."""

    def __init__(self, page: DataPage):
        super().__init__(page)
        self.page = page
        self.slot = JobSlot(page.jobs, self, progress=self._on_progress)
        self.ranked: list[RankedImage] = []
        self.model: Path | None = None  # the model of the ranking shown (or being made)
        page.images.order_requested.connect(self.set_order)
        page.images.order_cancel_requested.connect(self.cancel)
        page.state_changed.connect(self._on_state)

    def set_order(self, mode: str) -> bool:
        """FILE_ORDER: the file's order again; LABEL_NEXT: rank (False, with the reason said, when it cannot)."""
        if mode == LABEL_NEXT:
            return self.rank()
        self.slot.cancel()
        self.page.images.end_order_progress()
        self.ranked = []
        self.page.images.set_ranking(None)
        return True

    def rank(self, model: Path | None = None) -> bool:
        """Rank the unlabelled images with ``model`` (default: the page's labelling model) in a worker."""
        loaded = self.page.loaded
        if loaded is None:
            return self._refuse("Open a dataset first")
        model = model or self.page.labelling_model_path()[0]
        if model is None:
            return self._refuse(
                "Label next needs a trained model: choose one (Labelling model…), or train a run on this dataset"
            )
        items, labelled = ranking_items(loaded.dataset, loaded.images_dir)
        if not items:
            return self._refuse("Every image is labelled: nothing to rank")
        self.model = Path(model)
        self.page.images.set_order_mode(LABEL_NEXT)
        self.page.images.show_order_progress(0, 0)
        self.slot.start(
            rank_job,
            self.model,
            items,
            labelled,
            title=f"Ranking {plural(len(items), 'unlabelled image')} with {self.model.name}",
            done=lambda ranked, ann=loaded.annotations: self._on_ranked(ranked, ann),
            failed=self._on_failed,
        )
        self.say(f"Ranking {plural(len(items), 'unlabelled image')} with {self.model.name}…", note=True)
        return True

    def cancel(self) -> None:
        if self.slot.running:
            self.slot.cancel()
            self._on_failed("cancelled")

    # ------------------------------------------------------------------ results
    def _on_progress(self, done: int, total: int, _message: str) -> None:
        self.page.images.show_order_progress(done, total)

    def _on_ranked(self, ranked: list[RankedImage], ann: Path) -> None:
        self.page.images.end_order_progress()
        loaded = self.page.loaded
        if loaded is None or loaded.annotations != ann:
            return  # another dataset was opened meanwhile
        ds = loaded.dataset
        self.ranked = [r for r in ranked if ds.has_image(r.image_id)]
        self.page.images.set_ranking(self.ranked)
        if self.ranked:
            best = self.ranked[0]
            self.say(
                f"Label next: {plural(len(self.ranked), 'unlabelled image')} ranked by {self.model.name}, best first "
                f"(first: {best.file_name}, {best.score:.2f}: {best.reason()})",
                note=True,
            )
        else:
            self.say("Label next: no unlabelled image could be read (see the log)")
        log.info("label next with %s: %d image(s) ranked", self.model, len(self.ranked))

    def _on_failed(self, message: str) -> None:
        self.page.images.end_order_progress()
        self.page.images.set_order_mode(LABEL_NEXT if self.ranked else FILE_ORDER)
        if message == "cancelled":
            self.say("Ranking cancelled", note=True)
        else:
            self.say(f"Label next failed: {message}")

    def _on_state(self, state: str) -> None:
        if state in ("loading", "empty", "failed"):  # another dataset (its list starts in file order)
            self.slot.cancel()
            self.ranked = []

    def _refuse(self, why: str) -> bool:
        self.page.images.set_order_mode(LABEL_NEXT if self.ranked else FILE_ORDER)
        self.say(why)
        return False

    def say(self, text: str, note: bool = False) -> None:
        """A note (what was done) or a message (why not, what failed) in the editor's bar."""
        (self.page.edit_bar.show_note if note else self.page.edit_bar.show_message)(text)
