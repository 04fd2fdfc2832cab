"""File > Frames from video…: the frames job writes the expected frames, then offers the New dataset dialog on
the folder; a bad video is a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.core.video.synthetic import write_video
from studio.gui.data.frames_dialog import FramesDialog, default_frames_folder
from studio.gui.data.new_dataset_dialog import NewDatasetDialog

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def clip(tmp_path) -> Path:
    """40 frames with cuts at 15 and 30: every 10th frame gives 4 images, scene changes 3."""
    return write_video(tmp_path / "walk.avi", 40, width=160, height=120, fps=20, cuts=(15, 30))


def _type(widget, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)


def test_every_n_frames_then_a_new_dataset_of_them(qtbot, make_window, clip, tmp_path):
    w = make_window()
    w.frames_action.trigger()
    d = w.findChild(FramesDialog)
    assert d is not None
    qtbot.waitExposed(d)
    assert not d.extract_button.isEnabled()
    _type(d.video.edit, str(clip))
    assert d.output.path() == default_frames_folder(clip)  # proposed beside the video
    out = tmp_path / "frames"
    _type(d.output.edit, str(out))
    _type(d.every.lineEdit(), "10")
    qtbot.mouseClick(d.extract_button, LEFT)
    qtbot.waitUntil(lambda: d.summary is not None, timeout=10_000)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"walk_{i:06d}.jpg" for i in (0, 10, 20, 30)]
    assert "Wrote 4 frames of 40" in d.status.text()
    assert d.dataset_button.isVisible()
    qtbot.mouseClick(d.dataset_button, LEFT)
    nd = w.findChild(NewDatasetDialog)
    assert nd is not None and nd.folder.path() == out
    qtbot.waitUntil(lambda: nd.folder_info is not None, timeout=10_000)
    assert nd.folder_info.images == 4
    nd.reject()


def test_scene_changes_and_a_broken_video(qtbot, jobs, clip, tmp_path):
    d = FramesDialog(jobs, clip)
    qtbot.addWidget(d)
    d.show()
    qtbot.mouseClick(d.scene_radio, LEFT)
    assert d.scene.isEnabled() and not d.every.isEnabled()
    _type(d.scene.lineEdit(), "0.1")  # the synthetic cuts differ by about 0.15
    assert d.scene.value() == pytest.approx(0.1)
    qtbot.mouseClick(d.extract_button, LEFT)
    qtbot.waitUntil(lambda: d.summary is not None, timeout=10_000)
    assert [p.name for p in d.summary.written] == [f"walk_{i:06d}.jpg" for i in (0, 15, 30)]

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 50)
    _type(d.video.edit, str(bad))
    _type(d.output.edit, str(tmp_path / "bad_frames"))
    qtbot.mouseClick(d.extract_button, LEFT)
    qtbot.waitUntil(lambda: "cannot open the video" in d.status.text(), timeout=10_000)
    assert "bad.mp4" in d.status.text()
    assert not d.dataset_button.isVisible()
