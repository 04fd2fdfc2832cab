"""``export_report.json``: what was exported, how, and how well the export agrees with PyTorch.

The top-level keys ``map_pytorch``, ``map_exported``, ``map_delta`` and ``latency_ms`` (backend -> ms)
are always present (None / empty when there was nothing to verify on), so a front end can read them
without checking. :func:`summary_lines` is the human version the CLI prints and the wizard shows.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
from pathlib import Path
from typing import Any

from studio.core import atomic

REPORT_NAME = "export_report.json"

#: below this box match rate, or above this mAP difference, the report carries a warning. With one
#: preprocessing (studio.core.data.preprocess) a trained model's export matches predict box for box
#: (balloon val, score >= 0.01: seg_fast 100 %, a 1-epoch Faster R-CNN 99.7 %, bench/export_match.py):
#: a lower rate is a real difference
MATCH_WARN = 0.99
MAP_WARN = 0.01


def versions() -> dict[str, str]:
    out = {}
    for dist in ("studio", "torch", "torchvision", "onnx", "onnxruntime", "onnxslim", "openvino", "tensorrt"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def build_report(
    *,
    fmt: str,
    arch: str,
    task: str,
    checkpoint: Path,
    model_file: Path,
    options: dict,
    info: dict,
    files: list[Path],
    verification: dict | None,
    not_verified: str | None,
    warnings: list[str],
    timings: dict[str, float],
    latency_skipped: dict[str, str] | None = None,
) -> dict[str, Any]:
    v = verification or {}
    warnings = list(warnings)
    bm = v.get("box_match") or {}
    if bm and not box_compared(bm) and bm.get("images"):
        warnings.append(
            f"neither PyTorch nor the export detected anything on the {bm['images']} verification image(s): "
            "the box match compared nothing (an untrained model, or a score threshold nothing reaches)"
        )
    elif bm and bm.get("match_rate", 1.0) < MATCH_WARN:
        warnings.append(
            f"only {bm['matched']} of {max(bm['pytorch_detections'], bm['exported_detections'])} detections "
            f"agree (IoU >= {bm['iou_threshold']}) between PyTorch and the export"
        )
    if v.get("map_delta") is not None and abs(v["map_delta"]) > MAP_WARN:
        warnings.append(f"{v.get('metric')} differs by {v['map_delta']:+.4f} between PyTorch and the export")
    if not_verified:
        warnings.append(f"not verified: {not_verified}")
    return {
        "format": fmt,
        "arch": arch,
        "task": task,
        "checkpoint": str(checkpoint),
        "model": model_file.name,
        "files": [p.name for p in files],
        "options": options,
        "model_info": info,
        "verified": verification is not None,
        "map_pytorch": v.get("map_pytorch"),
        "map_exported": v.get("map_exported"),
        "map_delta": v.get("map_delta"),
        "metric": v.get("metric"),
        "latency_ms": v.get("latency_ms", {}),
        "speedup_vs_pytorch": v.get("speedup_vs_pytorch", {}),
        "latency_skipped": dict(latency_skipped or {}),
        "box_match": v.get("box_match"),
        "n_verify_images": v.get("n_images", 0),
        "metrics_pytorch": v.get("metrics_pytorch"),
        "metrics_exported": v.get("metrics_exported"),
        "latency_note": v.get("latency_note"),
        "timings_s": {k: round(t, 2) for k, t in timings.items()},
        "warnings": warnings,
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def box_compared(box_match: dict) -> bool:
    """Whether a report's box match compared any detection (False: neither model detected anything, so its
    rate of 1.0 says nothing). Reports written before the ``compared`` flag: from the detection counts."""
    if "compared" in box_match:
        return bool(box_match["compared"])
    return box_match.get("pytorch_detections", 0) + box_match.get("exported_detections", 0) > 0


def write_report(folder: str | Path, report: dict) -> Path:
    path = Path(folder) / REPORT_NAME
    atomic.write_json(path, report)
    return path


def _f(v: Any, spec: str = ".4f") -> str:
    return "n/a" if v is None else format(v, spec)


def summary_lines(report: dict) -> list[str]:
    """The report in a few lines: files, agreement, mAP, latency, warnings."""
    lines = [f"{report['format']} export of {report['arch']}: {report['model']} ({', '.join(report['files'])})"]
    bm = report.get("box_match")
    if bm and not box_compared(bm):
        lines.append(f"box match: no detections to compare on {bm['images']} images")
    elif bm:
        lines.append(
            f"box match: {bm['matched']} of {bm['pytorch_detections']} PyTorch / {bm['exported_detections']} exported "
            f"detections paired at IoU >= {bm['iou_threshold']} on {bm['images']} images "
            f"(rate {bm['match_rate']:.3f}, max score diff {_f(bm['max_score_diff'], '.2e')})"
        )
    if report.get("metric"):
        lines.append(
            f"{report['metric']}: PyTorch {_f(report['map_pytorch'])}, exported {_f(report['map_exported'])}, "
            f"delta {_f(report['map_delta'], '+.4f')}"
        )
    lat = report.get("latency_ms") or {}
    if lat:
        speed = report.get("speedup_vs_pytorch") or {}
        lines.append(
            "latency (ms/image): "
            + ", ".join(f"{k} {v:.1f}" + (f" ({speed[k]:.2f}x)" if k in speed else "") for k, v in lat.items())
        )
    for k, why in (report.get("latency_skipped") or {}).items():
        lines.append(f"not measured: {k}: {why}")
    for w in report.get("warnings") or []:
        lines.append(f"warning: {w}")
    return lines
