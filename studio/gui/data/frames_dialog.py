"""File > Frames from video…: a video's frames into an image folder, then (offered) a new dataset to label them.

The same job as ``studio dataset frames`` (:func:`studio.core.video.frames.extract_frames`): every N-th frame or
the first frame of each shot, near-duplicates skipped, files named ``<video>_<frame>.jpg`` written only inside the
folder named. It runs in a worker with progress and Cancel (the frames written so far stay). Once it is done,
"New dataset from these frames…" emits ``dataset_requested(folder)``; the window opens its New dataset dialog
on that folder.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.video.frames import DEFAULT_MIN_DIFF, FRAME_FORMATS, FramesSummary, extract_frames
from studio.core.video.sources import VIDEO_SUFFIXES
from studio.gui.common.job_slot import JobSlot, progress_bar, show_progress
from studio.gui.common.messages import error_html, status_label
from studio.gui.common.path_field import PathField
from studio.gui.common.workers import Jobs

DEFAULT_EVERY = 10
DEFAULT_SCENE_CHANGE = 0.15  # a cut to another shot moves the thumbnail difference by 0.1 and more
VIDEO_FILTER = f"Videos ({' '.join('*' + s for s in VIDEO_SUFFIXES)});;All files (*)"


def default_frames_folder(video: Path) -> Path:
    """``<video's folder>/<video stem>_frames``: beside the video, never over it."""
    return video.parent / f"{video.stem}_frames"


