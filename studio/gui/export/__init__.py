"""The Export page: format and options from the format table, the export job, the verification report.

Import the pieces from their modules; this package file imports nothing.
"""
