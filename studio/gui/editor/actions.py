"""The Data page's editing and navigation keys, as actions that work wherever the focus is on the page.

Each action is bound from the shortcut table (:func:`studio.gui.common.commands.bind`) and added to the page
with the ``WidgetWithChildrenShortcut`` context: the keys work from the image view, the image list, the
check report or the toolbar, but not while the Data page is hidden. A text box keeps its letters, digits and
its own Ctrl+C / Ctrl+V (Qt offers it the key first, as a ShortcutOverride, and a text box claims what it
types), so searching file names still types "d". An action that has nothing to do is disabled, and then
its key goes to the widget with the focus (Ctrl+C in the check report copies its text).

The tool keys (V, P, B), next / previous image (D / A, PgDown / PgUp; in review mode the images with
proposals), the next image without shapes (Shift+D), classes 1-9, duplicate, copy, paste, "paste the previous
image's shapes", "delete part", review mode on / off (R) and "accept all proposals of this image" (Shift+Enter) are
here; the keys of the image view itself (Delete, Esc, Enter, arrows, Space) stay the tools' own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from studio.core.dataset.summary import image_summary
from studio.gui.common.commands import bind
from studio.gui.data.image_list import IMAGE_ID_ROLE, ImageListPanel
from studio.gui.editor.controller import EditorController
from studio.gui.editor.navigation import next_unlabelled
from studio.gui.shortcuts import keys_text


class EditorActions(QObject):
    """The actions, by table id (``editor.class.<n>`` for the class keys); :meth:`menu` lists the shape ones."""

    def __init__(self, page: QWidget, editor: EditorController, images: ImageListPanel):
        super().__init__(page)
        self.page, self.editor, self.images = page, editor, images
        self.actions: dict[str, QAction] = {}
        for name, tool in editor.tools.items():  # each tool's key: the table's row editor.<name>
            self._add(f"editor.{name}", f"{tool.title} tool", lambda n=name: editor.set_tool(n))
        self._add("data.next_image", "Next image", lambda: self.step(1))
        self._add("data.prev_image", "Previous image", lambda: self.step(-1))
        self._add("data.next_unlabelled", "Next image without shapes", self.next_unlabelled)
        for n in range(1, 10):
            self._add(
                "editor.class", f"Class {n}", lambda n=n: editor.pick_class(n), key=n - 1, name=f"editor.class.{n}"
            )
        self._add("editor.duplicate", "Duplicate shape", editor.duplicate)
        self._add("editor.copy", "Copy shapes", editor.copy)
        self._add("editor.paste", "Paste shapes", editor.paste)
        self._add("editor.paste_previous", "Copy shapes of the previous image", self.paste_previous)
        self._add("editor.delete_part", "Delete polygon part", editor.delete_part)
        self._add("editor.mark_background", "Nothing to label here (background)", editor.mark_background)
        self._add("review.toggle", "Review proposals", editor.review.toggle)
        self._add("review.accept_image", "Accept all proposals of this image", editor.review.accept_image)
        convert = QAction("Convert mask to polygons", page)
        convert.setToolTip("Edit an RLE mask as polygons (double-click it does it too); a lossy result is said")
        convert.triggered.connect(lambda _=False: editor.convert_mask())
        self.actions["editor.convert_mask"] = convert
        editor.changed.connect(self.refresh)
        editor.review.changed.connect(self.refresh)
        images.view.selectionModel().currentChanged.connect(lambda *_a: self.refresh())
        self.refresh()

    def _add(self, sid: str, text: str, slot: Callable[[], Any], key: int | None = None, name: str = "") -> QAction:
        act = QAction(text, self.page)
        bind(act, sid, key)
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        keys = act.shortcuts()[0].toString() if key is not None else keys_text(sid)
        act.setToolTip(f"{text} ({keys})")
        act.triggered.connect(lambda _=False: slot())
        self.page.addAction(act)
        self.actions[name or sid] = act
        return act

    def menu(self) -> list[QAction | None]:
        """The toolbar's Actions menu (None: a separator)."""
        a = self.actions
        return [
            a["editor.duplicate"],
            a["editor.copy"],
            a["editor.paste"],
            a["editor.paste_previous"],
            None,
            a["editor.convert_mask"],
            a["editor.delete_part"],
            None,
            a["data.next_unlabelled"],
            a["editor.mark_background"],
            None,
            a["review.toggle"],
            a["review.accept_image"],
        ]

    # ------------------------------------------------------------------ what may run
    def refresh(self) -> None:
        """Enable each action as the editor allows it now (a disabled one leaves its key to the focused widget)."""
        s = self.editor.actions()
        a = self.actions
        for name in self.editor.tools:
            a[f"editor.{name}"].setEnabled(s.on)
        for n in range(1, 10):
            a[f"editor.class.{n}"].setEnabled(s.on)
        a["editor.duplicate"].setEnabled(s.duplicate)
        a["editor.copy"].setEnabled(s.copy)
        a["editor.paste"].setEnabled(s.paste)
        a["editor.paste_previous"].setEnabled(s.on and self._row(-1) is not None)
        a["editor.delete_part"].setEnabled(s.delete_part)
        a["editor.mark_background"].setEnabled(s.on)
        a["editor.convert_mask"].setEnabled(s.convert)
        a["review.toggle"].setEnabled(s.on)
        a["review.accept_image"].setEnabled(s.on and self.editor.review.active)
        listed = self.images.visible_count() > 0
        for sid in ("data.next_image", "data.prev_image", "data.next_unlabelled"):
            a[sid].setEnabled(listed)

    # ------------------------------------------------------------------ navigation (the list's order)
    def _current_row(self) -> int:
        index = self.images.view.currentIndex()
        return index.row() if index.isValid() else -1

    def _row(self, step: int) -> Any:
        """The image id ``step`` rows from the current one in the list as shown, or None past either end."""
        row = self._current_row()
        if row < 0:
            return None
        index = self.images.proxy.index(row + step, 0)
        return index.data(IMAGE_ID_ROLE) if index.isValid() else None

    def step(self, step: int) -> bool:
        """Next (1) or previous (-1) image in the list; from no current row, the first (or the last). In review mode:
        the next (previous) image with pending proposals."""
        if self.editor.review.active:
            return self.editor.review.step(step)
        row = self._current_row()
        target = row + step if row >= 0 else (0 if step > 0 else self.images.visible_count() - 1)
        return self.images.select_row(target)

    def next_unlabelled(self) -> bool:
        """The next image in the list that has no shapes, going round; the user is told when there is none."""
        ds = self.editor.ds
        if ds is None:
            return False
        target = next_unlabelled(
            self.images.visible_image_ids(), self.images.current_image_id(), lambda i: image_summary(ds, i).labelled
        )
        if target is None:
            self.editor.message.emit("every other image in the list is labelled (accepted shapes, or background)")
            return False
        return self.images.select_image(target)

    def paste_previous(self) -> list:
        """Every shape of the image before this one in the list, onto this one (one undo step)."""
        return self.editor.paste_from(self._row(-1))
