"""The Train page: run controls, live charts, the runs table and the jobs they run.

Import the pieces from their modules; this package file imports nothing.
"""
