"""THE table of export formats and their options: the CLI's flags and checks and the wizard's pages come from it.

Each :class:`ExportFormat` lists its :class:`OptionSpec` (type, default, choices or range, help), so a
front end never hard-codes an option. :func:`unavailable` says, for an architecture and a device,
which options (or the whole format, key ``"format"``) cannot be used and why, in one sentence
a user can act on; :func:`validate_options` resolves a user's choices against the table and raises
:class:`StudioError` naming the option at fault.

This module imports neither torch nor onnx: the CLI builds its parser from it at every start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.core.environment import module_present, trt_major
from studio.core.errors import StudioError
from studio.core.plugins import Contribution, PluginError, register_kind, registry
from studio.core.plugins.discovery import resolve
from studio.core.plugins.manifest import is_object_ref

FORMAT_KEY = "format"  # key of :func:`unavailable`'s answer when the whole format cannot be used
OPSET_MIN, OPSET_MAX, OPSET_DEFAULT = 11, 20, 17


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "shape": "a shape BxHxW like 1x320x320",
    "str": "a string",
}


@dataclass(frozen=True)
class OptionSpec:
    """One export option: ``type`` is bool, int, float, str or shape (``"BxHxW"``, e.g. ``4x320x320``)."""

    name: str
    type: str
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def flag(self) -> str:
        """The command-line flag: ``max_det`` -> ``--max-det``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` converted to the option's type; a wrong value raises StudioError naming the option."""
        if value is None:
            return None
        try:
            if self.type == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    value = value.lower() in ("true", "1", "yes")
                v: Any = bool(value)
            elif self.type == "int":
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError(value)
                v = int(float(value))
            elif self.type == "float":
                v = float(value)
            elif self.type == "shape":
                v = parse_shape(value)
            else:
                v = str(value)
        except (TypeError, ValueError):
            raise StudioError(
                f"expected {_TYPE_WORDS.get(self.type, self.type)}, got {value!r}", item=self.name
            ) from None
        if self.choices is not None and v not in self.choices:
            raise StudioError(f"must be one of {', '.join(map(str, self.choices))}, got {v!r}", item=self.name)
        if self.minimum is not None and v < self.minimum:
            raise StudioError(f"must be at least {self.minimum:g}, got {v}", item=self.name)
        if self.maximum is not None and v > self.maximum:
            raise StudioError(f"must be at most {self.maximum:g}, got {v}", item=self.name)
        return v


def parse_shape(value: Any) -> tuple[int, int, int]:
    """``"4x320x320"`` (batch x height x width) or a 3-sequence -> (4, 320, 320), all positive."""
    parts = value.lower().split("x") if isinstance(value, str) else list(value)
    dims = tuple(int(p) for p in parts)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(value)
    return dims  # type: ignore[return-value]


def format_shape(shape: Iterable[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


@dataclass(frozen=True)
class ExportFormat:
    name: str  # what --format takes
    title: str  # what the wizard shows
    suffix: str  # the model file's extension
    device: str  # "cpu": runs and verifies anywhere; "gpu": needs an NVIDIA GPU
    description: str
    options: tuple[OptionSpec, ...] = field(default_factory=tuple)
    #: a plugin's format: its export function, or "module:function" (see studio.core.export.plugin_export)
    exporter: Any = field(default=None, compare=False, repr=False)

    def option(self, name: str) -> OptionSpec:
        for o in self.options:
            if o.name == name:
                return o
        raise StudioError(
            f"the {self.name} format has no option {name!r} (it has {', '.join(self.option_names)})", item=name
        )

    @property
    def option_names(self) -> list[str]:
        return [o.name for o in self.options]

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}


# ------------------------------------------------------------------------------------ the options
def _opset() -> OptionSpec:
    return OptionSpec(
        "opset",
        "int",
        OPSET_DEFAULT,
        f"ONNX opset ({OPSET_MIN}-{OPSET_MAX}); 17 is read by every current ONNX Runtime and TensorRT",
        minimum=OPSET_MIN,
        maximum=OPSET_MAX,
    )


def _simplify() -> OptionSpec:
    return OptionSpec(
        "simplify",
        "bool",
        False,
        "simplify the graph (constant folding, shape elimination) with onnxslim, or onnxsim when onnxslim is missing",
    )


def _half(what: str) -> OptionSpec:
    return OptionSpec("half", "bool", False, f"fp16 {what}: about half the size and faster on GPUs; GPU only")


def _score_thr() -> OptionSpec:
    return OptionSpec(
        "score_thr",
        "float",
        None,
        "lowest score the graph keeps (default: the checkpoint's model.score_thr); "
        "`studio infer --score-thr` can raise it, never lower it",
        minimum=0.0,
        maximum=1.0,
    )


def _max_det() -> OptionSpec:
    return OptionSpec(
        "max_det",
        "int",
        None,
        "most detections per image (default: the checkpoint's model.max_detections)",
        minimum=1,
        maximum=1000,
    )


def _nms_iou() -> OptionSpec:
    return OptionSpec(
        "nms_iou",
        "float",
        None,
        "IoU above which NMS drops the lower-scoring of two boxes of one class (default: the model's own, what "
        "`studio predict` uses: 0.6 for seg_fast / det_fast, torchvision's for its detectors, 0.5 for the R-CNNs)",
        minimum=0.01,
        maximum=1.0,
    )


def _pre_nms_topk() -> OptionSpec:
    return OptionSpec(
        "pre_nms_topk",
        "int",
        None,
        "candidates kept, best scores first, before NMS (default: the model's own, what `studio predict` uses: "
        "1000 for seg_fast / det_fast; the R-CNNs: proposals per FPN level before the RPN's NMS)",
        minimum=1,
        maximum=100000,
    )


#: the zoo's families whose NMS settings studio.core.models.nms knows where to set
NMS_FAMILIES = frozenset({"fast", "lite", "faster_rcnn", "mask_rcnn", "retinanet", "fcos", "ssd", "ssdlite"})


ONNX = ExportFormat(
    "onnx",
    "ONNX",
    ".onnx",
    "cpu",
    "One image per run, as torchvision's detectors export: outputs boxes (N, 4), scores (N), labels (N) and, "
    "for segmenters, masks (N, 1, M, M) (mask probabilities inside each box), with N the detections found.",
    (
        _opset(),
        OptionSpec(
            "dynamic",
            "bool",
            False,
            "any image size (the input is 1x3xHxW), for your own preprocessing; `studio infer` pads every image "
            "to image_size x image_size like `studio predict` either way, so both give predict's detections",
        ),
        _half("weights and compute"),
        _simplify(),
        _score_thr(),
        _max_det(),
        _nms_iou(),
        _pre_nms_topk(),
    ),
)

ONNX_E2E = ExportFormat(
    "onnx-e2e",
    "ONNX end-to-end",
    ".onnx",
    "cpu",
    "Batches in, fixed-size results out, the detector's NMS inside the graph: outputs num_dets (B, 1), "
    "boxes (B, max_det, 4), scores (B, max_det), labels (B, max_det) and, for segmenters, masks "
    "(B, max_det, M, M); rows past num_dets are zeros. What TensorRT and most serving stacks want.",
    (
        _opset(),
        OptionSpec("dynamic", "bool", False, "any batch size and any image size (input Bx3xHxW)"),
        OptionSpec("batch", "int", 1, "images per run when not dynamic", minimum=1, maximum=64),
        _half("weights and compute"),
        _simplify(),
        _score_thr(),
        _max_det(),
        _nms_iou(),
        _pre_nms_topk(),
    ),
)

OPENVINO = ExportFormat(
    "openvino",
    "OpenVINO",
    ".xml",
    "cpu",
    "The ONNX export converted to an OpenVINO IR (model.xml + model.bin) for Intel CPUs, GPUs and NPUs: one "
    "image per run, the same outputs as ONNX. Runs with the openvino package (pip install 'studio[openvino]').",
    # the ONNX format's options (the graph converted is that one), fp16 weights instead of fp16 compute
    tuple(o for o in ONNX.options if o.name != "half")
    + (
        OptionSpec(
            "fp16_weights",
            "bool",
            False,
            "store the weights as fp16 (half the .bin; OpenVINO computes in fp32 on the CPU all the same)",
        ),
    ),
)

ENGINE = ExportFormat(
    "engine",
    "TensorRT engine",
    ".engine",
    "gpu",
    "A TensorRT engine built from the end-to-end ONNX graph for the GPU it is built on. An engine only runs on "
    "that GPU model with that TensorRT version; the build settings are written beside it (model.engine.json).",
    (
        _opset(),
        OptionSpec("dynamic", "bool", False, "dynamic batch and image size, within the optimisation profile"),
        OptionSpec("batch", "int", 1, "images per run when not dynamic", minimum=1, maximum=64),
        _half("kernels (TensorRT 10: builder flag; TensorRT 11: an fp16 ONNX graph, strongly typed)"),
        OptionSpec(
            "int8",
            "bool",
            False,
            "int8 kernels calibrated on val images (TensorRT 10: entropy calibrator; "
            "TensorRT 11: Q/DQ nodes from nvidia-modelopt)",
        ),
        OptionSpec("calib_images", "int", 64, "val images read for int8 calibration", minimum=1, maximum=5000),
        OptionSpec("workspace", "float", 4.0, "builder workspace limit in GiB", minimum=0.25, maximum=1024.0),
        OptionSpec(
            "min_shape", "shape", None, "optimisation profile, smallest input BxHxW (dynamic only; default 1x32x32)"
        ),
        OptionSpec(
            "opt_shape",
            "shape",
            None,
            "optimisation profile, the input BxHxW tuned for (default 1 x image_size x image_size)",
        ),
        OptionSpec(
            "max_shape",
            "shape",
            None,
            "optimisation profile, largest input BxHxW (default batch x image_size x image_size)",
        ),
        _simplify(),
        _score_thr(),
        _max_det(),
        _nms_iou(),
        _pre_nms_topk(),
    ),
)


def _add(table: dict[str, ExportFormat], fmt: ExportFormat) -> None:
    """Put ``fmt`` into ``table``: every format goes in here, the built-in ones and the plugins'."""
    if fmt.name in table and table[fmt.name] is not fmt:
        raise PluginError(f"the name {fmt.name!r} is taken by a built-in export format: rename it")
    table[fmt.name] = fmt


class _FormatTable(Mapping):
    """The built-in formats, then the plugins' (added the first time the table is read)."""

    def __init__(self, builtin: Iterable[ExportFormat]):
        self._builtin = tuple(builtin)
        self._all: dict[str, ExportFormat] | None = None

    def _table(self) -> dict[str, ExportFormat]:
        if self._all is None:
            table: dict[str, ExportFormat] = {}
            for f in self._builtin:
                _add(table, f)
            self._all = table  # a plugin reading the table while it is imported sees the built-ins
            registry().install("export_formats", functools.partial(_add, table))
        return self._all

    def reload(self) -> None:
        """Read the plugins again at the next use."""
        self._all = None

    def __getitem__(self, name: str) -> ExportFormat:
        return self._table()[name]

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


FORMATS: Mapping[str, ExportFormat] = _FormatTable((ONNX, ONNX_E2E, ENGINE, OPENVINO))


def _check_plugin_format(c: Contribution, obj: Any) -> ExportFormat:
    """A plugin's export format is an ExportFormat named as in its manifest, with its exporter."""
    if not isinstance(obj, ExportFormat):
        raise PluginError(f"expected an ExportFormat (studio.core.export.formats), got {type(obj).__name__}")
    if obj.name != c.name:
        raise PluginError(
            f"the ExportFormat is named {obj.name!r} but the manifest calls it {c.name!r}: make them the same"
        )
    if obj.exporter is None:
        raise PluginError("the ExportFormat has no exporter: pass exporter='module:function' (or the function)")
    if isinstance(obj.exporter, str) and not is_object_ref(obj.exporter):
        raise PluginError(f"exporter {obj.exporter!r} is not 'module:function'")
    if not isinstance(obj.exporter, str) and not callable(obj.exporter):
        raise PluginError(f"exporter must be a function or 'module:function', got {type(obj.exporter).__name__}")
    return obj


register_kind("export_formats", validate=_check_plugin_format, forget=FORMATS.reload)


def exporter_of(fmt: ExportFormat) -> Callable:
    """The export function of a plugin's format (``exporter`` resolved inside its plugin's package)."""
    exporter = fmt.exporter
    if not isinstance(exporter, str):
        return exporter
    c = registry().find("export_formats", fmt.name)
    try:
        fn = resolve(exporter, c.plugin.package if c is not None else None)
    except PluginError as e:
        if c is not None:
            c.fail(f"exporter: {e}")
        raise StudioError(f"the {fmt.name} exporter cannot be loaded: {e}", item=fmt.name) from None
    if not callable(fn):
        raise StudioError(f"the {fmt.name} exporter {exporter!r} is not a function", item=fmt.name)
    return fn


def format_names() -> list[str]:
    return list(FORMATS)


def get_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise StudioError(f"unknown export format {name!r}: use one of {', '.join(FORMATS)}", item="format") from None


# ------------------------------------------------------------------------------------ availability
@dataclass(frozen=True)
class ArchInfo:
    """What availability depends on: the zoo's family and task, and whether inputs are square anyway."""

    name: str
    family: str
    task: str
    square_input: bool = False


def arch_info(arch: str | ArchInfo) -> ArchInfo:
    if isinstance(arch, ArchInfo):
        return arch
    from studio.core.models import (
        get_arch,  # deferred: torch, torchvision; imports torch: only when asked about an architecture
    )

    spec = get_arch(arch)
    return ArchInfo(spec.name, spec.family, spec.task, spec.square_input)


def _module_present(name: str) -> bool:
    return module_present(name)  # called through this name: the tests replace it


def tensorrt_missing(device: str) -> str | None:
    """Why a TensorRT engine cannot be built here (what is missing and how to get it), or None."""
    if device != "gpu":
        return (
            "TensorRT engines are built and run on an NVIDIA GPU, and none is visible here: export on a machine "
            "with an NVIDIA GPU and driver (check with `nvidia-smi` and `studio doctor`)"
        )
    if not _module_present("tensorrt"):
        return "TensorRT is not installed: pip install 'studio[tensorrt]' (the tensorrt wheel, 10.x or 11.x)"
    return None


def openvino_missing() -> str | None:
    """Why an OpenVINO model cannot be converted or run here, or None."""
    if _module_present("openvino"):
        return None
    return "OpenVINO is not installed: pip install 'studio[openvino]' (the openvino wheel, 2024.0 or newer)"


def fp16_converter_missing() -> str | None:
    if _module_present("onnxconverter_common"):
        return None
    return "fp16 ONNX conversion needs onnxconverter-common: pip install onnxconverter-common"


def unavailable(
    fmt: str | ExportFormat,
    arch: str | ArchInfo | None = None,
    options: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> dict[str, str]:
    """``{option: why it cannot be used}`` for ``fmt`` on ``arch`` with ``device`` ("cpu" or "gpu").

    The key ``"format"`` means the whole format is out. ``options`` (the user's current choices) matter
    where one choice rules out another (``batch`` with ``dynamic``, ``int8`` without calibration data).
    """
    f = fmt if isinstance(fmt, ExportFormat) else get_format(fmt)
    opts = dict(options or {})
    out: dict[str, str] = {}
    info = arch_info(arch) if arch is not None else None
    if f.device == "gpu":
        missing = tensorrt_missing(device)
        if missing:
            out[FORMAT_KEY] = missing
    if f.name == "openvino":
        missing = openvino_missing()
        if missing:
            out[FORMAT_KEY] = missing
    if "half" in f.option_names:
        if device != "gpu":
            out["half"] = (
                "fp16 needs a GPU: ONNX Runtime's CPU provider has no fp16 kernels for most layers, "
                "so the model could neither run nor be verified here"
            )
        elif f.name != "engine":
            missing = fp16_converter_missing()
            if missing:
                out["half"] = missing
    if f.name in ("onnx", "openvino"):
        out.setdefault(
            "batch",
            "plain ONNX returns a variable number of detections for one image, so it runs one "
            "image at a time; use onnx-e2e (padded outputs) for batches",
        )
    if "batch" in f.option_names and opts.get("dynamic"):
        out["batch"] = "a dynamic export takes any batch size; batch only fixes it for a static export"
    if f.name == "engine" and not opts.get("dynamic"):
        for k in ("min_shape", "opt_shape", "max_shape"):
            out[k] = "an optimisation profile only applies to a dynamic engine (pass dynamic)"
    if f.name == "engine" and not opts.get("int8"):
        out["calib_images"] = "only int8 engines are calibrated"
    if (
        f.name == "engine"
        and opts.get("int8")
        and device == "gpu"
        and _trt_major() >= 11
        and not _module_present("modelopt")
    ):
        out["int8"] = (
            "TensorRT 11 removed implicit int8 calibration; it needs Q/DQ nodes from nvidia-modelopt: "
            "pip install 'nvidia-modelopt[onnx]'"
        )
    if info is not None and info.family not in NMS_FAMILIES:
        for k in ("nms_iou", "pre_nms_topk"):
            if k in f.option_names:
                out[k] = (
                    f"{info.name} is of the {info.family!r} family, whose NMS settings Studio does not know: "
                    "the export keeps the model's own"
                )
    if info is not None and info.square_input and "dynamic" in f.option_names and f.name in ("onnx", "openvino"):
        # SSD's anchors are laid out for its square input: other sizes would not match its training
        out["dynamic"] = (
            f"{info.name} takes square image_size x image_size inputs only (its default boxes are laid "
            "out for that size); the static export is already exact"
        )
    return out


def _trt_major() -> int:
    try:
        return trt_major()
    except Exception:
        return 0


def validate_options(
    fmt: str | ExportFormat,
    options: Mapping[str, Any] | None = None,
    arch: str | ArchInfo | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """The format's defaults overlaid with ``options``, each checked; raises StudioError on the first problem.

    Options left at None (or their default) are never refused; an option the user set that
    :func:`unavailable` rules out is refused with its reason, before any export work starts.
    """
    f = fmt if isinstance(fmt, ExportFormat) else get_format(fmt)
    given = {k: v for k, v in (options or {}).items() if v is not None}
    for k in given:
        if k not in f.option_names:
            why = unavailable(f, arch, given, device).get(k)
            if why:
                raise StudioError(f"cannot be used with {f.name}: {why}", item=k)
            raise StudioError(
                f"the {f.name} format has no option {k!r}; its options are {', '.join(f.option_names)}", item=k
            )
    resolved = f.defaults()
    for k, v in given.items():
        resolved[k] = f.option(k).check(v)
    blocked = unavailable(f, arch, resolved, device)
    if FORMAT_KEY in blocked:
        raise StudioError(f"cannot export to {f.title}: {blocked[FORMAT_KEY]}", item=f.name)
    for k in given:
        if k in blocked and resolved[k] != f.option(k).default and resolved[k] not in (False, None):
            raise StudioError(f"cannot be used here: {blocked[k]}", item=k)
    if f.name == "engine" and resolved.get("dynamic"):
        _check_profile(resolved)
    return resolved


def _check_profile(opts: dict[str, Any]) -> None:
    shapes = [opts.get(k) for k in ("min_shape", "opt_shape", "max_shape")]
    if all(s is not None for s in shapes):
        lo, mid, hi = shapes
        if not all(a <= b <= c for a, b, c in zip(lo, mid, hi)):
            raise StudioError(
                f"the profile needs min <= opt <= max in every dimension, got min {format_shape(lo)}, "
                f"opt {format_shape(mid)}, max {format_shape(hi)}",
                item="opt_shape",
            )


def describe_table() -> list[dict[str, Any]]:
    """The table as plain data (JSON-ready), e.g. for a front end that is not Python."""
    return [
        {
            "name": f.name,
            "title": f.title,
            "suffix": f.suffix,
            "device": f.device,
            "description": f.description,
            "options": [
                {
                    "name": o.name,
                    "type": o.type,
                    "default": o.default,
                    "choices": list(o.choices) if o.choices else None,
                    "minimum": o.minimum,
                    "maximum": o.maximum,
                    "help": o.help,
                    "flag": o.flag,
                }
                for o in f.options
            ],
        }
        for f in FORMATS.values()
    ]
