"""The Data page: image list and thumbnail grid, image viewer, class table, check report, and the import
wizard, export and split dialogs with the jobs they run.

Import the pieces from their modules; this package file imports nothing.
"""
