"""``studio doctor``: what this installation has (versions, devices, providers, weights folders, plugins,
and on Linux the system libraries the app needs on an X display).

Only the report: the facts come from :mod:`studio.core.environment` and the plugin registry.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

from studio.core.environment import (
    missing_display_libraries,
    openvino_status,
    package_version,
    tensorrt_status,
    weights_dirs,
)
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


def apt_get_command(packages: list[str], root: bool | None = None) -> str:
    """The exact command that installs ``packages`` on Debian / Ubuntu (``sudo`` unless ``root``)."""
    if root is None:
        root = hasattr(os, "geteuid") and os.geteuid() == 0
    return f"{'' if root else 'sudo '}apt-get install -y {' '.join(packages)}"


def display_check(
    find: Callable[[str], str | None] | None = None,
    system: str | None = None,
    root: bool | None = None,
    has_apt: bool | None = None,
) -> Check | None:
    """On Linux: whether the libraries Qt needs on an X display are installed, and if not which are missing
    and the command that installs them. None elsewhere (the wheels bring what they need). The arguments
    replace the look-ups (tests): the library finder, ``platform.system()``, running as root, apt-get present.
    """
    if (system or platform.system()) != "Linux":
        return None
    missing = missing_display_libraries(find) if find is not None else missing_display_libraries()
    if not missing:
        return Check("display libs", "the X11 / OpenGL libraries the app needs on a display are installed")
    packages = list(dict.fromkeys(pkg for pkg, _lib in missing))
    command = apt_get_command(packages, root)
    if has_apt is None:
        has_apt = shutil.which("apt-get") is not None
    how = command if has_apt else f"install the packages that provide them (Debian / Ubuntu: {command})"
    libs = ", ".join(lib for _pkg, lib in missing)
    return Check(
        "display libs",
        f"missing {libs}: the app stops at start on an X display without them (offscreen screenshots work); {how}",
        ok=False,
    )


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
    checks.append(Check("openvino", openvino_status()[1], ok=True))  # optional too
    try:
        checks.append(Check("weights", "; ".join(str(p) for p in weights_dirs())))
    except Exception as e:
        checks.append(Check("weights", f"unknown ({e})", ok=False))
    if (display := display_check()) is not None:
        checks.append(display)
    checks += plugin_checks()
    return checks


def format_report(checks: list[Check]) -> str:
    w = max(len(c.name) for c in checks)
    return "\n".join(f"{'ok ' if c.ok else '!! '} {c.name:<{w}}  {c.value}" for c in checks)