class FramesDialog(QDialog):
    """``dataset_requested(Path)``: the user wants a new dataset of the frames written into that folder."""

    dataset_requested = Signal(object)

    def __init__(self, jobs: Jobs, video: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Frames from video")
        self.summary: FramesSummary | None = None
        self._default_out = ""
        self._form_note = False  # the status line shows what the form lacks (not a run's outcome)
        self.job = JobSlot(jobs, self, progress=self._on_progress)

        intro = QLabel(
            "Studio writes frames of the video as images into a folder, skipping frames that nearly repeat the "
            "last one written. Then it offers a new dataset of them, ready to label."
        )
        intro.setWordWrap(True)
        self.video = PathField("open", "Video to take frames from", VIDEO_FILTER)
        self.every_radio = QRadioButton("Every")
        self.every_radio.setChecked(True)
        self.every = QSpinBox()
        self.every.setRange(1, 100_000)
        self.every.setValue(DEFAULT_EVERY)
        self.every.setSuffix(" frames")
        self.scene_radio = QRadioButton("At each scene change, threshold")
        self.scene = QDoubleSpinBox()
        self.scene.setRange(0.01, 1.0)
        self.scene.setSingleStep(0.05)
        self.scene.setDecimals(2)
        self.scene.setValue(DEFAULT_SCENE_CHANGE)
        self.scene.setToolTip("The first frame of each shot: about 0.1 catches every cut, 0.3 only hard cuts")
        self.mode = QButtonGroup(self)
        self.mode.addButton(self.every_radio)
        self.mode.addButton(self.scene_radio)
        self.min_diff = QDoubleSpinBox()
        self.min_diff.setRange(0.0, 1.0)
        self.min_diff.setDecimals(3)
        self.min_diff.setSingleStep(0.005)
        self.min_diff.setValue(DEFAULT_MIN_DIFF)
        self.min_diff.setToolTip(
            "A frame differing from the last one written by less than this is skipped (0: keep all)"
        )
        self.image_format = QComboBox()
        self.image_format.addItems([f[1:] for f in FRAME_FORMATS])
        self.output = PathField("dir", "Folder to write the frames into")
        self.bar = progress_bar()
        self.status = status_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.extract_button = self.buttons.addButton("Extract", QDialogButtonBox.ButtonRole.ActionRole)
        self.extract_button.setDefault(True)
        self.dataset_button = self.buttons.addButton(
            "New dataset from these frames…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.dataset_button.setVisible(False)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.setVisible(False)

        every_row = QHBoxLayout()
        every_row.addWidget(self.every_radio)
        every_row.addWidget(self.every)
        every_row.addStretch(1)
        scene_row = QHBoxLayout()
        scene_row.addWidget(self.scene_radio)
        scene_row.addWidget(self.scene)
        scene_row.addStretch(1)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Video:", self.video)
        form.addRow("Frames:", every_row)
        form.addRow("", scene_row)
        form.addRow("Skip near-duplicates below:", self.min_diff)
        form.addRow("Image format:", self.image_format)
        form.addRow("Write into folder:", self.output)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addSpacing(4)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addStretch(1)
        lay.addWidget(self.buttons)
        self.resize(640, 380)

        self.video.changed.connect(self._on_video)
        self.output.changed.connect(self._refresh)
        self.mode.buttonToggled.connect(lambda *_: self._refresh())
        self.extract_button.clicked.connect(self.extract)
        self.cancel_button.clicked.connect(self.job.cancel)
        self.cancel_button.clicked.connect(self._on_cancelled)
        self.dataset_button.clicked.connect(self._request_dataset)
        self.buttons.rejected.connect(self.reject)
        if video is not None:
            self.video.set_path(video)
        self._refresh()

    # ------------------------------------------------------------------ the form
    def problems(self) -> list[str]:
        """Why Extract cannot run now (empty when it can)."""
        out = []
        video = self.video.path()
        if video is None or not video.is_file():
            out.append("an existing video file")
        folder = self.output.path()
        if folder is None or folder.is_file():
            out.append("a folder to write the frames into")
        return out

    def _on_video(self, _text: str) -> None:
        video = self.video.path()
        if video is not None and (not self.output.text() or self.output.text() == self._default_out):
            self._default_out = str(default_frames_folder(video))
            self.output.set_path(self._default_out)  # follows the video until the user names a folder
        self._refresh()

    def _refresh(self) -> None:
        self.every.setEnabled(self.every_radio.isChecked())
        self.scene.setEnabled(self.scene_radio.isChecked())
        running = self.job.running
        problems = self.problems()
        self.extract_button.setEnabled(not problems and not running)
        self.extract_button.setVisible(not running)
        self.cancel_button.setVisible(running)
        if not running and problems:
            self.status.setText(html.escape(f"Needs {' and '.join(problems)}."))
            self._form_note = True
        elif self._form_note:  # the form is complete now; a run's outcome is never cleared here
            self.status.setText("")
            self._form_note = False

    # ------------------------------------------------------------------ the job
    def extract(self) -> bool:
        """Start writing the frames (a worker); False when the form is not complete."""
        if self.problems() or self.job.running:
            self._refresh()
            return False
        video, folder = self.video.path(), self.output.path()
        every = self.every.value() if self.every_radio.isChecked() else None
        scene = self.scene.value() if self.scene_radio.isChecked() else None
        self.summary = None
        self.dataset_button.setVisible(False)
        self.status.setText(html.escape(f"Reading {video.name}…"))
        self._form_note = False
        show_progress(self.bar, 0, 0)
        self.job.start(
            extract_frames,
            video,
            folder,
            every=every,
            scene_change=scene,
            min_diff=self.min_diff.value(),
            image_format=self.image_format.currentText(),
            title=f"Frames of {video.name}",
            done=self._on_done,
            failed=self._on_failed,
        )
        self._refresh()
        return True

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.bar, done, total)
        self.status.setText(html.escape(f"Frame {done}{f' of {total}' if total else ''}: {message}"))

    def _on_done(self, summary: FramesSummary) -> None:
        self.summary = summary
        self.bar.setVisible(False)
        skipped = f", {summary.duplicates} near-duplicates skipped" if summary.duplicates else ""
        self.status.setText(
            html.escape(
                f"Wrote {len(summary.written)} frames of {summary.frames_read} into {summary.out_dir}{skipped}."
            )
        )
        self.dataset_button.setVisible(bool(summary.written))
        self._refresh()

    def _on_failed(self, message: str) -> None:
        self.bar.setVisible(False)
        self.status.setText(error_html(message))
        self._refresh()

    def _on_cancelled(self) -> None:
        self.bar.setVisible(False)
        self.status.setText("Cancelled; the frames written so far stay in the folder.")
        self._refresh()

    def _request_dataset(self) -> None:
        if self.summary is not None:
            self.dataset_requested.emit(self.summary.out_dir)
            self.accept()

    def done(self, result: int) -> None:
        self.job.cancel()
        super().done(result)
