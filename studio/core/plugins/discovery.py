"""Plugin discovery and lazy loading.

Discovery (cheap, at the first use of :func:`registry`) reads the manifests found in

1. the repository's ``plugins/`` folder,
2. the per-user plugins folder (``~/.local/share/studio/plugins`` on Linux; ``STUDIO_USER_PLUGINS=0`` skips it),
3. the folders in ``STUDIO_PLUGIN_PATH`` (``os.pathsep``-separated) and any given to :func:`configure`,
4. the ``studio.plugins`` entry-point group of installed packages.

A plugin folder is a Python package (its name is the folder's name) holding ``studio-plugin.toml``;
a place is either such a folder or a folder of them. Nothing of a plugin is imported at discovery
(except an entry point's own module, which is where its manifest lives): each contribution's object
is imported the first time its kind is needed (:meth:`Registry.load`).

Kinds are owned by the modules whose tables they extend, and the registry knows none of their types: each
owner declares its kind with :func:`register_kind` (how an imported object is checked, how its table forgets
the plugins' entries) and puts the contributions into its table with :meth:`Registry.install`, through the
same function its built-in entries go through (the dataset format table in :mod:`studio.core.formats`, the zoo
in :mod:`studio.core.models.zoo`, the CAM methods in :mod:`studio.core.explain.cam`, the export formats in
:mod:`studio.core.export.formats`, the augmentations in :mod:`studio.core.data.augmentations`; the app's panels
in :mod:`studio.core.plugin_check`).

Nothing here raises out of discovery or loading: a broken manifest makes the plugin ``broken``, a
contribution that cannot be imported, is not what its kind needs, or takes a name already in use
is ``failed``; each keeps a message naming the plugin, its file and the contribution, which
``studio plugins``, ``studio doctor`` and the app's Plugins dialog show and the ``studio.plugins``
logger reports once. ``STUDIO_PLUGINS=0`` turns discovery off (the tests run that way unless they
configure plugins themselves).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from studio.core.environment import plugin_places
from studio.core.errors import os_error_message
from studio.core.plugins.manifest import (
    KIND_TITLES,
    KINDS,
    MANIFEST_NAME,
    Declared,
    Manifest,
    ManifestError,
    parse_manifest,
    read_manifest,
)

log = logging.getLogger("studio.plugins")

ENTRY_POINT_GROUP = "studio.plugins"
ENV_ENABLED = "STUDIO_PLUGINS"
ENV_USER = "STUDIO_USER_PLUGINS"
ENV_PATH = "STUDIO_PLUGIN_PATH"
_OFF = ("0", "off", "no", "false")


class PluginError(Exception):
    """A contribution cannot be used; the message says why (the registry adds the plugin and file)."""


#: ``validate(contribution, obj) -> what its table takes``: checks an imported object, raising PluginError
Validator = Callable[["Contribution", Any], Any]


@dataclass(frozen=True)
class KindOwner:
    """How one kind of contribution joins Studio, as the module owning its table declared it (:func:`register_kind`)."""

    kind: str
    validate: Validator
    forget: Callable[[], None] | None = None


_owners: dict[str, KindOwner] = {}


def register_kind(kind: str, *, validate: Validator, forget: Callable[[], None] | None = None) -> None:
    """Declare the owner of ``kind`` (called once, at the import of the module whose table the kind extends).

    ``validate(contribution, obj)`` checks an imported object and returns what the table takes (raise
    :class:`PluginError` saying what is wrong); ``forget()`` makes the owner's table drop what it took from
    the plugins, or was built from them, when the plugins are reconfigured (:func:`reset`, :func:`configure`).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown contribution kind {kind!r} (the manifest knows {', '.join(KINDS)})")
    _owners[kind] = KindOwner(kind, validate, forget)


