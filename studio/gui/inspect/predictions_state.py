"""What the Predictions tab knows and decides, without Qt: the source, the predictions, the thresholds, the
image list and the image shown.

:class:`PredictionsState` holds the checkpoint and val set being inspected, its val predictions and the
matching at the current score and IoU thresholds, the confusion-matrix cell that filters the list, the
image shown and how it is shown (side by side or overlaid, masks). From these it decides the list of
images (worst first, or a cell's images in that order), which image stays shown after a re-match or a new
filter, which detections of the image count (the score threshold), what the buttons allow and the texts
the tab shows. The view (:class:`studio.gui.inspect.predictions.PredictionsPanel`) renders that and runs
predicting, re-matching and writing annotations (:mod:`studio.gui.inspect.jobs`) in workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.evaluation.matching import FP, TP
from studio.gui.inspect.jobs import EditorProposals, Matching, Proposal, ValPredictions, proposal

DEFAULT_SCORE = 0.25
DEFAULT_IOU = 0.5
MAX_LABELLED = 25  # more predictions than this on one image: tags only on the selected one (else a wall of tags)
SIDE_BY_SIDE, OVERLAID = "side", "overlaid"
OUTCOMES = {TP: "correct", FP: "false alarm"}  # the detections table's words for the match outcomes


@dataclass(frozen=True)
class Buttons:
    run: bool  # Predict val set
    cancel: bool
    accept: bool  # Send to editor
    write: bool  # Add to val file


@dataclass(frozen=True)
class DetectionRow:
    """One row of the current image's detections table."""

    index: int  # the detection's index in the image's Detections
    class_name: str
    score: str
    outcome: str  # "correct", "false alarm", "ignored" or "" (not matched yet)
    status: str | None  # TP, FP, "ignored" or None: the colour of the outcome
    iou: str  # the IoU with the matched object of a true positive, else ""


@dataclass(frozen=True)
class ConfusionCell:
    text: str  # the count, "" for none
    count: int
    good: bool  # on the diagonal: objects of a class predicted as that class
    share: float  # of the row's objects (the cell's tint)
    tooltip: str


