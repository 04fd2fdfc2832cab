"""Tracing a zoo model into an ONNX graph, and the graph-level steps after it (simplify, fp16, metadata).

Exporter choice: the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``). torchvision's
detectors are written for it: their data-dependent parts (the NMS of an empty set, the per-level RoI
merge, the anchor grid of a dynamic image size) are ``@torch.jit._script_if_tracing`` helpers and
``torchvision._is_tracing()`` branches that become ONNX ``If`` / ``Loop`` nodes, and torchvision's own
ONNX tests cover opsets 11-17 this way. The dynamo exporter re-traces them with data-dependent shape
guards that fail on these models, so it is not used.

What differs from the eager model: :class:`ExportTransform` returns the mask head's RoI probabilities
(N, 1, M, M) instead of pasting them into full-size masks. torchvision's traceable paste is an ONNX
Loop of one resize per detection, slower than the rest of seg_lite together on ONNX Runtime; the
runner pastes them with OpenCV (:mod:`studio.core.export.postprocess`), bit for bit the same way.
"""

from __future__ import annotations

import contextlib
import copy
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.ops import poolers

from studio.core.errors import StudioError
from studio.core.models.transform import NoResizeTransform

STUDIO_META_KEY = "studio"


class ExportTransform(NoResizeTransform):
    """:class:`NoResizeTransform` whose post-processing keeps RoI mask probabilities unpasted."""

    def postprocess(self, result, image_shapes, original_image_sizes):
        if self.training:
            return result
        for i, pred in enumerate(result):
            keep = pred["labels"] > 0
            kept: dict[str, torch.Tensor] = {}
            for k, v in pred.items():
                kept[k] = v[keep]
            result[i] = kept
        return result


def export_ready(model: nn.Module, score_thr: float, max_det: int) -> nn.Module:
    """A copy of ``model`` in eval mode, with the export transform and the given thresholds."""
    from studio.core.inference.predictor import configure_postprocess  # deferred: cv2, numpy

    m = copy.deepcopy(model).cpu().eval()
    old = getattr(m, "transform", None)
    if not isinstance(old, NoResizeTransform):
        raise StudioError(
            f"{getattr(m, 'studio_arch', type(m).__name__)} does not use Studio's no-resize transform; "
            "only zoo models can be exported"
        )
    m.transform = ExportTransform(old.image_mean, old.image_std, old.size_divisible)
    configure_postprocess(m, score_thr, max_det)
    return m


def mask_size(model: nn.Module) -> int | None:
    """The side M of the mask head's output (28 for torchvision's and the lite heads), None without masks.

    Models that are not R-CNNs but give box-relative masks too (``seg_fast``) say so in ``mask_size``.
    """
    own = getattr(model, "mask_size", None)
    if isinstance(own, int):
        return own
    heads = getattr(model, "roi_heads", None)
    if heads is None or getattr(heads, "mask_roi_pool", None) is None:
        return None
    return int(heads.mask_roi_pool.output_size[0]) * 2  # the predictor's transposed conv doubles the RoI size


class SingleImage(nn.Module):
    """(1, 3, H, W) float in [0, 1] -> boxes (N, 4), scores (N), labels (N) [, masks (N, 1, M, M)]."""

    def __init__(self, model: nn.Module, with_masks: bool):
        super().__init__()
        self.model = model
        self.with_masks = with_masks

    def forward(self, images: torch.Tensor):
        out = self.model([images[0]])[0]
        res = [out["boxes"], out["scores"], out["labels"]]
        if self.with_masks:
            res.append(out["masks"])
        return tuple(res)


def _merge_levels_by_gather(levels: torch.Tensor, unmerged_results: list[torch.Tensor]) -> torch.Tensor:
    """torchvision's ``_onnx_merge_levels`` as one Concat and one Gather instead of a ScatterElements per level.

    The RoIs pooled level by level are concatenated, and the inverse of the order they were taken in
    (an argsort, TopK in ONNX) puts them back in place. torchvision's version scatters the whole
    (R, C, 7, 7) result once per FPN level: a fifth of the CPU time of fasterrcnn_mobilenet_v3_large_320_fpn
    on ONNX Runtime, for what a row gather does.
    """
    order = torch.cat([torch.where(levels == k)[0] for k in range(len(unmerged_results))])
    return torch.cat(unmerged_results, 0)[torch.argsort(order)]


