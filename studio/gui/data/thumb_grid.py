"""The thumbnail grid of the Data page: a virtualized icon view over the image list's model and filters.

Only what is on screen costs anything. The view is a ``QListView`` in icon mode with uniform item
sizes and batched layout, so 10,000 rows are laid out in C++ without asking Python for a size hint per
row, and only visible tiles are painted. Thumbnails are requested only for visible rows, a short moment
after the view scrolls, resizes or refilters (at most every :data:`REQUEST_DELAY_MS` while scrolling);
each request replaces the previous queue, so rows that scrolled away are skipped before they are
decoded. Decoding runs in a private ``QThreadPool`` through :class:`studio.core.thumbnails.ThumbnailCache`
(the on-disk cache, so each photo is decoded once ever); results come back as ``QImage`` through a
queued signal, become ``QPixmap`` on the GUI thread and stay in an LRU. Tiles show a grey placeholder
until theirs arrives, and a broken-image tile when the file cannot be read.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRunnable,
    QSize,
    Qt,
    QThread,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QHelpEvent, QImage, QPainter, QPalette, QPixmap, QPolygon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
)

from studio.core.errors import StudioError
from studio.core.thumbnails import ThumbnailCache
from studio.gui.common import palette
from studio.gui.common.workers import background_priority
from studio.gui.data.image_list import (
    ANN_COUNT_ROLE,
    BACKGROUND_ROLE,
    IMAGE_ID_ROLE,
    RANK_COLOR,
    RANK_ROLE,
    SEVERITY_ROLE,
)

log = logging.getLogger("studio.gui.thumbs")

THUMB = 160  # thumbnail size on disk and on screen (logical pixels)
PAD = 6  # around the thumbnail inside a tile
NAME_H = 18  # the file-name line under the thumbnail
GAP = 6  # between tiles
TILE = QSize(THUMB + 2 * PAD, THUMB + 2 * PAD + NAME_H)
REQUEST_DELAY_MS = 40
PIXMAP_CAPACITY = 2000
PIXMAP_MAX_BYTES = 256 << 20
PRUNE_BYTES = 1 << 30  # the disk cache is trimmed to this once per loader, in the background...
PRUNE_DELAY_MS = 20_000  # ...a while after start-up, when opening a dataset no longer competes for the GIL
UNLABELLED = "unlabelled"  # the badge of a tile whose image has no annotation yet
UNLABELLED_COLOR = QColor(150, 96, 20, 215)  # amber: to do, not a problem (problems are the red / orange corner)

_Index = QModelIndex | QPersistentModelIndex


# ---------------------------------------------------------------------------------------- loading
class _Relay(QObject):
    """Carries results from pool threads to the GUI thread (queued: it lives in the GUI thread).

    It has no Qt parent and every job holds a reference, so it outlives the loader when a job is still
    running at teardown; Qt drops the connection to a deleted loader by itself.
    """

    done = Signal(str, int, QImage)  # path, generation, thumbnail
    failed = Signal(str, int, str)  # path, generation, message


class _ThumbJob(QRunnable):
    def __init__(self, cache: ThumbnailCache, path: str, generation: int, relay: _Relay):
        super().__init__()
        self.cache, self.path, self.generation, self.relay = cache, path, generation, relay

    def run(self) -> None:
        background_priority()
        try:
            rgb = self.cache.load(self.path)
            h, w = rgb.shape[:2]
            img = QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()
        except StudioError as e:
            self.relay.failed.emit(self.path, self.generation, str(e))
        except Exception as e:  # an unexpected failure still ends as a broken tile, and in the log
            log.exception("thumbnail of %s failed", self.path)
            self.relay.failed.emit(self.path, self.generation, f"{type(e).__name__}: {e}")
        else:
            self.relay.done.emit(self.path, self.generation, img)


class _Prune(QRunnable):
    def __init__(self, cache: ThumbnailCache, max_bytes: int):
        super().__init__()
        self.cache, self.max_bytes = cache, max_bytes

    def run(self) -> None:
        try:
            n = self.cache.prune(self.max_bytes)
            if n:
                log.info("removed %d old thumbnail(s) from %s", n, self.cache.cache_dir)
        except OSError as e:
            log.warning("cannot prune the thumbnail cache %s: %s", self.cache.cache_dir, e)


class ThumbnailLoader(QObject):
    """Decodes thumbnails in a thread pool, newest wishes first; keeps the results as an LRU of pixmaps.

    ``want(paths)`` replaces the queue with ``paths`` (those not cached, failed or in flight), in order;
    at most ``threads`` decodes run at once and the next starts when one ends.
    """

    ready = Signal(str)  # path: its pixmap (or its error) is now available

    def __init__(
        self,
        cache: ThumbnailCache | None = None,
        capacity: int = PIXMAP_CAPACITY,
        max_bytes: int = PIXMAP_MAX_BYTES,
        threads: int | None = None,
        prune_bytes: int | None = PRUNE_BYTES,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.cache = cache if cache is not None else ThumbnailCache(size=THUMB)
        self.capacity, self.max_bytes = capacity, max_bytes
        self.pool = QThreadPool(self)  # its destructor waits for running jobs (each is short)
        self.pool.setMaxThreadCount(threads if threads is not None else default_threads())
        self.started = 0  # decode jobs started, for tests and the bench
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._bytes = 0
        self._errors: dict[str, str] = {}
        self._queue: list[str] = []
        self._in_flight: set[str] = set()
        self._generation = 0
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        if prune_bytes is not None:  # in Qt's global pool: a long walk never delays a thumbnail
            QTimer.singleShot(
                PRUNE_DELAY_MS, self, lambda: QThreadPool.globalInstance().start(_Prune(self.cache, prune_bytes))
            )

    def pixmap(self, path: str) -> QPixmap | None:
        pm = self._pixmaps.get(path)
        if pm is not None:
            self._pixmaps.move_to_end(path)
        return pm

    def error(self, path: str) -> str | None:
        return self._errors.get(path)

    def want(self, paths: list[str]) -> None:
        self._queue = [
            p
            for p in dict.fromkeys(paths)
            if p not in self._pixmaps and p not in self._errors and p not in self._in_flight
        ]
        self._queue.reverse()  # popped from the end: first wish first
        self._pump()

    def pending(self) -> int:
        """Decodes queued or running."""
        return len(self._queue) + len(self._in_flight)

    def clear(self) -> None:
        """Forget every pixmap, error and wish (a dataset was (re)opened: files may have changed)."""
        self._generation += 1  # results of jobs still running are dropped when they arrive
        self._pixmaps.clear()
        self._bytes = 0
        self._errors.clear()
        self._queue.clear()
        self._in_flight.clear()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self._queue.clear()
        self.pool.waitForDone(timeout_ms)

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self.pool.maxThreadCount():
            path = self._queue.pop()
            self._in_flight.add(path)
            self.started += 1
            self.pool.start(_ThumbJob(self.cache, path, self._generation, self._relay))

    def _on_done(self, path: str, generation: int, img: QImage) -> None:
        if generation == self._generation:
            self._in_flight.discard(path)
            pm = QPixmap.fromImage(img)
            self._pixmaps[path] = pm
            self._bytes += _pixmap_bytes(pm)
            while len(self._pixmaps) > self.capacity or (self._bytes > self.max_bytes and len(self._pixmaps) > 1):
                _, old = self._pixmaps.popitem(last=False)
                self._bytes -= _pixmap_bytes(old)
            self.ready.emit(path)
        self._pump()

    def _on_failed(self, path: str, generation: int, message: str) -> None:
        if generation == self._generation:
            self._in_flight.discard(path)
            self._errors[path] = message
            log.debug("no thumbnail: %s", message)
            self.ready.emit(path)
        self._pump()


def default_threads() -> int:
    """One core fewer than the machine has (at least 1, at most 4): the GUI thread keeps a core.

    Each decode also holds the GIL for its Python glue; more threads than free cores only makes the
    GUI thread wait longer for it (measured with bench/gui_latency.py on 2 cores).
    """
    return max(1, min(4, QThread.idealThreadCount() - 1))


def _pixmap_bytes(pm: QPixmap) -> int:
    return pm.width() * pm.height() * max(pm.depth(), 8) // 8


# ---------------------------------------------------------------------------------------- painting
class ThumbDelegate(QStyledItemDelegate):
    """A tile: thumbnail (or placeholder / broken image), elided file name, instance badge ("unlabelled" when
    none), problem corner."""

    def __init__(self, grid: ThumbGrid):
        super().__init__(grid)
        self.grid = grid
        self.badge_font = QFont()
        self.badge_font.setPointSizeF(8)
        self.badge_font.setBold(True)

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return TILE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        r = option.rect
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if selected or hovered:
            bg = QColor(pal.color(QPalette.ColorRole.Highlight))
            if not selected:
                bg.setAlpha(60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(bg)
            painter.drawRoundedRect(r.adjusted(1, 1, -1, -1), 5, 5)

        area = QRect(r.left() + PAD, r.top() + PAD, THUMB, THUMB)
        path = self.grid.path_of(index)
        pm = self.grid.loader.pixmap(path) if path else None
        shown = area  # where the picture is: badge and problem corner sit on its corners
        if pm is not None and not pm.isNull():
            shown = _fit(pm.size(), area)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(shown, pm)
        else:
            error = self.grid.loader.error(path) if path else None
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(58, 60, 66) if error else QColor(112, 114, 120, 90))
            painter.drawRoundedRect(area, 3, 3)
            if error:
                _draw_broken(painter, area)

        sev = index.data(SEVERITY_ROLE)
        if sev:  # a triangle in the tile's top-left corner, red for errors, orange for warnings
            d = 22
            color = palette.ERROR if sev == "error" else palette.WARNING
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            corner = shown.topLeft()
            painter.drawPolygon(QPolygon([corner, corner + QPoint(d, 0), corner + QPoint(0, d)]))

        count = index.data(ANN_COUNT_ROLE)
        if count is not None:  # the instance count, or "unlabelled" for an image nobody has labelled yet
            painter.setFont(self.badge_font)
            background = bool(index.data(BACKGROUND_ROLE))
            text = str(count) if count else ("background" if background else UNLABELLED)
            fm = painter.fontMetrics()
            bw, bh = max(fm.horizontalAdvance(text) + 10, 20), fm.height() + 2
            badge = QRect(shown.right() - bw - 3, shown.top() + 4, bw, bh)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(20, 22, 26, 190) if count or background else UNLABELLED_COLOR)
            painter.drawRoundedRect(badge, bh / 2, bh / 2)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

        rank = index.data(RANK_ROLE)
        if rank is not None:  # the "label next" figure, bottom left of the picture
            painter.setFont(self.badge_font)
            text = f"{rank:.2f}"
            fm = painter.fontMetrics()
            bw, bh = fm.horizontalAdvance(text) + 10, fm.height() + 2
            badge = QRect(shown.left() + 3, shown.bottom() - bh - 3, bw, bh)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(RANK_COLOR)
            painter.drawRoundedRect(badge, bh / 2, bh / 2)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

        painter.setFont(option.font)
        name_rect = QRect(r.left() + PAD, area.bottom() + 3, THUMB, NAME_H)
        name = option.fontMetrics.elidedText(str(index.data() or ""), Qt.TextElideMode.ElideMiddle, name_rect.width())
        painter.setPen(pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, name)
        painter.restore()

    def helpEvent(
        self, event: QHelpEvent, view: QAbstractItemView, option: QStyleOptionViewItem, index: _Index
    ) -> bool:
        """The list's tooltip, plus why the thumbnail is missing when it could not be made."""
        if event.type() == QEvent.Type.ToolTip and index.isValid():
            path = self.grid.path_of(index)
            error = self.grid.loader.error(path) if path else None
            if error:
                QToolTip.showText(
                    event.globalPos(), f"{index.data(Qt.ItemDataRole.ToolTipRole)}\nno thumbnail: {error}", view
                )
                return True
        return super().helpEvent(event, view, option, index)


