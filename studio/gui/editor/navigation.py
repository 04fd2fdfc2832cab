"""Moving through the image list from the keyboard, without Qt: the next or previous image, the next one that
has no shapes yet.

The list order is what the image list shows (its filters applied); the Data page's actions
(:mod:`studio.gui.editor.actions`) hand these functions the ids in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def neighbour(ids: Sequence[Any], current: Any, step: int) -> Any:
    """The id ``step`` rows after ``current`` (before it when negative); None past either end. When ``current``
    is not listed (a filter hides it, or nothing is shown) the first row is next and the last is previous."""
    if not ids:
        return None
    try:
        at = list(ids).index(current)
    except ValueError:
        return ids[0] if step > 0 else ids[-1]
    target = at + step
    return ids[target] if 0 <= target < len(ids) else None


def next_unlabelled(ids: Sequence[Any], current: Any, labelled: Callable[[Any], bool]) -> Any:
    """The first image after ``current`` that ``labelled`` says has no shapes, going round to the top of the list;
    None when every listed image other than ``current`` has shapes."""
    ids = list(ids)
    start = ids.index(current) + 1 if current in ids else 0
    for k in range(len(ids)):
        candidate = ids[(start + k) % len(ids)]
        if candidate != current and not labelled(candidate):
            return candidate
    return None
