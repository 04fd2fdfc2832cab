"""The format's row in the export table. Kept light (no torch): the table is read at every `studio` start;
the export function lives in exporter.py and is imported only when someone exports."""

from studio.core.export.formats import ExportFormat, OptionSpec

FORMAT = ExportFormat(
    "torch-weights",
    "PyTorch weights",
    ".pt",
    "cpu",
    "model.pt: the weights with the architecture, classes, image size and thresholds, without the optimiser "
    "and training state of a checkpoint (a fraction of its size). Load it with exporter.load_model(path) "
    "where Studio is installed; verified by loading it back and comparing its predictions with the checkpoint's.",
    (
        OptionSpec(
            "fp16_weights",
            "bool",
            False,
            "store the weights as float16 (half the file size); loading turns them back into float32",
        ),
    ),
    exporter=".exporter:export",
)
