"""Where plugin contributions joined Studio before each kind moved to the module owning its table:

* dataset formats: :mod:`studio.core.formats`;
* model architectures: :mod:`studio.core.models.zoo` (``arch_plugin``);
* augmentations: :mod:`studio.core.data.augmentations`;
* CAM methods: :mod:`studio.core.explain.methods` and :mod:`studio.core.explain.cam` (``cam_method``);
* export formats: :mod:`studio.core.export.formats` (``exporter_of``) and :mod:`studio.core.export.plugin_export`;
* panels, and everything at once: :mod:`studio.core.plugin_check`.

The names studio.gui imports from here stay importable until it imports them from their owners. Nothing in
studio.core imports this module (the ``layers`` contract in pyproject.toml lets only its re-exports through).
"""

from studio.core.explain.methods import cam_method_title
from studio.core.plugin_check import load_everything, panel_contributions

__all__ = ["cam_method_title", "load_everything", "panel_contributions"]
