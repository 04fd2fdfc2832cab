"""The config schema as plain field specs, so the GUI can generate its form without knowing pydantic.

:func:`field_specs` walks :class:`~studio.core.config.schema.Config` into groups (sections; nested
sections such as ``data.augment`` are sub-groups) and fields (a dotted path, a kind, choices, a range,
a default and the field's description as help). Adding a field to the schema adds it to the form.

The form edits a *raw* dict (what the YAML file holds): :func:`get_path` / :func:`set_path` /
:func:`del_path` address it by dotted path, :func:`parse_text` / :func:`format_value` convert between
it and the text of an input box, and :func:`validate_raw` turns pydantic's errors into one message
per dotted path, which the form shows under the field at fault.

An invalid value typed in a box is kept as typed (``lr: abc``) rather than refused, so the YAML
view, the form and the validation messages always describe the same dict.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from studio.core.config.schema import Config, DatasetRef, ModelConfig


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

KINDS = (
    "int",
    "float",
    "bool",
    "str",
    "choice",
    "path",
    "tuple",
    "list",
    "yaml",
)  # yaml: a list of sections, typed as YAML

#: input boxes that name files or folders: (section model, field) -> "file" / "dir"
PATH_FIELDS: dict[tuple[type[BaseModel], str], str] = {
    (DatasetRef, "ann"): "file",
    (DatasetRef, "images"): "dir",
    (ModelConfig, "weights"): "file",
}
#: free-text fields with usual values offered in an editable list
SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "train.device": ("auto", "cpu", "cuda", "cuda:0"),
}
#: placeholder text of optional fields left empty (None)
EMPTY_MEANS: dict[str, str] = {
    "model.weights": "none: random initialisation (DEFAULT: torchvision's pretrained weights)",
    "model.backbone": "the architecture's own (csp for seg_fast / det_fast)",
    "data.train.images": "the folder recorded in the annotation file",
    "data.val.images": "the folder recorded in the annotation file",
    "train.time_limit": "no limit (seconds, or e.g. 20m, 1.5h)",
    "train.grad_clip": "no clipping",
    "train.patience": "no early stopping",
}
LABELS: dict[str, str] = {
    "lr": "Learning rate",
    "amp": "Mixed precision",
    "ema": "EMA weights",
    "hflip": "Horizontal flip",
    "ann": "Annotations",
    "images": "Images folder",
    "arch": "Architecture",
    "copy_paste": "Copy-paste",
    "warmup_iters": "Warm-up iterations",
    "score_thr": "Score threshold",
}
GROUP_TITLES: dict[str, str] = {
    "model": "Model",
    "data": "Data",
    "train": "Training",
    "data.train": "Training set",
    "data.val": "Validation set",
    "data.augment": "Augmentations",
}
ARCH_PATH = "model.arch"


@dataclass(frozen=True)
class Choice:
    """One allowed value; for ``model.arch`` the zoo's description, task and family too."""

    value: Any
    description: str = ""
    task: str = ""
    family: str = ""


@dataclass(frozen=True)
class GroupSpec:
    """A section of the config: ``data``, or a nested one such as ``data.augment``."""

    path: str
    title: str
    help: str
    parent: str  # "" for the top-level sections
    optional: bool  # the whole section may be null (data.val)

    @property
    def depth(self) -> int:
        return self.path.count(".")


@dataclass(frozen=True)
class FieldSpec:
    """One input of the form. ``kind`` is one of :data:`KINDS`; ``optional``: None is allowed (an empty box)."""

    path: str
    group: str
    name: str
    label: str
    kind: str
    help: str
    required: bool
    optional: bool
    default: Any = MISSING
    choices: tuple[Choice, ...] = ()
    suggestions: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    item_kind: str | None = None  # element kind of tuple / list fields
    length: int | None = None  # tuple fields
    path_mode: str | None = None  # "file" / "dir" for path fields
    empty_means: str = ""

    def range_text(self) -> str:
        """``0 ≤ x ≤ 1`` style, or "" when unbounded."""
        if self.minimum is None and self.maximum is None:
            return ""
        lo = "" if self.minimum is None else f"{_num(self.minimum)} {'<' if self.min_exclusive else '≤'} "
        hi = "" if self.maximum is None else f" {'<' if self.max_exclusive else '≤'} {_num(self.maximum)}"
        return f"{lo}value{hi}"

    def tooltip(self) -> str:
        lines = [self.help or self.label]
        if r := self.range_text():
            lines.append(f"Range: {r}")
        if self.default is not MISSING:
            lines.append(f"Default: {format_value(self, self.default) or 'none'}")
        elif self.required:
            lines.append("Required")
        if self.empty_means:
            lines.append(f"Empty: {self.empty_means}")
        lines.append(f"YAML key: {self.path}")
        return "\n".join(lines)

    def choice(self, value: Any) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)


