"""The Inspect page: predictions worst first (TP / FP / FN, confusion matrix, PR curves), feature maps, CAM.

Import the pieces from their modules; this package file imports nothing.
"""
