"""The README.md written into every export folder: how to feed the model and read its outputs in your own code."""

from __future__ import annotations

from studio.core.export.tensorrt_build import ENGINE_WARNING


def _io_section(info: dict) -> str:
    s = info["image_size"]
    square = info["letterbox"] or info["static_size"]
    batch = "B (any)" if info["batch"] is None else str(info["batch"])
    if info["format"] in ("onnx", "openvino"):  # OpenVINO converts the plain ONNX graph
        shape = f"1 x 3 x {s} x {s}" if info["static_size"] else "1 x 3 x H x W (H, W multiples of 32)"
    else:
        shape = f"{batch} x 3 x {s} x {s}" if info["static_size"] else f"{batch} x 3 x H x W (H, W multiples of 32)"
    pad = f"{s} x {s}" if square else "the next multiple of 32 on each side"
    lines = [
        "## Input",
        "",
        f"`images`: float32, {shape}, RGB, values in [0, 1] (the graph normalises itself). To make it from an image:",
        "",
        f"1. resize so that the longest side is {s} px, keeping the aspect ratio "
        "(OpenCV INTER_AREA when shrinking, INTER_LINEAR when growing);",
        f"2. pad at the right and bottom with zeros to {pad};",
        "3. HWC uint8 -> CHW float32 / 255.",
        "",
        "Boxes come out in the pixels of that input: multiply x by (original width / resized width) and y by"
        " (original height / resized height) to get back to the image.",
        "",
        "## Outputs",
        "",
    ]
    m = info.get("mask_size") or "M"
    if info["format"] in ("onnx", "openvino"):  # OpenVINO converts the plain ONNX graph
        lines += [
            "- `boxes`: float32 (N, 4), x0 y0 x1 y1, N = detections found (0 is possible)",
            "- `scores`: float32 (N)",
            "- `labels`: int64 (N), class index 1..K (see Classes)",
        ]
        if info["task"] == "segment":
            lines.append(
                f"- `masks`: float32 (N, 1, {m}, {m}), mask probabilities inside each box: pad by 1 px, "
                "resize to the box enlarged by the same ratio, threshold at 0.5 (see `paste_mask` in infer.py)"
            )
    else:
        lines += [
            "- `num_dets`: int32 (B, 1), detections per image",
            f"- `boxes`: float32 (B, {info['max_det']}, 4); rows past num_dets are zeros",
            f"- `scores`: float32 (B, {info['max_det']})",
            f"- `labels`: int32 (B, {info['max_det']}), class index 1..K",
        ]
        if info["task"] == "segment":
            lines.append(
                f"- `masks`: float32 (B, {info['max_det']}, {m}, {m}), mask probabilities inside each box "
                "(see `paste_mask` in infer.py)"
            )
    lines += [
        "",
        f"Detections scoring below {info['score_thr']} and beyond {info['max_det']} per image are already "
        "dropped inside the graph (non-maximum suppression included).",
    ]
    return "\n".join(lines)


def render_readme(info: dict, files: list[str], summary: list[str]) -> str:
    names = info["classes"]["names"]
    fmt = {"onnx": "ONNX", "onnx-e2e": "ONNX end-to-end", "openvino": "OpenVINO IR", "engine": "TensorRT engine"}[
        info["format"]
    ]
    parts = [
        f"# {info['arch']} exported as {fmt}",
        "",
        f"Files: {', '.join(f'`{f}`' for f in files)}.",
        "",
        "Run it on images, without PyTorch:",
        "",
        "```",
        "studio infer "
        + {"engine": "model.engine", "openvino": "model.xml"}.get(info["format"], "model.onnx")
        + " IMAGES... --out predictions/",
        "python infer.py IMAGES... [--score-thr 0.5] [--draw drawn/]   # numpy + OpenCV + onnxruntime only",
        "```",
        "",
        "`studio infer` writes drawn images and `predictions.json` (COCO results) exactly as `studio predict` does.",
        "",
    ]
    if info["format"] == "engine":
        parts += [
            f"**Warning**: {ENGINE_WARNING}. `model.engine.json` records the GPU, TensorRT version and build "
            "settings; `model.onnx` is the graph it was built from (and what `infer.py` runs).",
            "",
        ]
    if info["format"] == "openvino":
        parts += [
            "`model.xml` and `model.bin` are the OpenVINO IR (read both with `openvino.Core().read_model`); "
            "`model.onnx` is the graph they were converted from (and what `infer.py` runs). The inputs and "
            "outputs below are the same in both.",
            "",
        ]
    parts += [_io_section(info), "", "## Classes", "", "| label | class | category id |", "| --- | --- | --- |"]
    parts += [f"| {i + 1} | {n} | {c} |" for i, (n, c) in enumerate(zip(names, info["classes"]["cat_ids"]))]
    parts += ["", "## Verification", "", "```", *summary, "```", "", "Details: `export_report.json`.", ""]
    return "\n".join(parts)