def check_callable(c: Contribution, obj: Any) -> Any:
    """The validator of kinds whose object is a function or class (augmentations, CAM methods, panels)."""
    if not callable(obj):
        raise PluginError(f"expected a function or class, got {type(obj).__name__}")
    return obj


@dataclass(frozen=True)
class Place:
    path: Path
    source: str  # "repository", "user", STUDIO_PLUGIN_PATH, "configured"

    def __str__(self) -> str:
        return f"{self.path} ({self.source})"


class Contribution:
    """One declared contribution and its state: ``declared`` (not imported yet), ``loaded`` or ``failed``."""

    def __init__(self, plugin: Plugin, decl: Declared):
        self.plugin = plugin
        self.decl = decl
        self.state = "declared"
        self.obj: Any = None
        self.error: str | None = None
        self.installed = False  # added to the table it belongs to (zoo, format tables)

    kind = property(lambda self: self.decl.kind)
    name = property(lambda self: self.decl.name)
    ref = property(lambda self: self.decl.ref)

    @property
    def title(self) -> str:
        return self.decl.title or self.decl.name

    @property
    def what(self) -> str:
        """``dataset format 'cvat'``."""
        return f"{KIND_TITLES[self.kind]} {self.name!r}"

    def fail(self, message: str) -> None:
        """Mark as failed with ``message`` (logged once, with the plugin, its file and the object)."""
        self.state = "failed"
        self.obj = None
        self.error = message
        _warn(self.describe_error())

    def describe_error(self) -> str:
        return f"plugin {self.plugin.name} ({self.plugin.location}): {self.what} ({self.ref}): {self.error}"

    def __repr__(self) -> str:
        return f"<Contribution {self.plugin.name}:{self.kind}:{self.name} {self.state}>"


class Plugin:
    """A discovered plugin: its manifest (when it could be read), contributions, and where it came from."""

    def __init__(
        self,
        name: str,
        location: str,
        source: str,
        *,
        manifest: Manifest | None = None,
        package: str | None = None,
        folder: Path | None = None,
        error: str | None = None,
    ):
        self.name = name
        self.location = location  # the manifest file, or "entry point NAME = VALUE"
        self.source = source  # repository, user, STUDIO_PLUGIN_PATH, configured, entry point
        self.manifest = manifest
        self.package = package  # what relative object references (".module:object") resolve against
        self.folder = folder
        self.error = error
        self.contributions = [Contribution(self, d) for d in manifest.contributions] if manifest else []

    version = property(lambda self: self.manifest.version if self.manifest else "")
    description = property(lambda self: self.manifest.description if self.manifest else "")

    @property
    def status(self) -> str:
        """broken (no usable manifest), errors (some contribution failed), loaded, or ready (not all imported yet)."""
        if self.error:
            return "broken"
        states = {c.state for c in self.contributions}
        if "failed" in states:
            return "errors"
        return "loaded" if states == {"loaded"} else "ready"

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "ready")

    def errors(self) -> list[str]:
        if self.error:
            return [self.error]
        return [c.describe_error() for c in self.contributions if c.state == "failed"]

    def __repr__(self) -> str:
        return f"<Plugin {self.name} {self.version} {self.status}>"


