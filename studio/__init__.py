"""Studio: annotate, convert, train, inspect and export detectors and instance segmenters."""

__version__ = "0.1.0"
