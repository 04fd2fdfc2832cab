"""The window's page commands (File > Save, Edit > Undo / Redo / Delete / Select all) and the key bindings.

A page offers commands by having ``commands() -> dict[str, Command]`` (ids: ``save``, ``undo``, ``redo``,
``delete``, ``select_all``) and, optionally, a ``commands_changed`` signal it emits when what they may do
changes. :class:`PageCommands` makes one ``QAction`` per id whose shortcut comes from the table in
:mod:`studio.gui.shortcuts`; triggering it runs the current page's command, or, for the editing commands,
the text box that has the cursor (its own undo, its own select all). An action is enabled when its target
allows it, so a shortcut with nothing to do does nothing.

:func:`bind` is how every shortcut of the app is set (it records the table's id on the action, which the
shortcut test reads); :func:`qt_keys` gives the editing tools their keys from the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QApplication, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

from studio.gui.shortcuts import ACTION, shortcut, with_keys

SHORTCUT_ID = "studio_shortcut"  # the QAction property bind() sets: the table row it came from


@dataclass(frozen=True)
class Command:
    """What a page's command does now: ``run`` it when ``enabled``; ``text`` names it (``Undo add shape``)."""

    run: Callable[[], Any]
    enabled: bool = True
    text: str = ""


def bind(action: QAction, sid: str, key_index: int | None = None) -> QAction:
    """Give ``action`` the keys of table row ``sid`` (only its ``key_index``-th key when given)."""
    row = shortcut(sid)
    if row.kind != ACTION:
        raise ValueError(f"{sid} is a key of the editing tools, not an action shortcut")
    keys = row.keys if key_index is None else (row.keys[key_index],)
    action.setShortcuts([QKeySequence(k) for k in keys])
    action.setProperty(SHORTCUT_ID, sid)
    return action


def qt_keys(sid: str) -> tuple[Qt.Key, ...]:
    """The ``Qt.Key`` values of table row ``sid`` (single keys, no modifiers: the editing tools' keys)."""
    return tuple(QKeySequence(k)[0].key() for k in shortcut(sid).keys)


# ---------------------------------------------------------------------------------------------- text boxes
def text_commands(widget: QWidget | None) -> dict[str, Command] | None:
    """The editing commands of a text box (line, plain or rich text) or a list with the cursor; None for
    any other widget (the page's commands apply)."""
    if isinstance(widget, QLineEdit):
        editable = not widget.isReadOnly()
        return {
            "undo": Command(widget.undo, editable and widget.isUndoAvailable()),
            "redo": Command(widget.redo, editable and widget.isRedoAvailable()),
            "delete": Command(widget.del_, editable and widget.hasSelectedText()),
            "select_all": Command(widget.selectAll, bool(widget.text())),
        }
    if isinstance(widget, (QPlainTextEdit, QTextEdit)):
        doc, editable = widget.document(), not widget.isReadOnly()
        return {
            "undo": Command(widget.undo, editable and doc.isUndoAvailable()),
            "redo": Command(widget.redo, editable and doc.isRedoAvailable()),
            "delete": Command(
                lambda: widget.textCursor().removeSelectedText(), editable and widget.textCursor().hasSelection()
            ),
            "select_all": Command(widget.selectAll, not doc.isEmpty()),
        }
    if isinstance(widget, QAbstractItemView):
        multi = widget.selectionMode() in (
            QAbstractItemView.SelectionMode.ExtendedSelection,
            QAbstractItemView.SelectionMode.MultiSelection,
        )
        return {"select_all": Command(widget.selectAll, multi)}
    return None


# ---------------------------------------------------------------------------------------------- the actions
#: (command id, menu text, table row, applies to a focused text box)
COMMANDS = (
    ("save", "&Save", "file.save", False),
    ("undo", "&Undo", "edit.undo", True),
    ("redo", "&Redo", "edit.redo", True),
    ("delete", "&Delete", "edit.delete", True),
    ("select_all", "Select &all", "edit.select_all", True),
)


