"""Export to ONNX, end-to-end ONNX and TensorRT, self-verification, and running exports without PyTorch.

- :mod:`.formats`: the table of formats and options (CLI flags, wizard pages, availability reasons);
- :mod:`.setup`: what every export starts with (checkpoint, options, verification images, output folder);
- :mod:`.jobs`: ``export_checkpoint`` (trace, post-process, build, verify, report) and ``infer_images``;
- :mod:`.plugin_export`: the same job around a plugin's export function;
- :mod:`.onnx_export`, :mod:`.e2e`, :mod:`.tensorrt_build`: the graph and engine steps;
- :mod:`.runtime`, :mod:`.postprocess`, :mod:`.trt_runtime`: the torch-free runners;
- :mod:`.verify`, :mod:`.report`: PyTorch against the export, and ``export_report.json``.

Only the table is imported here: the runners must stay importable without torch.
"""

from studio.core.export.formats import (
    FORMATS,
    ExportFormat,
    OptionSpec,
    format_names,
    get_format,
    unavailable,
    validate_options,
)

__all__ = ["FORMATS", "ExportFormat", "OptionSpec", "format_names", "get_format", "unavailable", "validate_options"]
