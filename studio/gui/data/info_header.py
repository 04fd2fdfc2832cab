"""The Data page's header: which dataset is open and how it stands."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from studio.core.dataset.provenance import SOURCES, ProvenanceCounts
from studio.core.dataset.summary import LabelProgress
from studio.core.text import plural
from studio.gui.common import palette


def _badge(text: str, color: str | None = None) -> str:
    style = f"color:{color}; font-weight:600" if color else "font-weight:600"
    return f'<span style="{style}">{html.escape(text)}</span>'


class InfoHeader(QWidget):
    """Title line (file, images folder) and a counts line (images, annotations, classes, labelling progress,
    annotations by source and status, errors, warnings)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setObjectName("title")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.paths = QLabel()
        self.paths.setObjectName("muted")
        self.paths.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.paths.setSizePolicy(
            QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred
        )  # long paths never widen the window
        self.counts = QLabel()
        self.counts.setTextFormat(Qt.TextFormat.RichText)
        self.check = QLabel()
        self.check.setTextFormat(Qt.TextFormat.RichText)
        self.check.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.progress_label = QLabel()
        self.progress_label.setTextFormat(Qt.TextFormat.RichText)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedSize(120, 10)
        self.progress_bar.setToolTip("Labelling progress: images with at least one annotation")
        self.provenance = QLabel()
        self.provenance.setTextFormat(Qt.TextFormat.RichText)
        self.provenance.setToolTip(
            "Annotations by source (drawn by hand, proposed by a model, made by a smart tool) and how many model "
            "proposals wait for review (pending: not ground truth, never trained on)"
        )
        top = self._top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.paths, 1)
        bottom = self._bottom = QHBoxLayout()
        bottom.addWidget(self.counts)
        bottom.addSpacing(16)
        bottom.addWidget(self.progress_bar)
        bottom.addWidget(self.progress_label)
        bottom.addSpacing(16)
        bottom.addWidget(self.provenance)
        bottom.addStretch(1)
        bottom.addWidget(self.check)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 4)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addLayout(bottom)
        self.show_empty()

    def add_buttons(self, *buttons: QWidget) -> None:
        """Buttons at the right of the title line (the page's model-in-the-loop actions)."""
        for b in buttons:
            self._top.addWidget(b)

    def show_empty(self) -> None:
        self.title.setText("No dataset open")
        self.paths.setText("File › Open annotations… (Ctrl+O) opens a COCO annotation file and its images folder")
        self.counts.setText("")
        self.check.setText("")
        self.show_progress(None)
        self.show_provenance(None)

    def show_opening(self, annotations: Path, images_dir: Path | None) -> None:
        self.title.setText(annotations.name)
        self.paths.setText(f"{annotations}   ·   images: {images_dir or 'looking for the images folder…'}")
        self.counts.setText("loading…")
        self.check.setText("")
        self.show_progress(None)
        self.show_provenance(None)

    def show_preparing(self, title: str, text: str) -> None:
        self.title.setText(title)
        self.paths.setText(text)
        self.counts.setText("")
        self.check.setText("")
        self.show_progress(None)
        self.show_provenance(None)

    def show_counts(self, images: int, annotations: int, classes: int) -> None:
        self.counts.setWordWrap(False)
        self._bottom.setStretchFactor(self.counts, 0)
        self.counts.setText(
            " · ".join(
                [
                    _badge(plural(images, "image")),
                    _badge(plural(annotations, "annotation")),
                    _badge(plural(classes, "class", "classes")),
                ]
            )
        )

    def show_progress(self, progress: LabelProgress | None) -> None:
        """Images labelled (at least one annotation) of all, as a bar and a line; None hides both."""
        self.progress_bar.setVisible(progress is not None)
        self.progress_label.setVisible(progress is not None)
        if progress is None:
            self.progress_label.setText("")
            return
        self.progress_bar.setRange(0, max(progress.total, 1))
        self.progress_bar.setValue(progress.labelled)
        done = progress.total > 0 and progress.labelled == progress.total
        self.progress_label.setText(_badge(progress.text(), palette.OK.name() if done else None))
        self.progress_label.setToolTip(
            f"{plural(progress.unlabelled, 'image')} without annotations yet (the 'unlabelled' filter lists them)"
        )

    def show_provenance(self, counts: ProvenanceCounts | None) -> None:
        """``40 manual · 12 model · 3 smart; 5 pending`` (the sources that are not zero; pending in amber when
        there are any); None hides it."""
        self.provenance.setVisible(counts is not None)
        if counts is None:
            self.provenance.setText("")
            return
        sources = " · ".join(f"{counts.by_source[s]} {s}" for s in SOURCES if counts.by_source.get(s))
        pending = _badge(f"{counts.pending} pending", palette.WARNING.darker(125).name() if counts.pending else None)
        self.provenance.setText(f"{html.escape(sources or 'no annotations')}; {pending}")

    def show_checking(self, text: str) -> None:
        self.check.setText(html.escape(text))

    def show_check(self, errors: int, warnings: int) -> None:
        e = _badge(plural(errors, "error"), palette.ERROR.name() if errors else palette.OK.name())
        w = _badge(plural(warnings, "warning"), palette.WARNING.name() if warnings else palette.OK.name())
        self.check.setText(f"check: {e} · {w}")

    def show_error(self, message: str) -> None:
        self.counts.setText(_badge(f"Could not open: {message}", palette.ERROR.name()))
        self.counts.setWordWrap(True)
        self._bottom.setStretchFactor(self.counts, 1)  # the whole line for the message
        self.check.setText("")
        self.show_progress(None)
        self.show_provenance(None)
