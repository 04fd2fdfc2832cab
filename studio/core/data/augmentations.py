"""Augmentations from plugins: what ``data.augment.extra`` in a config can name.

Studio has no built-in entries here (its own augmentations are the ``data.augment`` fields): every name
comes from a plugin's ``augmentations`` (a factory returning a transform), listed from the manifests
without importing anything and imported when a config names it. Built into the train pipeline by
:func:`augment_steps` (:func:`studio.core.data.transforms.build_train_transforms`), checked by
:func:`check_augmentations` in the training pre-flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from studio.core.errors import StudioError
from studio.core.plugins import check_callable, register_kind, registry

register_kind("augmentations", validate=check_callable)


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
    from torchvision.transforms import v2  # deferred: torchvision

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
