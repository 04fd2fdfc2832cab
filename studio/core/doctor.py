"""``studio doctor``: what this installation has (versions, devices, providers, weights folders)."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    name: str
    value: str
    ok: bool = True


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def weights_dirs() -> list[Path]:
    """Folders searched for pretrained weights, in order."""
    import platformdirs
    import torch.hub

    return [
        Path(torch.hub.get_dir()) / "checkpoints",
        platformdirs.user_data_path("studio", appauthor=False) / "weights",
    ]


def tensorrt_status() -> tuple[bool, str]:
    """(present, description) for TensorRT, naming exactly what is missing."""
    try:
        import tensorrt  # type: ignore
    except ImportError as e:
        msg = str(e)
        if "libnvinfer" in msg or ".so" in msg:
            return (
                False,
                f"the tensorrt Python bindings are installed but its libraries are missing ({msg}); "
                "install TensorRT's libraries "
                "(pip install 'studio[tensorrt]' on a machine with an NVIDIA GPU and driver)",
            )
        return False, "not installed (pip install 'studio[tensorrt]'; needs an NVIDIA GPU and driver)"
    except Exception as e:  # a broken install raises all sorts of errors at import
        return False, f"import failed: {e.__class__.__name__}: {e}"
    return True, f"{tensorrt.__version__}"


def plugin_places() -> list[Path]:
    """Folders searched for plugins: the repository's plugins/ and the per-user plugins folder."""
    import platformdirs

    return [
        Path(__file__).resolve().parents[2] / "plugins",
        platformdirs.user_data_path("studio", appauthor=False) / "plugins",
    ]


def plugins_line() -> str:
    """One line: how many plugins were found and in what state (every contribution is imported to check it)."""
    return plugin_checks()[0].value


def plugin_checks() -> list[Check]:
    """The plugins line, then one line per plugin: what it contributes, or its errors (not ok)."""
    from studio.core.plugins import registry
    from studio.core.plugins.hooks import load_everything
    from studio.core.plugins.report import contributions_text, counts_line

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
        v = _version(dist)
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
