"""``studio doctor``: what this installation has (versions, devices, providers, weights folders, plugins).

Only the report: the facts come from :mod:`studio.core.environment` and the plugin registry.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

from studio.core.environment import package_version, tensorrt_status, weights_dirs
from studio.core.plugin_check import load_everything
from studio.core.plugins import registry
from studio.core.plugins.report import contributions_text, counts_line


@dataclass
class Check:
    name: str
    value: str
    ok: bool = True


def plugins_line() -> str:
    """One line: how many plugins were found and in what state (every contribution is imported to check it)."""
    return plugin_checks()[0].value


def plugin_checks() -> list[Check]:
    """The plugins line, then one line per plugin: what it contributes, or its errors (not ok)."""
    try:
        reg = registry()
        load_everything(panels=False)  # panels are Qt widgets: the app (and `studio plugins`) checks them
    except Exception as e:  # the plugin system itself must not stop the report
        return [Check("plugins", f"cannot list the plugins: {e}", ok=False)]
    where = "" if reg.disabled else f" (searched {reg.describe_places()})"
    out = [Check("plugins", counts_line(reg) + where, ok=not reg.errors())]
    for p in reg.plugins:
        if p.error:
            out.append(Check(f"  {p.name}", f"BROKEN: {p.error}", ok=False))
        else:
            errors = "; ".join(f"{c.what}: {c.error}" for c in p.contributions if c.state == "failed")
            text = f"{p.version} ({p.source}): {contributions_text(p)}" + (f"; errors: {errors}" if errors else "")
            out.append(Check(f"  {p.name}", text, ok=not errors))
    return out


def collect() -> list[Check]:
    checks = [
        Check("python", f"{platform.python_version()} ({sys.executable})"),
        Check("platform", platform.platform()),
    ]
    try:
        import torch

        cuda = torch.version.cuda
        build = f"CUDA {cuda} build" if cuda else "CPU-only build"
        if torch.cuda.is_available():
            gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            dev = f"GPU visible: {gpus}"
        else:
            dev = "no GPU visible (training runs on the CPU)"
        checks.append(Check("torch", f"{torch.__version__} ({build}; {dev})"))
    except Exception as e:
        checks.append(Check("torch", f"cannot import: {e}", ok=False))
    for name, dist in (
        ("torchvision", "torchvision"),
        ("pycocotools", "pycocotools"),
        ("opencv", "opencv-python-headless"),
        ("shapely", "shapely"),
        ("onnx", "onnx"),
        ("PySide6", "PySide6-Essentials"),
        ("pyqtgraph", "pyqtgraph"),
    ):
        v = package_version(dist)
        checks.append(Check(name, v or "not installed", ok=v is not None))
    try:
        import onnxruntime as ort

        checks.append(
            Check("onnxruntime", f"{ort.__version__} (providers: {', '.join(ort.get_available_providers())})")
        )
    except Exception as e:
        checks.append(Check("onnxruntime", f"cannot import: {e}", ok=False))
    present, trt = tensorrt_status()
    checks.append(Check("tensorrt", trt, ok=True))  # optional: absence is not a failure
    try:
        checks.append(Check("weights", "; ".join(str(p) for p in weights_dirs())))
    except Exception as e:
        checks.append(Check("weights", f"unknown ({e})", ok=False))
    checks += plugin_checks()
    return checks


def format_report(checks: list[Check]) -> str:
    w = max(len(c.name) for c in checks)
    return "\n".join(f"{'ok ' if c.ok else '!! '} {c.name:<{w}}  {c.value}" for c in checks)
