"""The image list: a virtualized list model, its filter proxy, a row delegate and the panel around them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.dataset.summary import ClassStat, ImageSummary
from studio.gui.common import palette
from studio.gui.common.job_slot import progress_bar, show_progress
from studio.gui.data.jobs import ImageProblems

IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ANN_COUNT_ROLE = Qt.ItemDataRole.UserRole + 2
SEVERITY_ROLE = Qt.ItemDataRole.UserRole + 3
RANK_ROLE = Qt.ItemDataRole.UserRole + 4  # the "label next" figure of a ranked image (None when not ranked)
BACKGROUND_ROLE = Qt.ItemDataRole.UserRole + 5  # marked as reviewed with nothing to label
FILE_ORDER, LABEL_NEXT = "file", "label_next"  # the list's sort orders
RANK_COLOR = QColor("#8a5cd0")  # the "label next" figures: apart from the problem markers' red and amber
_Index = QModelIndex | QPersistentModelIndex


class ImageListModel(QAbstractListModel):
    """One row per image record; problem markers arrive later, when the check finishes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[ImageSummary] = []
        self.problems: dict[Any, ImageProblems] = {}
        self.ranks: dict[Any, tuple[int, Any]] = {}  # image id -> (place, RankedImage) of the "label next" order
        self._row_of: dict[Any, int] = {}

    def set_images(self, rows: list[ImageSummary]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.problems = {}
        self.ranks = {}
        self._row_of = {r.image_id: i for i, r in enumerate(self.rows)}
        self.endResetModel()

    def set_problems(self, problems: dict[Any, ImageProblems]) -> None:
        self.problems = problems
        if self.rows:
            self.dataChanged.emit(
                self.index(0), self.index(len(self.rows) - 1), [SEVERITY_ROLE, Qt.ItemDataRole.ToolTipRole]
            )

    def set_ranks(self, ranked: list) -> None:
        """The "label next" ranking (RankedImage-like: ``image_id``, ``score``, ``reason()``), best first; [] clears."""
        self.ranks = {r.image_id: (place, r) for place, r in enumerate(ranked, start=1)}
        if self.rows:
            self.dataChanged.emit(
                self.index(0), self.index(len(self.rows) - 1), [RANK_ROLE, Qt.ItemDataRole.ToolTipRole]
            )

    def row_of(self, image_id: Any) -> int | None:
        return self._row_of.get(image_id)

    def update_image(self, summary: ImageSummary) -> None:
        """One image's row after an edit (instance count, classes)."""
        row = self._row_of.get(summary.image_id)
        if row is not None:
            self.rows[row] = summary
            self.dataChanged.emit(self.index(row), self.index(row))

    def replace_rows(self, rows: list[ImageSummary]) -> None:
        """All rows again after images were added or taken out; the check's markers stay with their images."""
        self.beginResetModel()
        self.rows = list(rows)
        self._row_of = {r.image_id: i for i, r in enumerate(self.rows)}
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return r.file_name
        if role == IMAGE_ID_ROLE:
            return r.image_id
        if role == ANN_COUNT_ROLE:  # accepted annotations: an image holding only proposals is not labelled yet
            return r.num_annotations - r.num_pending
        if role == SEVERITY_ROLE:
            p = self.problems.get(r.image_id)
            return p.severity if p else None
        if role == BACKGROUND_ROLE:
            return r.background
        if role == RANK_ROLE:
            ranked = self.ranks.get(r.image_id)
            return ranked[1].score if ranked else None
        if role == Qt.ItemDataRole.ToolTipRole:
            pending = f", {r.num_pending} pending" if r.num_pending else ""
            pending += ", marked background (nothing to label)" if r.background else ""
            lines = [f"{r.file_name} (image id {r.image_id}): {r.num_annotations} annotation(s){pending}"]
            ranked = self.ranks.get(r.image_id)
            if ranked:
                place, item = ranked
                lines.append(f"label next: #{place}, {item.score:.2f} ({item.reason()})")
            p = self.problems.get(r.image_id)
            if p:
                lines += [f"{q.severity}: {q.message}" for q in p.problems[:8]]
                if len(p.problems) > 8:
                    lines.append(f"... and {len(p.problems) - 8} more")
            return "\n".join(lines)
        return None


class ImageFilterProxy(QAbstractListModel):
    """File-name search, class, "has problems" and "unlabelled" / "labelled" filters (all must hold) over an
    :class:`ImageListModel`.

    Not a QSortFilterProxyModel: that calls a Python ``filterAcceptsRow`` once per row (10,000 calls
    into Python on every refilter or reset, each re-taking the GIL from worker threads, which made the
    GUI stall for 100-300 ms). Here the accepted rows are computed in one Python pass and the views
    only ask for the rows they show.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._source: ImageListModel | None = None
        self._rows: list[int] = []  # accepted source rows, in source order or in the order of ``order``
        self._pos: dict[int, int] = {}  # source row -> proxy row
        self.search = ""
        self.category_id: Any = None
        self.problems_only = False
        self.unannotated_only = False  # only images with no annotation yet
        self.labelled_only = False  # only images with at least one
        self.order: dict[Any, int] | None = None  # image id -> place: listed first, by place; None: file order

    # ------------------------------------------------------------------ source
    def setSourceModel(self, model: ImageListModel) -> None:
        self._source = model
        model.modelAboutToBeReset.connect(self.beginResetModel)
        model.modelReset.connect(self._after_source_reset)
        model.dataChanged.connect(self._source_data_changed)
        self._refilter()

    def sourceModel(self) -> ImageListModel | None:
        return self._source

    def _after_source_reset(self) -> None:
        self._refilter()
        self.endResetModel()

    def _source_data_changed(self, top: QModelIndex, bottom: QModelIndex, roles=()) -> None:
        rows = [self._pos[r] for r in range(top.row(), bottom.row() + 1) if r in self._pos]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), roles)

    # ------------------------------------------------------------------ filtering
    def set_filters(self, **kw: Any) -> None:
        for k in kw:
            if k not in ("search", "category_id", "problems_only", "unannotated_only", "labelled_only"):
                raise AttributeError(k)
        self.beginResetModel()
        for k, v in kw.items():
            setattr(self, k, v.lower() if k == "search" else v)
        self._refilter()
        self.endResetModel()

    def set_order(self, order: dict[Any, int] | None) -> None:
        """List the images of ``order`` first, by their place, then the others in file order (None: file order)."""
        self.beginResetModel()
        self.order = dict(order) if order else None
        self._refilter()
        self.endResetModel()

    def _refilter(self) -> None:
        model = self._source
        rows = model.rows if model is not None else []
        search, cid = self.search, self.category_id
        problems = model.problems if model is not None else {}
        self._rows = [
            i
            for i, r in enumerate(rows)
            if (not search or search in r.file_name.lower())
            and (cid is None or cid in r.category_ids)
            and (not self.unannotated_only or not r.labelled)
            and (not self.labelled_only or r.labelled)
            and (not self.problems_only or r.image_id in problems)
        ]
        if self.order:
            order, last = self.order, len(self.order)
            self._rows.sort(key=lambda i: (order.get(rows[i].image_id, last), i))
        self._pos = {src: i for i, src in enumerate(self._rows)}

    # ------------------------------------------------------------------ model
    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if self._source is None or not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._source.data(self._source.index(self._rows[index.row()]), role)

    def mapToSource(self, index: _Index) -> QModelIndex:
        if self._source is None or not index.isValid() or not 0 <= index.row() < len(self._rows):
            return QModelIndex()
        return self._source.index(self._rows[index.row()])

    def mapFromSource(self, index: _Index) -> QModelIndex:
        row = self._pos.get(index.row()) if index.isValid() else None
        return self.index(row) if row is not None else QModelIndex()


class ImageRowDelegate(QStyledItemDelegate):
    """Problem marker, file name (elided), annotation count right-aligned."""

    ROW_HEIGHT = 24

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(200, self.ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        r = opt.rect.adjusted(6, 0, -8, 0)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        sev = index.data(SEVERITY_ROLE)
        if sev:
            color = palette.ERROR if sev == "error" else palette.WARNING
            painter.setPen(color.darker(130))
            painter.setBrush(color)
            d = 9
            painter.drawEllipse(r.left(), r.center().y() - d // 2, d, d)
        count = "bg" if index.data(BACKGROUND_ROLE) else str(index.data(ANN_COUNT_ROLE))
        fm = opt.fontMetrics
        cw = fm.horizontalAdvance(count) + 4
        count_rect = QRect(r.right() - cw, r.top(), cw, r.height())
        muted = QColor(opt.palette.color(text_role))
        if not selected:
            muted.setAlpha(150)
        painter.setPen(muted)
        painter.drawText(count_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, count)
        rank = index.data(RANK_ROLE)
        if rank is not None:  # the "label next" figure, left of the count, in the ranking colour
            figure = f"{rank:.2f}"
            fw = fm.horizontalAdvance(figure) + 10
            painter.setPen(opt.palette.color(text_role) if selected else RANK_COLOR)
            painter.drawText(
                QRect(count_rect.left() - fw, r.top(), fw, r.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                figure,
            )
            cw += fw
        name_rect = QRect(r.left() + 16, r.top(), r.width() - 16 - cw - 8, r.height())
        painter.setPen(opt.palette.color(text_role))
        name = fm.elidedText(str(index.data()), Qt.TextElideMode.ElideMiddle, name_rect.width())
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        painter.restore()


class ImageListPanel(QWidget):
    """Filters above a virtualized list; emits ``image_selected(image_id)`` as the current row changes.

    :meth:`set_grid` adds a second view over the same proxy (the thumbnail grid) behind a List / Grid toggle.
    """

    image_selected = Signal(object)
    view_mode_changed = Signal(str)  # "list" or "grid"
    order_requested = Signal(str)  # FILE_ORDER or LABEL_NEXT, picked by the user in the order box
    order_cancel_requested = Signal()  # the Cancel beside the ranking's progress bar

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = ImageListModel(self)
        self.proxy = ImageFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit(placeholderText="Search file names")
        self.search.setClearButtonEnabled(True)
        self.class_combo = QComboBox()
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(10)
        self.problems_box = QCheckBox("has problems")
        self.unannotated_box = QCheckBox("unlabelled")
        self.unannotated_box.setToolTip("Only the images with no annotation yet")
        self.labelled_box = QCheckBox("labelled")
        self.labelled_box.setToolTip("Only the images with at least one annotation")
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")
        self.order_combo = QComboBox()
        self.order_combo.addItem("File order", FILE_ORDER)
        self.order_combo.addItem("Label next (model)", LABEL_NEXT)
        self.order_combo.setToolTip(
            "The order of the images: as in the file, or the unlabelled images worth labelling next first (ranked "
            "by the labelling model: uncertain, and unlike what is labelled), then the others"
        )
        self.order_progress = progress_bar()
        self.order_cancel = QToolButton(text="Cancel", toolTip="Stop ranking the images")
        self.order_cancel.setVisible(False)

        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(ImageRowDelegate(self.view))
        self.view.setUniformItemSizes(True)  # rows are laid out lazily: only visible ones are painted
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.grid: QWidget | None = None
        self.views = QStackedWidget()
        self.views.addWidget(self.view)
        self.list_button = QToolButton(text="List", checkable=True, checked=True, toolTip="Show the images as a list")
        self.grid_button = QToolButton(text="Grid", checkable=True, toolTip="Show the images as thumbnails")
        self._mode_buttons = QButtonGroup(self)
        for b in (self.list_button, self.grid_button):
            self._mode_buttons.addButton(b)
            b.setVisible(False)  # until a grid is set

        top = QHBoxLayout()
        top.setSpacing(2)
        top.addWidget(self.search, 1)
        top.addSpacing(4)
        top.addWidget(self.list_button)
        top.addWidget(self.grid_button)
        checks = QHBoxLayout()
        checks.addWidget(self.problems_box)
        checks.addWidget(self.unannotated_box)
        checks.addWidget(self.labelled_box)
        checks.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.class_combo)
        lay.addLayout(checks)
        lay.addWidget(self.views, 1)
        ranking = QHBoxLayout()
        ranking.addWidget(self.order_progress, 1)
        ranking.addWidget(self.order_cancel)
        lay.addLayout(ranking)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.order_combo)
        lay.addLayout(bottom)

        self.search.textChanged.connect(lambda t: self._filter(search=t))
        self.class_combo.currentIndexChanged.connect(
            lambda _i: self._filter(category_id=self.class_combo.currentData())
        )
        self.problems_box.toggled.connect(lambda on: self._filter(problems_only=on))
        self.unannotated_box.toggled.connect(lambda on: self._labels_filter(self.unannotated_box, on))
        self.labelled_box.toggled.connect(lambda on: self._labels_filter(self.labelled_box, on))
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.grid_button.toggled.connect(lambda on: self.set_view_mode("grid" if on else "list"))
        self.order_combo.currentIndexChanged.connect(lambda _i: self.order_requested.emit(self.order_mode()))
        self.order_cancel.clicked.connect(self.order_cancel_requested)
        self.set_classes([])

    # ------------------------------------------------------------------ list or grid
    def set_grid(self, grid: QWidget) -> None:
        """Offer ``grid`` (another view over ``self.proxy``) as an alternative to the list."""
        self.grid = grid
        self.views.addWidget(grid)
        self.list_button.setVisible(True)
        self.grid_button.setVisible(True)

    def view_mode(self) -> str:
        return "grid" if self.grid is not None and self.views.currentWidget() is self.grid else "list"

    def set_view_mode(self, mode: str) -> None:
        if mode not in ("list", "grid"):
            raise ValueError(f"view mode must be 'list' or 'grid', not {mode!r}")
        if mode == "grid" and self.grid is None:
            raise RuntimeError("no grid view: call set_grid first")
        if mode == self.view_mode():
            return
        (self.grid_button if mode == "grid" else self.list_button).setChecked(True)
        self.views.setCurrentWidget(self.grid if mode == "grid" else self.view)
        self.view_mode_changed.emit(mode)

    # ------------------------------------------------------------------ sort order
    def order_mode(self) -> str:
        return self.order_combo.currentData()

    def set_order_mode(self, mode: str) -> None:
        """Show ``mode`` in the order box without asking for it again (the ranking's owner decides)."""
        self.order_combo.blockSignals(True)
        self.order_combo.setCurrentIndex(max(self.order_combo.findData(mode), 0))
        self.order_combo.blockSignals(False)

    def set_ranking(self, ranked: list | None) -> None:
        """List the ranked images first, best first, with their figure (None or []: file order, no figures).

        The current image stays current, and the list scrolls to the top to show the best ones."""
        current = self.current_image_id()
        ranked = list(ranked or [])
        self.model.set_ranks(ranked)
        self.proxy.set_order({r.image_id: i for i, r in enumerate(ranked)} or None)
        self.set_order_mode(LABEL_NEXT if ranked else FILE_ORDER)
        if current is not None:
            row = self.model.row_of(current)
            idx = self.proxy.mapFromSource(self.model.index(row)) if row is not None else QModelIndex()
            if idx.isValid():
                self.view.setCurrentIndex(idx)
        self.view.scrollToTop()
        self._update_count()

    def show_order_progress(self, done: int, total: int) -> None:
        """The ranking's progress under the list, with its Cancel (``total`` 0: busy, no figure yet)."""
        show_progress(self.order_progress, done, total)
        self.order_cancel.setVisible(True)

    def end_order_progress(self) -> None:
        self.order_progress.setVisible(False)
        self.order_cancel.setVisible(False)

    # ------------------------------------------------------------------ content
    def set_images(self, rows: list[ImageSummary]) -> None:
        """Another dataset (or none): its rows in file order."""
        self.proxy.order = None  # applied by the model's reset
        self.set_order_mode(FILE_ORDER)
        self.end_order_progress()
        self.model.set_images(rows)
        self._update_count()
        # Lay the rows out now rather than on the view's delayed timer: the layout asks the (Python) model
        # for its row count twice per row, ~45 ms for 10,000 rows, and each of those calls has to win the
        # GIL back when a worker thread (the dataset check) is running: several hundred ms then.
        view = self.views.currentWidget()
        if isinstance(view, QAbstractItemView) and rows:
            view.doItemsLayout()

    def replace_images(self, rows: list[ImageSummary]) -> None:
        """All rows again after images were added or taken out; the current image stays selected when listed."""
        current = self.current_image_id()
        self.model.replace_rows(rows)
        self._update_count()
        if current is not None and self.model.row_of(current) is not None:
            self.select_image(current)

    def set_classes(self, stats: list[ClassStat]) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("All classes", None)
        for s in stats:
            self.class_combo.addItem(
                palette.dot_icon(palette.class_color(s.category_id)), f"{s.name}  ({s.images})", s.category_id
            )
        self.class_combo.blockSignals(False)
        if self.proxy.category_id is not None:  # a refilter of 10k rows costs ~30 ms: only when it changes
            self._filter(category_id=None)
        else:
            self._update_count()

    def set_problems(self, problems: dict) -> None:
        self.model.set_problems(problems)
        if self.proxy.problems_only:
            self._filter()
        self.view.viewport().update()

    # ------------------------------------------------------------------ filters and selection
    def set_class_filter(self, category_id: Any) -> None:
        i = self.class_combo.findData(category_id)
        self.class_combo.setCurrentIndex(max(i, 0))

    def clear_filters(self) -> None:
        self.search.clear()
        self.class_combo.setCurrentIndex(0)
        self.problems_box.setChecked(False)
        self.unannotated_box.setChecked(False)
        self.labelled_box.setChecked(False)

    def visible_count(self) -> int:
        return self.proxy.rowCount()

    def visible_image_ids(self) -> list[Any]:
        return [self.proxy.index(i, 0).data(IMAGE_ID_ROLE) for i in range(self.proxy.rowCount())]

    def current_image_id(self) -> Any:
        idx = self.view.currentIndex()
        return idx.data(IMAGE_ID_ROLE) if idx.isValid() else None

    def select_image(self, image_id: Any) -> bool:
        """Make ``image_id`` the current row, clearing the filters when they hide it."""
        row = self.model.row_of(image_id)
        if row is None:
            return False
        src = self.model.index(row)
        idx = self.proxy.mapFromSource(src)
        if not idx.isValid():
            self.clear_filters()
            idx = self.proxy.mapFromSource(src)
        self.view.setCurrentIndex(idx)
        self.view.scrollTo(idx, QAbstractItemView.ScrollHint.EnsureVisible)
        return True

    def select_row(self, row: int) -> bool:
        idx = self.proxy.index(row, 0)
        if not idx.isValid():
            return False
        self.view.setCurrentIndex(idx)
        return True

    def _labels_filter(self, box: QCheckBox, on: bool) -> None:
        """The "unlabelled" and "labelled" filters exclude each other: ticking one unticks the other (one refilter)."""
        other = self.labelled_box if box is self.unannotated_box else self.unannotated_box
        if on and other.isChecked():
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
        self._filter(unannotated_only=self.unannotated_box.isChecked(), labelled_only=self.labelled_box.isChecked())

    def _filter(self, **kw: Any) -> None:
        current = self.current_image_id()
        self.proxy.set_filters(**kw)
        if current is not None:  # keep the current image selected when it is still listed
            row = self.model.row_of(current)
            idx = self.proxy.mapFromSource(self.model.index(row)) if row is not None else QModelIndex()
            if idx.isValid():
                self.view.setCurrentIndex(idx)
        self._update_count()

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()} images")

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.image_selected.emit(current.data(IMAGE_ID_ROLE))
