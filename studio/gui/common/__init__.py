"""What several pages and the main window share: workers and their status, the log panel, colours, the
image canvas and its overlays, the run and checkpoint picker, message parts, plugin and workspace UI.

Import the pieces from their modules; this package file imports nothing.
"""
