"""The Inspect page on a random det_lite checkpoint and the demo val set: predictions worst first, the
score slider and IoU changing TP / FP / FN, a confusion cell filtering the list, the overlaid view filling
its area and the side-by-side views sharing zoom and pan, accepting a prediction (sent with the val file it
belongs to), feature maps of a shortcut layer and a CAM with its mass-in-box figures, its score threshold
and a named class below it."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from studio.core.dataset.model import Dataset
from studio.gui.inspect.page import InspectPage

TIMEOUT = 60_000


@pytest.fixture
def workspace(tmp_path, demo, checkpoint_factory):
    """A workspace with one run: best.pt / last.pt of a random det_lite at 64 px, config.yaml naming a copy
    of the val set."""
    from studio.core.config.init import init_config
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "t")
    run = ws.folder("runs") / "tiny-1"
    run.mkdir()
    ck = checkpoint_factory("det_lite", 64)
    shutil.copy(ck, run / "best.pt")
    shutil.copy(ck, run / "last.pt")
    val = tmp_path / "val.json"  # a private copy: accepting predictions writes into it
    ds = Dataset.load(demo["val"].annotations)
    ds.save(val)
    init_config(
        demo["train"].annotations,
        run / "config.yaml",
        val_ann=val,
        val_images=demo["val"].images,
        arch="det_lite",
        overrides={"data": {"image_size": 64, "workers": 0}, "train": {"device": "cpu"}},
    )
    return ws


@pytest.fixture
def page(qtbot, jobs, workspace):
    p = InspectPage(jobs)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    p.set_workspace(workspace)
    qtbot.waitUntil(lambda: p.session is not None, timeout=TIMEOUT)
    yield p
    p.stop()


def _predict(page, qtbot):
    pp = page.predictions
    assert pp.run()
    qtbot.waitUntil(lambda: pp.matching is not None, timeout=TIMEOUT)
    return pp


def _counts(pp):
    return pp.matching.tp, pp.matching.fp, pp.matching.fn


def test_predictions_sorted_by_error_and_thresholds(page, qtbot, workspace):
    run = workspace.folder("runs") / "tiny-1"
    assert page.title == "Inspect" and page.checkpoint == run / "best.pt"
    assert [page.ckpt_combo.itemText(i) for i in range(page.ckpt_combo.count())] == ["best.pt", "last.pt"]
    pp = page.predictions
    pp.score_slider.setValue(5)  # the random model scores ~0.2: everything shows
    pp = _predict(page, qtbot)
    assert pp.table.rowCount() == 4
    errors = [pp.matching.matches[i].error for i in pp.table.ids]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0
    assert pp.image_list.currentIndex().row() == 0 and pp.image_id == pp.table.ids[0]
    low = _counts(pp)
    assert low[1] > 0 and "FP" in pp.totals.text()
    assert pp.det_table.rowCount() > 0

    pp.score_slider.setValue(60)  # above every score: nothing predicted, every object missed
    qtbot.waitUntil(lambda: pp.matching.score_thr == 0.6, timeout=TIMEOUT)
    tp, fp, fn = _counts(pp)
    assert (tp, fp) == (0, 0) and fn == low[0] + low[2] and _counts(pp) != low
    assert pp.det_table.rowCount() == 0
    assert f"FN {fn}" in pp.totals.text()

    pp.score_slider.setValue(5)
    pp.iou_spin.setValue(0.95)  # a stricter IoU can only lose true positives
    qtbot.waitUntil(lambda: pp.matching.iou_thr == 0.95 and pp.matching.score_thr == 0.05, timeout=TIMEOUT)
    assert pp.matching.tp <= low[0]

    pp.mode_combo.setCurrentIndex(1)  # overlaid: one view
    assert not pp.gt_view.isVisibleTo(pp) and pp.pred_view.scene().items()
    pp.mode_combo.setCurrentIndex(0)
    assert pp.gt_view.isVisibleTo(pp) and pp.gt_view.scene().items()


def test_confusion_cell_filters_the_list(page, qtbot):
    pp = page.predictions
    pp.score_slider.setValue(5)
    pp = _predict(page, qtbot)
    conf = pp.matching.confusion
    k = conf.num_classes
    assert pp.confusion.rowCount() == k + 1 and pp.confusion.horizontalHeaderItem(k).text() == "background"
    # a false-alarm cell (background row) holding fewer images than the whole set, else any non-empty one
    cells = [(r, c) for r in range(k + 1) for c in range(k + 1) if conf.image_ids[r][c]]
    r, c = min(cells, key=lambda rc: len(conf.image_ids[rc[0]][rc[1]]))
    assert pp.confusion.item(r, c).text() == str(int(conf.counts[r, c]))
    pp.confusion.cellClicked.emit(r, c)
    assert set(pp.table.ids) == set(conf.image_ids[r][c]) and pp.table.rowCount() == len(conf.image_ids[r][c])
    assert conf.names[r] in pp.filter_label.text() and pp.show_all_button.isVisibleTo(pp)
    assert pp.image_id in conf.image_ids[r][c]
    pp.show_all_button.click()
    assert pp.table.rowCount() == 4 and not pp.show_all_button.isVisibleTo(pp)
    assert len(pp.pr_plot.getPlotItem().listDataItems()) >= 1  # PR curves of the classes with GT


def test_accepting_a_prediction(page, qtbot, workspace, tmp_path, demo):
    pp = page.predictions
    pp.score_slider.setValue(5)
    pp = _predict(page, qtbot)
    assert not pp.accept_button.isEnabled()
    pp.det_table.selectRow(0)
    det = pp.selected_detections()[0]
    proposed, sent = [], []
    page.annotation_proposed.connect(lambda *a: proposed.append(a))
    pp.send_to_editor.connect(sent.append)
    pp.accept_button.click()
    iid = pp.image_id
    assert len(proposed) == 1
    # what the editor needs to open the right file itself: the run's val set (named by the checkpoint's config)
    (s,) = sent
    assert s.ann.resolve() == (tmp_path / "val.json").resolve()
    assert s.images_dir.resolve() == demo["val"].images.resolve()
    assert s.image_id == iid and s.file_name == pp.preds.gt.image(iid)["file_name"]
    assert [(p.image_id, p.category_id, p.shape) for p in s.proposals] == [proposed[0]]
    assert "val.json" in pp.status.text()
    image_id, cat, shape = proposed[0]
    assert image_id == iid and cat in pp.preds.class_map.cat_ids
    assert cat == pp.preds.class_map.cat_ids[int(pp.preds.detections[iid].labels[det]) - 1]
    assert len(shape) == 4  # det_lite predicts boxes: an xywh box

    before = len(Dataset.load(tmp_path / "val.json").anns_for_image(iid))
    n_gt = len(pp.preds.gt.anns_for_image(iid))
    assert pp.write_selected()
    qtbot.waitUntil(lambda: len(pp.preds.gt.anns_for_image(iid)) == n_gt + 1, timeout=TIMEOUT)
    after = Dataset.load(tmp_path / "val.json")
    assert len(after.anns_for_image(iid)) == before + 1
    new = after.anns_for_image(iid)[-1]
    assert new["category_id"] == cat and new["bbox"] == pytest.approx(shape)
    qtbot.waitUntil(
        lambda: pp.matching is not None and pp.matching.matches[iid].status_of(det) == "TP", timeout=TIMEOUT
    )


def test_feature_maps_of_a_shortcut_layer(page, qtbot, tmp_path):
    fm = page.featmaps
    assert fm.tree.topLevelItemCount() > 0 and "neck" in fm.shortcut_buttons and "stage1" in fm.shortcut_buttons
    assert fm.image_combo.count() == 4
    fm.shortcut_buttons["stage2"].click()
    assert fm.chosen == page.session.layers.shortcuts["stage2"] and fm.shortcut_buttons["stage2"].isChecked()
    assert fm.compute()
    qtbot.waitUntil(lambda: fm.view_result is not None, timeout=TIMEOUT)
    assert len(fm.pictures) == 1 and fm.view.image_item is not None
    first = fm.pictures[0].copy()
    fm.alpha.setValue(90)  # re-blended in a worker, no forward
    qtbot.waitUntil(lambda: (fm.pictures[0] != first).any(), timeout=TIMEOUT)

    fm.reduction.setCurrentText("top-k channels (grid)")
    fm.topk.setValue(4)
    name = page.session.layers.spatial_layers()[0]
    assert fm.select_layer(name) and fm.chosen == [name]
    assert fm.compute()
    qtbot.waitUntil(lambda: fm.view_result is not None and fm.view_result.maps[0].reduction == "topk", timeout=TIMEOUT)
    assert len(fm.view_result.maps[0].channels) == min(4, fm.view_result.maps[0].shape[0])

    out = tmp_path / "fm.png"
    assert fm.save_png(out)
    qtbot.waitUntil(lambda: fm.saved == out, timeout=TIMEOUT)
    assert out.stat().st_size > 0


def test_cam_shows_mass_figures(page, qtbot):
    cam = page.cam
    assert [cam.method.itemData(i) for i in range(cam.method.count())] == ["gradcam", "gradcam++", "eigencam"]
    cam.target.setCurrentIndex(1)  # one box: the best detection
    cam.box_index.setValue(0)
    assert cam.compute()
    qtbot.waitUntil(lambda: cam.cam_view is not None, timeout=TIMEOUT)
    assert cam.stats.rowCount() == 1 and cam.stats.item(0, 0).text() == "0: box #0"
    assert cam.stats.item(0, 3).text().endswith("%") or cam.stats.item(0, 3).text() == "—"
    assert cam.picture_combo.count() == 2 and cam.view.image_item is not None
    assert cam.layer.currentData() is None and len(cam.cam_view.result.cam.layers) >= 3  # default: every neck level
    gradcam_layers = cam.cam_view.result.cam.layers

    cam.method.setCurrentIndex(2)  # EigenCAM of one class
    cam.target.setCurrentIndex(2)
    cls = cam.cam_view.result.class_names[cam.cam_view.result.cam.targets[0].label - 1]
    cam.class_combo.setCurrentText(cls)
    assert cam.compute()
    qtbot.waitUntil(lambda: cam.cam_view.result.cam.method == "eigencam", timeout=TIMEOUT)
    assert cam.stats.item(0, 1).text() == cls and "class" in cam.stats.item(0, 0).text()
    eig_layers = cam.cam_view.result.cam.layers
    assert len(eig_layers) == 1 and eig_layers[0] in gradcam_layers  # EigenCAM's default: the finest level
    assert eig_layers[0] in cam.status.text()


def _wheel(view, at: QPoint, clicks: int = 1) -> None:
    """A real wheel event (``clicks`` notches up: zoom in) at viewport position ``at``."""
    QApplication.sendEvent(
        view.viewport(),
        QWheelEvent(
            QPointF(at),
            QPointF(view.viewport().mapToGlobal(at)),
            QPoint(),
            QPoint(0, 120 * clicks),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        ),
    )


def _drag(view, start: QPoint, end: QPoint, steps: int = 6) -> None:
    """A left-button drag on the viewport (the view pans with it)."""
    vp = view.viewport()

    def send(kind, pos, button, buttons):
        ev = QMouseEvent(
            kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(vp, ev)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send(QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, start + (end - start) * (i / steps), none, left)
    send(QEvent.Type.MouseButtonRelease, end, left, none)


def test_overlaid_fills_the_area_and_side_by_side_views_share_zoom_and_pan(page, qtbot):
    pp = page.predictions
    pp.score_slider.setValue(5)
    pp = _predict(page, qtbot)
    area = pp.views.width()
    assert area > 300
    # side by side: two equal views, each about half of the area
    assert abs(pp.gt_view.width() - pp.pred_view.width()) <= 2 and pp.gt_view.width() < 0.55 * area

    pp.mode_combo.setCurrentIndex(1)  # overlaid: one view, the whole width
    qtbot.waitUntil(lambda: pp.pred_view.width() >= area - 2)
    assert not pp.gt_view.isVisibleTo(pp) and pp.pred_view.width() <= area
    pp.mode_combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: pp.gt_view.isVisible() and pp.pred_view.width() < 0.55 * area)

    gt, pred = pp.gt_view, pp.pred_view
    assert gt.zoom() == pytest.approx(pred.zoom()) and gt.auto_fit and pred.auto_fit
    z0 = gt.zoom()
    at = gt.viewport().rect().center() + QPoint(30, 20)
    _wheel(gt, at, 6)  # zoom the ground truth in (the image overflows both ways), around a point off centre
    assert gt.zoom() == pytest.approx(z0 * 1.25**6)
    assert pred.zoom() == pytest.approx(gt.zoom()), "the prediction view zooms by the same factor"
    assert not pred.auto_fit
    c_gt, c_pred = gt.center(), pred.center()
    assert abs(c_gt.x() - c_pred.x()) < 1.0 and abs(c_gt.y() - c_pred.y()) < 1.0, "and shows the same place"

    before = gt.center()
    _drag(gt, gt.viewport().rect().center(), gt.viewport().rect().center() + QPoint(-60, -40))
    moved = gt.center() - before
    assert abs(moved.x()) > 5 and abs(moved.y()) > 5, "the drag panned the ground-truth view"
    assert abs(pred.center().x() - gt.center().x()) < 1.0 and abs(pred.center().y() - gt.center().y()) < 1.0

    _wheel(pred, pred.viewport().rect().center(), -1)  # and the other way round
    assert gt.zoom() == pytest.approx(z0 * 1.25**5) and pred.zoom() == pytest.approx(gt.zoom())
    gt.fit_to_window()
    assert pred.auto_fit and pred.zoom() == pytest.approx(z0)


def test_cam_score_threshold_and_a_class_below_it(page, qtbot):
    cam = page.cam
    model_thr = page.session.predictor.score_thr
    assert cam.score_spin.value() == pytest.approx(model_thr), "the CAM starts at the model's threshold"
    pp = page.predictions
    followed = []
    pp.score_changed.connect(followed.append)
    pp.score_slider.setValue(40)
    assert followed == [pytest.approx(0.4)]
    assert cam.score_spin.value() == pytest.approx(0.4), "the page links the slider to the CAM threshold"
    pp.score_slider.setValue(30)
    assert cam.score_spin.value() == pytest.approx(0.3)

    cam.score_spin.setValue(0.0)  # every candidate of the random model is a detection
    cam.target.setCurrentIndex(0)  # best boxes
    assert cam.compute()
    qtbot.waitUntil(lambda: cam.cam_view is not None, timeout=TIMEOUT)
    res = cam.cam_view.result
    assert res.score_thr == 0.0 and len(res.cam.detections) > 0 and "score ≥ 0" in cam.status.text()
    best = res.cam.targets[0]
    cls, score = res.class_names[best.label - 1], float(res.cam.detections.scores[0])
    assert score < 0.99

    cam.score_spin.setValue(0.99)  # above every score: no detection at all
    assert cam.compute()
    qtbot.waitUntil(lambda: "no detection above score 0.99" in cam.status.text(), timeout=TIMEOUT)
    assert "lower the score threshold" in cam.status.text()

    cam.target.setCurrentIndex(2)  # name the class: its strongest candidate, with a note
    cam.class_combo.setCurrentText(cls)
    assert cam.compute()
    qtbot.waitUntil(lambda: cam.cam_view.result.score_thr == 0.99, timeout=TIMEOUT)
    (e,) = cam.cam_view.result.cam.targets
    assert e.kind == "class" and e.below_threshold and e.score == pytest.approx(score, abs=1e-4)
    assert f"no {cls} at score ≥ 0.99; showing its strongest candidate, score {e.score:.3f}" in cam.status.text()
    assert cam.stats.item(0, 0).text() == "0: class (below the threshold)" and cam.stats.item(0, 1).text() == cls
    assert "strongest candidate" in cam.picture_combo.itemText(1)
