"""The model zoo: architectures (torchvision detectors and the CPU-sized lite models) and weights loading.

Pure Python and torch: no Qt (studio.core import contract).
"""

from studio.core.models.build import build_model, check_backbone
from studio.core.models.errors import ModelError, WeightsError
from studio.core.models.lite import LiteConfig, build_lite
from studio.core.models.spec import ArchSpec
from studio.core.models.transform import NoResizeTransform, install_transform
from studio.core.models.weights import LoadReport, WeightsSource, check_weights, load_weights
from studio.core.models.zoo import default_arch, get_arch, list_archs, register_arch

__all__ = [
    "ArchSpec",
    "LiteConfig",
    "LoadReport",
    "ModelError",
    "NoResizeTransform",
    "WeightsError",
    "WeightsSource",
    "build_lite",
    "build_model",
    "check_backbone",
    "check_weights",
    "default_arch",
    "get_arch",
    "install_transform",
    "list_archs",
    "load_weights",
    "register_arch",
]
