"""The Data page on real files: list, filters, viewer overlays, class table, check report."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication


def _coco(path):
    return orjson.loads(path.read_bytes())


def _wait_image(qtbot, page):
    qtbot.waitUntil(lambda: page.viewer.image is not None and not page.viewer.pending(), timeout=10_000)


def test_list_rows_and_class_stats_match_the_json(make_window, small_demo):
    ann, images = small_demo
    coco = _coco(ann)
    page = make_window(ann, images).data_page
    assert page.images.model.rowCount() == len(coco["images"]) == 8
    assert page.images.visible_count() == 8
    assert page.images.count_label.text() == "8 of 8 images"
    instances, imgs = defaultdict(int), defaultdict(set)
    for a in coco["annotations"]:
        instances[a["category_id"]] += 1
        imgs[a["category_id"]].add(a["image_id"])
    names = {c["id"]: c["name"] for c in coco["categories"]}
    expected = sorted((cid, names[cid], instances[cid], len(imgs[cid])) for cid in names)
    assert sorted(page.classes.rows()) == expected
    header = page.header.counts.text()
    assert f"{len(coco['images'])} images" in header and f"{len(coco['annotations'])} annotations" in header
    assert "4 classes" in header


def test_class_filter_and_search(make_window, small_demo):
    ann, images = small_demo
    coco = _coco(ann)
    panel = make_window(ann, images).data_page.images
    by_class = defaultdict(set)
    for a in coco["annotations"]:
        by_class[a["category_id"]].add(a["image_id"])
    for cat in coco["categories"]:
        panel.set_class_filter(cat["id"])
        assert set(panel.visible_image_ids()) == by_class[cat["id"]], cat["name"]
    assert any(len(v) < len(coco["images"]) for v in by_class.values()), "the demo should make the filter bite"
    panel.set_class_filter(None)
    assert panel.visible_count() == len(coco["images"])

    panel.search.setText("0003")
    assert [panel.proxy.index(i, 0).data() for i in range(panel.visible_count())] == ["train_0003.jpg"]
    panel.search.setText("TRAIN_")
    assert panel.visible_count() == 8
    panel.search.setText("nothing-like-this")
    assert panel.visible_count() == 0
    assert panel.count_label.text() == "0 of 8 images"


def test_selecting_an_image_draws_one_item_per_polygon_part(qtbot, make_window, small_demo):
    ann, images = small_demo
    coco = _coco(ann)
    page = make_window(ann, images).data_page
    for row in (0, 3):
        page.images.select_row(row)
        image_id = page.images.current_image_id()
        _wait_image(qtbot, page)
        anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
        parts = sum(len(a["segmentation"]) for a in anns)
        ov = page.viewer.overlays
        assert len(ov.polygon_items()) == parts
        assert len(ov.box_items()) == len(anns) and len(ov.label_items()) == len(anns)
        assert {p.data(0) for p in ov.polygon_items()} == {a["id"] for a in anns}
        scene_polys = [it for it in page.viewer.view.scene().items() if it.data(1) == "polygon"]
        assert len(scene_polys) == parts
        assert page.viewer.view.image_item is not None
        assert page.viewer.view.image_item.pixmap().width() == 320

    page.viewer.masks_box.setChecked(False)
    # Masks off drops the fills and keeps the outlines
    assert all(p.isVisible() and p.brush().color().alpha() == 0 for p in page.viewer.overlays.polygon_items())
    assert all(b.isVisible() for b in page.viewer.overlays.box_items())
    page.viewer.boxes_box.setChecked(False)
    page.viewer.labels_box.setChecked(False)
    assert not any(b.isVisible() for b in page.viewer.overlays.box_items())
    assert not any(t.isVisible() for t in page.viewer.overlays.label_items())
    page.viewer.masks_box.setChecked(True)
    assert all(p.isVisible() for p in page.viewer.overlays.polygon_items())
    # the switches hold for the next image too
    page.images.select_row(1)
    assert page.viewer.overlays.box_items() and not any(b.isVisible() for b in page.viewer.overlays.box_items())

    page.viewer.opacity.setValue(80)
    brush = page.viewer.overlays.polygon_items()[0].brush()
    assert abs(brush.color().alphaF() - 0.8) < 0.01


def test_click_on_a_shape_selects_it_and_wheel_zooms(qtbot, make_window, small_demo):
    ann, images = small_demo
    page = make_window(ann, images).data_page
    page.images.select_row(0)
    _wait_image(qtbot, page)
    view = page.viewer.view
    poly = page.viewer.overlays.polygon_items()[-1]
    target = poly.polygon().boundingRect().center()
    assert poly.contains(target), "the demo shapes are convex enough that the box centre lies inside"
    pos = view.mapFromScene(target)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    ann_id = poly.data(0)
    assert page.viewer.selected_annotation() == ann_id
    assert f"selected: annotation {ann_id}" in page.viewer.status_text()
    assert poly.pen().width() == 3
    # a click on background clears the selection
    corners = [view.mapFromScene(QPointF(x, y)) for x, y in ((2, 2), (318, 2), (2, 238), (318, 238))]
    empty = next(p for p in corners if view.annotation_at(p) is None)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=empty)
    assert page.viewer.selected_annotation() is None
    # a press and a release far apart is a pan, not a pick
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=pos + QPoint(40, 0))
    assert page.viewer.selected_annotation() is None
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert page.viewer.selected_annotation() == ann_id

    z0 = view.zoom()
    view.zoom_by(2.0)
    assert view.zoom() == pytest.approx(2 * z0)
    assert not view.auto_fit
    page.viewer.fit_button.click()
    assert view.zoom() == pytest.approx(z0)

    # wheel zoom keeps the image point under the cursor where it was (once the image overflows the view)
    view.zoom_by(2.0)
    at = view.viewport().rect().center() + QPoint(90, 40)
    for _ in range(3):
        before = view.mapToScene(at)
        wheel = QWheelEvent(
            QPointF(at),
            QPointF(view.viewport().mapToGlobal(at)),
            QPoint(),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(view.viewport(), wheel)
        after = view.mapToScene(at)
        assert abs(after.x() - before.x()) < 1.5 and abs(after.y() - before.y()) < 1.5
    assert view.zoom() == pytest.approx(z0 * 2 * 1.25**3)
    assert page.viewer.zoom_label.text() == f"{view.zoom() * 100:.0f}%"


def test_missing_image_is_reported_and_shown(qtbot, make_window, small_demo):
    ann, images = small_demo
    coco = _coco(ann)
    victim = coco["images"][2]
    (images / victim["file_name"]).unlink()
    page = make_window(ann, images).data_page
    tree = page.problems
    group = tree.group("missing_image")
    assert group is not None and group.childCount() == 1
    child = group.child(0)
    assert child.text(1) == str(victim["id"])
    assert "1 error" in page.header.check.text()

    page.images.select_row(0)
    page.images.search.setText("0000")  # the missing image is filtered out of the list
    tree.expandItem(group)
    tree.scrollToItem(child)
    rect = tree.visualItemRect(child)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert page.images.current_image_id() == victim["id"]
    assert page.images.search.text() == "", "filters hiding the target are cleared"
    qtbot.waitUntil(lambda: page.viewer.error is not None, timeout=10_000)
    expected = f"image file not found: {images / victim['file_name']}"
    assert page.viewer.error == expected
    assert expected in page.viewer.status_text()
    assert page.viewer.view.placeholder_text.text() == "image file not found"
    # the annotations are still drawn, on a canvas of the recorded size
    n_parts = sum(len(a["segmentation"]) for a in coco["annotations"] if a["image_id"] == victim["id"])
    assert len(page.viewer.overlays.polygon_items()) == n_parts
    assert page.viewer.view.scene().sceneRect().width() == victim["width"]

    page.images.problems_box.setChecked(True)
    assert victim["id"] in page.images.visible_image_ids()
    assert page.images.model.data(page.images.model.index(2), Qt.ItemDataRole.UserRole + 3) == "error"


def test_mixed_dataset_rle_box_only_ignore_regions_and_problem_navigation(qtbot, make_window, mixed):
    ann, images = mixed
    page = make_window(ann, images).data_page
    assert set(page.problems.kinds()) == {"missing_image", "empty_category", "unannotated_image"}
    assert page.problems.group("empty_category").childCount() == 1

    page.select_image(1)
    _wait_image(qtbot, page)
    ov = page.viewer.overlays
    assert len(ov.polygon_items()) == 3  # annotation 10 has two parts, 14 one; 12 is box-only
    assert sorted(p.data(0) for p in ov.polygon_items()) == [10, 10, 14]
    assert len(ov.mask_items()) == 1 and ov.mask_items()[0].data(0) == 11
    assert len(ov.box_items()) == 4 and len(ov.ignore) == 1
    mask_img = ov.mask_items()[0].pixmap().toImage()
    assert mask_img.pixelColor(40, 120).alpha() == 255 and mask_img.pixelColor(5, 5).alpha() == 0
    page.viewer.masks_box.setChecked(False)
    assert not ov.mask_items()[0].isVisible()
    assert ov.ignore[0].isVisible(), "ignore regions are not a mask layer"
    view = page.viewer.view
    # a click inside the box-only annotation picks it; inside the two-part polygon picks that
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(125, 75)))
    assert page.viewer.selected_annotation() == 12
    page.viewer.masks_box.setChecked(True)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(25, 30)))
    assert page.viewer.selected_annotation() == 10
    # inside the box of 10 and the small square 14: the smaller shape wins
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(54, 40)))
    assert page.viewer.selected_annotation() == 14
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(QPointF(45, 20)))
    assert page.viewer.selected_annotation() == 10

    page.images.unannotated_box.setChecked(True)
    assert page.images.visible_image_ids() == [3]
    page.images.unannotated_box.setChecked(False)

    page.go_to_problem(2, 13)
    assert page.images.current_image_id() == 2
    assert page.viewer.selected_annotation() == 13
    qtbot.waitUntil(lambda: page.viewer.error is not None, timeout=10_000)


def test_broken_annotation_file_shows_the_error(qtbot, make_window, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    w = make_window()
    w.open_dataset(bad, tmp_path)
    qtbot.waitUntil(lambda: w.data_page.state == "failed", timeout=10_000)
    assert "broken JSON" in w.data_page.header.counts.text()
    assert w.data_page.images.model.rowCount() == 0


def test_cat_set_reports_143_missing_images(make_window, shared_data):
    cat = shared_data / "cat"
    ann = cat / "annotations" / "annotations_all.json"
    if not ann.is_file() or not (cat / "images").is_dir():
        pytest.skip(f"the cat set is not in {cat}")
    page = make_window(ann, cat / "images").data_page
    group = page.problems.group("missing_image")
    assert group is not None and group.childCount() == 143
    assert page.images.model.rowCount() == len(_coco(ann)["images"])
    page.images.problems_box.setChecked(True)
    assert page.images.visible_count() >= 143
