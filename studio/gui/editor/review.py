"""Review mode: walk a model's pending proposals image by image, accepting or rejecting them one at a time.

While it is on, the editor shows the images that have pending proposals (``status: pending``, see
:mod:`studio.core.dataset.provenance`) one after the other, in the dataset's order, with one proposal selected:
Enter accepts it and selects the next one, Backspace rejects it, A / D (PgUp / PgDown) go to the previous / next
image with proposals wherever the focus is on the page, Shift+Enter accepts every proposal of the image, and
"accept all above a score" accepts every proposal of the dataset scoring at least that much. Each of these is one
undoable edit (:mod:`studio.core.dataset.review_edits`). The normal tools keep working: an edit of a proposal's
shape or class accepts it (:func:`studio.core.dataset.review_edits.accepting`). Leaving review mode gives back the
tool that was active before.

:class:`ReviewMode` decides; the review bar (:mod:`studio.gui.editor.review_bar`) shows it, the editor controller
gives it the view's keys first (while no shape is being drawn) and the Data page's next / previous image actions
ask it where to go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent

from studio.core.dataset.edits import EditEvent
from studio.core.dataset.model import Dataset
from studio.core.dataset.provenance import is_pending
from studio.core.dataset.review_edits import AcceptAnnotations, RejectAnnotations, accept_above, pending_ids
from studio.gui.editor.tools import BACK_KEYS, ENTER_KEYS

if TYPE_CHECKING:  # the controller builds the review mode and passes itself in
    from studio.gui.editor.controller import EditorController

DEFAULT_MIN_SCORE = 0.5  # "accept all above" starts here


def pending_counts(ds: Dataset) -> dict[Any, int]:
    """Image id -> how many pending proposals it has, for the images that have some, in the dataset's image order."""
    counts: dict[Any, int] = {}
    for ann in ds.annotations:
        if is_pending(ann):
            counts[ann["image_id"]] = counts.get(ann["image_id"], 0) + 1
    return {im["id"]: counts[im["id"]] for im in ds.images if im["id"] in counts}


def next_image(order: Sequence[Any], with_pending: Sequence[Any], shown: Any, step: int) -> Any:
    """The image with pending proposals after (``step`` 1) or before (-1) ``shown`` in the dataset's image ``order``,
    going round; None when there is none besides ``shown``. From an image not in ``order``, the first (or last)."""
    if not with_pending:
        return None
    index = {image_id: i for i, image_id in enumerate(order)}
    here = index.get(shown)
    if here is None:
        return with_pending[0] if step > 0 else with_pending[-1]
    ahead = sorted(with_pending, key=lambda i: (index[i] - here) * step % len(order))
    return next((i for i in ahead if i != shown), None)


@dataclass(frozen=True)
class ReviewStatus:
    """What the review bar says: the image's place among the images with proposals (None: it has none), how many
    images have them, how many are pending on the image shown and in the whole dataset."""

    position: int | None
    images: int
    here: int
    total: int

    def text(self) -> str:
        """``image 3 / 12 with proposals · 5 pending here · 40 in all``."""
        if not self.total:
            return "No proposals waiting for review: every model proposal is accepted or rejected"
        where = (
            f"image {self.position} / {self.images} with proposals"
            if self.position
            else (f"{self.images} image(s) with proposals (not this one)")
        )
        return f"{where} · {self.here} pending here · {self.total} in all"


