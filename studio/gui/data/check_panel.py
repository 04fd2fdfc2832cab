"""The check report as a tree: one group per problem kind, one row per problem; and its re-run after edits.

:class:`CheckRerun` checks the dataset again a moment after the last edit (a burst of edits is one check), on
the dataset in memory: a snapshot is taken on the GUI thread (the JSON the save would write) and checked in
a worker, so the check never reads a dataset that is being edited. Edits never touch image files, so the
re-run does not read them again: the image-file problems of the last full check are carried over.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from studio.core.dataset.check import ERROR, KINDS, CheckReport, Problem
from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import snapshot
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.gui.common import palette
from studio.gui.common.workers import Jobs, Worker
from studio.gui.data.jobs import CheckResult, ImageProblems, check_loaded

KIND_ROLE = Qt.ItemDataRole.UserRole + 1
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 2
ANN_ROLE = Qt.ItemDataRole.UserRole + 3
MAX_ROWS_PER_KIND = 2000  # a tree of 100k rows is unusable; the CLI's --json has them all
RERUN_MS = 1500  # after the last edit
FILE_KINDS = frozenset({"missing_image", "unreadable_image", "size_mismatch"})  # what only the image files tell


class CheckPanel(QTreeWidget):
    """Clicking a problem emits ``problem_activated(image_id, ann_id)`` (either may be None)."""

    problem_activated = Signal(object, object)
    HEADERS = ("Problem / file", "Image", "Ann.", "Message")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(len(self.HEADERS))
        self.setHeaderLabels(self.HEADERS)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(30)
        header.resizeSection(0, 150)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._on_item)
        self.itemActivated.connect(self._on_item)
        self.set_message("No check report yet")

    def set_message(self, text: str, color: QColor | None = None) -> None:
        """A single informative row (before the check, while it runs, or when it failed)."""
        self.clear()
        item = QTreeWidgetItem([text])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        if color is not None:
            item.setForeground(0, QBrush(color))
        self.addTopLevelItem(item)
        item.setFirstColumnSpanned(True)

    def set_report(self, report: CheckReport) -> None:
        self.clear()
        groups = report.by_kind()
        if not groups:
            item = QTreeWidgetItem(["No problems found"])
            item.setIcon(0, palette.dot_icon(palette.OK))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)
            return
        for kind, problems in groups.items():
            severity, title = KINDS[kind]
            color = palette.ERROR if severity == ERROR else palette.WARNING
            group = QTreeWidgetItem([f"{title} — {len(problems)}"])
            group.setIcon(0, palette.dot_icon(color))
            group.setData(0, KIND_ROLE, kind)
            group.setToolTip(0, f"{severity}: {title} [{kind}]")
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setForeground(0, QBrush(color.darker(115)))
            children = []
            for p in problems[:MAX_ROWS_PER_KIND]:
                child = QTreeWidgetItem(
                    [
                        Path(p.file).name if p.file else "",
                        "" if p.image_id is None else str(p.image_id),
                        "" if p.ann_id is None else str(p.ann_id),
                        p.message,
                    ]
                )
                child.setToolTip(0, p.file or "")
                child.setToolTip(3, p.message)
                child.setData(0, KIND_ROLE, kind)
                child.setData(0, IMAGE_ROLE, p.image_id)
                child.setData(0, ANN_ROLE, p.ann_id)
                children.append(child)
            if len(problems) > MAX_ROWS_PER_KIND:
                more = QTreeWidgetItem([f"... and {len(problems) - MAX_ROWS_PER_KIND} more not listed"])
                more.setFlags(Qt.ItemFlag.ItemIsEnabled)
                children.append(more)
            group.addChildren(children)
            self.addTopLevelItem(group)
            group.setFirstColumnSpanned(True)
        if len(groups) <= 3:
            self.expandAll()
        self.resizeColumnToContents(0)
        self.setColumnWidth(0, min(self.columnWidth(0), 170))

    # ------------------------------------------------------------------ queries (tests, navigation)
    def group(self, kind: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.data(0, KIND_ROLE) == kind:
                return item
        return None

    def kinds(self) -> list[str]:
        return [k for i in range(self.topLevelItemCount()) if (k := self.topLevelItem(i).data(0, KIND_ROLE))]

    def _on_item(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        if item.parent() is None:
            return
        image_id: Any = item.data(0, IMAGE_ROLE)
        ann_id: Any = item.data(0, ANN_ROLE)
        if image_id is not None or ann_id is not None:
            self.problem_activated.emit(image_id, ann_id)


# ----------------------------------------------------------------------------------------------- re-run after edits
def recheck(
    payload: bytes,
    source: Path | None,
    images_dir: Path | None,
    file_problems: list[Problem],
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> CheckResult:
    """Check a snapshot of the dataset (:func:`studio.core.dataset.recovery.snapshot`) without reading its images;
    ``file_problems`` (missing, unreadable, wrongly sized image files, from the last full check) are kept."""
    ds = Dataset.from_dict(orjson.loads(payload), source=source)
    result = check_loaded(ds, None, progress, cancel)  # type: ignore[arg-type]  # no folder: no image is read
    report = result.report
    report.images_dir = str(images_dir) if images_dir is not None else None
    report.problems[:0] = file_problems
    for p in file_problems:
        entry = result.by_image.setdefault(p.image_id, ImageProblems())
        entry.problems.insert(0, p)
        if p.severity == ERROR:
            entry.errors += 1
        else:
            entry.warnings += 1
    return result


class CheckRerun(QObject):
    """Re-runs the check :data:`RERUN_MS` after the last :meth:`schedule` (the editor's edits).

    ``loaded()`` gives ``(dataset, annotation file, images folder, last CheckResult)`` or None while there is
    nothing to check (no dataset, or the full check has not finished); ``done(result)`` shows a new result.
    A re-run that is overtaken by newer edits is dropped.
    """

    def __init__(
        self,
        jobs: Jobs,
        loaded: Callable[[], tuple[Dataset, Path, Path, CheckResult] | None],
        done: Callable[[CheckResult], None],
        parent: QObject | None = None,
        delay_ms: int = RERUN_MS,
    ):
        super().__init__(parent)
        self.jobs, self.loaded, self.done = jobs, loaded, done
        self.timer = QTimer(self, singleShot=True, interval=delay_ms)
        self.timer.timeout.connect(self.run)
        self._worker: Worker | None = None
        self._generation = 0

    def schedule(self, *_args: Any) -> None:
        self._generation += 1
        self.timer.start()

    def pending(self) -> bool:
        """A re-run is due or running."""
        return self.timer.isActive() or self._worker is not None

    def cancel(self) -> None:
        """Another dataset: forget the due and the running re-run."""
        self._generation += 1
        self.timer.stop()
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    def run(self) -> None:
        what = self.loaded()
        if what is None:
            return
        if self._worker is not None:  # one at a time: the newer edits get a run once this one ends
            self.timer.start()
            return
        ds, ann, images_dir, last = what
        files = [p for p in last.report.problems if p.kind in FILE_KINDS]
        generation = self._generation
        w = Worker(recheck, snapshot(ds), ann, images_dir, files, title=f"Checking {ann.name} again")
        w.finished.connect(lambda result, g=generation: self._ended(w, result if g == self._generation else None))
        w.failed.connect(lambda _msg, _tb: self._ended(w, None))
        self._worker = w
        self.jobs.start(w, show=False)

    def _ended(self, worker: Worker, result: CheckResult | None) -> None:
        if worker is self._worker:
            self._worker = None
        if result is not None:
            self.done(result)
