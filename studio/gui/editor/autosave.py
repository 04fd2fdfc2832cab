"""Autosave: the editor writes its dataset a few seconds after the last edit, while the switch is on (the default).

A save is the editor's own (:meth:`~studio.gui.editor.controller.EditorController.save`): the snapshot is
taken on the GUI thread, written atomically in a worker, and the recovery journal goes only once the write
succeeded. Edits made during a write stay in the journal and start the delay again. A failed autosave (a
read-only folder, a full disk) is said once; later ones that fail the same way are quiet until one succeeds
or the user saves, and the journal keeps every edit meanwhile.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, QTimer, SignalInstance

from studio.core.dataset.edits import EditEvent
from studio.gui.editor import settings

DELAY_MS = 3000  # after the last edit: a burst of edits is one write, and a write at most every few seconds


class Saver(Protocol):
    """What autosave needs of the editor (:class:`~studio.gui.editor.controller.EditorController`)."""

    edited: SignalInstance
    saved: SignalInstance

    def dirty(self) -> bool: ...

    def saving(self) -> bool: ...

    def save(self, block: bool = False, auto: bool = False) -> bool: ...


class Autosave(QObject):
    """Saves ``editor`` :data:`DELAY_MS` after its last edit while ``enabled``."""

    def __init__(self, editor: Saver, parent: QObject | None = None, delay_ms: int = DELAY_MS):
        super().__init__(parent)
        self.editor = editor
        self.enabled = settings.flag(settings.AUTOSAVE)
        self.timer = QTimer(self, singleShot=True, interval=delay_ms)
        self.timer.timeout.connect(self._fire)
        editor.edited.connect(self._on_edit)
        editor.saved.connect(lambda _path: self._restart_if_dirty())

    def set_enabled(self, on: bool) -> None:
        """The toolbar's switch; remembered for the next start."""
        self.enabled = bool(on)
        settings.set_flag(settings.AUTOSAVE, self.enabled)
        self._restart_if_dirty()

    def pending(self) -> bool:
        """A save is due when the delay runs out."""
        return self.timer.isActive()

    def _on_edit(self, _event: EditEvent) -> None:
        if self.enabled:
            self.timer.start()

    def _restart_if_dirty(self) -> None:
        """Edits made while a save ran are still unsaved: they get their own save."""
        if self.enabled and self.editor.dirty():
            self.timer.start()
        elif not self.enabled:
            self.timer.stop()

    def _fire(self) -> None:
        if not self.enabled or not self.editor.dirty():
            return
        if self.editor.saving():
            self.timer.start()  # after the running write
            return
        self.editor.save(auto=True)