class Registry:
    """The plugins found in ``places`` (and entry points), and their contributions' states."""

    def __init__(self, places: Iterable[Place] = (), entry_points: bool = True, disabled: str | None = None):
        self.places = list(places)
        self.entry_points = entry_points
        self.disabled = disabled  # why discovery is off (STUDIO_PLUGINS=0), or None
        self.plugins: list[Plugin] = []
        self._lock = threading.RLock()
        self._loading: set[str] = set()
        self._undo: list[Callable[[], None]] = []
        self._undo_keys: set[str] = set()
        self._sys_paths: list[str] = []
        self._packages: list[str] = []
        if disabled is None:
            self._discover()

    # ------------------------------------------------------------------ discovery
    def _discover(self) -> None:
        importlib.invalidate_caches()
        for place in self.places:
            for folder, error in _plugin_folders(place.path):
                self._add(
                    self._folder_plugin(folder, place.source)
                    if error is None
                    else Plugin(folder.name, str(folder), place.source, folder=folder, error=f"{folder}: {error}")
                )
        if self.entry_points:
            try:
                eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
            except Exception as e:  # a broken installed distribution's metadata
                log.warning("cannot list the %s entry points: %s", ENTRY_POINT_GROUP, e)
                eps = []
            for ep in eps:
                self._add(_entry_point_plugin(ep))
        self._check_names()
        for p in self.plugins:
            if p.error:
                _warn(f"plugin {p.name} is broken: {p.error}")

    def _add(self, plugin: Plugin) -> None:
        first = next((p for p in self.plugins if p.name == plugin.name and not p.error), None)
        if first is not None and not plugin.error:
            plugin.error = (
                f"{plugin.location}: a plugin named {plugin.name!r} is already loaded from {first.location}; "
                "this one is ignored (remove one of them, or rename it)"
            )
            plugin.contributions = []
        self.plugins.append(plugin)

    def _folder_plugin(self, folder: Path, source: str) -> Plugin:
        manifest_path = folder / MANIFEST_NAME
        try:
            manifest = read_manifest(manifest_path)
        except ManifestError as e:
            return Plugin(folder.name, str(manifest_path), source, folder=folder, error=str(e))
        package = folder.name
        if not package.isidentifier():
            return Plugin(
                manifest.name,
                str(manifest_path),
                source,
                folder=folder,
                error=f"{folder}: the folder name {package!r} is not a Python package name: rename the folder "
                "(letters, digits and underscores; its modules are imported as FOLDER.module)",
            )
        parent = str(folder.parent)
        if parent not in sys.path:
            sys.path.append(parent)  # appended: an installed package of the same name wins, which is caught below
            self._sys_paths.append(parent)
        taken = _package_taken(package, folder)
        if taken:
            return Plugin(
                manifest.name,
                str(manifest_path),
                source,
                folder=folder,
                error=f"{folder}: the package name {package!r} is already taken by {taken}: rename the plugin folder",
            )
        self._packages.append(package)
        return Plugin(manifest.name, str(manifest_path), source, manifest=manifest, package=package, folder=folder)

    def _check_names(self) -> None:
        """A name two plugins both contribute to one kind: the first one found keeps it."""
        owners: dict[tuple[str, str], Contribution] = {}
        for p in self.plugins:
            for c in p.contributions:
                first = owners.setdefault((c.kind, c.name), c)
                if first is not c:
                    c.fail(f"the name is already taken by plugin {first.plugin.name} ({first.plugin.location})")

    # ------------------------------------------------------------------ queries
    def contributions(
        self, kind: str | None = None, states: tuple[str, ...] = ("declared", "loaded", "failed")
    ) -> list[Contribution]:
        return [
            c
            for p in self.plugins
            if not p.error
            for c in p.contributions
            if (kind is None or c.kind == kind) and c.state in states
        ]

    def declared_names(self, kind: str) -> list[str]:
        """Names of the usable (not failed) contributions of ``kind``, from the manifests: imports nothing."""
        return [c.name for c in self.contributions(kind, ("declared", "loaded"))]

    def find(self, kind: str, name: str) -> Contribution | None:
        return next((c for c in self.contributions(kind) if c.name == name), None)

    def errors(self) -> list[str]:
        return [e for p in self.plugins for e in p.errors()]

    def describe_places(self) -> str:
        parts = [str(p) for p in self.places]
        if self.entry_points:
            parts.append(f"entry points '{ENTRY_POINT_GROUP}'")
        return ", ".join(parts) if parts else "nowhere"

    # ------------------------------------------------------------------ loading
    def load(self, kind: str, name: str | None = None) -> list[Contribution]:
        """Import the contributions of ``kind`` (only ``name``'s when given) not imported yet, check each
        with its kind's validator (:func:`register_kind`); returns the loaded ones. Failures are recorded, never
        raised."""
        with self._lock:
            for c in self.contributions(kind, ("declared",)):
                if name is not None and c.name != name:
                    continue
                owner = _owners.get(kind)
                if owner is None:  # a programming error: the kind's table has not been imported
                    raise LookupError(f"no module has registered the {kind!r} kind: import the module owning it first")
                try:
                    obj = resolve(c.ref, c.plugin.package)
                    c.obj = owner.validate(c, obj)
                    c.state = "loaded"
                except PluginError as e:
                    c.fail(str(e))
                except Exception as e:  # a validator calling plugin code (an arch factory) that raises
                    c.fail(exception_text(e))
            return [c for c in self.contributions(kind, ("loaded",)) if name is None or c.name == name]

    def install(
        self, kind: str, add: Callable[[Any], Any], *, name: str | None = None, once: bool = False
    ) -> list[Contribution]:
        """Import the contributions of ``kind`` (only ``name``'s when given) and put each loaded one into its
        owner's table with ``add(obj)``: the function the owner's built-in entries go through. An ``add`` that
        raises :class:`PluginError` (a name a built-in already has) fails that contribution, leaving the table
        as it was. Imports nothing when no plugin declares ``kind``.

        ``once``: the table outlives the call (the zoo, the CAM methods): each contribution is added once per
        registry, and a call made while one is installing (a plugin's module listing the zoo) returns at once.
        Without it, every call adds them again, into a table the owner has just built. Returns the contributions
        installed.
        """
        if not self.contributions(kind):
            return []
        with self._lock:
            if once:
                key = kind if name is None else f"{kind}:{name}"
                if key in self._loading:
                    return self._installed(kind, name)
                self._loading.add(key)
            for c in self.load(kind, name):
                if once and c.installed:
                    continue
                try:
                    add(c.obj)
                except PluginError as e:
                    c.fail(str(e))
                    continue
                c.installed = True
            return self._installed(kind, name)

    def _installed(self, kind: str, name: str | None) -> list[Contribution]:
        return [c for c in self.contributions(kind, ("loaded",)) if c.installed and (name is None or c.name == name)]

    def on_reset(self, undo: Callable[[], None], key: str | None = None) -> None:
        """Called by :func:`reset` / :func:`configure`: take back what was installed from these plugins
        (``key``: register that undo once)."""
        if key is not None:
            if key in self._undo_keys:
                return
            self._undo_keys.add(key)
        self._undo.append(undo)

    def close(self) -> None:
        """Run the undos registered with :meth:`on_reset` and forget the plugins' modules (the owners' tables
        forget their entries through their ``forget``, see :func:`register_kind`)."""
        with self._lock:
            for undo in reversed(self._undo):
                try:
                    undo()
                except Exception as e:  # never let one undo stop the others
                    log.debug("plugin undo failed: %s", e)
            self._undo.clear()
            self._undo_keys.clear()
            for pkg in self._packages:
                for mod in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
                    sys.modules.pop(mod, None)
            for path in self._sys_paths:
                if path in sys.path:
                    sys.path.remove(path)
            importlib.invalidate_caches()


