"""What the Data page offers for labelling a dataset, beside the editor: the labelling progress in its header,
"Add images…" and the label manager, and keeping the image list right after edits that span many images.

:class:`Labelling` is owned by the :class:`~studio.gui.data.page.DataPage`, which calls :meth:`Labelling.loaded`
when a dataset is open and :meth:`Labelling.follow` after every edit (as it does for its class statistics). Added
images go through the editor's undo stack (:class:`~studio.core.dataset.dataset_edits.AddImages`), so they are
journaled, saved with the dataset and undoable like any edit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton, QVBoxLayout, QWidget

from studio.core.dataset.dataset_edits import AddImages, DeleteClass, MergeClass, RenameClass
from studio.core.dataset.edits import EditEvent
from studio.core.dataset.new_project import outside_images
from studio.core.dataset.summary import LabelProgress, LabelTracker, image_summary
from studio.core.imageio import IMAGE_SUFFIXES
from studio.core.text import plural
from studio.gui.common.job_slot import JobSlot
from studio.gui.common.sections import title_row
from studio.gui.data.jobs import LoadedDataset
from studio.gui.data.label_manager import LabelManager
from studio.gui.data.new_dataset_jobs import scan_added_images

if TYPE_CHECKING:  # the page owns this helper: no import at run time (it would be a cycle)
    from studio.gui.data.page import DataPage

log = logging.getLogger("studio.gui.data")

#: the label manager's edits: they change names, classes or shapes on many images at once (adding a class does not)
CLASS_EDITS = (RenameClass, MergeClass, DeleteClass)
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ");;All files (*)"


def titled_with(title: str, widget: QWidget, *buttons: QWidget) -> QWidget:
    """``widget`` under a section title with ``buttons`` at the title's right."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(3)
    lay.addLayout(title_row(title, *buttons))
    lay.addWidget(widget, 1)
    return box


