"""Help > Plugins…: every plugin found, what it contributes, and why one is broken.

The tree shows what is known now: contributions are imported the first time their kind is needed,
so a contribution can be "ready" (declared, not imported yet). "Check all" imports every one in a
worker thread and shows the result, which is what ``studio plugins`` prints.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.plugin_check import load_everything
from studio.core.plugins import KIND_TITLES, registry
from studio.core.plugins.discovery import user_folder
from studio.core.plugins.report import counts_line

STATE_TEXT = {
    "declared": "ready",
    "loaded": "loaded",
    "failed": "failed",
    "ready": "ready",
    "errors": "errors",
    "broken": "broken",
}
STATE_COLORS = {"loaded": "#2e7d32", "failed": "#c1121f", "broken": "#c1121f", "errors": "#b35c00"}
ROLE = Qt.ItemDataRole.UserRole


def _check_all(progress: Progress = no_progress, cancel: CancelToken | None = None):
    return load_everything(panels=False)  # panels were built (and checked) when the window started


class PluginsDialog(QDialog):
    def __init__(self, jobs=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self.setWindowTitle("Plugins")
        self.setObjectName("plugins_dialog")
        self.resize(860, 520)
        self.header = QLabel()
        self.header.setObjectName("title")
        self.places = QLabel()
        self.places.setObjectName("muted")
        self.places.setWordWrap(True)
        self.places.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Plugin / contribution", "Kind", "Status", "Object / manifest"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        head = self.tree.header()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        head.setStretchLastSection(True)
        self.tree.currentItemChanged.connect(lambda cur, _prev: self._show_details(cur))
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setObjectName("plugin_details")
        self.details.setMaximumHeight(120)
        self.check_button = QPushButton("Check all")
        self.check_button.setToolTip("Import every contribution now (in the background) and show what fails")
        self.check_button.clicked.connect(self.check_all)
        self.folder_button = QPushButton("Open user plugins folder")
        self.folder_button.setToolTip("Put a plugin folder here to install it for you (restart Studio to load it)")
        self.folder_button.clicked.connect(self.open_user_folder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.check_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.folder_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(self.places)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.details)
        lay.addWidget(buttons)
        self.refresh()

    # ------------------------------------------------------------------ content
    def refresh(self) -> None:
        reg = registry()
        self.header.setText(counts_line(reg))
        guide = "Writing one: docs/plugins.md."
        self.places.setText(
            f"Searched {reg.describe_places()}. {guide}"
            if not reg.disabled
            else f"Plugins are turned off ({reg.disabled}). {guide}"
        )
        self.tree.clear()
        first_problem = None
        for p in reg.plugins:
            top = QTreeWidgetItem([f"{p.name} {p.version}".strip(), self._kinds(p), STATE_TEXT[p.status], p.location])
            top.setData(0, ROLE, ("plugin", p))
            font = QFont(top.font(0))
            font.setBold(True)
            top.setFont(0, font)
            self._color(top, p.status)
            top.setToolTip(0, p.description or p.name)
            self.tree.addTopLevelItem(top)
            if p.error:
                self._error_row(top, p.error)
                first_problem = first_problem or top
            for c in p.contributions:
                child = QTreeWidgetItem(
                    [
                        c.title if c.title == c.name else f"{c.title} ({c.name})",
                        KIND_TITLES[c.kind],
                        STATE_TEXT[c.state],
                        c.ref,
                    ]
                )
                child.setData(0, ROLE, ("contribution", c))
                child.setToolTip(0, c.decl.description or c.title)
                self._color(child, c.state)
                top.addChild(child)
                if c.error:
                    self._error_row(child, c.error)
                    child.setExpanded(True)
                    first_problem = first_problem or child
            top.setExpanded(True)
        for col, width in ((0, 290), (1, 140), (2, 70)):
            self.tree.setColumnWidth(col, width)
        target = first_problem or self.tree.topLevelItem(0)
        if target is not None:
            self.tree.setCurrentItem(target)
        else:
            self.details.setPlainText(
                "No plugins found. Put a plugin folder in one of the places above, "
                "or install a package that registers the 'studio.plugins' entry point."
            )

    @staticmethod
    def _kinds(p) -> str:
        kinds = []
        for c in p.contributions:
            if KIND_TITLES[c.kind] not in kinds:
                kinds.append(KIND_TITLES[c.kind])
        return ", ".join(kinds)

    @staticmethod
    def _color(item: QTreeWidgetItem, state: str) -> None:
        color = STATE_COLORS.get(state)
        if color:
            item.setForeground(2, QBrush(QColor(color)))

    @staticmethod
    def _error_row(parent: QTreeWidgetItem, text: str) -> None:
        row = QTreeWidgetItem([f"error: {text}"])
        row.setForeground(0, QBrush(QColor(STATE_COLORS["failed"])))
        row.setToolTip(0, text)
        row.setData(0, ROLE, ("error", text))
        parent.addChild(row)
        row.setFirstColumnSpanned(True)

    def _show_details(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.details.clear()
            return
        kind, obj = item.data(0, ROLE)
        if kind == "error":
            parent = item.parent()
            kind, obj = parent.data(0, ROLE) if parent is not None else (kind, obj)
        if kind == "plugin":
            lines = [
                f"{obj.name} {obj.version}: {obj.description}".strip(": "),
                f"{obj.source}: {obj.location}",
                f"status: {STATE_TEXT[obj.status]}",
            ]
            lines += [f"error: {e}" for e in obj.errors()]
        elif kind == "contribution":
            about = obj.decl.description or (obj.title if obj.title != obj.name else "")
            lines = [
                f"{KIND_TITLES[obj.kind]} {obj.name!r} of plugin {obj.plugin.name}" + (f": {about}" if about else ""),
                f"object: {obj.ref}",
                f"status: {STATE_TEXT[obj.state]}",
            ]
            if obj.error:
                lines.append(f"error: {obj.error}")
        else:
            lines = [str(obj)]
        self.details.setPlainText("\n".join(lines))

    # ------------------------------------------------------------------ actions
    def check_all(self) -> None:
        self.check_button.setEnabled(False)
        self.check_button.setText("Checking…")
        if self.jobs is None:
            _check_all()
            self._checked()
            return
        self.jobs.run(
            _check_all,
            title="Checking the plugins",
            show=False,
            on_finished=lambda _r: self._checked(),
            on_failed=lambda msg, _tb: self._checked(msg),
        )

    def _checked(self, error: str | None = None) -> None:
        self.check_button.setEnabled(True)
        self.check_button.setText("Check all")
        self.refresh()
        if error:
            self.details.setPlainText(f"checking the plugins failed: {error}")

    def open_user_folder(self) -> None:
        folder = user_folder()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
