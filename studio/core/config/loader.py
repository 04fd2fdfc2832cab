"""Load configs: ``_base_`` inheritance (merged key by key), ``--set key=value`` overrides, validation.

Errors name the file and the key: ``cfg.yaml: train.epochs: Input should be a valid integer``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from studio.core import atomic
from studio.core.config.schema import Config, rename_old_keys, renamed_path
from studio.core.errors import StudioError

BASE_KEY = "_base_"


class ConfigError(StudioError):
    """A config file cannot be read, merged or validated."""


def merge(base: dict, override: dict) -> dict:
    """Key-by-key merge: dicts merge recursively, anything else in ``override`` replaces."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"broken YAML{where}: {getattr(e, 'problem', e)}", file=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", file=path)
    return rename_old_keys(data)  # before any merge: a base and its child may spell a key differently


def resolve_raw(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The config as a plain dict with its ``_base_`` files merged in (bases first, in order)."""
    path = Path(path).resolve()
    if path in _chain:
        raise ConfigError(f"_base_ cycle: {' -> '.join(p.name for p in (*_chain, path))}", file=path)
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{BASE_KEY} must be a file name or a list of them", file=path)
    merged: dict = {}
    for b in bases:
        merged = merge(merged, resolve_raw(path.parent / b, (*_chain, path)))
    merged = merge(merged, data)
    # paths to data stay relative to the file that named them
    absolutise_data_paths(data, merged, path.parent)
    return merged


def absolutise_data_paths(own: dict, merged: dict, folder: Path) -> None:
    """In ``merged``, the relative weights file and train / val paths that the config file's ``own`` keys set,
    made absolute against ``folder`` (the file's folder)."""
    weights = (own.get("model") or {}).get("weights")
    if isinstance(weights, str) and weights.endswith((".pt", ".pth")) and not Path(weights).is_absolute():
        merged["model"]["weights"] = str((folder / weights).resolve())
    for split in ("train", "val"):
        ref = (own.get("data") or {}).get(split)
        if not isinstance(ref, dict):
            continue
        for key in ("ann", "images"):
            v = ref.get(key)
            if isinstance(v, str) and v and not Path(v).is_absolute():
                merged["data"][split][key] = str((folder / v).resolve())


RELATIVE = re.compile(r"^\+\s*(\d+(?:\.\d+)?)$")


def _added(raw: dict, keys: list[str], more: float) -> float:
    """The config's value at ``keys`` plus ``more`` (a ``key=+N`` override); an error when it has no number there."""
    node: Any = raw
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    name = ".".join(keys)
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ConfigError(f"{name}=+{more:g} adds to the config's {name}, but it sets no number there")
    return node + more


def parse_override(text: str) -> tuple[list[str], Any]:
    """``train.epochs=24`` -> (["train", "epochs"], 24); values are parsed as YAML scalars or lists."""
    if "=" not in text:
        raise ConfigError(f"override must look like key=value, got {text!r}")
    key, value = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override has an empty key: {text!r}")
    parts = renamed_path(parts)
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return parts, parsed


def relative_amount(text: str) -> float | None:
    """``train.epochs=+5`` -> 5 (an amount to add); None for an absolute value (``=5``, ``=-1``, ``=abc``)."""
    value = text.split("=", 1)[1].strip() if "=" in text else ""
    m = RELATIVE.match(value)
    if m is None:
        return None
    return int(m.group(1)) if m.group(1).isdigit() else float(m.group(1))


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """``raw`` with each ``key=value`` set; ``key=+N`` adds N to the value the config has (``train.epochs=+5``:
    five more epochs than the file says; resuming a run, :func:`studio.core.training.runs.train_job` counts
    them from the epochs the run has done)."""
    out = copy.deepcopy(raw)
    for ov in overrides:
        keys, value = parse_override(ov)
        more = relative_amount(ov)
        if more is not None:
            value = _added(out, keys, more)
        node = out
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(f"cannot set {'.'.join(keys)}: {k} is not a section")
            node = nxt
        node[keys[-1]] = value
    return out


def validation_problems(e: ValidationError) -> list[str]:
    """One ``key: message`` line per problem of a failed :class:`Config` validation, in pydantic's order."""
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `studio config show` lists the keys)"
        lines.append(f"{loc}: {msg}")
    return lines


def validate(raw: dict, source: str | Path | None = None) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("; ".join(validation_problems(e)), file=source) from None


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    raw = apply_overrides(resolve_raw(path), overrides)
    return validate(raw, path)


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def save_config(cfg: Config, path: str | Path) -> None:
    """Atomic write of the resolved config."""
    atomic.write_text(path, to_yaml(cfg))
