"""Image file helpers: header-only size reads, decoding, and saving a picture (atomically)."""

from __future__ import annotations

from pathlib import Path

# Imported here, not inside the functions: the first import of cv2 or PIL takes 50-200 ms with the
# GIL and the import locks held, and it must not happen in a worker thread while the GUI is running.
import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from studio.core import atomic
from studio.core.errors import DatasetError, StudioError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_ENCODINGS = {
    ".png": [],
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 92],
    ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 92],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, 92],
    ".bmp": [],
    ".tif": [],
    ".tiff": [],
}


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


def save_image(path: str | Path, rgb: np.ndarray, *, suffix: str | None = None) -> Path:
    """Encode an RGB (or grey) uint8 image by the file's extension and write it atomically (a crash never
    leaves half a file). ``suffix`` (e.g. ``".png"``): the only extension accepted. Returns ``path``.

    Every picture Studio saves goes through here: ``studio predict``'s drawn copies, the export's
    verification pictures, feature-map and CAM overlays, the augmentation preview, the Inspect page's PNGs.
    """
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise StudioError(f"expected a {suffix} file name", file=path)
    params = _ENCODINGS.get(path.suffix.lower())
    if params is None:
        raise StudioError(f"cannot write images of type '{path.suffix}': use one of {', '.join(_ENCODINGS)}", file=path)
    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        raise StudioError(f"expected a uint8 image, got {img.dtype}", file=path)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 and img.shape[2] == 3 else img
    ok, buf = cv2.imencode(path.suffix.lower(), bgr, params)
    if not ok:
        raise StudioError("image encoding failed", file=path)
    atomic.write_bytes(path, buf.tobytes())
    return path
