"""Every keyboard shortcut of the app, in one table: what binds them, and what Help > Keyboard shortcuts lists.

A row is either an *action* shortcut, set on a ``QAction`` by :func:`studio.gui.common.commands.bind` (the
menus, the page list), or a *key* of the image view's editing tools, which the tools read from here
(:func:`studio.gui.common.commands.qt_keys`). Nothing in the app sets a key sequence any other way
(``tests/gui/test_shortcuts.py`` checks it). The keys are Qt's portable key-sequence text ("Ctrl" is
Cmd on macOS).

Plain Python, no Qt: the pages' state modules read the key texts for their tooltips.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTION, KEY = "action", "key"
EVERYWHERE = "Everywhere"
EDITOR = "Data page, image view"

#: the pages in the order of the page list (Ctrl+1 is the first)
PAGES = ("Data", "Config", "Train", "Inspect", "Export")


@dataclass(frozen=True)
class Shortcut:
    id: str
    keys: tuple[str, ...]  # the first is the one menus show
    description: str
    where: str = EVERYWHERE
    kind: str = ACTION  # ACTION: bound on a QAction; KEY: read by the editing tools' key handler


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("file.open", ("Ctrl+O",), "Open an annotation file"),
    Shortcut("file.import", ("Ctrl+I",), "Import a dataset (COCO, YOLO, VOC, LabelMe, VIA…)"),
    Shortcut("file.save", ("Ctrl+S",), "Save the page's file: the annotation edits (Data), the config (Config)"),
    Shortcut("file.reload", ("F5",), "Reload the dataset from disk"),
    Shortcut("file.quit", ("Ctrl+Q",), "Quit"),
    Shortcut(
        "edit.undo",
        ("Ctrl+Z",),
        "Undo the last annotation edit (Data), YAML or form change (Config); in a text box, its typing",
    ),
    Shortcut("edit.redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo what Undo took back"),
    Shortcut(
        "edit.delete",
        ("Del",),
        "Edit menu: delete the selected shape (Data) or text; the image view takes Del itself (below)",
    ),
    Shortcut("edit.select_all", ("Ctrl+A",), "Select all: the text with the cursor, or the YAML (Config)"),
    *(
        Shortcut(f"view.page.{title.lower()}", (f"Ctrl+{n}",), f"Show the {title} page")
        for n, title in enumerate(PAGES, start=1)
    ),
    Shortcut("view.log", ("Ctrl+L",), "Show or hide the log panel"),
    Shortcut("view.fullscreen", ("F11",), "Full screen on or off"),
    Shortcut("help.shortcuts", ("F1",), "This list of keyboard shortcuts"),
    Shortcut("editor.select", ("V",), "Select tool: pick a shape, drag its vertices", EDITOR, KEY),
    Shortcut("editor.polygon", ("P",), "Polygon tool: click points around an object", EDITOR, KEY),
    Shortcut("editor.box", ("B",), "Box tool: press, drag and release", EDITOR, KEY),
    Shortcut(
        "editor.delete",
        ("Del", "Backspace"),
        "Select tool: delete the active vertex of the selected polygon, else the selected shape",
        EDITOR,
        KEY,
    ),
    Shortcut("editor.back", ("Backspace",), "Polygon tool: remove the last point of the polygon drawn", EDITOR, KEY),
    Shortcut("editor.finish", ("Return", "Enter"), "Polygon tool: close the polygon drawn", EDITOR, KEY),
    Shortcut(
        "editor.cancel",
        ("Esc",),
        "Cancel the shape being drawn or dragged; else deselect the vertex, then the shape",
        EDITOR,
        KEY,
    ),
)

BY_ID: dict[str, Shortcut] = {s.id: s for s in SHORTCUTS}


def shortcut(sid: str) -> Shortcut:
    """The row ``sid``; a KeyError names an id the table lacks."""
    return BY_ID[sid]


def keys_text(sid: str) -> str:
    """``Ctrl+Shift+Z / Ctrl+Y``: the keys of ``sid`` for a tooltip."""
    return " / ".join(BY_ID[sid].keys)


def with_keys(text: str, sid: str) -> str:
    """``text (keys)``: a tooltip that names the shortcut."""
    return f"{text} ({keys_text(sid)})"


def page_shortcut_id(title: str) -> str:
    """The row of the page titled ``title`` (``view.page.data``); the table may have none for a new page."""
    return f"view.page.{title.lower()}"
