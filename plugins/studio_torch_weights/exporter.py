"""Write model.pt and verify it: the model is rebuilt from the file alone and its predictions are
compared with the checkpoint's on the verification images (Studio's box match and mAP)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from studio.core import atomic
from studio.core.errors import StudioError
from studio.core.export.plugin_export import ExportContext, ExportOutput

FORMAT_TAG = "studio-torch-weights"
MODEL_NAME = "model.pt"

README = """# {arch} as PyTorch weights

`model.pt` holds the weights of `{arch}` ({task}, {n} classes: {classes}), trained at {size} px
{letterbox}, and the post-processing settings (score >= {score:g}, at most {max_det} detections).

```python
from studio_torch_weights.exporter import load_model   # with Studio and this plugin installed
model = load_model("model.pt")                           # a torchvision-style detector in eval mode
```

The model takes a list of 3xHxW float images in [0, 1], resized so that the longest side is {size} px
(Studio's `preprocess`), and returns torchvision's detections (boxes in input pixels, labels 1..K).
"""


def export(ctx: ExportContext) -> ExportOutput:
    half = bool(ctx.options.get("fp16_weights"))
    state = {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in ctx.model.state_dict().items()}
    payload = {
        "format": FORMAT_TAG,
        "version": 1,
        "arch": ctx.arch.name,
        "backbone": getattr(ctx.model, "studio_backbone", None),  # seg_fast / det_fast: csp, resnet18...
        "task": ctx.task,
        "classes": list(ctx.classes),
        "image_size": int(ctx.predictor.size),
        "letterbox": bool(ctx.predictor.letterbox),
        "score_thr": float(ctx.options["score_thr"]),
        "max_detections": int(ctx.options["max_det"]),
        "fp16_weights": half,
        "state_dict": state,
    }
    path = ctx.out_dir / MODEL_NAME
    torch.save(payload, path)  # ctx.out_dir is a temporary folder: it replaces the output folder only on success
    readme = ctx.out_dir / "README.md"
    atomic.write_text(
        readme,
        README.format(
            arch=ctx.arch.name,
            task=ctx.task,
            n=len(ctx.classes),
            classes=", ".join(ctx.classes),
            size=payload["image_size"],
            letterbox="(letterboxed to a square)" if payload["letterbox"] else "(longest side, aspect ratio kept)",
            score=payload["score_thr"],
            max_det=payload["max_detections"],
        ),
    )
    ctx.check_cancelled()
    verification = None
    if ctx.images:
        from studio.core.inference.predictor import Predictor

        reloaded = Predictor(
            load_model(path),
            ctx.predictor.class_map,
            size=payload["image_size"],
            letterbox=payload["letterbox"],
            device=torch.device("cpu"),
            task=ctx.task,
            score_thr=payload["score_thr"],
            max_detections=payload["max_detections"],
            batch_size=1,
        )
        verification = ctx.verify(lambda rgb: reloaded.predict([rgb])[0], name="torch_weights_cpu")
    info = {
        k: payload[k]
        for k in (
            "arch",
            "task",
            "classes",
            "image_size",
            "letterbox",
            "score_thr",
            "max_detections",
            "fp16_weights",
        )
    }
    return ExportOutput(
        model=path,
        files=[readme],
        verification=verification,
        info=info,
        warnings=["fp16 weights: predictions can differ slightly from the checkpoint's"] if half else [],
    )


def load_model(path: str | Path) -> nn.Module:
    """The detector stored in ``path`` (weights as float32), in eval mode on the CPU."""
    from studio.core.models import build_model

    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_TAG:
        raise StudioError(f"not a {FORMAT_TAG} file", file=path)
    model = build_model(
        payload["arch"],
        len(payload["classes"]),
        image_size=payload["image_size"],
        score_thr=payload["score_thr"] if "score_thr" in payload else payload["score_threshold"],  # older files
        max_detections=payload["max_detections"],
        backbone=payload.get("backbone"),  # files written before backbone choices: the default
    )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    return model.eval()
