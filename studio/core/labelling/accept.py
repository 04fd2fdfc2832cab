"""``studio label accept``: bulk review of pending model proposals by score, file to file.

The editor's review mode accepts and rejects one proposal at a time as undoable edits; this is the same
decision for a whole file at once (:func:`studio.core.dataset.provenance.accept_by_score`): accepted
proposals keep ``source: model`` and their score, so provenance is never lost.
"""

from __future__ import annotations

from pathlib import Path

from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir
from studio.core.dataset.provenance import AcceptSummary, accept_by_score
from studio.core.detections import check_score_thr
from studio.core.errors import StudioError
from studio.core.labelling.auto import check_label_output


def accept_file(
    ann: str | Path, out: str | Path, *, min_score: float, reject_below: float | None = None
) -> AcceptSummary:
    """Accept the pending proposals of ``ann`` scoring at least ``min_score`` (and with ``reject_below``, remove
    those scoring under it); write the result to ``out`` atomically (``ann`` itself only when ``out`` names it)."""
    min_score = check_score_thr(min_score, "--min-score")
    if reject_below is not None:
        reject_below = check_score_thr(reject_below, "--reject-below")
        if reject_below > min_score:
            raise StudioError(
                f"--reject-below ({reject_below:g}) must not be above --min-score ({min_score:g}): "
                "a proposal cannot be both accepted and rejected"
            )
    check_label_output(ann, out)
    ds = Dataset.load(ann)
    summary = accept_by_score(ds, min_score, reject_below=reject_below)
    folder = recorded_images_dir(ann, ds)
    if folder is not None:  # recorded relative to the file: re-anchor it where the new file goes
        record_images_dir(ds, folder, Path(out).parent)
    ds.save(out)
    return summary
