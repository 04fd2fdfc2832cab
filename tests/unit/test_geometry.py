import numpy as np
import pytest

from studio.core import geometry as g


def test_shoelace_area_and_bbox_of_square():
    sq = [0, 0, 10, 0, 10, 5, 0, 5]
    assert g.shoelace_area(sq) == pytest.approx(50.0)
    assert g.polygons_bbox([sq, [20, 20, 22, 20, 22, 23]]) == [0, 0, 22, 23]
    assert g.polygons_area([sq, [20, 20, 22, 20, 22, 23]]) == pytest.approx(53.0)


@pytest.mark.parametrize(
    "flat,detail", [([0, 0, 1, 1], "2 point"), ([0, 0, 1, 1, 2, 2], "zero area"), ([0, 0, 1], "odd")]
)
def test_degenerate_polygons_are_reported(flat, detail):
    fix = g.repair_polygon(flat)
    assert fix.kind == "degenerate" and detail in fix.detail


def test_bow_tie_is_repaired_into_two_parts():
    fix = g.repair_polygon([0, 0, 10, 10, 10, 0, 0, 10])
    assert fix.kind == "repaired" and "Self-intersection" in fix.detail
    assert len(fix.parts) == 2
    assert sum(g.shoelace_area(p) for p in fix.parts) == pytest.approx(50.0)


def test_valid_polygon_unchanged():
    flat = [1.5, 2.0, 8.0, 2.0, 8.0, 9.0]
    fix = g.repair_polygon(flat)
    assert fix.kind == "ok" and list(fix.parts[0]) == flat


def test_clip_to_image_and_bbox():
    parts = g.clip_polygon([-5, -5, 5, -5, 5, 5, -5, 5], 100, 100)
    assert len(parts) == 1 and g.shoelace_area(parts[0]) == pytest.approx(25.0)
    assert g.clip_polygon([200, 200, 210, 200, 210, 210], 100, 100) == []
    assert g.clip_bbox([-5, 90, 20, 20], 100, 100) == [0, 90, 15, 10]


def test_simplify_keeps_shape_and_min_points():
    circle = g.ellipse_polygon(50, 50, 20, 20, n=200)
    simp = g.simplify_polygon(circle, 0.2)
    assert 6 <= len(simp) // 2 < 100
    assert g.shoelace_area(simp) == pytest.approx(g.shoelace_area(circle), rel=0.02)
    tri = [0, 0, 10, 0, 0, 10]
    assert g.simplify_polygon(tri, 100) == tri


def test_polygon_mask_rle_round_trip():
    sq = [10, 10, 30, 10, 30, 20, 10, 20]
    m = g.segmentation_to_mask([sq], 40, 50)
    assert m.shape == (40, 50) and m.sum() == pytest.approx(200, abs=30)
    rle = g.mask_to_rle(m)
    assert isinstance(rle["counts"], str)
    area, box = g.segmentation_area_bbox(rle)
    assert area == m.sum()
    assert box == pytest.approx([10, 10, 21, 11], abs=1)
    assert np.array_equal(g.segmentation_to_mask(rle, 40, 50), m)
    polys = g.mask_to_polygons(m)
    assert len(polys) == 1 and g.polygons_bbox(polys) == pytest.approx([10, 10, 20, 10], abs=1)


def test_box_iou():
    assert g.box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert g.box_iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert g.box_iou([0, 0, 1, 1], [5, 5, 1, 1]) == 0.0