@dataclass(frozen=True)
class FormSpec:
    groups: tuple[GroupSpec, ...]
    fields: tuple[FieldSpec, ...]

    def field(self, path: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.path == path), None)

    def group(self, path: str) -> GroupSpec | None:
        return next((g for g in self.groups if g.path == path), None)

    def fields_of(self, group: str) -> list[FieldSpec]:
        return [f for f in self.fields if f.group == group]

    def children_of(self, group: str) -> list[GroupSpec]:
        return [g for g in self.groups if g.parent == group]

    def owner(self, path: str) -> str | None:
        """The longest field or group path that ``path`` lies in (``data.augment.scale_jitter.0`` ->
        ``data.augment.scale_jitter``), or None."""
        known = {f.path for f in self.fields} | {g.path for g in self.groups}
        parts = path.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in known:
                return candidate
        return None


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(get_args(annotation)):
            return args[0], True
    return annotation, False


def _bounds(metadata: list) -> dict:
    out: dict[str, Any] = {}
    for m in metadata:
        for attr, key, exclusive in (
            ("ge", "minimum", False),
            ("gt", "minimum", True),
            ("le", "maximum", False),
            ("lt", "maximum", True),
        ):
            v = getattr(m, attr, None)
            if v is not None:
                out[key] = v
                out["min_exclusive" if key == "minimum" else "max_exclusive"] = exclusive
    return out


def _default(info) -> Any:
    if info.is_required():
        return MISSING
    value = info.default_factory() if info.default_factory is not None else info.default
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return list(value) if isinstance(value, tuple) else value


def arch_choices(archs=None) -> tuple[Choice, ...]:
    """The zoo's architectures (plugins' included: the registry is read now), segmenters first."""
    if archs is None:
        from studio.core.models import (
            list_archs,  # deferred: torch, torchvision; imports torch: call from a worker in the GUI
        )

        archs = list_archs()
    ordered = sorted(archs, key=lambda s: (s.task != "segment", not s.cpu_friendly))
    return tuple(Choice(s.name, s.description, s.task, s.family) for s in ordered)


def field_specs(archs=None) -> FormSpec:
    """Walk the schema. ``archs``: ArchSpecs for the ``model.arch`` choices; None reads the zoo now."""
    groups: list[GroupSpec] = []
    fields: list[FieldSpec] = []
    choices = arch_choices(archs)

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            path = f"{prefix}.{name}" if prefix else name
            annotation, optional = _unwrap_optional(info.annotation)
            help_text = info.description or ""
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                title = GROUP_TITLES.get(path) or help_text.split(" (")[0] or _label(name)
                groups.append(GroupSpec(path, title, help_text, prefix, optional))
                walk(annotation, path)
                continue
            kw: dict[str, Any] = dict(_bounds(info.metadata))
            origin = get_origin(annotation)
            if origin is Literal:
                kind = "choice"
                kw["choices"] = tuple(Choice(v) for v in get_args(annotation))
            elif path == ARCH_PATH:
                kind = "choice"
                kw["choices"] = choices
            elif (model, name) in PATH_FIELDS:
                kind = "path"
                kw["path_mode"] = PATH_FIELDS[model, name]
            elif annotation is bool:
                kind = "bool"
            elif annotation in (int, float, str):
                kind = annotation.__name__
            elif origin is list and any(isinstance(a, type) and issubclass(a, BaseModel) for a in get_args(annotation)):
                kind = "yaml"  # a list of sections (data.augment.extra): typed as a YAML flow list
            elif origin in (tuple, list):
                kind = origin.__name__
                args = [a for a in get_args(annotation) if a is not Ellipsis]
                kw["item_kind"] = args[0].__name__ if args else "str"
                if origin is tuple and Ellipsis not in get_args(annotation):
                    kw["length"] = len(args)
            else:
                kind = "str"
            fields.append(
                FieldSpec(
                    path=path,
                    group=prefix,
                    name=name,
                    label=_label(name),
                    kind=kind,
                    help=help_text,
                    required=info.is_required(),
                    optional=optional,
                    default=_default(info),
                    suggestions=SUGGESTIONS.get(path, ()),
                    empty_means=EMPTY_MEANS.get(path, ""),
                    **kw,
                )
            )

    walk(Config, "")
    return FormSpec(tuple(groups), tuple(fields))


def schema_defaults() -> dict:
    """The raw dict of every field that has a default (required fields and null sections left out)."""

    def walk(model: type[BaseModel]) -> dict:
        out: dict = {}
        for name, info in model.model_fields.items():
            annotation, _ = _unwrap_optional(info.annotation)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel) and info.is_required():
                out[name] = walk(annotation)
            elif not info.is_required():
                out[name] = _default(info)
        return out

    return walk(Config)


# ---------------------------------------------------------------------- dotted paths in raw dicts
def get_path(raw: Any, path: str, default: Any = MISSING) -> Any:
    """``raw["train"]["lr"]`` for ``"train.lr"``; ``default`` when a key is missing or a section is not a dict."""
    node = raw
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def set_path(raw: dict, path: str, value: Any) -> dict:
    """Set ``path`` in place, creating sections (a null or scalar section on the way becomes a dict)."""
    keys = path.split(".")
    node = raw
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value
    return raw


