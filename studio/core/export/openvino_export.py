"""The OpenVINO format's build step: the plain ONNX export converted to an OpenVINO IR (``model.xml`` + ``model.bin``).

The ONNX graph is the one ``--format onnx`` writes (one image in, the detections found out), so the IR
needs no post-processing of its own: the runner (:mod:`.openvino_runtime`) hands its outputs to the
same :mod:`.postprocess` as ONNX Runtime. ``openvino.convert_model`` reads the ONNX file with
OpenVINO's ONNX front end; ``openvino.save_model`` writes the IR with fp32 weights unless ``fp16_weights``
is set (OpenVINO's own default compresses them to fp16, which changes the predictions a little).
The Studio metadata goes into the IR's runtime info (key ``studio``), where the runner reads it back.

One rewrite before the conversion (:func:`runtime_empty_constants`): OpenVINO reads a zero-size ONNX constant
as one element. torchvision's ``batched_nms`` returns such a constant when no box passed the score threshold,
and the IR then reported one detection of random memory (a label like 1098907649) where ONNX Runtime and
PyTorch report none. Each zero-size constant is made at run time instead, as an empty slice of a one-row
constant, which OpenVINO gets right; the graph computes the same values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError
from studio.core.export.openvino_runtime import META_KEY, import_openvino

MODEL_XML = "model.xml"


def convert_to_openvino(
    onnx_path: str | Path, xml_path: str | Path, info: dict, fp16_weights: bool = False
) -> list[Path]:
    """Convert ``onnx_path`` into ``xml_path`` (and the .bin beside it) with ``info`` as its Studio metadata.

    Returns the files written. A graph OpenVINO cannot read raises StudioError naming the ONNX file.
    """
    ov = import_openvino()
    onnx_path, xml_path = Path(onnx_path), Path(xml_path)
    source = xml_path.with_name(xml_path.stem + ".openvino-source.onnx")  # beside the IR, removed below
    try:
        _rewrite_for_openvino(onnx_path, source)
        model = ov.convert_model(str(source))
    except StudioError:
        raise
    except Exception as e:  # the front end raises OpConversionFailure & co. with multi-line C++ messages
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise StudioError(f"OpenVINO cannot convert the ONNX graph: {first}", file=onnx_path) from None
    finally:
        source.unlink(missing_ok=True)
    model.set_rt_info(json.dumps({**info, "format": "openvino"}, sort_keys=True), [META_KEY])
    try:
        ov.save_model(model, str(xml_path), compress_to_fp16=bool(fp16_weights))
    except Exception as e:
        raise StudioError(f"OpenVINO cannot write the model: {str(e).strip()[:300]}", file=xml_path) from None
    return [xml_path, xml_path.with_suffix(".bin")]


def _rewrite_for_openvino(onnx_path: Path, out: Path) -> None:
    """Write ``onnx_path`` to ``out`` with :func:`runtime_empty_constants` applied (an unreadable file: StudioError)."""
    import onnx  # deferred: onnx

    try:
        model = onnx.load(str(onnx_path))
    except Exception as e:  # DecodeError, OSError...: the file is not an ONNX model
        raise StudioError(
            f"OpenVINO cannot convert the ONNX graph: not a readable ONNX file ({e})", file=onnx_path
        ) from None
    runtime_empty_constants(model.graph)
    onnx.save(model, str(out))


def runtime_empty_constants(graph: Any) -> int:
    """Replace every zero-size ``Constant`` of ``graph`` and its subgraphs (If / Loop bodies) by an empty slice of a
    one-row constant of the same type (see the module docstring); returns how many were replaced."""
    import onnx  # deferred: onnx
    from onnx import helper, numpy_helper  # deferred: onnx

    count = 0
    nodes = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                count += runtime_empty_constants(attr.g)
            for g in attr.graphs:
                count += runtime_empty_constants(g)
        value = node.attribute[0] if node.op_type == "Constant" and len(node.attribute) == 1 else None
        if value is None or value.name != "value" or 0 not in value.t.dims:
            nodes.append(node)
            continue
        empty = numpy_helper.to_array(value.t)
        axis = empty.shape.index(0)
        one_row = np.zeros(empty.shape[:axis] + (1,) + empty.shape[axis + 1 :], empty.dtype)
        out = node.output[0]
        names = [f"{out}__one_row", f"{out}__zero", f"{out}__axis"]
        nodes += [
            helper.make_node("Constant", [], [names[0]], value=numpy_helper.from_array(one_row)),
            helper.make_node("Constant", [], [names[1]], value=numpy_helper.from_array(np.array([0], np.int64))),
            helper.make_node("Constant", [], [names[2]], value=numpy_helper.from_array(np.array([axis], np.int64))),
            helper.make_node("Slice", [names[0], names[1], names[1], names[2]], [out]),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count