# ---------------------------------------------------------------------- helpers
_logged: list[str] = []  # every problem logged since the plugins were (re)configured


def _warn(message: str) -> None:
    _logged.append(message)
    log.warning(message)


def logged_problems() -> list[str]:
    """The problems logged so far (the app shows those logged before its log panel existed)."""
    return list(_logged)


def _plugin_folders(place: Path) -> list[tuple[Path, str | None]]:
    """(folder, None) for each plugin folder in ``place`` (or ``place`` itself); (folder, error) for a
    sub-folder without a manifest."""
    place = Path(place)
    try:
        if (place / MANIFEST_NAME).is_file():
            return [(place, None)]
        if not place.is_dir():
            return []
        children = sorted(place.iterdir())
    except OSError as e:  # an unreadable folder (permissions, a broken disk) never stops the app
        log.warning("cannot read the plugins folder %s: %s", place, os_error_message(e))
        return []
    out: list[tuple[Path, str | None]] = []
    for child in children:
        try:
            if not child.is_dir() or child.name.startswith((".", "_")):
                continue
            if (child / MANIFEST_NAME).is_file():
                out.append((child, None))
                continue
            others = sorted(p.name for p in child.glob("*.toml"))
        except OSError as e:
            out.append((child, f"cannot read this plugin folder: {os_error_message(e)}"))
            continue
        hint = f" (found {', '.join(others)}: the manifest must be named {MANIFEST_NAME})" if others else ""
        out.append((child, f"no {MANIFEST_NAME} in this plugin folder{hint}"))
    return out


