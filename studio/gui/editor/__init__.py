"""Annotation editing on the Data page's image view: tools, handles, the controller and its toolbar.

Import the pieces from their modules (``studio.gui.editor.controller``, ``.toolbar``...); this package
file imports nothing so the Qt-free helpers (``hit``, ``stats``) load without Qt.
"""
