"""Smart labelling tools that need no downloaded weights (OpenCV only, no Qt).

* :mod:`.grabcut`: ``box_to_polygon(image, box, fg_strokes=..., bg_strokes=...)`` -> :class:`SmartResult`,
  the polygon of the object in a box, refined by brush strokes;
* :mod:`.scissors`: :class:`Scissors`, an outline that follows edges between clicked anchors;
* :mod:`.box2mask`: ``boxes_to_masks(ds, images_dir)``, the bulk job that gives every box-only
  annotation a polygon (``studio dataset box2mask``);
"""

from studio.core.smart.box2mask import Box2MaskResult, boxes_to_masks, is_box_only
from studio.core.smart.grabcut import SmartResult, Stroke, box_to_polygon
from studio.core.smart.scissors import Scissors

__all__ = [
    "Box2MaskResult",
    "Scissors",
    "SmartResult",
    "Stroke",
    "box_to_polygon",
    "boxes_to_masks",
    "is_box_only",
]