def _fit(size: QSize, area: QRect) -> QRect:
    """``size`` scaled to fit ``area`` (small images are enlarged), centred in it."""
    w, h = max(size.width(), 1), max(size.height(), 1)
    s = min(area.width() / w, area.height() / h)
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    return QRect(area.left() + (area.width() - tw) // 2, area.top() + (area.height() - th) // 2, tw, th)


def _draw_broken(painter: QPainter, area: QRect) -> None:
    """A crossed-out picture frame and the word "unreadable"."""
    c = area.center()
    frame = QRect(c.x() - 22, c.y() - 28, 44, 34)
    pen_color = QColor(palette.ERROR)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(pen_color)
    painter.drawRect(frame)
    painter.drawLine(frame.topLeft(), frame.bottomRight())
    painter.drawLine(frame.topRight(), frame.bottomLeft())
    painter.setPen(QColor(200, 200, 204))
    painter.drawText(
        QRect(area.left(), frame.bottom() + 6, area.width(), 18), Qt.AlignmentFlag.AlignCenter, "unreadable"
    )


# ---------------------------------------------------------------------------------------- the view
class ThumbGrid(QListView):
    """Icon view over ``proxy`` (the image list's filter proxy), optionally sharing the list's selection.

    With the list's selection model, choosing a tile makes it the list's current row too (so the list's
    ``image_selected`` fires and the viewer follows), and the grid scrolls to images chosen in the list.
    ``image_selected(image_id)`` is emitted here as well for a grid used alone; ``image_activated``
    on double-click or Enter.
    """

    image_selected = Signal(object)
    image_activated = Signal(object)

    def __init__(
        self,
        proxy: QAbstractItemModel,
        selection_model: QItemSelectionModel | None = None,
        cache: ThumbnailCache | None = None,
        parent=None,
    ):
        super().__init__(parent)
        self.images_dir: str | None = None
        self.loader = ThumbnailLoader(cache, parent=self)
        self._visible: dict[str, QPersistentModelIndex] = {}  # path -> tile, from the last request
        self._request_timer = QTimer(self, singleShot=True, interval=REQUEST_DELAY_MS)  # before any Qt hook runs
        self._request_timer.timeout.connect(self.request_visible)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setUniformItemSizes(True)  # no per-row size hint: the layout of 10,000 rows stays in C++
        self.setWrapping(True)
        self.setGridSize(QSize(TILE.width() + GAP, TILE.height() + GAP))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(TILE.height() // 4)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setItemDelegate(ThumbDelegate(self))
        self.setModel(proxy)
        if selection_model is not None:
            own = self.selectionModel()
            self.setSelectionModel(selection_model)
            own.deleteLater()

        self.verticalScrollBar().valueChanged.connect(self._schedule)
        for sig in (proxy.modelReset, proxy.layoutChanged, proxy.rowsInserted, proxy.rowsRemoved):
            sig.connect(self._schedule)
        self.loader.ready.connect(self._on_ready)
        self.selectionModel().currentChanged.connect(self._on_current)
        self.activated.connect(lambda idx: self.image_activated.emit(idx.data(IMAGE_ID_ROLE)))

    # ------------------------------------------------------------------ content
    def set_images_dir(self, images_dir: str | Path | None) -> None:
        """Where the rows' file names live; forgets the thumbnails in memory (files may have changed)."""
        self.images_dir = str(images_dir) if images_dir is not None else None
        self.loader.clear()
        self._visible.clear()
        self.viewport().update()
        self._schedule()

    def path_of(self, index: _Index) -> str | None:
        name = index.data()
        return os.path.join(self.images_dir, name) if self.images_dir is not None and name else None

    def current_image_id(self) -> Any:
        idx = self.currentIndex()
        return idx.data(IMAGE_ID_ROLE) if idx.isValid() else None

    def shutdown(self) -> None:
        """Drop the queue and wait for the decodes in flight (at window close)."""
        self._request_timer.stop()
        self.loader.shutdown()

    # ------------------------------------------------------------------ which rows are on screen
    def visible_rows(self, margin: int = 0) -> list[int]:
        """Proxy rows whose tiles intersect the viewport grown by ``margin`` pixels above and below.

        Finds one visible tile by probing the viewport on a half-tile lattice, then walks the rows
        backwards and forwards while their tiles still intersect: O(visible rows), whatever the model size.
        """
        model = self.model()
        n = model.rowCount() if model is not None else 0
        vp = self.viewport().rect()
        if n == 0 or vp.isEmpty():
            return []
        area = vp.adjusted(0, -margin, 0, margin)
        gw, gh = max(self.gridSize().width() // 2, 1), max(self.gridSize().height() // 2, 1)
        seed = None
        for y in range(gh // 2, vp.height() + 1, gh):
            for x in range(gw // 2, vp.width() + 1, gw):
                idx = self.indexAt(QPoint(x, y))
                if idx.isValid():
                    seed = idx.row()
                    break
            if seed is not None:
                break
        if seed is None:
            return []
        first = seed
        while first > 0 and self.visualRect(model.index(first - 1, 0)).intersects(area):
            first -= 1
        last = seed
        while last + 1 < n:
            rect = self.visualRect(model.index(last + 1, 0))
            if rect.top() > area.bottom():
                break
            last += 1
        return [r for r in range(first, last + 1) if self.visualRect(model.index(r, 0)).intersects(area)]

    def request_visible(self) -> None:
        """Ask the loader for the visible tiles, then the next rows below (a screen row of look-ahead)."""
        if not self.isVisible() or self.images_dir is None:
            return
        rows = self.visible_rows(margin=self.gridSize().height())
        model = self.model()
        vp = self.viewport().rect()
        on_screen, ahead = [], []
        self._visible = {}
        for r in rows:
            idx = model.index(r, 0)
            path = self.path_of(idx)
            if path is None:
                continue
            self._visible[path] = QPersistentModelIndex(idx)
            (on_screen if self.visualRect(idx).intersects(vp) else ahead).append(path)
        self.loader.want(on_screen + ahead)

    def _schedule(self, *_args: Any) -> None:
        # a throttle, not a pure debounce: a long scroll still gets thumbnails every REQUEST_DELAY_MS
        if not self._request_timer.isActive():
            self._request_timer.start()

    # ------------------------------------------------------------------ Qt hooks
    def updateGeometries(self) -> None:
        super().updateGeometries()  # runs after each layout batch: tiles may have just got positions
        self._schedule()

    def resizeEvent(self, event) -> None:
        self._spread_columns()
        super().resizeEvent(event)
        self._schedule()

    def _spread_columns(self) -> None:
        """Share the viewport's width between the columns that fit, so no wide empty strip is left."""
        cell = TILE.width() + GAP
        width = self.viewport().width()
        gw = max(cell, width // max(1, width // cell))
        if gw != self.gridSize().width():
            self.setGridSize(QSize(gw, TILE.height() + GAP))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        current = self.currentIndex()
        if current.isValid():
            self.scrollTo(current, QAbstractItemView.ScrollHint.EnsureVisible)
        self._schedule()

    def _on_ready(self, path: str) -> None:
        idx = self._visible.get(path)
        if idx is not None and idx.isValid():
            self.viewport().update(self.visualRect(self.model().index(idx.row(), 0)))

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        if self.isVisible():
            self.scrollTo(current, QAbstractItemView.ScrollHint.EnsureVisible)
        self.image_selected.emit(current.data(IMAGE_ID_ROLE))
