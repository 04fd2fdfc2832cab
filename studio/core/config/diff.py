"""What a config file changes relative to what it starts from, for the Config page's highlight.

A file with ``_base_`` is compared with its bases, merged as the loader merges them
(:func:`studio.core.config.loader.resolve_raw`): every key the file itself sets is ``added`` (the
bases do not have it), ``changed`` (they have another value) or ``same`` (the file repeats the
base's value). A file without ``_base_`` (what ``studio config init`` writes: every key spelled out)
is compared with the schema defaults and the training recipe of its architecture's family, the
values a fresh config would get: its keys are ``changed`` or ``same``, and keys with no default
(the architecture, the annotation files) are not reported. :attr:`ConfigDiff.reference` says which.

The functions take the file's own dict (as parsed from the editor's text, possibly unsaved) and the
file's path, which places ``_base_`` names and relative data paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.config.form import MISSING, get_path, leaves, schema_defaults
from studio.core.config.loader import BASE_KEY, ConfigError, absolutise_data_paths, merge, resolve_raw
from studio.core.config.recipes import recipe_for

ADDED, CHANGED, SAME = "added", "changed", "same"
BASE, DEFAULTS = "base", "defaults"


@dataclass(frozen=True)
class KeyDiff:
    path: str
    status: str  # added, changed, same
    value: Any  # the value the file gives (data paths made absolute)
    reference: Any = MISSING  # the base's (or default) value; MISSING for added keys


@dataclass
class ConfigDiff:
    reference: str  # "base" or "defaults"
    base_files: tuple[Path, ...] = ()
    keys: dict[str, KeyDiff] = field(default_factory=dict)

    def differing(self) -> dict[str, KeyDiff]:
        """The keys to highlight: added or changed."""
        return {k: d for k, d in self.keys.items() if d.status != SAME}

    def describe(self, path: str) -> str:
        """One line for a tooltip: where the value of ``path`` differs from and what it was."""
        d = self.keys.get(path)
        if d is None or d.status == SAME:
            return ""
        if self.reference == BASE:
            names = ", ".join(p.name for p in self.base_files)
            if d.status == ADDED:
                return f"Set in this file (not in {names})"
            return f"Overrides {names}: {_show(d.reference)}"
        return f"Differs from the default: {_show(d.reference)}"


def _show(value: Any) -> str:
    return "none" if value is None else str(value)


def base_files(own: dict, path: str | Path) -> tuple[Path, ...]:
    """The files named by ``own``'s ``_base_`` (relative to ``path``'s folder), in merge order."""
    bases = own.get(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{BASE_KEY} must be a file name or a list of them", file=path, item=BASE_KEY)
    folder = Path(path).resolve().parent
    return tuple((folder / b).resolve() for b in bases)


def load_bases(own: dict, path: str | Path) -> dict:
    """The merged dict of ``own``'s bases (data paths absolute), ``{}`` without ``_base_``.

    Raises ConfigError for a missing or broken base file, or a ``_base_`` cycle back to ``path``.
    """
    me = Path(path).resolve()
    merged: dict = {}
    for base in base_files(own, path):
        if base == me:
            raise ConfigError(f"_base_ cycle: {me.name} -> {me.name}", file=me, item=BASE_KEY)
        merged = merge(merged, resolve_raw(base, (me,)))
    return merged


def resolve_own(own: dict, path: str | Path, bases: dict | None = None) -> dict:
    """What :func:`~studio.core.config.loader.resolve_raw` returns for ``path`` if it held ``own``:
    the bases (``bases``, loaded when None) merged with ``own``, ``own``'s data paths made absolute."""
    data = {k: v for k, v in own.items() if k != BASE_KEY}
    if bases is None:
        bases = load_bases(own, path)
    merged = merge(bases, data)
    absolutise_data_paths(data, merged, Path(path).resolve().parent)
    return merged


def defaults_for(family: str | None) -> dict:
    """Schema defaults merged with the recipe of ``family`` (plain defaults without one)."""
    out = schema_defaults()
    return merge(out, recipe_for(family)) if family else out


def config_diff(own: dict, path: str | Path, *, bases: dict | None = None, family: str | None = None) -> ConfigDiff:
    """The keys ``own`` sets and how they differ from its ``_base_`` files, or, without ``_base_``,
    from the defaults of ``family`` (see the module docstring). ``bases``: already loaded bases."""
    data = {k: v for k, v in own.items() if k != BASE_KEY}
    if BASE_KEY in own:
        files = base_files(own, path)
        if bases is None:
            bases = load_bases(own, path)
        resolved = resolve_own(own, path, bases)
        diff = ConfigDiff(BASE, files)
        for key in leaves(data):
            value = get_path(resolved, key)
            ref = get_path(bases, key)
            status = ADDED if ref is MISSING else (SAME if _same(ref, value) else CHANGED)
            diff.keys[key] = KeyDiff(key, status, value, ref)
        return diff
    reference = defaults_for(family)
    diff = ConfigDiff(DEFAULTS)
    for key, value in leaves(data).items():
        ref = get_path(reference, key)
        if ref is MISSING:
            continue
        diff.keys[key] = KeyDiff(key, SAME if _same(ref, value) else CHANGED, value, ref)
    return diff


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b