def del_path(raw: dict, path: str) -> bool:
    """Remove ``path`` in place and the sections it leaves empty; False when it was not there."""
    keys = path.split(".")
    trail = [raw]
    for key in keys[:-1]:
        nxt = trail[-1].get(key) if isinstance(trail[-1], dict) else None
        if not isinstance(nxt, dict):
            return False
        trail.append(nxt)
    if keys[-1] not in trail[-1]:
        return False
    del trail[-1][keys[-1]]
    for depth in range(len(keys) - 1, 0, -1):
        if trail[depth]:
            break
        del trail[depth - 1][keys[depth - 1]]
    return True


def leaves(raw: dict, prefix: str = "") -> dict[str, Any]:
    """Every non-dict value of ``raw`` by dotted path (an empty dict counts as a value)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(leaves(value, path))
        else:
            out[path] = value
    return out


# ---------------------------------------------------------------------- text <-> value
def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        pass
    if kind == "int":
        try:
            as_float = float(text)
        except ValueError:
            return text
        return int(as_float) if as_float.is_integer() else as_float
    return text


def parse_text(spec: FieldSpec, text: str) -> Any:
    """The raw value for what the user typed; text that is not of the field's kind is kept as a string
    so that validation names the problem (``Input should be a valid number``)."""
    text = text.strip()
    if spec.kind == "yaml":
        try:
            return yaml.safe_load(text) if text else []
        except yaml.YAMLError:
            return text  # kept as typed: validation says it is not a list
    if spec.kind in ("tuple", "list"):
        inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        if not inner.strip():
            return None if spec.optional and not text else []
        return [
            _number(p.strip(), spec.item_kind or "str") if spec.item_kind in ("int", "float") else p.strip()
            for p in inner.split(",")
        ]
    if not text:
        return None if spec.optional or spec.kind in ("int", "float") else ""
    if spec.kind in ("int", "float"):
        return _number(text, spec.kind)
    if spec.kind == "bool":
        return {"true": True, "false": False, "yes": True, "no": False}.get(text.lower(), text)
    return text


def format_value(spec: FieldSpec, value: Any) -> str:
    """The text an input box shows for a raw value (the inverse of :func:`parse_text`)."""
    if value is None or value is MISSING:
        return ""
    if spec.kind == "yaml":
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip() if value != [] else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _num(value) if value.is_integer() and spec.kind == "float" and abs(value) < 1e15 else repr(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(spec, v) for v in value)
    if isinstance(value, dict):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


# ---------------------------------------------------------------------- validation
_KEY_IN_MESSAGE = re.compile(r"^([a-z_]+(?:\.[a-z_]+)+)\s*[=:]")


def _message(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling)"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validate_raw(
    raw: Any, source: str | None = None, spec: FormSpec | None = None
) -> tuple[Config | None, dict[str, str]]:
    """``(Config, {})`` when ``raw`` (``_base_`` already merged) is valid, else ``(None, {path: message})``.

    Errors are keyed by the dotted path of the field at fault: an element of a tuple reports on the
    tuple (``data.augment.scale_jitter: item 2: ...``), an unknown key under its own path, and a check
    across fields (``train.amp`` needs CUDA) under the key its message starts with. What belongs to no
    key (a file that is not a mapping) is under ``""``, naming ``source``.
    """
    where = f"{source}: " if source else ""
    if not isinstance(raw, dict):
        return None, {"": f"{where}expected a mapping at the top level, got {type(raw).__name__}"}
    try:
        return Config.model_validate(raw), {}
    except ValidationError as e:
        errors: dict[str, str] = {}
        spec = spec or _schema_only_spec()
        for err in e.errors():
            loc = [str(p) for p in err["loc"]]
            msg = _message(err)
            path = ".".join(loc)
            if not loc:
                m = _KEY_IN_MESSAGE.match(msg)
                path = m.group(1) if m and spec.owner(m.group(1)) else ""
                if not path:
                    msg = where + msg
            elif err["type"] != "extra_forbidden":
                owner = spec.owner(path) or path
                rest = path[len(owner) + 1 :] if path != owner else ""
                if rest.isdigit():
                    msg = f"item {int(rest) + 1}: {msg}"
                elif rest:
                    msg = f"{rest}: {msg}"
                path = owner
            errors[path] = f"{errors[path]}; {msg}" if path in errors else msg
        return None, errors


_SCHEMA_SPEC: FormSpec | None = None


def _schema_only_spec() -> FormSpec:
    """The specs without reading the zoo (arch choices empty): enough to place error messages."""
    global _SCHEMA_SPEC
    if _SCHEMA_SPEC is None:
        _SCHEMA_SPEC = field_specs(archs=[])
    return _SCHEMA_SPEC
