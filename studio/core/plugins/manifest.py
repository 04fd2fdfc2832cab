"""The plugin manifest: ``studio-plugin.toml`` in a plugin's folder, or a dict from an entry point.

A manifest names the plugin and declares what it contributes; every contribution names a Python
object as ``"module:object"`` (or just ``"module"`` for a module, a leading dot for a module inside
the plugin's own package). Reading a manifest imports nothing: the objects are imported the first
time their kind is needed (see :mod:`studio.core.plugins.discovery`)::

    name = "cvat"
    version = "1.0.0"
    description = "CVAT for images 1.1 XML: import and export"

    [[dataset_formats]]
    name = "cvat"
    object = ".cvat_xml"

Every problem raises :class:`ManifestError` naming the file and the key at fault.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError

MANIFEST_NAME = "studio-plugin.toml"

#: contribution kinds, in the order the app lists them
KINDS = ("dataset_formats", "archs", "augmentations", "cam_methods", "export_formats", "panels")

#: how one contribution of each kind is called in messages and listings
KIND_TITLES = {
    "dataset_formats": "dataset format",
    "archs": "model architecture",
    "augmentations": "augmentation",
    "cam_methods": "CAM method",
    "export_formats": "export format",
    "panels": "panel",
}

_COMMON_KEYS = {"name", "object", "title", "description"}
#: keys a contribution of each kind may have besides name, object, title and description
_KIND_KEYS: dict[str, dict[str, type]] = {
    "dataset_formats": {},
    "archs": {},
    "augmentations": {},
    "cam_methods": {"gradient": bool},
    "export_formats": {},
    "panels": {"area": str},
}
PANEL_AREAS = ("right", "left", "bottom")
_TOP_KEYS = {"name", "version", "description", "author", "url"} | set(KINDS)
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REF = re.compile(
    r"^\.?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$"
)


def is_object_ref(text: str) -> bool:
    """Whether ``text`` names a Python object as a manifest does: ``module:attr``, ``.module:attr``, ``module``."""
    return bool(_REF.match(text))


class ManifestError(StudioError):
    """A manifest that cannot be used: the plugin is reported as broken and contributes nothing."""


@dataclass(frozen=True)
class Declared:
    """One contribution as the manifest declares it (nothing imported yet)."""

    kind: str
    name: str
    ref: str  # "module:object", "module", ".module:object"
    title: str = ""
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # the kind's own keys (gradient, area)
    index: int = 0  # position in the manifest's list of that kind, for messages: dataset_formats[0]

    @property
    def item(self) -> str:
        return f"{self.kind}[{self.index}] {self.name!r}"


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str
    contributions: tuple[Declared, ...]
    author: str = ""
    url: str = ""


def read_manifest(path: str | Path) -> Manifest:
    """Parse and check ``studio-plugin.toml`` at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError("manifest not found", file=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"cannot read the manifest: {e}", file=path) from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"broken TOML ({e})", file=path) from None
    return parse_manifest(data, source=path)


def parse_manifest(data: Any, source: str | Path = "<manifest>") -> Manifest:
    """Check a manifest mapping (from TOML or an entry point); errors name ``source`` and the key."""
    if not isinstance(data, dict):
        raise ManifestError(f"a manifest is a table (mapping), got {type(data).__name__}", file=source)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ManifestError(_unknown_message(unknown[0], _TOP_KEYS), file=source, item=unknown[0])
    name = _text(data, "name", source, required=True)
    if not _PLUGIN_NAME.match(name):
        raise ManifestError(
            f"plugin name {name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit",
            file=source,
            item="name",
        )
    version = _text(data, "version", source, required=True)
    description = _text(data, "description", source)
    contributions: list[Declared] = []
    for kind in KINDS:
        entries = data.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ManifestError(f"{kind} must be an array of tables ([[{kind}]] sections)", file=source, item=kind)
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            decl = _contribution(kind, i, entry, source)
            if decl.name in seen:
                raise ManifestError(
                    f"{KIND_TITLES[kind]} {decl.name!r} is declared twice", file=source, item=f"{kind}[{i}]"
                )
            seen.add(decl.name)
            contributions.append(decl)
    if not contributions:
        raise ManifestError(
            f"the manifest declares no contribution (add a [[{KINDS[0]}]], [[archs]], ... section)", file=source
        )
    return Manifest(
        name,
        version,
        description,
        tuple(contributions),
        author=_text(data, "author", source),
        url=_text(data, "url", source),
    )


def _contribution(kind: str, i: int, entry: dict, source) -> Declared:
    where = f"{kind}[{i}]"
    allowed = _COMMON_KEYS | set(_KIND_KEYS[kind])
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ManifestError(_unknown_message(unknown[0], allowed), file=source, item=f"{where}.{unknown[0]}")
    name = _text(entry, "name", source, required=True, where=where)
    ref = _text(entry, "object", source, required=True, where=where)
    if not _REF.match(ref):
        raise ManifestError(
            f"object {ref!r} is not 'module:object' (a dotted module path, optionally ':' and an attribute)",
            file=source,
            item=f"{where}.object",
        )
    options: dict[str, Any] = {}
    for key, typ in _KIND_KEYS[kind].items():
        if key in entry:
            if not isinstance(entry[key], typ):
                raise ManifestError(
                    f"{key} must be {'true or false' if typ is bool else 'a string'}, got {entry[key]!r}",
                    file=source,
                    item=f"{where}.{key}",
                )
            options[key] = entry[key]
    if kind == "panels" and options.get("area", "right") not in PANEL_AREAS:
        raise ManifestError(
            f"area must be one of {', '.join(PANEL_AREAS)}, got {options['area']!r}", file=source, item=f"{where}.area"
        )
    return Declared(
        kind,
        name,
        ref,
        _text(entry, "title", source, where=where),
        _text(entry, "description", source, where=where),
        options,
        i,
    )


def _text(d: dict, key: str, source, required: bool = False, where: str = "") -> str:
    item = f"{where}.{key}" if where else key
    if key not in d:
        if required:
            raise ManifestError(f"missing key {key!r}", file=source, item=item)
        return ""
    v = d[key]
    if not isinstance(v, str) or (required and not v.strip()):
        raise ManifestError(f"{key} must be a non-empty string, got {v!r}", file=source, item=item)
    return v.strip()


def _unknown_message(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; known keys: {', '.join(sorted(allowed))}"
