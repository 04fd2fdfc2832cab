"""Qt runs offscreen; settings go to a temporary folder; small demo and hand-made datasets."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import (tests/conftest.py does too)

import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest

from studio.core.demo import generate
from studio.core.geometry import mask_to_rle

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gui)


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory):
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path_factory.mktemp("settings")))


@pytest.fixture(autouse=True)
def _app_names(qapp):
    qapp.setApplicationName("Studio")
    qapp.setOrganizationName("Studio")


@pytest.fixture(autouse=True)
def _editor_switches(_app_names):
    """No class prompt after each drawn shape and no autosave mid-test, unless a test turns them on."""
    from PySide6.QtCore import QSettings

    from studio.gui.editor import settings

    settings.set_flag(settings.LAST_LABEL, True)
    settings.set_flag(settings.AUTOSAVE, False)
    for key in settings.NUMBERS:  # the brush radius and tolerance a test set are not the next test's
        QSettings().remove(key)


@pytest.fixture(scope="session")
def demo_master(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo_master") / "demo"
    generate(root, n_train=8, n_val=2)
    return root


@pytest.fixture
def small_demo(tmp_path, demo_master):
    """A private copy of the small demo: ``(annotations, images_dir)`` of its train split."""
    root = tmp_path / "demo"
    shutil.copytree(demo_master, root)
    return root / "annotations" / "train.json", root / "images" / "train"


def _write_jpg(path: Path, w: int, h: int, color=(90, 140, 200)) -> None:
    import cv2

    img = np.zeros((h, w, 3), np.uint8)
    img[:] = color
    cv2.imwrite(str(path), img)


@pytest.fixture
def mixed(tmp_path):
    """A hand-made COCO set: two-part polygon, RLE mask, box-only annotation, a small shape inside a
    larger box, an ignore region, a missing image file, an unannotated image and an empty category."""
    images = tmp_path / "mixed" / "images"
    images.mkdir(parents=True)
    _write_jpg(images / "a.jpg", 200, 150)
    _write_jpg(images / "c.jpg", 120, 90)
    mask = np.zeros((150, 200), np.uint8)
    mask[100:140, 20:60] = 1
    coco = {
        "images": [
            {
                "id": 1,
                "file_name": "a.jpg",
                "width": 200,
                "height": 150,
                "ignore_regions": [[150, 10, 190, 10, 190, 50, 150, 50]],
            },
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80},
            {"id": 3, "file_name": "c.jpg", "width": 120, "height": 90},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
        "annotations": [
            {
                "id": 10,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 90, 40],
                "area": 1200.0,
                "iscrowd": 0,
                "segmentation": [[10, 10, 40, 10, 40, 50, 10, 50], [60, 10, 100, 10, 100, 30, 60, 30]],
            },
            {
                "id": 11,
                "image_id": 1,
                "category_id": 2,
                "bbox": [20, 100, 40, 40],
                "area": 1600.0,
                "iscrowd": 1,
                "segmentation": mask_to_rle(mask),
            },
            {
                "id": 12,
                "image_id": 1,
                "category_id": 1,
                "bbox": [110, 60, 30, 30],
                "area": 900.0,
                "iscrowd": 0,
                "segmentation": [],
            },
            {
                "id": 14,
                "image_id": 1,
                "category_id": 2,
                "bbox": [50, 36, 8, 8],
                "area": 64.0,
                "iscrowd": 0,
                "segmentation": [[50, 36, 58, 36, 58, 44, 50, 44]],
            },
            {
                "id": 13,
                "image_id": 2,
                "category_id": 2,
                "bbox": [5, 5, 20, 20],
                "area": 400.0,
                "iscrowd": 0,
                "segmentation": [[5, 5, 25, 5, 25, 25, 5, 25]],
            },
        ],
    }
    ann = tmp_path / "mixed" / "annotations.json"
    ann.write_bytes(orjson.dumps(coco))
    return ann, images


def wait_ready(qtbot, window, timeout: int = 20_000) -> None:
    """Wait for the Data page's load and check workers."""
    from studio.gui.data.page import FAILED, READY

    qtbot.waitUntil(lambda: window.data_page.state in (READY, FAILED), timeout=timeout)
    assert window.data_page.state == READY, window.data_page.header.counts.text()


@pytest.fixture
def make_window(qtbot):
    """``make_window(ann, images)``: a shown main window with the dataset loaded and checked."""
    from studio.gui.main_window import MainWindow

    made = []

    def make(ann=None, images=None, wait=True):
        w = MainWindow(persist=False)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        if ann is not None:
            w.open_dataset(ann, images)
            if wait:
                wait_ready(qtbot, w)
        return w

    yield make
    # a test that failed half-way may leave unsaved edits: closing must not wait on a save prompt nobody answers
    from studio.gui.editor import controller

    ask = controller.ask_save_changes
    controller.ask_save_changes = lambda _parent, _name: "discard"
    try:
        for w in made:
            w.close()
    finally:
        controller.ask_save_changes = ask


@pytest.fixture
def jobs():
    """A window-less Jobs for dialogs; joined at the end of the test."""
    from studio.gui.common.workers import Jobs

    j = Jobs()
    yield j
    j.shutdown()
