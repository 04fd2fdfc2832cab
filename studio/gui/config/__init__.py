"""The Config page: the schema-generated form, the YAML view, the pre-flight panel, "New from dataset…"
and the jobs they run.

Import the pieces from their modules; this package file imports nothing.
"""
