"""The pixels of the image shown, as the numpy array the smart tools work on (RGB, ``H x W x 3`` uint8)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgb_array(image: QImage) -> np.ndarray:
    """A copy of ``image``'s pixels as an ``H x W x 3`` uint8 RGB array (rows padded by Qt are cut)."""
    img = image if image.format() == QImage.Format.Format_RGB888 else image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=stride * h)
    return buf.reshape(h, stride)[:, : 3 * w].reshape(h, w, 3).copy()
