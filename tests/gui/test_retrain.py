"""Retrain from the Data page: save first (asked), then the newest finished run training on the open file is extended
through the Train page's Extend; with no such run, it says so and offers the Train page."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.training.events import RunFinished, RunStarted, to_record
from studio.core.workspace import Workspace
from studio.gui.data import retrain as retrain_module

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(autouse=True)
def _discard_at_close(monkeypatch):
    from studio.gui.editor import controller

    monkeypatch.setattr(controller, "ask_save_changes", lambda _parent, _name: "discard")


def _fake_run(folder: Path, ann: Path, epochs: int, started: float) -> Path:
    """A finished run folder as the trainer leaves it: its log, its resolved config and a last.pt."""
    folder.mkdir(parents=True)
    events = [
        RunStarted(str(folder), "seg_lite", "segment", ("disc",), 0, epochs, 4, 2, "cpu", 1, False, "segm_mAP"),
        RunFinished("completed", epochs, 0.3, epochs, 12.0, {}),
    ]
    lines = b"".join(orjson.dumps(to_record(e, started + k)) + b"\n" for k, e in enumerate(events))
    (folder / "events.jsonl").write_bytes(lines)
    (folder / "config.yaml").write_text(f"data:\n  train:\n    ann: {ann}\n", encoding="utf-8")
    (folder / "last.pt").write_bytes(b"weights")
    return folder


def _window_with_runs(qtbot, make_window, small_demo, tmp_path, runs: list[tuple[str, Path, int]]):
    ann, images = small_demo
    ws = Workspace.create(tmp_path / "ws")
    now = time.time()
    for k, (name, trains_on, epochs) in enumerate(runs):
        _fake_run(ws.folder("runs") / name, trains_on, epochs, now + k)
    w = make_window(ann, images)
    w.train_page.set_workspace(ws)
    qtbot.waitUntil(lambda: len(w.train_page.runs.runs) == len(runs), timeout=10_000)
    return w, ann


def _click_in_modal(qtbot, text: str, seen: list[str]) -> None:
    """Once a modal box opens, note its text and click its button named ``text`` (a real click)."""

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            button = next(b for b in box.buttons() if b.text() == text)
            qtbot.mouseClick(button, LEFT)
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)


def test_retrain_saves_then_extends_the_newest_finished_run_on_this_file(
    qtbot, make_window, small_demo, tmp_path, monkeypatch
):
    ann, _images = small_demo
    w, ann = _window_with_runs(
        qtbot,
        make_window,
        small_demo,
        tmp_path,
        [
            ("old", ann, 8),
            ("elsewhere-older", tmp_path / "other.json", 8),
            ("mine", ann, 12),
            ("other", tmp_path / "x.json", 8),
        ],
    )
    page = w.data_page
    page.editor.add_class("newly added")  # an unsaved edit
    assert page.editor.dirty()
    asked: list[str] = []
    monkeypatch.setattr(
        retrain_module.QMessageBox,
        "question",
        lambda _p, _t, text, *_a, **_k: asked.append(text) or QMessageBox.StandardButton.Save,
    )
    epochs_offered: list[int] = []
    page.retrain.ask_epochs = lambda d: epochs_offered.append(d.epochs.value()) or 2
    launched = []
    monkeypatch.setattr(w.train_page, "_launch", lambda run: launched.append(run) or run is not None)

    qtbot.mouseClick(page.retrain.button, LEFT)

    assert asked and "unsaved edits" in asked[0]
    assert not page.editor.dirty() and "newly added" in ann.read_text()  # saved before training reads it
    assert epochs_offered == [3]  # a quarter of the run's 12 epochs
    assert w.current_page() is w.train_page
    assert len(launched) == 1
    run = launched[0]
    assert run.run_dir.name == "mine" and run.resume == run.run_dir / "last.pt"
    assert "train.epochs=14" in run.overrides  # 12 done + 2
    qtbot.waitUntil(w.jobs.is_idle, timeout=10_000)  # the runs lists' reads end before the window goes


def test_retrain_cancelled_at_the_save_question_does_nothing(qtbot, make_window, small_demo, tmp_path, monkeypatch):
    ann, _images = small_demo
    w, ann = _window_with_runs(qtbot, make_window, small_demo, tmp_path, [("mine", ann, 4)])
    page = w.data_page
    page.editor.add_class("newly added")
    monkeypatch.setattr(retrain_module.QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Cancel)
    launched = []
    monkeypatch.setattr(w.train_page, "_launch", lambda run: launched.append(run) or True)
    assert not page.retrain.start()
    assert page.editor.dirty() and not launched and w.current_page() is page
    page.editor.undo()  # nothing unsaved: the window closes without asking
    qtbot.waitUntil(w.jobs.is_idle, timeout=10_000)


def test_without_a_run_on_this_file_it_says_so_and_offers_the_train_page(qtbot, make_window, small_demo, tmp_path):
    w, ann = _window_with_runs(qtbot, make_window, small_demo, tmp_path, [("other", tmp_path / "x.json", 4)])
    page = w.data_page
    seen: list[str] = []
    _click_in_modal(qtbot, "Show the Train page", seen)
    qtbot.mouseClick(page.retrain.button, LEFT)
    assert seen and f"No run trains on {ann.name}" in seen[0]
    assert w.current_page() is w.train_page
    assert not w.train_page.is_training()
    qtbot.waitUntil(w.jobs.is_idle, timeout=10_000)