def _package_taken(package: str, folder: Path) -> str | None:
    """Where ``package`` is imported from when that is not ``folder`` (an installed module of the same name)."""
    mod = sys.modules.get(package)
    try:
        spec = mod.__spec__ if mod is not None else importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    here = folder.resolve()
    locations = [Path(p).resolve() for p in (spec.submodule_search_locations or [])]
    if here in locations:
        return None
    if spec.origin and spec.origin not in ("built-in", "frozen") and Path(spec.origin).resolve().parent == here:
        return None
    return spec.origin or (str(locations[0]) if locations else spec.name)


def _entry_point_plugin(ep) -> Plugin:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    location = f"entry point {ep.name} = {ep.value}" + (f" (package {dist})" if dist else "")
    try:
        obj = ep.load()
    except Exception as e:
        return Plugin(ep.name, location, "entry point", error=f"{location}: cannot load: {exception_text(e)}")
    module = ep.value.split(":")[0].strip()
    try:
        if isinstance(obj, ModuleType):
            package = obj.__name__ if hasattr(obj, "__path__") else (obj.__package__ or module)
            data = getattr(obj, "STUDIO_PLUGIN", None)
            if data is None:
                toml = Path(obj.__file__ or "").parent / MANIFEST_NAME
                if not toml.is_file():
                    raise ManifestError(
                        f"module {obj.__name__} has no STUDIO_PLUGIN dict and there is no {MANIFEST_NAME} beside it",
                        file=location,
                    )
                return Plugin(ep.name, str(toml), "entry point", manifest=read_manifest(toml), package=package)
        else:
            mod = sys.modules.get(module)
            package = (mod.__name__ if hasattr(mod, "__path__") else mod.__package__) if mod is not None else module
            data = obj() if callable(obj) else obj
        return Plugin(
            str(data.get("name", ep.name)) if isinstance(data, dict) else ep.name,
            location,
            "entry point",
            manifest=parse_manifest(data, source=location),
            package=package,
        )
    except ManifestError as e:
        return Plugin(ep.name, location, "entry point", error=str(e))
    except Exception as e:
        return Plugin(ep.name, location, "entry point", error=f"{location}: {exception_text(e)}")


def resolve(ref: str, package: str | None) -> Any:
    """Import ``"module:attr.attr"`` (a leading dot: inside ``package``); errors raise PluginError saying what
    failed."""
    mod_name, _, attr = ref.partition(":")
    if mod_name.startswith("."):
        if not package:
            raise PluginError(f"the relative module {mod_name!r} needs a plugin package to be relative to")
        mod_name = package + mod_name if mod_name != "." else package
    try:
        obj: Any = importlib.import_module(mod_name)
    except Exception as e:
        raise PluginError(f"cannot import module {mod_name!r}: {exception_text(e)}") from None
    except SystemExit as e:
        raise PluginError(f"module {mod_name!r} called sys.exit({e.code}) while being imported") from None
    done = mod_name
    for part in attr.split(".") if attr else ():
        if not hasattr(obj, part):
            where = getattr(sys.modules.get(mod_name), "__file__", None)
            raise PluginError(f"{done!r} has no attribute {part!r}" + (f" ({where})" if where else ""))
        obj = getattr(obj, part)
        done = f"{done}:{part}" if done == mod_name else f"{done}.{part}"
    return obj


