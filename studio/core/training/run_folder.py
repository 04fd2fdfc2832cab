"""What makes a folder a run folder: the files a run leaves, and the refusal to start a new run over one.

Below both the trainer (which checks again once it holds the folder's lock) and :mod:`.runs` (which picks
the folder before training starts).
"""

from __future__ import annotations

from pathlib import Path

from studio.core.errors import StudioError

#: any of these in a folder means it holds a run, which a new run never replaces
RUN_FILES = ("events.jsonl", "last.pt", "best.pt", "config.yaml")


def run_files(run_dir: str | Path) -> list[str]:
    """The files of ``RUN_FILES`` present in ``run_dir`` (empty: no run there)."""
    run_dir = Path(run_dir)
    return [n for n in RUN_FILES if (run_dir / n).exists()]


def refuse_existing_run(run_dir: str | Path) -> None:
    """A new (not resumed) run into ``run_dir`` refuses when the folder already holds a run."""
    found = run_files(run_dir)
    if found:
        raise StudioError(
            f"already holds a run ({', '.join(found)}); continue it with --resume, or choose another --work-dir",
            file=run_dir,
        )
