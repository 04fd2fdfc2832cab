"""Where plugin contributions join Studio: one function per kind, called by the table or registry it extends.

* dataset formats: :func:`add_dataset_formats` from :func:`studio.core.formats.formats` when the table is built;
* model architectures: :func:`load_archs` from the zoo's ``list_archs`` and from ``get_arch`` for a name it lacks;
* augmentations: :func:`augment_steps` from :func:`studio.core.data.transforms.build_train_transforms`, checked
  by :func:`check_augmentations` in the training pre-flight;
* CAM methods: :func:`cam_method_names` / :func:`cam_method` from :mod:`studio.core.explain.cam`;
* export formats: :func:`add_export_formats` from the export format table on its first use, and
  :func:`exporter_of` when such a format is exported;
* GUI panels: :func:`panel_contributions` from the main window (which builds the widgets: Qt stays in studio.gui).

Each function imports only the contributions of its kind, once (see :meth:`Registry.load`); a name
already used by a built-in fails the contribution with a message and leaves the built-in alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from studio.core.errors import StudioError
from studio.core.plugins.discovery import Contribution, PluginError, Registry, registry, resolve
from studio.core.plugins.manifest import _REF, KINDS


# ---------------------------------------------------------------------- validators (run at import of each object)
def _check_dataset_format(c: Contribution, obj: Any) -> Any:
    missing = [a for a in ("NAME", "DESCRIPTION", "detect") if not hasattr(obj, a)]
    if missing:
        raise PluginError(
            f"a dataset format (a module, or an object) needs NAME, DESCRIPTION, detect(src) and read() "
            f"and/or write(); {_name(obj)} has no {', '.join(missing)}"
        )
    if not (callable(getattr(obj, "read", None)) or callable(getattr(obj, "write", None))):
        raise PluginError(
            f"{_name(obj)} has neither read(src, images, options) nor write(dataset, images_dir, out_dir, options)"
        )
    if obj.NAME != c.name:
        raise PluginError(f"its NAME is {obj.NAME!r} but the manifest calls it {c.name!r}: make them the same")
    return obj


def _check_arch(c: Contribution, obj: Any) -> Any:
    from studio.core.models.spec import ArchSpec

    spec = obj() if not isinstance(obj, ArchSpec) and callable(obj) else obj
    if not isinstance(spec, ArchSpec):
        raise PluginError(f"expected an ArchSpec (or a function returning one), got {type(spec).__name__}")
    if spec.name != c.name:
        raise PluginError(
            f"the ArchSpec is named {spec.name!r} but the manifest calls it {c.name!r}: make them the same"
        )
    return spec


def _check_callable(c: Contribution, obj: Any) -> Any:
    if not callable(obj):
        raise PluginError(f"expected a function or class, got {type(obj).__name__}")
    return obj


def _check_export_format(c: Contribution, obj: Any) -> Any:
    from studio.core.export.formats import ExportFormat

    if not isinstance(obj, ExportFormat):
        raise PluginError(f"expected an ExportFormat (studio.core.export.formats), got {type(obj).__name__}")
    if obj.name != c.name:
        raise PluginError(
            f"the ExportFormat is named {obj.name!r} but the manifest calls it {c.name!r}: make them the same"
        )
    if obj.exporter is None:
        raise PluginError("the ExportFormat has no exporter: pass exporter='module:function' (or the function)")
    if isinstance(obj.exporter, str) and not _REF.match(obj.exporter):
        raise PluginError(f"exporter {obj.exporter!r} is not 'module:function'")
    if not isinstance(obj.exporter, str) and not callable(obj.exporter):
        raise PluginError(f"exporter must be a function or 'module:function', got {type(obj.exporter).__name__}")
    return obj


VALIDATORS: dict[str, Callable[[Contribution, Any], Any]] = {
    "dataset_formats": _check_dataset_format,
    "archs": _check_arch,
    "augmentations": _check_callable,
    "cam_methods": _check_callable,
    "export_formats": _check_export_format,
    "panels": _check_callable,
}


def _name(obj: Any) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


def _active(kind: str) -> Registry | None:
    """The registry when it declares contributions of ``kind`` (so built-in-only runs import nothing)."""
    reg = registry()
    return reg if reg.contributions(kind) else None


# ---------------------------------------------------------------------- dataset formats
def add_dataset_formats(table: dict, make: Callable[[str, str, Any], Any]) -> None:
    """Append the plugins' dataset formats to the built-in ``table`` (``make(name, description, module)``)."""
    reg = _active("dataset_formats")
    if reg is None:
        return
    from studio.core import formats as fmt_mod

    reg.on_reset(fmt_mod.formats.cache_clear, key="dataset_formats")
    for c in reg.load("dataset_formats"):
        if c.name in table and table[c.name].module is not c.obj:
            c.fail(f"the name {c.name!r} is taken by a built-in dataset format: rename it (NAME and the manifest)")
            continue
        table[c.name] = make(c.name, str(c.obj.DESCRIPTION), c.obj)
        c.installed = True


