"""Plugins: dataset formats, model architectures, augmentations, CAM methods, export formats and GUI
panels contributed by declaration.

A plugin is a folder (a Python package) with a ``studio-plugin.toml`` manifest naming, for each
contribution, the Python object that implements it (``"module:object"``); or an installed package
registered in the ``studio.plugins`` entry-point group. See ``docs/plugins.md`` for a walk-through,
:mod:`.manifest` for the manifest, :mod:`.discovery` for discovery, lazy loading and the API of the modules
that own each kind (:func:`register_kind`, :meth:`Registry.install`): the registry imports none of the types
its kinds deal in, each kind's table lives with its owner. Pure Python: no Qt here (panels are built by
``studio.gui``).
"""

from studio.core.plugins.discovery import (
    ENTRY_POINT_GROUP,
    Contribution,
    KindOwner,
    Plugin,
    PluginError,
    Registry,
    check_callable,
    configure,
    register_kind,
    registry,
    reset,
)
from studio.core.plugins.manifest import (
    KIND_TITLES,
    KINDS,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    parse_manifest,
    read_manifest,
)
from studio.core.plugins.report import format_text, to_dict

__all__ = [
    "KINDS",
    "KIND_TITLES",
    "MANIFEST_NAME",
    "ENTRY_POINT_GROUP",
    "Manifest",
    "ManifestError",
    "parse_manifest",
    "read_manifest",
    "Contribution",
    "Plugin",
    "PluginError",
    "Registry",
    "KindOwner",
    "register_kind",
    "check_callable",
    "configure",
    "registry",
    "reset",
    "format_text",
    "to_dict",
]
