"""The table of CAM methods: the built-in ones and the plugins' (the ``cam_methods`` kind of studio.core.plugins).

Light (no torch): the command line lists the method names at every start. Every method joins the table
through :func:`add_method`: the built-ins when :mod:`studio.core.explain.cam` (which defines them) is
imported, a plugin's when it is first computed (:func:`studio.core.explain.cam.cam_method`). The plugins'
names come from their manifests, so listing them imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.core.plugins import Contribution, PluginError, check_callable, register_kind, registry

METHODS = ("gradcam", "gradcam++", "eigencam")  # the built-in methods, in the order they are offered


@dataclass(frozen=True)
class CamMethod:
    """A CAM method: ``fn(act, grad) -> (h, w)`` when ``gradient``, else ``fn(act) -> (h, w)`` (computed once for
    all targets)."""

    name: str
    fn: Callable
    gradient: bool
    title: str


_TABLE: dict[str, CamMethod] = {}


def add_method(method: CamMethod) -> CamMethod:
    """Put ``method`` into the table: the built-in methods and the plugins' all go in here."""
    if method.name in _TABLE and _TABLE[method.name] is not method:
        raise PluginError(f"the name {method.name!r} is taken by a built-in CAM method: rename it")
    _TABLE[method.name] = method
    return method


def table_entry(name: str) -> CamMethod | None:
    """The method named ``name`` when it is in the table (a built-in, or a plugin's computed before)."""
    return _TABLE.get(name)


def _check_plugin_method(c: Contribution, obj) -> CamMethod:
    """A plugin's method is a function; the manifest says whether it takes the gradients and its title."""
    return CamMethod(c.name, check_callable(c, obj), bool(c.decl.options.get("gradient", True)), c.title)


def _forget_plugin_methods() -> None:
    for name in [n for n in _TABLE if n not in METHODS]:
        del _TABLE[name]


register_kind("cam_methods", validate=_check_plugin_method, forget=_forget_plugin_methods)


def cam_method_names() -> list[str]:
    """The plugins' CAM methods (from the manifests); a name of a built-in method fails its contribution."""
    out = []
    for c in registry().contributions("cam_methods", ("declared", "loaded")):
        if c.name in METHODS:
            c.fail(f"the name {c.name!r} is taken by a built-in CAM method: rename it")
            continue
        out.append(c.name)
    return out


def methods() -> tuple[str, ...]:
    """The built-in methods, then the plugins' (names from their manifests: nothing is imported)."""
    return METHODS + tuple(cam_method_names())


def cam_method_title(name: str) -> str | None:
    """The title a plugin's manifest gives method ``name`` (None for a built-in or an unknown name)."""
    c = registry().find("cam_methods", name)
    return c.title if c is not None else None
