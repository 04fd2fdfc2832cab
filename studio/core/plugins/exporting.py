"""Moved to :mod:`studio.core.export.plugin_export`, with the rest of the export jobs. Plugins import
:class:`ExportContext` and :class:`ExportOutput` from here (docs/plugins.md), so the names stay importable."""

from studio.core.export.plugin_export import ExportContext, ExportOutput, run_plugin_export

__all__ = ["ExportContext", "ExportOutput", "run_plugin_export"]