class PageCommands(QObject):
    """One action per command of :data:`COMMANDS`, run on ``current_page()`` (or the focused text box).

    ``host`` holds the actions (the main window, or a test's host widget); they are window shortcuts,
    except Delete, which is bound only while the Edit menu is open: in the image view the Delete key is
    the editing tools' (a vertex before the shape), and in a list or a text box it is theirs.
    """

    def __init__(self, host: QWidget, current_page: Callable[[], QWidget | None]):
        super().__init__(host)
        self.host = host
        self.current_page = current_page
        self.actions: dict[str, QAction] = {}
        self._text_box: QWidget | None = None
        self._detached = False
        for cid, text, sid, _for_text in COMMANDS:
            act = QAction(text, host)
            bind(act, sid)
            act.setShortcutContext(
                Qt.ShortcutContext.WidgetShortcut if cid == "delete" else Qt.ShortcutContext.WindowShortcut
            )
            act.setToolTip(with_keys(text.replace("&", ""), sid))
            act.triggered.connect(lambda _=False, c=cid: self.run(c))
            if cid != "delete":
                host.addAction(act)
            self.actions[cid] = act
        app = QApplication.instance()
        if app is not None:
            app.focusChanged.connect(self._on_focus)
        self.refresh()

    # ------------------------------------------------------------------ what each command does now
    def command(self, cid: str) -> Command | None:
        """The command ``cid`` would run now: the focused text box's, else the current page's."""
        for_text = next(t for c, _x, _s, t in COMMANDS if c == cid)
        if for_text and (box := self._focused_box()) is not None:
            cmds = text_commands(box)
            if cmds is not None and cid in cmds:
                return cmds[cid]
        page = self.current_page()
        provider = getattr(page, "commands", None)
        if provider is None:
            return None
        return provider().get(cid)

    def _focused_box(self) -> QWidget | None:
        """The focus widget when it is a text box or a list inside the current page."""
        w = QApplication.focusWidget()
        page = self.current_page()
        if w is None or page is None or not (w is page or page.isAncestorOf(w)):
            return None
        return w if text_commands(w) is not None else None

    def run(self, cid: str) -> bool:
        """Run command ``cid`` when it is enabled; True when it ran."""
        self.refresh()
        cmd = self.command(cid)
        if cmd is None or not cmd.enabled:
            return False
        cmd.run()
        self.refresh()
        return True

    def refresh(self) -> None:
        """Enable each action as its command allows, and name what it would do."""
        if self._detached:
            return
        for cid, text, sid, _for_text in COMMANDS:
            cmd = self.command(cid)
            act = self.actions[cid]
            act.setEnabled(cmd is not None and cmd.enabled)
            label = cmd.text if cmd is not None and cmd.text else text
            act.setText(label)
            act.setToolTip(with_keys(label.replace("&", ""), sid))

    # ------------------------------------------------------------------ following the focus and the page
    def watch(self, page: QWidget) -> None:
        """Refresh when ``page`` says its commands changed (its ``commands_changed`` signal, when it has one)."""
        signal = getattr(page, "commands_changed", None)
        if signal is not None:
            signal.connect(self.refresh)

    def detach(self) -> None:
        """The host is closing: follow nothing more (its pages are being torn down)."""
        self._detached = True
        app = QApplication.instance()
        if app is not None:
            try:
                app.focusChanged.disconnect(self._on_focus)
            except (RuntimeError, TypeError):
                pass

    def _on_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        if self._detached:
            return
        try:
            shown = self.host.isVisible()
        except RuntimeError:  # the host was deleted without closing (a test's window, a failed start)
            self.detach()
            return
        if not shown:  # a hidden host is closing or not shown yet
            return
        box = new if text_commands(new) is not None else None
        if box is self._text_box:
            return
        try:
            for sig in self._box_signals(self._text_box):
                sig.disconnect(self.refresh)
        except (RuntimeError, TypeError):  # the box is gone, or was never connected
            pass
        self._text_box = box
        for sig in self._box_signals(box):
            sig.connect(self.refresh)
        self.refresh()

    @staticmethod
    def _box_signals(box: QWidget | None) -> list:
        if isinstance(box, QLineEdit):
            return [box.textChanged, box.selectionChanged]
        if isinstance(box, (QPlainTextEdit, QTextEdit)):
            return [box.undoAvailable, box.redoAvailable, box.selectionChanged]
        return []
