"""File > Open annotations…: pick the COCO JSON, then its images folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from studio.core.dataset.model import usual_images_dir


def ask_dataset_paths(parent: QWidget | None, start_dir: str = "") -> tuple[Path, Path] | None:
    """Two dialogs: the annotation file, then the images folder (starting at the usual place). None if cancelled."""
    ann, _ = QFileDialog.getOpenFileName(
        parent, "Open COCO annotations", start_dir, "COCO annotations (*.json);;All files (*)"
    )
    if not ann:
        return None
    images = QFileDialog.getExistingDirectory(parent, f"Images folder for {Path(ann).name}", str(usual_images_dir(ann)))
    if not images:
        return None
    return Path(ann), Path(images)
