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
DATA = "Data page (not while typing in a text box)"
PREVIEW = "Preview page (not while typing in a text box)"

#: the pages in the order of the page list (Ctrl+1 is the first)
PAGES = ("Data", "Config", "Train", "Inspect", "Preview", "Export")


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
    Shortcut("file.new_dataset", ("Ctrl+N",), "New dataset from a folder of unlabelled images"),
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
    Shortcut("editor.select", ("V",), "Select tool: pick a shape, drag it or its vertices", DATA),
    Shortcut("editor.polygon", ("P",), "Polygon tool: click points around an object", DATA),
    Shortcut("editor.box", ("B",), "Box tool: press, drag and release", DATA),
    Shortcut(
        "editor.smart_box",
        ("M",),
        "Smart box tool: drag a box, GrabCut outlines the object in it; drag to mark object, right-drag or "
        "Shift+drag to mark background, Enter keeps the outline",
        DATA,
    ),
    Shortcut("editor.scissors", ("I",), "Intelligent scissors tool: click points; the outline follows the edges", DATA),
    Shortcut("editor.brush", ("Shift+B",), "Brush tool: paint the selected shape (nothing selected: a new one)", DATA),
    Shortcut("editor.eraser", ("E",), "Eraser tool: erase pixels of a shape; erasing all of it deletes it", DATA),
    Shortcut("editor.brush_smaller", ("[",), "Brush, eraser and smart box: a smaller brush", DATA),
    Shortcut("editor.brush_larger", ("]",), "Brush, eraser and smart box: a larger brush", DATA),
    Shortcut(
        "data.next_image", ("D", "PgDown"), "Next image in the list (review mode: the next one with proposals)", DATA
    ),
    Shortcut(
        "data.prev_image",
        ("A", "PgUp"),
        "Previous image in the list (review mode: the one before with proposals)",
        DATA,
    ),
    Shortcut(
        "review.toggle",
        ("R",),
        "Review mode on or off: walk the model's pending proposals image by image (Enter accepts, Backspace rejects)",
        DATA,
    ),
    Shortcut(
        "review.accept_image", ("Shift+Return", "Shift+Enter"), "Review mode: accept every proposal of the image", DATA
    ),
    Shortcut("data.next_unlabelled", ("Shift+D",), "Next image with no shapes (going round the list)", DATA),
    Shortcut(
        "editor.mark_background",
        ("Shift+N",),
        "Nothing to label on this image: it trains as background and counts as labelled (again: unmark)",
        DATA,
    ),
    Shortcut(
        "preview.play_pause", ("Space",), "Play or pause the video or camera (after Stop: play it again)", PREVIEW
    ),
    Shortcut("preview.stop", ("Esc",), "Stop the video or camera; the last frame stays shown", PREVIEW),
    Shortcut("preview.prev", ("A", "Left"), "Previous image of the folder", PREVIEW),
    Shortcut("preview.next", ("D", "Right"), "Next image of the folder", PREVIEW),
    Shortcut("label.auto", ("Ctrl+Shift+A",), "Auto-label with a model: pending proposals to review (Data page)"),
    Shortcut(
        "label.retrain", ("Ctrl+Shift+T",), "Retrain: save, then train the newest finished run on the dataset further"
    ),
    Shortcut(
        "editor.class",
        tuple(str(n) for n in range(1, 10)),
        "Pick class 1-9 of the class box: relabels the selected shape, else the class of the next shape",
        DATA,
    ),
    Shortcut("editor.duplicate", ("Ctrl+D",), "Duplicate the selected shape (a few pixels off)", DATA),
    Shortcut("editor.copy", ("Ctrl+C",), "Copy the selected shape, or every shape of the image when none is", DATA),
    Shortcut("editor.paste", ("Ctrl+V",), "Paste the copied shapes onto the image shown (this or another)", DATA),
    Shortcut("editor.paste_previous", ("Ctrl+Shift+V",), "Copy every shape of the previous image onto this one", DATA),
    Shortcut(
        "editor.delete_part", ("Shift+Del",), "Delete the part of a multi-part polygon whose vertex is picked", DATA
    ),
    Shortcut(
        "editor.delete",
        ("Del", "Backspace"),
        "Select tool: delete the highlighted vertex of the selected polygon, else the selected shape",
        EDITOR,
        KEY,
    ),
    Shortcut(
        "editor.nudge",
        ("Left", "Right", "Up", "Down"),
        "Select tool: move the selected shape by 1 px (with Shift: 10 px); nudges in a row are one undo step",
        EDITOR,
        KEY,
    ),
    Shortcut(
        "editor.pan",
        ("Space",),
        "Hold and drag (or drag with the middle button) to pan, in every tool; a polygon being drawn stays",
        EDITOR,
        KEY,
    ),
    Shortcut(
        "editor.back",
        ("Backspace",),
        "Polygon tool, scissors: remove the last point of the outline drawn; smart box: the last stroke; review mode: "
        "reject the selected proposal",
        EDITOR,
        KEY,
    ),
    Shortcut(
        "editor.finish",
        ("Return", "Enter"),
        "Polygon tool, scissors: close the outline drawn; smart box: keep the outline proposed; class prompt: give "
        "the shape the highlighted class; review mode: accept the selected proposal and select the next",
        EDITOR,
        KEY,
    ),
    Shortcut(
        "editor.cancel",
        ("Esc",),
        "Cancel the shape drawn or dragged (class prompt: drop it); else deselect the vertex, then the shape",
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