def exception_text(e: BaseException) -> str:
    """``ValueError: message (at file.py:12)``: the type, the message, and the last frame it was raised in."""
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, SyntaxError):
        return text  # its message names the file and line already
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not f.filename.startswith("<frozen") and "importlib" not in f.filename and f.filename != __file__
    ]
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno})"
    return text


# ---------------------------------------------------------------------- the registry in use
_lock = threading.RLock()
_current: Registry | None = None
_explicit: dict | None = None  # the Registry arguments of the last configure(), until reset()


def repository_folder() -> Path:
    return plugin_places()[0]


def user_folder() -> Path:
    return plugin_places()[1]


def _standard_places(repo: bool, user: bool, env_paths: bool) -> list[Place]:
    """The repository's plugins folder, the per-user one and the ``STUDIO_PLUGIN_PATH`` folders, those switched on."""
    places: list[Place] = []
    if repo:
        places.append(Place(repository_folder(), "repository"))
    if user:
        places.append(Place(user_folder(), "user"))
    if env_paths:
        places += [
            Place(Path(p).expanduser(), ENV_PATH) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p.strip()
        ]
    return places


def registry() -> Registry:
    """The plugins of this process, discovered on the first call (from the environment unless
    :func:`configure` was called)."""
    global _current
    with _lock:
        if _current is None:
            if _explicit is not None:
                _current = Registry(**_explicit)
            elif os.environ.get(ENV_ENABLED, "1").strip().lower() in _OFF:
                _current = Registry(disabled=f"{ENV_ENABLED}={os.environ.get(ENV_ENABLED)}")
            else:
                user = os.environ.get(ENV_USER, "1").strip().lower() not in _OFF
                _current = Registry(_standard_places(repo=True, user=user, env_paths=True))
        return _current


def configure(
    paths: Iterable[str | Path] = (),
    *,
    repo: bool = True,
    user: bool = True,
    entry_points: bool = True,
    env_paths: bool = True,
) -> Registry:
    """Rediscover with these settings (tests, embedding): ``paths`` are extra places; ``repo`` / ``user`` /
    ``entry_points`` / ``env_paths`` switch the standard ones. Ignores ``STUDIO_PLUGINS=0``."""
    global _explicit
    with _lock:
        _close_current()
        places = _standard_places(repo, user, env_paths) + [Place(Path(p), "configured") for p in paths]
        _explicit = {"places": places, "entry_points": entry_points}
        return registry()


def reset() -> None:
    """Forget the plugins (their zoo entries and table rows are taken back); the next use rediscovers from the
    environment."""
    global _explicit
    with _lock:
        _close_current()
        _explicit = None


def _close_current() -> None:
    global _current
    if _current is not None:
        _current.close()
    _current = None
    _logged.clear()
    # tables built meanwhile (with or without plugins) are built again from the next registry
    for owner in list(_owners.values()):
        if owner.forget is not None:
            try:
                owner.forget()
            except Exception as e:  # never let one table stop the others
                log.debug("forgetting the plugins' %s failed: %s", owner.kind, e)


__all__ = [
    "Registry",
    "Plugin",
    "Contribution",
    "Place",
    "PluginError",
    "KindOwner",
    "Validator",
    "register_kind",
    "check_callable",
    "registry",
    "configure",
    "reset",
    "resolve",
    "exception_text",
    "KINDS",
    "KIND_TITLES",
    "ENTRY_POINT_GROUP",
    "ENV_ENABLED",
    "ENV_USER",
    "ENV_PATH",
]