# ---------------------------------------------------------------------- model architectures
def load_archs() -> None:
    """Register the plugins' architectures in the zoo (once per registry)."""
    reg = _active("archs")
    if reg is None:
        return
    with reg.loading("archs") as first:
        if not first:
            return
        from studio.core.models import zoo
        from studio.core.models.errors import ModelError

        for c in reg.load("archs"):
            if c.installed:
                continue
            try:
                zoo.register_arch(c.obj)
            except ModelError as e:
                c.fail(f"{e.message}: a plugin cannot replace an architecture; choose another name")
                continue
            c.installed = True
            reg.on_reset(lambda name=c.name: zoo.unregister_arch(name))


def arch_plugin(name: str) -> str | None:
    """The plugin that contributes architecture ``name``, or None for a built-in."""
    c = registry().find("archs", name)
    return c.plugin.name if c is not None and c.state == "loaded" else None


# ---------------------------------------------------------------------- augmentations
def augmentation_names() -> list[str]:
    """The augmentations ``data.augment.extra`` can name (from the manifests: nothing imported)."""
    return registry().declared_names("augmentations")


def augmentation_factory(name: str, item: str = "data.augment.extra") -> Callable:
    reg = registry()
    c = reg.find("augmentations", name)
    if c is None:
        known = augmentation_names()
        raise StudioError(
            f"unknown augmentation {name!r}: "
            + (f"known: {', '.join(known)}" if known else "no plugin contributes augmentations (see `studio plugins`)"),
            item=item,
        )
    reg.load("augmentations", name)
    if c.state != "loaded":
        raise StudioError(f"augmentation {name!r} cannot be used: {c.describe_error()}", item=item)
    return c.obj


def make_augmentation(entry: Any, item: str) -> Callable:
    """The transform of one ``data.augment.extra`` entry (``name``, ``p``, ``params``), built by its factory."""
    factory = augmentation_factory(entry.name, f"{item}.name")
    try:
        return factory(**dict(entry.params))
    except TypeError as e:
        raise StudioError(
            f"augmentation {entry.name!r} does not take these params ({e})", item=f"{item}.params"
        ) from None
    except (ValueError, StudioError) as e:
        raise StudioError(f"augmentation {entry.name!r}: {e}", item=f"{item}.params") from None


def augment_steps(extra: Sequence[Any]) -> list:
    """The train transforms for ``data.augment.extra``, in order, each applied with its probability ``p``."""
    if not extra:
        return []
    from torchvision.transforms import v2

    steps = []
    for i, entry in enumerate(extra):
        if entry.p <= 0:
            continue
        t = make_augmentation(entry, f"data.augment.extra[{i}]")
        steps.append(t if entry.p >= 1 else v2.RandomApply([t], p=float(entry.p)))
    return steps


def check_augmentations(extra: Sequence[Any]) -> list[tuple[str, str]]:
    """``[(item, message)]`` for entries of ``data.augment.extra`` that cannot be built (pre-flight)."""
    out = []
    for i, entry in enumerate(extra):
        try:
            make_augmentation(entry, f"data.augment.extra[{i}]")
        except StudioError as e:
            out.append((e.item or f"data.augment.extra[{i}]", e.message))
    return out


