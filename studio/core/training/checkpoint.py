"""Moved to :mod:`studio.core.checkpoint` (below training, inference and export, which all read checkpoints);
kept importable from here for studio.gui until it imports :mod:`studio.core.checkpoint`."""

from studio.core.checkpoint import (
    FORMAT,
    VERSION,
    Checkpoint,
    CheckpointError,
    copy,
    describe,
    load,
    resolve,
    rng_state,
    save,
    set_rng_state,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "CheckpointError",
    "copy",
    "describe",
    "load",
    "resolve",
    "rng_state",
    "save",
    "set_rng_state",
]
