"""The canonical, COCO-compatible dataset model and the jobs that work on it."""

from studio.core.dataset.model import Dataset, image_path

__all__ = ["Dataset", "image_path"]