class ReviewMode(QObject):
    """Review mode of one editor (see the module docstring). ``changed`` follows every edit, image and selection."""

    changed = Signal()

    def __init__(self, editor: EditorController):
        super().__init__(editor)
        self.editor = editor
        self.active = False
        self.min_score = DEFAULT_MIN_SCORE  # the "accept all above" threshold (the bar's spin box)
        self._tool_before: str | None = None
        self._counts: tuple[tuple[int, int], dict[Any, int]] | None = None  # (stack, state) it was counted for
        editor.edited.connect(self._on_edited)
        editor.selection_changed.connect(lambda _a: self.changed.emit())
        editor.panel.shown.connect(self._on_shown)

    # ------------------------------------------------------------------ what there is to review
    def counts(self) -> dict[Any, int]:
        """Pending proposals by image (counted once per state of the dataset)."""
        state, ds = self.editor.state, self.editor.state.ds
        if ds is None or state.stack is None:
            return {}
        key = (id(state.stack), state.stack.state)
        if self._counts is None or self._counts[0] != key:
            self._counts = (key, pending_counts(ds))
        return self._counts[1]

    def pending_here(self) -> list[Any]:
        """The pending proposals of the image shown, in the file's order."""
        image, ds = self.editor.state.image, self.editor.state.ds
        return pending_ids(ds, image["id"]) if image is not None and ds is not None else []

    def status(self) -> ReviewStatus:
        counts = self.counts()
        image = self.editor.state.image
        shown = image["id"] if image is not None else None
        order = list(counts)
        position = order.index(shown) + 1 if shown in counts else None
        return ReviewStatus(position, len(order), counts.get(shown, 0), sum(counts.values()))

    def selected_pending(self) -> Any:
        """The selected annotation when it is a pending proposal, else None."""
        ann = self.editor.state.selected_annotation()
        return ann["id"] if ann is not None and is_pending(ann) else None

    # ------------------------------------------------------------------ on and off
    def toggle(self) -> bool:
        return self.stop() if self.active else self.start()

    def start(self) -> bool:
        """Review mode on: the Select tool, the image shown when it has proposals (else the next one that has), its
        first proposal selected. False (and the user told why) without a dataset."""
        if self.active:
            return True
        if not self.editor.state.editable():
            self.editor.message.emit("open a dataset to review its proposals")
            return False
        self.active = True
        self._tool_before = self.editor.state.tool
        if self._tool_before != "select":
            self.editor.set_tool("select")
        if self.pending_here():
            if self.selected_pending() is None:
                self._select(self.pending_here()[0])
        elif self.counts():
            self.step(1)
        self.changed.emit()
        return True

    def stop(self) -> bool:
        """Review mode off: the tool of before comes back; selection and edits stay. Returns False (it is off)."""
        if not self.active:
            return False
        self.active = False
        tool, self._tool_before = self._tool_before, None
        if tool is not None and tool != self.editor.state.tool and tool in self.editor.tools:
            self.editor.set_tool(tool)
        self.changed.emit()
        return False

    # ------------------------------------------------------------------ reviewing
    def accept(self) -> bool:
        """Enter: accept the selected proposal and select the next pending one of the image. With none selected, the
        first pending one is selected (nothing is accepted). False when the image has none."""
        aid = self.selected_pending()
        order = self.pending_here()
        if aid is None:
            return self._select_first(order)
        if self.editor.state.do(AcceptAnnotations([aid])):
            self._select_after(aid, order)
        return True

    def reject(self) -> bool:
        """Backspace: remove the selected proposal and select the next pending one. Nothing selected: the first
        pending one is. False when the selected shape is not a proposal (Backspace is the tool's then)."""
        aid = self.selected_pending()
        order = self.pending_here()
        if aid is None:
            return False if self.editor.selected is not None else self._select_first(order)
        if self.editor.state.do(RejectAnnotations([aid])):
            self._select_after(aid, order)
        return True

    def accept_image(self) -> bool:
        """Shift+Enter: every pending proposal of the image shown accepted, in one undo step."""
        ids = self.pending_here()
        if not ids:
            self.editor.message.emit("no pending proposal on this image (D: the next image with proposals)")
            return False
        if not self.editor.state.do(AcceptAnnotations(ids)):
            return False
        self.editor.note.emit(f"{len(ids)} proposal(s) of this image accepted")
        return True

    def accept_above(self, min_score: float | None = None) -> int:
        """Every pending proposal of the dataset scoring at least ``min_score`` (default: :attr:`min_score`)
        accepted, in one undo step; returns how many."""
        if min_score is not None:
            self.min_score = float(min_score)
        ds = self.editor.state.ds
        if ds is None:
            return 0
        command = accept_above(ds, self.min_score)
        if not command.ann_ids:
            self.editor.message.emit(f"no pending proposal scores {self.min_score:.2f} or more")
            return 0
        if not self.editor.state.do(command):
            return 0
        n = len(command.ann_ids)
        self.editor.note.emit(f"{n} proposal(s) scoring {self.min_score:.2f} or more accepted (one undo step)")
        if self.selected_pending() is None and self.pending_here():
            self._select(self.pending_here()[0])
        return n

    def step(self, step: int) -> bool:
        """A / D: the previous (-1) or next (1) image with pending proposals, going round; its first one selected."""
        counts, ds = self.counts(), self.editor.state.ds
        image = self.editor.state.image
        shown = image["id"] if image is not None else None
        if ds is None or not counts:
            self.editor.message.emit("no image has proposals waiting for review")
            return False
        target = next_image([im["id"] for im in ds.images], list(counts), shown, step)
        if target is None:
            self.editor.message.emit("this is the only image with proposals waiting for review")
            return False
        first = pending_ids(ds, target)[0]
        self.editor.show_request.emit(target, first)  # the page shows it; _on_shown selects that first proposal
        return True

    # ------------------------------------------------------------------ keys
    def key_press(self, event: QKeyEvent) -> bool:
        """The view's keys in review mode (the controller offers them while no shape is being drawn): Enter accepts
        (Shift+Enter: the whole image), Backspace rejects."""
        if not self.active:
            return False
        key = event.key()
        if key in ENTER_KEYS:
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.accept_image()
            elif not self.accept():
                self.editor.message.emit("no pending proposal on this image (D: the next image with proposals)")
            return True
        if key in BACK_KEYS and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            return self.reject()
        return False

    # ------------------------------------------------------------------ selection
    def _select(self, ann_id: Any) -> None:
        if self.editor.state.tool != "select":
            self.editor.set_tool("select")
        self.editor.select(ann_id)

    def _select_first(self, order: list[Any]) -> bool:
        if not order:
            return False
        self._select(order[0])
        return True

    def _select_after(self, ann_id: Any, order: list[Any]) -> None:
        """After ``ann_id`` was reviewed: the next still pending proposal of ``order`` (going round), else none."""
        still = set(self.pending_here())
        at = order.index(ann_id) if ann_id in order else -1
        following = [a for a in order[at + 1 :] + order[: at + 1] if a in still]
        self.editor.select(following[0] if following else None)
        if not following:
            self.editor.note.emit("every proposal of this image is reviewed (D: the next image with proposals)")

    # ------------------------------------------------------------------ following the editor
    def _on_edited(self, _event: EditEvent) -> None:
        self.changed.emit()

    def _on_shown(self) -> None:
        """Another image is shown (or the same one redrawn): in review mode its first proposal is selected, unless a
        shape is selected already."""
        if self.active and self.editor.selected is None and self.editor.state.image is not None:
            here = self.pending_here()
            if here:
                self._select(here[0])
        self.changed.emit()
