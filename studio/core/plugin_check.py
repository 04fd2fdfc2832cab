"""Every kind of plugin contribution at once: :func:`load_everything` (``studio plugins``, ``studio doctor``, the
app's Plugins dialog), and the one kind with no table in studio.core, the app's panels.

Above all the modules that own a kind, which is why this lives here and not in :mod:`studio.core.plugins`:
the registry knows none of them.
"""

from __future__ import annotations

from studio.core.data.augmentations import augmentation_names
from studio.core.errors import StudioError
from studio.core.explain.methods import cam_method_names
from studio.core.export.formats import FORMATS, exporter_of
from studio.core.plugins import KINDS, Contribution, Registry, check_callable, register_kind, registry

# panels: factories the main window calls with its panel context (Qt stays in studio.gui, which builds them)
register_kind("panels", validate=check_callable)


def panel_contributions() -> list[Contribution]:
    """The plugins' panel factories, imported (the GUI calls them with its panel context)."""
    reg = registry()
    return reg.load("panels") if reg.contributions("panels") else []


def load_everything(panels: bool = True) -> Registry:
    """Import and check every contribution and put each where it goes, so every error shows now."""
    # the owners of the kinds, imported only now: the app lists its panels at start without importing torch
    from studio.core.formats import formats  # deferred: cv2, numpy
    from studio.core.models.zoo import list_archs  # deferred: torch, torchvision

    reg = registry()
    if reg.contributions("dataset_formats"):
        formats()
    if reg.contributions("archs"):
        list_archs()
    if reg.contributions("export_formats"):
        len(FORMATS)
        for c in reg.contributions("export_formats", ("loaded",)):
            try:
                exporter_of(c.obj)
            except StudioError:
                pass
    if reg.contributions("cam_methods"):
        cam_method_names()
    if reg.contributions("augmentations"):
        augmentation_names()
    for kind in KINDS:
        if kind != "panels" or panels:
            reg.load(kind)
    return reg
