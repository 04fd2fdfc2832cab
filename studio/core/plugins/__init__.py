"""Plugins: dataset formats, model architectures, augmentations, CAM methods, export formats and GUI
panels contributed by declaration.

A plugin is a folder (a Python package) with a ``studio-plugin.toml`` manifest naming, for each
contribution, the Python object that implements it (``"module:object"``); or an installed package
registered in the ``studio.plugins`` entry-point group. See ``docs/plugins.md`` for a walk-through,
:mod:`.manifest` for the manifest, :mod:`.discovery` for discovery and lazy loading and :mod:`.hooks`
for where each kind joins Studio. Pure Python: no Qt here (panels are built by ``studio.gui``).
"""

from studio.core.plugins.discovery import (
    ENTRY_POINT_GROUP,
    Contribution,
    Plugin,
    PluginError,
    Registry,
    configure,
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
    "configure",
    "registry",
    "reset",
    "format_text",
    "to_dict",
]
