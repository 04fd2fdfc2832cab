"""Small helpers for the words in messages (shared by the CLI, the core reports and the GUI)."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "class", "classes")`` -> "1 class"; ``plural(3, "image")`` -> "3 images"."""
    return f"{n} {word if n == 1 else many or word + 's'}"
