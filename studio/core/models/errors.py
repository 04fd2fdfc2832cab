"""Errors of the model zoo: an unknown architecture, weights that cannot be found or loaded."""

from __future__ import annotations

from studio.core.errors import StudioError


class ModelError(StudioError):
    """An architecture name is unknown, or a model cannot be built as asked."""


class WeightsError(ModelError):
    """Weights named in ``model.weights`` cannot be found, downloaded or loaded into the model."""