# ---------------------------------------------------------------------- CAM methods
@dataclass(frozen=True)
class CamPlugin:
    """A plugin's CAM method: ``fn(act, grad) -> (h, w)`` when ``gradient``, else ``fn(act) -> (h, w)``."""

    name: str
    fn: Callable
    gradient: bool
    title: str


def cam_method_names(builtin: Sequence[str]) -> list[str]:
    """The plugins' CAM methods (from the manifests); a name of a built-in method fails its contribution."""
    reg = _active("cam_methods")
    if reg is None:
        return []
    out = []
    for c in reg.contributions("cam_methods", ("declared", "loaded")):
        if c.name in builtin:
            c.fail(f"the name {c.name!r} is taken by a built-in CAM method: rename it")
            continue
        out.append(c.name)
    return out


def cam_method(name: str, builtin: Sequence[str]) -> CamPlugin:
    names = cam_method_names(builtin)
    if name not in names:
        raise StudioError(f"unknown CAM method {name!r}: use one of {', '.join([*builtin, *names])}")
    reg = registry()
    reg.load("cam_methods", name)
    c = reg.find("cam_methods", name)
    if c is None or c.state != "loaded":
        raise StudioError(f"CAM method {name!r} cannot be used: {c.describe_error() if c else 'not found'}")
    return CamPlugin(name, c.obj, bool(c.decl.options.get("gradient", True)), c.title)


def cam_method_title(name: str) -> str | None:
    c = registry().find("cam_methods", name)
    return c.title if c is not None else None


# ---------------------------------------------------------------------- export formats
def add_export_formats(table: dict) -> None:
    """Append the plugins' export formats to the built-in ``table`` (called when the export table is first used)."""
    reg = _active("export_formats")
    if reg is None:
        return
    from studio.core.export import formats as export_formats

    reg.on_reset(export_formats.FORMATS.reload, key="export_formats")
    for c in reg.load("export_formats"):
        if c.name in table and table[c.name] is not c.obj:
            c.fail(f"the name {c.name!r} is taken by a built-in export format: rename it")
            continue
        table[c.name] = c.obj
        c.installed = True


def exporter_of(fmt: Any) -> Callable:
    """The export function of a plugin's format (``exporter`` resolved inside its plugin's package)."""
    exporter = fmt.exporter
    if not isinstance(exporter, str):
        return exporter
    c = registry().find("export_formats", fmt.name)
    try:
        fn = resolve(exporter, c.plugin.package if c is not None else None)
    except PluginError as e:
        if c is not None:
            c.fail(f"exporter: {e}")
        raise StudioError(f"the {fmt.name} exporter cannot be loaded: {e}", item=fmt.name) from None
    if not callable(fn):
        raise StudioError(f"the {fmt.name} exporter {exporter!r} is not a function", item=fmt.name)
    return fn


# ---------------------------------------------------------------------- panels
def panel_contributions() -> list[Contribution]:
    """The plugins' panel factories, imported (the GUI calls them with its panel context)."""
    reg = _active("panels")
    return reg.load("panels") if reg is not None else []


# ---------------------------------------------------------------------- everything (studio plugins, studio doctor)
def load_everything(panels: bool = True) -> Registry:
    """Import and check every contribution and put each where it goes, so every error shows now."""
    reg = registry()
    if reg.contributions("dataset_formats"):
        from studio.core.formats import formats

        formats()
    if reg.contributions("archs"):
        load_archs()
    if reg.contributions("export_formats"):
        from studio.core.export.formats import FORMATS

        len(FORMATS)
        for c in reg.contributions("export_formats", ("loaded",)):
            try:
                exporter_of(c.obj)
            except StudioError:
                pass
    if reg.contributions("cam_methods"):
        from studio.core.explain.cam import METHODS

        cam_method_names(METHODS)
    for kind in KINDS:
        if kind != "panels" or panels:
            reg.load(kind)
    return reg