class Labelling(QObject):
    """The page's labelling progress, Add images and label manager (see the module docstring)."""

    def __init__(self, page: DataPage):
        super().__init__(page)
        self.page = page
        self.progress: LabelProgress | None = None
        self.tracker: LabelTracker | None = None
        self.manager: LabelManager | None = None
        self.scan = JobSlot(page.jobs, self)
        self.add_button = QPushButton("Add images…")
        self.add_button.setToolTip(
            "Add image files to this dataset (one undoable edit; files from elsewhere are copied into its images "
            "folder)"
        )
        self.manage_button = QPushButton("Manage…")
        self.manage_button.setToolTip("The label manager: rename, merge, delete and add classes, undoably")
        self.add_button.clicked.connect(self.add_images_dialog)
        self.manage_button.clicked.connect(self.open_manager)
        page.state_changed.connect(self._on_state)
        page.editor.changed.connect(self._enable)
        self._enable()

    # ------------------------------------------------------------------ following the page
    def loaded(self, loaded: LoadedDataset) -> None:
        """A dataset is open: its progress, counted from the image rows the load job made."""
        self.tracker = LabelTracker(loaded.images)
        self.progress = self.tracker.progress
        self.page.header.show_progress(self.progress)

    def follow(self, event: EditEvent) -> None:
        """After an edit: the progress, and the image rows an edit across many images changed (a merged or
        deleted class, added images); the image shown is drawn again when its classes changed."""
        loaded = self.page.loaded
        if loaded is None:
            return
        ds = loaded.dataset
        if self.tracker is not None:
            self.progress = self.tracker.follow(ds, event)
            self.page.header.show_progress(self.progress)
        if event.images_changed:
            loaded.images = [image_summary(ds, im["id"]) for im in ds.images]
            self.page.images.replace_images(loaded.images)
            shown = self.page.viewer.image
            if shown is not None and not ds.has_image(shown.get("id")):
                self.page.viewer.clear("This image was taken out of the dataset (an undone Add images)")
            return
        if isinstance(event.command, CLASS_EDITS):  # the rows of every image it touched, the shapes shown
            for image_id in {d[0] for d in event.deltas}:
                if ds.has_image(image_id):
                    self.page.images.model.update_image(image_summary(ds, image_id))
            self.page.redraw_image()

    def _on_state(self, state: str) -> None:
        if state in ("loading", "empty", "failed") and self.manager is not None:
            self.manager.close()  # its dataset is going away
        self._enable()

    def _enable(self) -> None:
        on = self.page.loaded is not None and self.page.editor.state.editable()
        self.add_button.setEnabled(on and not self.scan.running)
        self.manage_button.setEnabled(on)

    # ------------------------------------------------------------------ the label manager
    def open_manager(self) -> LabelManager | None:
        """Show the label manager (one per page; raised when open already)."""
        if self.page.loaded is None:
            return None
        if self.manager is None:
            self.manager = LabelManager(self.page.editor, lambda: self.page.loaded.class_stats, parent=self.page)
            self.manager.finished.connect(self._manager_closed)
        self.manager.show()
        self.manager.raise_()
        self.manager.activateWindow()
        return self.manager

    def _manager_closed(self) -> None:
        if self.manager is not None:
            self.manager.deleteLater()
            self.manager = None

    # ------------------------------------------------------------------ add images
    def add_images_dialog(self) -> bool:
        """Pick image files (in the images folder or anywhere) and add them; False when nothing was started."""
        loaded = self.page.loaded
        if loaded is None:
            return False
        files, _ = QFileDialog.getOpenFileNames(
            self.page, f"Add images to {loaded.annotations.name}", str(loaded.images_dir), IMAGE_FILTER
        )
        return self.add_images([Path(f) for f in files]) if files else False

    def add_images(self, sources: list[Path], copy_outside: bool | None = None) -> bool:
        """Add the images of ``sources`` (files or folders) in a worker, then as one undoable edit.

        Files outside the images folder must be copied into it (a dataset names its images relative to that
        folder): ``copy_outside`` None asks the user, who may cancel.
        """
        loaded = self.page.loaded
        if loaded is None or not sources or not self.page.editor.state.editable():
            return False
        images_dir = loaded.images_dir
        outside = outside_images(images_dir, sources)
        if outside and copy_outside is None:
            copy_outside = self._ask_copy(outside, images_dir)
            if not copy_outside:
                return False
        listed = [str(im.get("file_name")) for im in loaded.dataset.images]  # here: the worker never reads ds
        self.scan.start(
            scan_added_images,
            listed,
            images_dir,
            list(sources),
            bool(copy_outside),
            title=f"Adding images to {loaded.annotations.name}",
            done=lambda scan, ann=loaded.annotations: self._on_scanned(scan, ann),
            failed=lambda message: self._say(f"Images not added: {message}"),
        )
        self._enable()
        return True

    def _ask_copy(self, outside: list[Path], images_dir: Path) -> bool:
        names = ", ".join(p.name for p in outside[:3]) + (", …" if len(outside) > 3 else "")
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.page,
            "Copy images into the dataset's folder?",
            f"{plural(len(outside), 'chosen file')} ({names}) {'is' if len(outside) == 1 else 'are'} not in the "
            f"images folder of this dataset:\n{images_dir}\n\nA dataset names its images relative to that folder, so "
            "Studio copies them into it (a name already taken there gets -2, -3…; no file is replaced). Copy them?",
            buttons.Yes | buttons.Cancel,
            buttons.Yes,
        )
        return answer == buttons.Yes

    def _on_scanned(self, scan, ann: Path) -> None:
        self._enable()
        loaded = self.page.loaded
        if loaded is None or loaded.annotations != ann:
            return  # another dataset was opened meanwhile
        notes = list(scan.warnings)
        for w in notes:
            log.warning("%s", w)
        parts = []
        if scan.images:
            command = AddImages(scan.images)
            if not self.page.editor.state.do(command):
                return
            parts.append(f"added {plural(len(scan.images), 'image')}")
            if scan.copied:
                parts.append(f"{len(scan.copied)} copied into {loaded.images_dir.name}")
            self.page.select_image(command.images[0]["id"])
        else:
            parts.append("no image added")
        if scan.listed:
            parts.append(f"{plural(scan.listed, 'file')} listed already")
        if notes:
            parts.append(f"{plural(len(notes), 'file')} left out (see the log): {notes[0]}")
        self._say("; ".join(parts).capitalize())

    def _say(self, text: str) -> None:
        self._enable()
        self.page.edit_bar.show_message(text)
