"""Moved to :mod:`studio.core.detections` (below evaluation and inference, which both use it); these names stay
importable from here for studio.gui until it imports them from there."""

from studio.core.detections import Detections, ImagePrediction, UpscaledMasks, check_score_threshold

__all__ = ["Detections", "ImagePrediction", "UpscaledMasks", "check_score_threshold"]
