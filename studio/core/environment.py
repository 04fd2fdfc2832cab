"""Facts about this installation and machine: where Studio keeps per-user files, where plugins are searched,
which packages (and which TensorRT) are installed.

Plain look-ups with no opinion: :mod:`studio.core.doctor` turns them into a report, the export code and the
plugin registry act on them. Nothing here imports torch (only :func:`weights_dirs` asks torch where its hub
cache is) and nothing here imports from the rest of Studio.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import platformdirs

APP_NAME = "studio"
REPOSITORY = Path(__file__).resolve().parents[2]  # the source checkout (holds plugins/ in a checkout)


# ---------------------------------------------------------------------- per-user folders
def user_data_dir() -> Path:
    """``~/.local/share/studio`` on Linux (platformdirs' user data folder)."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_config_dir() -> Path:
    """``~/.config/studio`` on Linux."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    """``~/.cache/studio`` on Linux."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def weights_dirs() -> list[Path]:
    """Folders searched for pretrained weights, in order."""
    import torch.hub  # deferred: torch

    return [Path(torch.hub.get_dir()) / "checkpoints", user_data_dir() / "weights"]


def plugin_places() -> list[Path]:
    """Folders searched for plugins: the repository's plugins/ and the per-user plugins folder."""
    return [REPOSITORY / "plugins", user_data_dir() / "plugins"]


# ---------------------------------------------------------------------- installed packages
def package_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_present(name: str) -> bool:
    """Whether ``import name`` would find the module (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------- TensorRT
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


def version_of(trt) -> tuple[int, ...]:
    """``trt.__version__`` as numbers: ``"10.13.0.35"`` -> (10, 13, 0)."""
    parts = []
    for p in str(getattr(trt, "__version__", "0")).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def trt_major(trt=None) -> int:
    """The installed TensorRT's major version (0 when it is not installed)."""
    if trt is None:
        try:
            import tensorrt as trt  # type: ignore
        except ImportError:
            return 0
    return version_of(trt)[0]
