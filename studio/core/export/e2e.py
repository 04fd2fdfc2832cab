"""The end-to-end graph: batches in, fixed-size padded results out (num_dets, boxes, scores, labels[, masks]).

torchvision's detectors loop over the images of a batch in Python (RPN filtering, RoI post-processing,
NMS per image), so tracing unrolls that loop to the traced batch size: a traced graph cannot take
another batch size. Two ways around it, both here:

- a static batch B is traced with B images (:class:`PaddedBatch`): the unrolled graph, which TensorRT
  builds best;
- a dynamic batch wraps the single-image graph in an ONNX ``Loop`` over the batch
  (:func:`loop_over_batch`), graph surgery on the ONNX file, independent of torch. Padded outputs make
  that possible: every iteration yields tensors of the same shape, which ``Loop`` stacks.
"""

from __future__ import annotations

import torch
from torch import nn

E2E_OUTPUTS = ("num_dets", "boxes", "scores", "labels")
E2E_MASKS = "masks"


def e2e_output_names(with_masks: bool) -> list[str]:
    return list(E2E_OUTPUTS) + ([E2E_MASKS] if with_masks else [])


def _pad(t: torch.Tensor, n: int) -> torch.Tensor:
    """First ``n`` rows of ``t`` followed by zeros: concatenate then slice, which traces for any number of rows."""
    zeros = torch.zeros((n,) + tuple(t.shape[1:]), dtype=t.dtype, device=t.device)
    return torch.cat([t, zeros], 0)[:n]


class PaddedBatch(nn.Module):
    """(B, 3, H, W) -> num_dets (B, 1) int32, boxes (B, D, 4), scores (B, D), labels (B, D) int32[, masks (B, D, M, M)].

    ``D`` is ``max_det``; rows past ``num_dets`` are zeros. int32 rather than int64 because TensorRT
    engines (and EfficientNMS-style consumers) expect it.
    """

    def __init__(self, model: nn.Module, max_det: int, with_masks: bool):
        super().__init__()
        self.model = model
        self.max_det = int(max_det)
        self.with_masks = with_masks

    def forward(self, images: torch.Tensor):
        outs = self.model(list(images.unbind(0)))
        nums, boxes, scores, labels, masks = [], [], [], [], []
        for o in outs:
            n = torch._shape_as_tensor(o["scores"])[:1].clamp(max=self.max_det)  # traced as Shape, not a constant
            nums.append(n.to(torch.int32))
            boxes.append(_pad(o["boxes"], self.max_det))
            scores.append(_pad(o["scores"], self.max_det))
            labels.append(_pad(o["labels"].to(torch.int32), self.max_det))
            if self.with_masks:
                masks.append(_pad(o["masks"][:, 0], self.max_det))
        res = [torch.stack(nums), torch.stack(boxes), torch.stack(scores), torch.stack(labels)]
        if self.with_masks:
            res.append(torch.stack(masks))
        return tuple(res)


