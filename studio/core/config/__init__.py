"""Typed, validated run configuration saved as YAML, with ``_base_`` inheritance and overrides."""

from studio.core.config.loader import apply_overrides, load_config, merge, parse_override, resolve_raw, save_config
from studio.core.config.schema import Config, DataConfig, DatasetRef, ModelConfig, TrainConfig

__all__ = [
    "Config",
    "DataConfig",
    "DatasetRef",
    "ModelConfig",
    "TrainConfig",
    "load_config",
    "save_config",
    "resolve_raw",
    "merge",
    "apply_overrides",
    "parse_override",
]
