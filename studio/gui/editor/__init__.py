"""Annotation editing on the Data page's image view: tools, handles, the Qt-free state, the controller and its
toolbar.

Import the pieces from their modules (``studio.gui.editor.controller``, ``.toolbar``...); this package file
imports nothing. The Qt-free rules the tools follow live in :mod:`studio.core.dataset.hit` (hit tests,
vertex and box edits) and :mod:`studio.core.dataset.summary` (counts kept in step with edits).
"""
