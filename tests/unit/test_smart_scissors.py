"""Intelligent scissors: paths that follow a synthetic edge, anchors, closing, undo, windows on big images,
and a real balloon outline when ../shared/data is there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.core.geometry import segmentation_to_mask
from studio.core.smart import Scissors

SQUARE = (60, 50, 180, 150)  # x0, y0, x1, y1 of a bright square (pixels x0..x1-1)


def square_image(w: int = 240, h: int = 200, offset: tuple[int, int] = (0, 0), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(60, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = SQUARE
    dx, dy = offset
    img[y0 + dy : y1 + dy, x0 + dx : x1 + dx] = np.clip(rng.normal(200, 8, (y1 - y0, x1 - x0, 3)), 0, 255)
    return img


def distance_to_square_edge(points: list[tuple[float, float]], offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """How far each point is from the square's border (its outermost pixel ring or the ring just outside)."""
    x0, y0, x1, y1 = SQUARE
    dx, dy = offset
    xy = np.asarray(points) - (dx, dy)
    x, y = xy[:, 0], xy[:, 1]
    inside_x = np.clip(x, x0 - 0.5, x1 - 0.5)
    inside_y = np.clip(y, y0 - 0.5, y1 - 0.5)
    to_rect = np.hypot(x - inside_x, y - inside_y)  # 0 inside the rectangle
    to_border = np.minimum.reduce(
        [np.abs(x - (x0 - 0.5)), np.abs(x - (x1 - 0.5)), np.abs(y - (y0 - 0.5)), np.abs(y - (y1 - 0.5))]
    )
    return np.where(to_rect > 0, to_rect, to_border)


def test_the_path_follows_the_edge_not_the_straight_line():
    tool = Scissors(square_image())
    assert tool.build_seconds >= 0
    assert tool.path_to(10, 10) == [(10.0, 10.0)]  # no anchor yet: the point itself
    tool.add_anchor(60, 100)  # on the left side
    path = tool.path_to(120, 50)  # on the top side: the straight line would cut the corner
    assert path[0] == (60.0, 100.0) and path[-1] == (120.0, 50.0)
    assert distance_to_square_edge(path).max() <= 1.5
    corner = min(np.hypot(px - 59.5, py - 49.5) for px, py in path)
    assert corner <= 2.0  # it goes round the corner


def test_anchors_close_into_the_square():
    tool = Scissors(square_image())
    for x, y in ((60, 50), (179, 50), (179, 149), (60, 149)):
        tool.add_anchor(x, y)
    assert len(tool.anchors) == 4 and len(tool.outline()) > 300
    flat = tool.close(tolerance=1.0)
    assert len(flat) // 2 < 20  # simplified: a handful of corners, not every pixel
    got = segmentation_to_mask([flat], 200, 240)
    truth = np.zeros((200, 240), np.uint8)
    x0, y0, x1, y1 = SQUARE
    truth[y0:y1, x0:x1] = 1
    assert (got & truth).sum() / (got | truth).sum() > 0.95


def test_undo_reset_and_the_errors_of_close():
    tool = Scissors(square_image())
    with pytest.raises(StudioError, match="at least two points"):
        tool.close()
    tool.add_anchor(60, 100)
    with pytest.raises(StudioError, match="at least two points"):
        tool.close()
    tool.add_anchor(60, 100)
    with pytest.raises(StudioError, match="no area"):  # two clicks on the same point
        tool.close()
    tool.remove_last_anchor()
    tool.add_anchor(120, 50)
    committed = tool.outline()
    tool.add_anchor(179, 100)
    tool.remove_last_anchor()
    assert tool.outline() == committed and tool.path_to(120, 50)[0] == (120.0, 50.0)
    tool.reset()
    assert tool.anchors == [] and tool.outline() == []
    tool.remove_last_anchor()  # nothing to undo: no error


def test_points_outside_the_image_are_clamped():
    tool = Scissors(square_image())
    tool.add_anchor(-30, 500)
    assert tool.anchors == [(0.0, 199.0)]
    assert tool.path_to(1000, -5)[-1] == (239.0, 0.0)


def test_a_big_image_works_in_windows_at_full_resolution():
    """A 1500 x 1200 image with the square near its far corner: the map covers a window around the anchor,
    the path is in image coordinates and follows the edge; a target beyond the window ends in a line."""
    offset = (1250, 1000)
    img = square_image(1500, 1200, offset=offset)
    tool = Scissors(img, window=256)
    tool.add_anchor(60 + 1250, 100 + 1000)
    path = tool.path_to(120 + 1250, 50 + 1000)
    assert distance_to_square_edge(path, offset).max() <= 1.5
    far = tool.path_to(100, 100)  # far outside the 256 px window
    assert far[-1] == (100.0, 100.0) and far[-2][0] == 1310 - 128  # the window's left border
    assert tool.map_seconds < 1.0


def test_a_grey_image_and_a_bad_one():
    grey = cv2.cvtColor(square_image(), cv2.COLOR_RGB2GRAY)
    tool = Scissors(grey)
    tool.add_anchor(60, 100)
    assert distance_to_square_edge(tool.path_to(120, 50)).max() <= 1.5
    with pytest.raises(ValueError, match="uint8"):
        Scissors(np.zeros((10, 10, 3), np.float32))


# ------------------------------------------------------------------------------------ a real photo
def test_a_balloon_outline_from_a_few_clicks(shared_data):
    """Eight clicks on the ground-truth outline of a balloon close into its polygon."""
    from studio.api import dataset_import
    from studio.core.imageio import imread_rgb

    src = shared_data / "balloon" / "val"
    with tempfile.TemporaryDirectory() as tmp:
        ds = dataset_import(src / "via_region_data.json", Path(tmp) / "val.json", fmt="via").dataset
    im = next(i for i in ds.images if i["file_name"] == "410488422_5f8991f26e_b.jpg")
    img = imread_rgb(src / im["file_name"])
    ann = max(ds.anns_for_image(im["id"]), key=lambda a: a["area"])
    xy = np.asarray(ann["segmentation"][0]).reshape(-1, 2)
    tool = Scissors(img)
    for k in np.linspace(0, len(xy), 8, endpoint=False).astype(int):
        tool.add_anchor(*xy[k])
    flat = tool.close(tolerance=1.0)
    h, w = img.shape[:2]
    got = segmentation_to_mask([flat], h, w)
    truth = segmentation_to_mask(ann["segmentation"], h, w)
    assert (got & truth).sum() / (got | truth).sum() > 0.9
