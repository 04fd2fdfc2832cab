"""The thumbnail grid: placeholders then thumbnails, shared filters and selection, visible-only requests."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from studio.core.dataset.summary import ImageSummary
from studio.core.thumbnails import ThumbnailCache
from studio.gui.data.image_list import IMAGE_ID_ROLE, ImageListPanel
from studio.gui.data.jobs import load_dataset
from studio.gui.data.thumb_grid import PAD, THUMB, ThumbGrid, ThumbnailLoader


class RecordingCache(ThumbnailCache):
    """Records every path it is asked for; ``gate`` (when set) holds each decode until released."""

    def __init__(self, *a, gate: threading.Event | None = None, **kw):
        super().__init__(*a, **kw)
        self.asked: list[str] = []
        self.gate = gate

    def load(self, path):
        self.asked.append(str(path))
        if self.gate is not None:
            self.gate.wait(10)
        return super().load(path)


def _panel(qtbot, cache, rows=None, images_dir=None, size=(560, 620)):
    panel = ImageListPanel()
    grid = ThumbGrid(panel.proxy, panel.view.selectionModel(), cache=cache)
    panel.set_grid(grid)
    qtbot.addWidget(panel)
    if rows is not None:
        panel.set_images(rows)
    grid.set_images_dir(images_dir)
    panel.resize(*size)
    panel.show()
    panel.set_view_mode("grid")
    qtbot.waitExposed(panel)
    return panel, grid


def _tile_center(grid, row):
    r = grid.visualRect(grid.model().index(row, 0))
    return QPoint(r.left() + PAD + THUMB // 2, r.top() + PAD + THUMB // 2)


def _pixel(grid, pt) -> QColor:
    return grid.viewport().grab().toImage().pixelColor(pt)


@pytest.fixture
def demo_grid(qtbot, small_demo, tmp_path):
    ann, images = small_demo
    gate = threading.Event()
    cache = RecordingCache(tmp_path / "thumbs", size=THUMB, gate=gate)
    loaded = load_dataset(ann, images)
    panel, grid = _panel(qtbot, cache)
    panel.set_images(loaded.images)
    panel.set_classes(loaded.class_stats)
    grid.set_images_dir(images)
    yield panel, grid, loaded, gate
    gate.set()
    grid.shutdown()


def test_placeholders_first_then_thumbnails(qtbot, demo_grid):
    panel, grid, loaded, gate = demo_grid
    qtbot.waitUntil(lambda: len(grid.loader.cache.asked) >= 1, timeout=5000)  # decoding, held by the gate
    visible = grid.visible_rows()
    assert visible and visible[0] == 0
    path0 = grid.path_of(grid.model().index(0, 0))
    assert grid.loader.pixmap(path0) is None
    before = _pixel(grid, _tile_center(grid, 0))
    assert abs(before.red() - before.green()) < 8 and abs(before.green() - before.blue()) < 12  # a grey tile
    gate.set()
    qtbot.waitUntil(
        lambda: all(grid.loader.pixmap(grid.path_of(grid.model().index(r, 0))) is not None for r in visible),
        timeout=10_000,
    )
    after = _pixel(grid, _tile_center(grid, 0))
    assert after != before
    thumb = grid.loader.pixmap(path0).toImage()
    expected = thumb.pixelColor(thumb.width() // 2, thumb.height() // 2)
    assert abs(after.red() - expected.red()) < 40 and abs(after.blue() - expected.blue()) < 40
    assert len(set(grid.loader.cache.asked)) == len(grid.loader.cache.asked)  # each image decoded once


def test_filters_are_shared_with_the_list(qtbot, demo_grid):
    panel, grid, loaded, gate = demo_grid
    gate.set()
    assert grid.model() is panel.proxy
    panel.search.setText("0003")
    assert grid.model().rowCount() == 1
    assert grid.model().index(0, 0).data() == "train_0003.jpg"
    panel.search.clear()
    cat = loaded.class_stats[0]
    panel.set_class_filter(cat.category_id)
    ids = {grid.model().index(r, 0).data(IMAGE_ID_ROLE) for r in range(grid.model().rowCount())}
    assert (
        ids
        == {s.image_id for s in loaded.images if cat.category_id in s.category_ids}
        == set(panel.visible_image_ids())
    )
    panel.set_class_filter(None)
    panel.unannotated_box.setChecked(True)
    assert grid.model().rowCount() == sum(1 for s in loaded.images if s.num_annotations == 0)
    panel.unannotated_box.setChecked(False)
    assert grid.model().rowCount() == len(loaded.images) == 8


def test_clicking_a_tile_selects_the_image_in_grid_and_list(qtbot, demo_grid):
    panel, grid, loaded, gate = demo_grid
    gate.set()
    row = 4
    want = grid.model().index(row, 0).data(IMAGE_ID_ROLE)
    from_grid, from_list = [], []
    grid.image_selected.connect(from_grid.append)
    panel.image_selected.connect(from_list.append)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=_tile_center(grid, row))
    assert from_grid == from_list == [want]
    assert panel.current_image_id() == want == grid.current_image_id()
    with qtbot.waitSignal(grid.image_activated, timeout=2000) as activated:
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=_tile_center(grid, 2))  # as a real one starts
        qtbot.mouseDClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=_tile_center(grid, 2))
    assert activated.args == [grid.model().index(2, 0).data(IMAGE_ID_ROLE)]
    panel.select_row(7)  # chosen in the list: the grid follows
    assert grid.current_image_id() == loaded.images[7].image_id


def test_a_broken_image_gets_a_broken_tile(qtbot, demo_grid):
    panel, grid, loaded, gate = demo_grid
    gate.set()
    broken = grid.path_of(grid.model().index(1, 0))
    with open(broken, "wb") as f:
        f.write(b"not an image")
    grid.set_images_dir(grid.images_dir)  # reopened: forgets what it knew
    qtbot.waitUntil(lambda: grid.loader.error(broken) is not None, timeout=10_000)
    assert "train_0001.jpg" in grid.loader.error(broken)
    assert grid.loader.pixmap(broken) is None
    tile = _pixel(grid, _tile_center(grid, 1) + QPoint(0, THUMB // 2 - 6))  # the dark broken-tile background
    assert tile.red() < 90 and tile.green() < 90


def test_only_visible_rows_are_requested_and_scrolled_away_rows_are_skipped(qtbot, tmp_path):
    gate = threading.Event()
    cache = RecordingCache(tmp_path / "thumbs", gate=gate)
    rows = [ImageSummary(i, f"img_{i:05d}.jpg", i % 4, frozenset()) for i in range(2000)]
    panel, grid = _panel(qtbot, cache, rows, tmp_path / "no-such-folder")
    try:
        qtbot.waitUntil(lambda: grid.loader.pending() > 0, timeout=5000)
        first_screen = grid.visible_rows()
        assert 0 < len(first_screen) < 40
        assert grid.loader.started <= grid.loader.pool.maxThreadCount()  # the rest waits in the queue

        def at_bottom():  # the batched layout may still be growing the scroll range
            grid.scrollToBottom()
            return grid.visible_rows()[-1:] == [1999]

        qtbot.waitUntil(at_bottom, timeout=5000)
        qtbot.wait(150)  # the request throttle fires: the queue now holds the bottom rows only
        gate.set()
        qtbot.waitUntil(lambda: grid.loader.pending() == 0, timeout=10_000)
        asked = {int(p[-9:-4]) for p in cache.asked}
        assert len(asked) < 80, len(asked)  # of 2000 rows
        assert {r for r in grid.visible_rows()} <= asked
        top_only = set(first_screen) - set(grid.visible_rows())
        assert len(asked & top_only) <= grid.loader.pool.maxThreadCount()  # only those already in flight
        assert all(
            "not found" in grid.loader.error(grid.path_of(grid.model().index(r, 0))) for r in grid.visible_rows()
        )
    finally:
        gate.set()
        grid.shutdown()


def test_loader_keeps_at_most_capacity_pixmaps(qtbot, tmp_path, small_demo):
    _ann, images = small_demo
    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbs", size=32), capacity=3, prune_bytes=None)
    paths = sorted(str(p) for p in images.glob("*.jpg"))[:5]
    loader.want(paths)
    qtbot.waitUntil(lambda: loader.pending() == 0, timeout=10_000)
    kept = [p for p in paths if loader.pixmap(p) is not None]
    assert len(kept) == 3 and loader.started == 5
    assert kept == paths[2:]  # the least recently made went first
    assert max(loader.pixmap(p).width() for p in kept) == 32
    loader.want(paths)  # the two dropped ones are made again, the kept ones are not
    qtbot.waitUntil(lambda: loader.pending() == 0, timeout=10_000)
    assert loader.started == 7
    loader.shutdown()


def test_list_grid_toggle(qtbot, tmp_path):
    panel = ImageListPanel()
    qtbot.addWidget(panel)
    assert panel.view_mode() == "list" and panel.grid_button.isHidden()
    with pytest.raises(RuntimeError):
        panel.set_view_mode("grid")
    grid = ThumbGrid(panel.proxy, panel.view.selectionModel(), cache=ThumbnailCache(tmp_path / "t"))
    panel.set_grid(grid)
    panel.show()
    assert panel.grid_button.isVisible()
    with qtbot.waitSignal(panel.view_mode_changed) as sig:
        panel.grid_button.click()
    assert sig.args == ["grid"] and panel.view_mode() == "grid" and grid.isVisible() and not panel.view.isVisible()
    with qtbot.waitSignal(panel.view_mode_changed) as sig:
        panel.list_button.click()
    assert sig.args == ["list"] and panel.view.isVisible()
    with pytest.raises(ValueError):
        panel.set_view_mode("mosaic")
    grid.shutdown()


def test_the_loader_prunes_the_disk_cache_in_the_background(qtbot, tmp_path, monkeypatch):
    import studio.gui.data.thumb_grid as tg

    monkeypatch.setattr(tg, "PRUNE_DELAY_MS", 0)
    old = tmp_path / "thumbs" / "ab" / "ab01.jpg"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x" * 5000)
    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbs"), prune_bytes=1000)
    qtbot.waitUntil(lambda: not old.exists(), timeout=5000)
    kept = ThumbnailLoader(ThumbnailCache(tmp_path / "thumbs"), prune_bytes=None)
    old.write_bytes(b"x" * 5000)
    qtbot.wait(100)
    assert old.exists()
    loader.shutdown()
    kept.shutdown()