def loop_over_batch(model, input_name: str = "images", batch_dim: str = "batch"):
    """An ONNX model taking (B, 3, H, W) from one that takes (1, 3, H, W) and returns (1, ...) tensors.

    The single-image graph becomes the body of a ``Loop`` over the batch: the body slices image i
    (Gather + Unsqueeze), runs the original nodes, squeezes the leading 1 off each output, and the
    Loop stacks the iterations' outputs back into (B, ...). The weights move to the outer graph (a
    Loop body may read outer-scope values), so the file does not grow.
    """
    import onnx  # deferred: onnx
    from onnx import TensorProto, helper  # deferred: onnx

    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    prefix = "studio_loop_"
    inner_in = prefix + "image"

    body_nodes = []
    idx, cond_in, cond_out = prefix + "i", prefix + "cond_in", prefix + "cond_out"
    body_nodes.append(helper.make_node("Gather", [input_name, idx], [prefix + "image3"], axis=0))
    body_nodes += _unsqueeze(prefix + "image3", inner_in, 0, opset, prefix + "axes0")
    # inside the body the original outputs get new names: the Loop's outputs take the original ones,
    # and a subgraph may not redefine a name of its enclosing graph
    renamed = {input_name: inner_in, **{o.name: prefix + "raw_" + o.name for o in g.output}}
    for node in g.node:
        n = copy_node(node)
        for k, name in enumerate(n.input):
            n.input[k] = renamed.get(name, name)
        for k, name in enumerate(n.output):
            n.output[k] = renamed.get(name, name)
        body_nodes.append(n)
    body_nodes.append(helper.make_node("Identity", [cond_in], [cond_out]))
    body_outputs = [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, [])]
    for out in g.output:
        squeezed = prefix + "item_" + out.name
        body_nodes += _squeeze(renamed[out.name], squeezed, 0, opset, prefix + "axes_sq_" + out.name)
        body_outputs.append(helper.make_tensor_value_info(squeezed, out.type.tensor_type.elem_type, None))
    body = helper.make_graph(
        body_nodes,
        "per_image",
        [
            helper.make_tensor_value_info(idx, TensorProto.INT64, []),
            helper.make_tensor_value_info(cond_in, TensorProto.BOOL, []),
        ],
        body_outputs,
        value_info=[v for v in g.value_info if v.name not in renamed],
    )

    src_in = next(i for i in g.input if i.name == input_name)
    dims = [d for d in src_in.type.tensor_type.shape.dim]
    outer_in = helper.make_tensor_value_info(
        input_name, src_in.type.tensor_type.elem_type, [batch_dim] + [d.dim_param or d.dim_value for d in dims[1:]]
    )
    outer_nodes = [
        helper.make_node("Shape", [input_name], [prefix + "shape"]),
        helper.make_node("Gather", [prefix + "shape", prefix + "zero"], [prefix + "count"], axis=0),
        helper.make_node("Loop", [prefix + "count", ""], [o.name for o in g.output], body=body),
    ]
    outer_outputs = []
    for out in g.output:
        shape = out.type.tensor_type.shape
        rest = [d.dim_param or d.dim_value for d in shape.dim[1:]] if shape.dim else None
        outer_outputs.append(
            helper.make_tensor_value_info(
                out.name, out.type.tensor_type.elem_type, [batch_dim] + rest if rest is not None else None
            )
        )
    inits = list(g.initializer) + [helper.make_tensor(prefix + "zero", TensorProto.INT64, [], [0])]
    graph = helper.make_graph(outer_nodes, g.name or "studio", [outer_in], outer_outputs, initializer=inits)
    new = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name=model.producer_name)
    new.ir_version = model.ir_version
    for p in model.metadata_props:
        new.metadata_props.add(key=p.key, value=p.value)
    onnx.checker.check_model(new)
    return new


def copy_node(node):
    from onnx import NodeProto  # deferred: onnx

    n = NodeProto()
    n.CopyFrom(node)
    return n


def _axes_node(name: str, axis: int):
    from onnx import TensorProto, helper  # deferred: onnx

    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name + "_v", TensorProto.INT64, [1], [axis])
    )


def _unsqueeze(src: str, dst: str, axis: int, opset: int, axes_name: str) -> list:
    from onnx import helper  # deferred: onnx

    if opset >= 13:
        return [_axes_node(axes_name, axis), helper.make_node("Unsqueeze", [src, axes_name], [dst])]
    return [helper.make_node("Unsqueeze", [src], [dst], axes=[axis])]


def _squeeze(src: str, dst: str, axis: int, opset: int, axes_name: str) -> list:
    from onnx import helper  # deferred: onnx

    if opset >= 13:
        return [_axes_node(axes_name, axis), helper.make_node("Squeeze", [src, axes_name], [dst])]
    return [helper.make_node("Squeeze", [src], [dst], axes=[axis])]


def fix_output_shapes(path, batch: int, max_det: int, mask_size: int | None) -> None:
    """Write the padded outputs' fixed sizes into the ONNX file (the tracer leaves them symbolic)."""
    import onnx  # deferred: onnx

    model = onnx.load(str(path))
    want = {
        "num_dets": [batch, 1],
        "boxes": [batch, max_det, 4],
        "scores": [batch, max_det],
        "labels": [batch, max_det],
    }
    if mask_size:
        want[E2E_MASKS] = [batch, max_det, mask_size, mask_size]
    for out in model.graph.output:
        if out.name in want:
            shape = out.type.tensor_type.shape
            del shape.dim[:]
            for d in want[out.name]:
                shape.dim.add().dim_value = int(d)
    onnx.save(model, str(path))