class PredictionsState:
    """See the module docstring."""

    def __init__(self) -> None:
        self.checkpoint: Path | None = None
        self.val_ann: Path | None = None
        self.val_images: Path | None = None
        self.preds: ValPredictions | None = None
        self.matching: Matching | None = None
        self.score_thr = DEFAULT_SCORE
        self.iou_thr = DEFAULT_IOU
        self.cell: tuple[int, int] | None = None  # the confusion cell filtering the list
        self.image_id: Any = None  # the image shown
        self.mode = SIDE_BY_SIDE
        self.masks = True

    # ------------------------------------------------------------------ source and predictions
    def set_source(self, checkpoint: Path | None, val_ann: Path | None = None, val_images: Path | None = None) -> bool:
        """The checkpoint to inspect and its val set (None: the one its config names). False when it is the one
        already inspected; else everything derived from the last one is dropped."""
        if (checkpoint, val_ann, val_images) == (self.checkpoint, self.val_ann, self.val_images):
            return False
        self.checkpoint, self.val_ann, self.val_images = checkpoint, val_ann, val_images
        self.preds, self.matching, self.cell, self.image_id = None, None, None, None
        return True

    def source_hint(self) -> str:
        return "Press “Predict val set” to run the checkpoint on its val images." if self.checkpoint else ""

    def can_run(self, predicting: bool) -> bool:
        return self.checkpoint is not None and not predicting

    def predicted(self, preds: ValPredictions) -> None:
        self.preds = preds

    def summary(self) -> str:
        """What the predictions are: images, detections, checkpoint."""
        preds = self.preds
        n = sum(len(d) for d in preds.detections.values())
        return f"{len(preds.detections)} val images, {n} predictions from {preds.checkpoint.name}."

    def metrics_text(self) -> str:
        m = {k: v for k, v in self.preds.metrics.items() if k.endswith(("_mAP", "_mAP_50")) and v is not None}
        return "   ".join(f"{k}: {v:.3f}" for k, v in m.items())

    def written(self, added: list, preds: ValPredictions) -> str:
        """Annotations were added to the val file and the predictions read again with them."""
        self.preds = preds
        return f"Added {len(added)} annotation(s) to {preds.ann.name}."

    # ------------------------------------------------------------------ thresholds and matching
    def set_thresholds(self, score_thr: float, iou_thr: float) -> bool:
        """New thresholds; True when there are predictions to match again."""
        self.score_thr, self.iou_thr = float(score_thr), round(float(iou_thr), 3)
        return self.preds is not None

    def matched(self, matching: Matching) -> Any:
        """A matching arrived; returns the image to show: the one shown when it is still listed, else the
        worst (None: nothing is listed)."""
        self.matching = matching
        ids = self.listed()
        return self.image_id if self.image_id in ids else (ids[0] if ids else None)

    def totals(self) -> tuple[int, int, int]:
        m = self.matching
        return (m.tp, m.fp, m.fn) if m is not None else (0, 0, 0)

    def threshold(self) -> float:
        """The score a detection needs to count: the matching's (what the numbers shown were made with)."""
        return self.matching.score_thr if self.matching else self.score_thr

    # ------------------------------------------------------------------ the list and the confusion cell
    def listed(self) -> list[Any]:
        """The images of the list: worst first, only the confusion cell's when one is chosen."""
        if self.matching is None:
            return []
        if self.cell is None:
            return list(self.matching.order)
        wanted = set(self.cell_images())
        return [i for i in self.matching.order if i in wanted]

    def cell_images(self) -> list[Any]:
        r, c = self.cell
        return self.matching.confusion.image_ids[r][c]

    def filter_cell(self, row: int | None, col: int | None = None) -> Any:
        """List only the images behind confusion cell (row, col); None lists all images again. Returns the
        image to show: the one shown when it is still listed, else the first; None when none is listed."""
        self.cell = None if row is None else (int(row), int(col))
        ids = self.listed()
        if not ids:
            return None
        return self.image_id if self.image_id in ids else ids[0]

    def filter_text(self) -> str:
        if self.cell is not None and self.matching is not None:
            r, c = self.cell
            names = self.matching.confusion.names
            return f"<b>{names[r]}</b> predicted as <b>{names[c]}</b>: {len(self.cell_images())} image(s)"
        return "All images, worst first"

    def confusion_cells(self) -> list[list[ConfusionCell]]:
        """The confusion matrix as the table shows it (rows: true class, columns: predicted class)."""
        conf = self.matching.confusion
        names = conf.names
        norm = conf.normalized()
        k = conf.num_classes
        rows = []
        for r in range(len(names)):
            row = []
            for c in range(len(names)):
                n = int(conf.counts[r, c])
                share = float(norm[r, c]) if r < k else min(1.0, n / max(1, conf.counts[r].sum()))
                tip = f"true {names[r]}, predicted {names[c]}: {n} object(s) in {len(conf.image_ids[r][c])} image(s)"
                row.append(ConfusionCell(str(n) if n else "", n, r == c and r < k, share, tip))
            rows.append(row)
        return rows

    @staticmethod
    def short_name(name: str) -> str:
        """A class name as a confusion header shows it."""
        return name if len(name) <= 12 else name[:11] + "…"

    # ------------------------------------------------------------------ the image shown
    def show_image(self, image_id: Any) -> bool:
        """Show ``image_id``; True when it is another image than the one shown (its picture is to be read)."""
        changed = image_id != self.image_id
        self.image_id = image_id
        return changed

    def clear_image(self) -> None:
        self.image_id = None

    def image_file(self) -> Path | None:
        return self.preds.image_file(self.image_id) if self.preds is not None and self.image_id is not None else None

    def visible_detections(self) -> list[int]:
        """The detections of the image shown that reach the score threshold."""
        dets = self.preds.detections[self.image_id]
        thr = self.threshold()
        return [i for i in range(len(dets)) if float(dets.scores[i]) >= thr]

    def detection_rows(self) -> list[DetectionRow]:
        dets = self.preds.detections[self.image_id]
        m = self.matching.matches.get(self.image_id) if self.matching else None
        names = self.preds.class_map.names
        rows = []
        for i in self.visible_detections():
            status = m.status_of(i) if m else None
            pair = m.matched_annotation(i) if m else None
            rows.append(
                DetectionRow(
                    index=i,
                    class_name=names[int(dets.labels[i]) - 1],
                    score=f"{float(dets.scores[i]):.3f}",
                    outcome=OUTCOMES.get(status, status or ""),
                    status=status,
                    iou=f"{pair[1]:.2f}" if pair else "",
                )
            )
        return rows

    def labelled(self) -> bool:
        """Tags on every prediction of the image shown (few enough of them), else on the selected one only."""
        dets = self.preds.detections[self.image_id]
        thr = self.threshold()
        return sum(1 for s in dets.scores if float(s) >= thr) <= MAX_LABELLED

    def title(self) -> str:
        name = self.preds.gt.image(self.image_id).get("file_name")
        if self.mode == SIDE_BY_SIDE:
            return f"Predictions · {name}"
        return f"Ground truth (dashed) and predictions · {name}"

    def class_names(self) -> dict[Any, str]:
        """Category id -> class name of the val set."""
        cmap = self.preds.class_map
        return {c: n for c, n in zip(cmap.cat_ids, cmap.names)}

    # ------------------------------------------------------------------ accepting predictions
    def proposals(self, selected: list[int]) -> list[Proposal]:
        """The ``selected`` detections of the image shown as annotations (those with something left of them)."""
        out = []
        for i in selected:
            p = proposal(self.preds, self.image_id, i)
            if p is not None:
                out.append(p)
        return out

    def to_editor(self, selected: list[int]) -> EditorProposals | None:
        """The ``selected`` detections of the image shown as shapes for the Data page's editor, with the annotation
        file they belong to: the val set they were predicted on (the run's, or the one its config names), which
        the editor opens when it shows another file. None when nothing is left of them."""
        props = self.proposals(selected)
        if not props:
            return None
        preds = self.preds
        name = str(preds.gt.image(self.image_id).get("file_name"))
        return EditorProposals(preds.ann, preds.images_dir, self.image_id, name, tuple(props))

    @staticmethod
    def sent_text(sent: EditorProposals) -> str:
        return f"Sent {len(sent.proposals)} prediction(s) of {sent.file_name} to the editor ({sent.ann.name})."

    def buttons(self, predicting: bool, writing: bool, selected: bool) -> Buttons:
        """``selected``: detections are selected in the table."""
        has_sel = self.preds is not None and selected
        return Buttons(run=self.can_run(predicting), cancel=predicting, accept=has_sel, write=has_sel and not writing)
