"""What every ``studio`` subcommand module shares: the exit codes and the progress line."""

from __future__ import annotations

import sys

from studio.core.jobs import Progress

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def progress_printer(enabled: bool) -> Progress:
    """A progress callback that redraws one stderr line (when stderr is a terminal)."""
    if not (enabled and sys.stderr.isatty()):
        return lambda done, total, message="": None

    def show(done: int, total: int, message: str = "") -> None:
        pct = f"{100 * done / total:5.1f}%" if total else f"{done}"
        sys.stderr.write(f"\r{message} {pct}   ")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
