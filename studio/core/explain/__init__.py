"""Looking inside a trained detector: feature maps of chosen layers and class activation maps (CAM).

Pure Python and torch, no Qt: ``studio featmap`` / ``studio cam`` and the GUI's Inspect page run the
same jobs (:mod:`studio.core.explain.jobs`).
"""
