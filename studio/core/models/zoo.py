"""The model zoo: the registry of architectures (built with :func:`studio.core.models.build.build_model`).

Built-in architectures are torchvision's detectors (:mod:`.torchvision_archs`), the CPU-sized R-CNNs
``seg_lite`` / ``det_lite`` (:mod:`.lite`) and the one-stage ``seg_fast`` / ``det_fast`` (:mod:`.fast`,
the defaults). Every architecture joins through :func:`register_arch`: the built-ins when this module is
imported, the plugins' (the ``archs`` kind of :mod:`studio.core.plugins`) the first time the zoo is listed
or lacks a name.
"""

from __future__ import annotations

import difflib

from studio.core.models.errors import ModelError
from studio.core.models.fast import fast_specs
from studio.core.models.lite import lite_specs
from studio.core.models.spec import ArchSpec
from studio.core.models.torchvision_archs import torchvision_specs
from studio.core.plugins import Contribution, PluginError, register_kind, registry

_REGISTRY: dict[str, ArchSpec] = {}

DEFAULT_SEGMENTER = "seg_fast"
DEFAULT_DETECTOR = "det_fast"


def register_arch(spec: ArchSpec) -> ArchSpec:
    """Add ``spec`` to the zoo; a name already taken is an error (plugins must not shadow built-ins)."""
    if spec.name in _REGISTRY:
        raise ModelError(f"architecture {spec.name!r} is already registered ({_REGISTRY[spec.name].description})")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_arch(name: str) -> None:
    """Take a plugin's architecture out again (when the plugins are reloaded)."""
    _REGISTRY.pop(name, None)


# ---------------------------------------------------------------------- plugins' architectures
_from_plugins: set[str] = set()  # the names register_arch took from plugins, taken out again at reset


def _add_plugin_arch(spec: ArchSpec) -> None:
    """A plugin's architecture joins through :func:`register_arch`, like the built-ins."""
    try:
        register_arch(spec)
    except ModelError as e:
        raise PluginError(f"{e.message}: a plugin cannot replace an architecture; choose another name") from None
    _from_plugins.add(spec.name)


def _plugin_archs() -> None:
    """Plugins' architectures join the registry the first time it is listed or lacks a name (studio.core.plugins)."""
    registry().install("archs", _add_plugin_arch, once=True)


def _forget_plugin_archs() -> None:
    for name in list(_from_plugins):
        unregister_arch(name)
    _from_plugins.clear()


def _check_plugin_arch(c: Contribution, obj) -> ArchSpec:
    """A plugin's architecture is an ArchSpec, or a function returning one, named as in its manifest."""
    spec = obj() if not isinstance(obj, ArchSpec) and callable(obj) else obj
    if not isinstance(spec, ArchSpec):
        raise PluginError(f"expected an ArchSpec (or a function returning one), got {type(spec).__name__}")
    if spec.name != c.name:
        raise PluginError(
            f"the ArchSpec is named {spec.name!r} but the manifest calls it {c.name!r}: make them the same"
        )
    return spec


register_kind("archs", validate=_check_plugin_arch, forget=_forget_plugin_archs)


def arch_plugin(name: str) -> str | None:
    """The plugin that contributes architecture ``name``, or None for a built-in."""
    c = registry().find("archs", name)
    return c.plugin.name if c is not None and c.state == "loaded" else None


# ---------------------------------------------------------------------- look-ups
def list_archs(task: str | None = None) -> list[ArchSpec]:
    """Registered architectures in registration order, optionally only one task's ("detect" / "segment")."""
    _plugin_archs()
    return [s for s in _REGISTRY.values() if task is None or s.task == task]


def get_arch(name: str) -> ArchSpec:
    """The spec named ``name``; an unknown name raises ModelError with the closest names and the list."""
    spec = _REGISTRY.get(name)
    if spec is None:
        _plugin_archs()
        spec = _REGISTRY.get(name)
    if spec is not None:
        return spec
    names = list(_REGISTRY)
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ModelError(f"unknown architecture {name!r}: {hint}known architectures: {', '.join(names)}", item="model.arch")


def default_arch(has_masks: bool) -> str:
    """The architecture a new config starts from: seg_fast for polygon/mask datasets, det_fast for boxes."""
    return DEFAULT_SEGMENTER if has_masks else DEFAULT_DETECTOR


for _spec in torchvision_specs() + lite_specs() + fast_specs():
    register_arch(_spec)
del _spec
