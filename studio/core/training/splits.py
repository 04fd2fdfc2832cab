"""Moved to :mod:`studio.core.data.splits` (inference and export open the val set too); kept importable from
here for studio.gui until it imports :mod:`studio.core.data.splits`."""

from studio.core.data.splits import Split, class_mismatch, open_split, open_splits

__all__ = ["Split", "class_mismatch", "open_split", "open_splits"]