@contextlib.contextmanager
def _fast_roi_merge():
    """Trace MultiScaleRoIAlign with :func:`_merge_levels_by_gather` (only the traced path uses it)."""
    original = poolers._onnx_merge_levels
    poolers._onnx_merge_levels = _merge_levels_by_gather
    try:
        yield
    finally:
        poolers._onnx_merge_levels = original


def trace_to_onnx(
    module: nn.Module,
    dummy: torch.Tensor,
    path: str | Path,
    *,
    opset: int,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, Any] | None,
    what: str,
) -> None:
    """Run the TorchScript exporter; any failure becomes a StudioError naming the model and the first error line."""
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), _fast_roi_merge():
            warnings.simplefilter("ignore")  # TracerWarnings on every shape-to-int conversion: expected here
            torch.onnx.export(
                module,
                (dummy,),
                str(path),
                dynamo=False,
                opset_version=int(opset),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes or None,
                do_constant_folding=True,
            )
    except StudioError:
        raise
    except Exception as e:  # the exporter raises a zoo of types (RuntimeError, SymbolicValueError, ...)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise StudioError(f"the ONNX exporter failed on {what} at opset {opset}: {first}", file=path) from None


def simplify(path: str | Path) -> str:
    """Simplify the ONNX file in place with onnxslim (or onnxsim); returns the tool used."""
    import onnx  # deferred: onnx

    path = Path(path)
    model = onnx.load(str(path))
    try:
        import onnxslim

        slim = onnxslim.slim(model)
        tool = f"onnxslim {getattr(onnxslim, '__version__', '')}".strip()
    except ImportError:
        try:
            import onnxsim  # type: ignore
        except ImportError:
            raise StudioError("simplify needs onnxslim or onnxsim: pip install onnxslim", file=path) from None
        slim, ok = onnxsim.simplify(model)
        if not ok:
            raise StudioError(
                "onnxsim could not validate the simplified graph; export without simplify", file=path
            ) from None
        tool = "onnxsim"
    except Exception as e:
        raise StudioError(
            f"simplification failed ({type(e).__name__}: {str(e)[:200]}); export without simplify", file=path
        ) from None
    copy_metadata(model, slim)
    onnx.save(slim, str(path))
    return tool


#: ops kept in fp32 by the fp16 conversion: index/score arithmetic whose ONNX kernels take float only
FP32_OPS = [
    "NonMaxSuppression",
    "RoiAlign",
    "TopK",
    "Range",
    "Resize",
    "ReduceMax",
    "ReduceMin",
    "Exp",
    "Log",
    "Sigmoid",
    "Softmax",
    "Div",
    "Clip",
]


def convert_fp16(path: str | Path) -> None:
    """fp16 weights and compute, fp32 inputs and outputs (``keep_io_types``), in place."""
    import onnx  # deferred: onnx

    try:
        from onnxconverter_common import float16  # type: ignore
    except ImportError:
        raise StudioError(
            "fp16 ONNX conversion needs onnxconverter-common: pip install onnxconverter-common", file=path
        ) from None
    model = onnx.load(str(path))
    half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=FP32_OPS)
    copy_metadata(model, half)
    onnx.save(half, str(path))


def copy_metadata(src, dst) -> None:
    have = {p.key for p in dst.metadata_props}
    for p in src.metadata_props:
        if p.key not in have:
            dst.metadata_props.add(key=p.key, value=p.value)


def set_metadata(path: str | Path, meta: dict) -> None:
    """Store ``meta`` as JSON under the ``studio`` key of the model's metadata (ONNX Runtime reads it back)."""
    import onnx  # deferred: onnx

    model = onnx.load(str(path))
    for p in list(model.metadata_props):
        if p.key == STUDIO_META_KEY:
            model.metadata_props.remove(p)
    model.metadata_props.add(key=STUDIO_META_KEY, value=json.dumps(meta, sort_keys=True))
    model.producer_name = "studio"
    onnx.save(model, str(path))


def check_model(path: str | Path) -> None:
    """The ONNX checker, as a StudioError naming the file."""
    import onnx  # deferred: onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as e:
        raise StudioError(f"the exported graph is not valid ONNX: {str(e).splitlines()[0][:300]}", file=path) from None
