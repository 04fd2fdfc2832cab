"""Starting from unlabelled images in the app, with real clicks and keys: File > New dataset from image folder, the
import wizard's image-folder case, Add images, the label manager with Ctrl+Z, the labelling progress and the
unlabelled / labelled filters."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from studio.core.dataset.model import Dataset
from studio.core.dataset.new_project import new_dataset
from studio.gui.data.label_manager import LabelManager
from studio.gui.data.new_dataset_dialog import NewDatasetDialog
from studio.gui.data.page import READY
from studio.gui.editor import controller, settings

CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton


def _images(folder: Path, n: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        arr = (rng.random((90 + i, 120, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"shot {i}.png")
    return folder


@pytest.fixture(autouse=True)
def _no_prompt_no_autosave(monkeypatch):
    """A drawn shape takes the class box's class (no prompt), nothing is saved unasked, and the windows closed at
    the end drop their unsaved edits without asking."""
    settings.set_flag(settings.LAST_LABEL, True)
    settings.set_flag(settings.AUTOSAVE, False)
    monkeypatch.setattr(controller, "ask_save_changes", lambda _parent, _name: "discard")


@pytest.fixture
def new_set(tmp_path) -> tuple[Path, Path]:
    """A new dataset of 3 unlabelled images and the classes car, person: ``(annotations, images folder)``."""
    images = _images(tmp_path / "photos", 3)
    ann = tmp_path / "photos.json"
    new_dataset(images, ["car", "person"], ann)
    return ann, images


def _dialog(window) -> NewDatasetDialog:
    found = [d for d in window.findChildren(NewDatasetDialog) if d.isVisible()]
    assert len(found) == 1
    return found[0]


def _progress(window) -> str:
    return window.data_page.header.progress_label.text()


def _draw_box(qtbot, page, start: tuple[float, float], end: tuple[float, float]) -> None:
    view = page.viewer.view
    page.editor.set_tool("box")
    a, b = view.mapFromScene(QPointF(*start)), view.mapFromScene(QPointF(*end))
    qtbot.mousePress(view.viewport(), LEFT, pos=a)
    for i in (1, 2, 3, 4):
        qtbot.mouseMove(view.viewport(), pos=a + (b - a) * (i / 4))
    qtbot.mouseRelease(view.viewport(), LEFT, pos=b)


# ----------------------------------------------------------------------------------------------- a new dataset
def test_file_new_dataset_from_an_image_folder(qtbot, make_window, tmp_path, monkeypatch):
    images = _images(tmp_path / "street", 4)
    (images / "broken.png").write_bytes(b"not a png")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(images))
    w = make_window()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)  # a window shortcut needs its window active
    w.page_list.setFocus()
    QTest.keyClick(w.page_list, Qt.Key.Key_N, CTRL)  # File > New dataset from image folder…
    d = _dialog(w)
    qtbot.waitUntil(lambda: d.folder_info is not None, timeout=5000)
    assert "5 images" in d.found.text()  # the broken file is an image file too: it is left out when read
    assert Path(d.output.text()) == tmp_path / "street.json"  # beside the picked folder, not in it
    assert not d.create_button.isEnabled()  # no class yet
    d.classes.setFocus()
    QTest.keyClicks(d.classes, "car, person")
    QTest.keyClick(d.classes, Qt.Key.Key_Return)
    QTest.keyClicks(d.classes, "Car")
    assert "given twice" in d.classes_note.text() and not d.create_button.isEnabled()
    for _ in range(3):
        QTest.keyClick(d.classes, Qt.Key.Key_Backspace)
    QTest.keyClicks(d.classes, "bike")
    assert "3 classes: car, person, bike" in d.classes_note.text() and d.create_button.isEnabled()
    qtbot.mouseClick(d.create_button, LEFT)
    qtbot.waitUntil(lambda: w.data_page.state == READY and w.data_page.loaded is not None, timeout=20_000)

    page = w.data_page
    assert page.loaded.annotations == tmp_path / "street.json"
    ds = Dataset.load(tmp_path / "street.json")
    assert [im["file_name"] for im in ds.images] == [f"shot {i}.png" for i in range(4)] and ds.annotations == []
    assert ds.class_names == ["car", "person", "bike"]
    assert _progress(w).endswith("0 / 4 images labelled (0%)</span>")
    assert [r[1] for r in page.classes.rows()] == ["car", "person", "bike"]
    assert page.images.visible_count() == 4
    assert page.problems.kinds() == ["empty_category", "unannotated_image"]  # one warning, not one per image


def test_an_existing_file_is_never_offered_for_replacement(qtbot, jobs, tmp_path):
    images = _images(tmp_path / "photos", 1)
    (tmp_path / "photos.json").write_text("{}")
    d = NewDatasetDialog(jobs, images)
    qtbot.addWidget(d)
    assert Path(d.output.text()) == tmp_path / "photos-2.json"  # the taken name is not proposed
    d.output.set_path(tmp_path / "photos.json")
    QTest.keyClicks(d.classes, "cat")
    qtbot.waitUntil(lambda: d.folder_info is not None, timeout=5000)
    assert "never replaces a file" in d.output_note.text() and not d.create_button.isEnabled()
    assert (tmp_path / "photos.json").read_text() == "{}"


def test_the_import_wizard_offers_a_new_dataset_for_a_folder_of_images(qtbot, make_window, tmp_path, monkeypatch):
    images = _images(tmp_path / "raw", 2)
    w = make_window()
    wizard = w.import_dialog(images)
    page = wizard.source_page
    qtbot.waitUntil(lambda: page.image_folder is not None, timeout=5000)
    assert "A folder of images with no labels: 2 images" in page.detected.text()
    assert "Not a format" not in page.detected.text() and page.new_dataset_button.isVisible()
    qtbot.mouseClick(page.new_dataset_button, LEFT)
    d = _dialog(w)
    assert Path(d.folder.text()) == images and not wizard.isVisible()


# ----------------------------------------------------------------------------------------------- labelling progress
def test_progress_follows_a_drawn_and_a_deleted_shape_and_the_filters(qtbot, make_window, new_set):
    ann, _images_dir = new_set
    w = make_window(ann)
    page = w.data_page
    qtbot.waitUntil(lambda: page.viewer.image is not None and not page.viewer.pending(), timeout=10_000)
    assert _progress(w).endswith("0 / 3 images labelled (0%)</span>")
    _draw_box(qtbot, page, (10, 10), (60, 50))
    assert len(page.loaded.dataset.annotations) == 1
    assert _progress(w).endswith("1 / 3 images labelled (33%)</span>")
    assert page.header.progress_bar.value() == 1

    qtbot.mouseClick(page.images.unannotated_box, LEFT)  # the "unlabelled" filter
    assert page.images.visible_image_ids() == [2, 3]
    qtbot.mouseClick(page.images.labelled_box, LEFT)  # "labelled" unticks "unlabelled"
    assert page.images.visible_image_ids() == [1] and not page.images.unannotated_box.isChecked()
    qtbot.mouseClick(page.images.labelled_box, LEFT)
    assert page.images.visible_count() == 3

    page.editor.set_tool("select")
    view = page.viewer.view
    qtbot.mouseClick(view.viewport(), LEFT, pos=view.mapFromScene(QPointF(35, 30)))
    assert page.editor.selected is not None
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert page.loaded.dataset.annotations == []
    assert _progress(w).endswith("0 / 3 images labelled (0%)</span>")
    QTest.keyClick(view, Qt.Key.Key_Z, CTRL)
    assert _progress(w).endswith("1 / 3 images labelled (33%)</span>")


# ----------------------------------------------------------------------------------------------- add images
def test_add_images_copies_outside_files_in_and_ctrl_z_takes_them_out(
    qtbot, make_window, new_set, tmp_path, monkeypatch
):
    ann, images = new_set
    elsewhere = _images(tmp_path / "elsewhere", 1, start=7)
    inside = _images(images, 1, start=5)
    picked = [str(inside / "shot 5.png"), str(elsewhere / "shot 7.png"), str(images / "shot 0.png")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (picked, ""))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    w = make_window(ann)
    page = w.data_page
    qtbot.mouseClick(page.labelling.add_button, LEFT)
    qtbot.waitUntil(lambda: len(page.loaded.dataset.images) == 5, timeout=10_000)
    assert len(asked) == 1 and "shot 7.png" in asked[0] and str(images) in asked[0]
    assert (images / "shot 7.png").read_bytes() == (elsewhere / "shot 7.png").read_bytes()
    assert [im["file_name"] for im in page.loaded.dataset.images[3:]] == ["shot 5.png", "shot 7.png"]
    assert page.images.visible_count() == 5 and _progress(w).endswith("0 / 5 images labelled (0%)</span>")
    assert "added 2 images" in page.edit_bar.message().lower() and "1 file listed already" in page.edit_bar.message()
    assert page.editor.dirty()

    page.viewer.view.setFocus()
    QTest.keyClick(page.viewer.view, Qt.Key.Key_Z, CTRL)
    assert len(page.loaded.dataset.images) == 3 and page.images.visible_count() == 3
    assert _progress(w).endswith("0 / 3 images labelled (0%)</span>")
    assert (images / "shot 7.png").exists()  # the copy stays: undo only takes the records out


# ----------------------------------------------------------------------------------------------- label manager
def _manager(qtbot, window) -> LabelManager:
    qtbot.mouseClick(window.data_page.labelling.manage_button, LEFT)
    m = window.data_page.labelling.manager
    assert m is not None and m.isVisible()
    return m


def _select_class(qtbot, m: LabelManager, name: str) -> None:
    row = next(r for r, s in enumerate(m.table.rows()) if s[1] == name)
    rect = m.table.visualItemRect(m.table.item(row, 0))
    qtbot.mouseClick(m.table.viewport(), LEFT, pos=rect.center())
    assert m.table.rows()[m.table.currentRow()][1] == name


def test_label_manager_rename_merge_delete_each_undone_with_ctrl_z(qtbot, make_window, mixed):
    ann, images = mixed  # cat (2 annotations on 1 image), dog (3 on 2), bird (none); image 3 unlabelled
    w = make_window(ann, images)
    page = w.data_page
    before = Dataset.load(ann).to_dict()
    m = _manager(qtbot, w)
    assert [(r[1], r[2], r[3]) for r in m.table.rows()] == [("cat", 2, 1), ("dog", 3, 2), ("bird", 0, 0)]

    _select_class(qtbot, m, "dog")
    QTest.keyClicks(m.new_name, "Cat")
    qtbot.mouseClick(m.rename_button, LEFT)
    assert html.unescape(m.status.text()).endswith(  # refused, naming the class; nothing changed
        ">class 'dog' (id 2): a class named 'cat' already exists (merge into it instead)</span>"
    )
    m.new_name.clear()
    QTest.keyClicks(m.new_name, "hound")
    QTest.keyClick(m.new_name, Qt.Key.Key_Return)
    assert page.loaded.dataset.class_names == ["cat", "hound", "bird"]
    assert [r[1] for r in page.classes.rows()] == ["cat", "hound", "bird"]  # the page follows
    assert page.viewer.overlays is not None
    QTest.keyClick(m, Qt.Key.Key_Z, CTRL)  # in the dialog
    assert page.loaded.dataset.class_names == ["cat", "dog", "bird"] and m.table.rows()[1][1] == "dog"

    _select_class(qtbot, m, "cat")
    m.merge_target.setCurrentIndex(m.merge_target.findText("dog"))
    qtbot.mouseClick(m.merge_button, LEFT)
    assert page.loaded.dataset.class_names == ["dog", "bird"]
    assert [(r[1], r[2], r[3]) for r in page.classes.rows()] == [("dog", 5, 2), ("bird", 0, 0)]
    assert page.images.model.rows[0].category_ids == frozenset({2})  # the image row follows too

    m.confirm = lambda _parent, _title, text: m.__dict__.setdefault("asked", text) and False
    _select_class(qtbot, m, "dog")
    qtbot.mouseClick(m.delete_button, LEFT)
    assert "5 annotations (on 2 images)" in m.asked and len(page.loaded.dataset.annotations) == 5  # No: nothing
    m.confirm = lambda *_a: True
    qtbot.mouseClick(m.delete_button, LEFT)
    assert page.loaded.dataset.annotations == [] and page.loaded.dataset.class_names == ["bird"]
    assert _progress(w).endswith("0 / 3 images labelled (0%)</span>")
    assert page.viewer.overlays.by_ann == {}  # the image shown lost its shapes
    m.close()

    page.viewer.view.setFocus()
    QTest.keyClick(page.viewer.view, Qt.Key.Key_Z, CTRL)  # the window's Edit > Undo: the delete
    assert len(page.loaded.dataset.annotations) == 5 and _progress(w).endswith("2 / 3 images labelled (67%)</span>")
    assert len(page.viewer.overlays.by_ann) == len(page.loaded.dataset.anns_for_image(page.viewer.image["id"]))
    QTest.keyClick(page.viewer.view, Qt.Key.Key_Z, CTRL)  # the merge
    assert page.loaded.dataset.to_dict() == before
    assert [r[1] for r in page.classes.rows()] == ["cat", "dog", "bird"]
    assert page.editor.actions().undo is False


def test_the_edit_menu_opens_the_label_manager(qtbot, make_window, new_set):
    w = make_window(new_set[0])
    assert w.label_manager_action.isEnabled()
    w.label_manager_action.trigger()
    m = w.data_page.labelling.manager
    assert m is not None and m.isVisible()
    QTest.keyClicks(m.add_name, "truck")
    qtbot.mouseClick(m.add_button, LEFT)
    assert w.data_page.loaded.dataset.class_names == ["car", "person", "truck"]
    qtbot.mouseClick(m.undo_button, LEFT)
    assert w.data_page.loaded.dataset.class_names == ["car", "person"]
