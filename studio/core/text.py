"""Small helpers for the words in messages (shared by the CLI, the core reports and the GUI)."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "class", "classes")`` -> "1 class"; ``plural(3, "image")`` -> "3 images"."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def format_duration(seconds: float) -> str:
    """A duration for progress lines: ``"4m07s"`` under an hour, ``"2h05m"`` from one hour; negatives count as 0."""
    s = int(max(0, seconds))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
