"""Facts about this installation and machine: where Studio keeps per-user files, where plugins are searched,
which packages (and which TensorRT) are installed.

Plain look-ups with no opinion: :mod:`studio.core.doctor` turns them into a report, the export code and the
plugin registry act on them. Nothing here imports torch (only :func:`weights_dirs` asks torch where its hub
cache is) and nothing here imports from the rest of Studio.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
from collections.abc import Callable, Iterable
from functools import cache
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


# ---------------------------------------------------------------------- system libraries (Linux)
#: What Qt's X11 platform plugin (libqxcb) and its OpenGL, font and D-Bus parts load on Linux, as
#: (Debian / Ubuntu package, library file). Without them the app stops at start on a real X display
#: ("xcb-cursor0 or libxcb-cursor0 is needed..."); offscreen rendering (screenshots, tests) needs fewer.
DISPLAY_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor0", "libxcb-cursor.so.0"),
    ("libxcb-icccm4", "libxcb-icccm.so.4"),
    ("libxcb-image0", "libxcb-image.so.0"),
    ("libxcb-keysyms1", "libxcb-keysyms.so.1"),
    ("libxcb-randr0", "libxcb-randr.so.0"),
    ("libxcb-render-util0", "libxcb-render-util.so.0"),
    ("libxcb-render0", "libxcb-render.so.0"),
    ("libxcb-shape0", "libxcb-shape.so.0"),
    ("libxcb-shm0", "libxcb-shm.so.0"),
    ("libxcb-sync1", "libxcb-sync.so.1"),
    ("libxcb-util1", "libxcb-util.so.1"),
    ("libxcb-xfixes0", "libxcb-xfixes.so.0"),
    ("libxcb-xinerama0", "libxcb-xinerama.so.0"),
    ("libxcb-xkb1", "libxcb-xkb.so.1"),
    ("libxcb1", "libxcb.so.1"),
    ("libx11-6", "libX11.so.6"),
    ("libx11-xcb1", "libX11-xcb.so.1"),
    ("libxkbcommon0", "libxkbcommon.so.0"),
    ("libxkbcommon-x11-0", "libxkbcommon-x11.so.0"),
    ("libegl1", "libEGL.so.1"),
    ("libgl1", "libGL.so.1"),
    ("libfontconfig1", "libfontconfig.so.1"),
    ("libfreetype6", "libfreetype.so.6"),
    ("libdbus-1-3", "libdbus-1.so.3"),
    ("libglib2.0-0", "libglib-2.0.so.0"),
)

#: where the dynamic loader looks when its cache does not list a library (Debian multiarch, then the rest)
LIBRARY_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
)


@cache
def _ldconfig_names() -> frozenset[str]:
    """The library file names in the dynamic loader's cache (``ldconfig -p``); empty when it cannot be asked."""
    for exe in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            out = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        names = {line.split(" (", 1)[0].strip() for line in out.splitlines()[1:] if " (" in line}
        if names:
            return frozenset(names)
    return frozenset()


def find_shared_library(soname: str, dirs: Iterable[str] | None = None) -> str | None:
    """Where the dynamic loader would find ``soname`` (``libxcb-cursor.so.0``): the folder of
    ``LD_LIBRARY_PATH`` or of ``dirs`` (default: :data:`LIBRARY_DIRS`) that holds it, "ldconfig cache"
    when only the loader's cache lists it, or None when it is nowhere."""
    extra = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    for folder in [*extra, *(LIBRARY_DIRS if dirs is None else dirs)]:
        if os.path.exists(os.path.join(folder, soname)):
            return folder
    return "ldconfig cache" if soname in _ldconfig_names() else None


def missing_display_libraries(
    find: Callable[[str], str | None] = find_shared_library,
) -> list[tuple[str, str]]:
    """The (package, library file) pairs of :data:`DISPLAY_LIBRARIES` that ``find`` does not find."""
    return [(pkg, lib) for pkg, lib in DISPLAY_LIBRARIES if find(lib) is None]


def missing_display_packages(find: Callable[[str], str | None] = find_shared_library) -> list[str]:
    """The Debian / Ubuntu packages to install for the libraries :func:`missing_display_libraries` lists
    (``./dev.sh`` installs these)."""
    return list(dict.fromkeys(pkg for pkg, _lib in missing_display_libraries(find)))


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


# ---------------------------------------------------------------------- OpenVINO
def openvino_status() -> tuple[bool, str]:
    """(present, description) for OpenVINO: its version and devices, or how to install it."""
    try:
        import openvino  # type: ignore
    except ImportError:
        return False, "not installed (pip install 'studio[openvino]')"
    except Exception as e:  # a broken install raises all sorts of errors at import
        return False, f"import failed: {e.__class__.__name__}: {e}"
    version = str(openvino.__version__).split("-")[0]
    try:
        core = openvino.Core()
        devices = [f"{d} ({core.get_property(d, 'FULL_DEVICE_NAME')})" for d in core.available_devices]
    except Exception as e:
        return True, f"{version} (devices: unknown, {e.__class__.__name__}: {str(e)[:200]})"
    return True, f"{version} (devices: {', '.join(devices) or 'none'})"
