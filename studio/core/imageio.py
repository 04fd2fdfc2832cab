"""Image file helpers: header-only size reads and decoding."""

from __future__ import annotations

from pathlib import Path

# Imported here, not inside the functions: the first import of cv2 or PIL takes 50-200 ms with the
# GIL and the import locks held, and it must not happen in a worker thread while the GUI is running.
import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from studio.core.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def read_image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` as displayed, from the image header (no full decode)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            try:  # EXIF orientation 5..8 swaps the displayed width and height
                orient = im.getexif().get(0x0112, 1)
            except Exception:
                orient = 1
    except FileNotFoundError:
        raise DatasetError("image file not found", file=path) from None
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"unreadable image ({e.__class__.__name__})", file=path) from None
    return (h, w) if orient in (5, 6, 7, 8) else (w, h)


def imread_rgb(path: str | Path) -> np.ndarray:
    """Decode to an RGB uint8 array (EXIF orientation applied); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("image file not found", file=path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError("unreadable image (decoding failed)", file=path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
