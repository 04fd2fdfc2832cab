"""``studio featmap``, ``studio cam`` and ``studio predict --to-coco`` end to end; model-assisted labelling."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from studio import api, api_explain
from studio.cli import main
from studio.cli_explain import add_parsers
from studio.core.data.classes import ClassMap
from studio.core.dataset.check import check_dataset
from studio.core.dataset.model import Dataset, image_path, recorded_images_dir
from studio.core.detections import Detections
from studio.core.errors import StudioError
from studio.core.geometry import polygons_area, segmentation_to_mask
from studio.core.imageio import imread_rgb
from studio.core.inference.to_coco import detection_shape, predictions_to_annotations


def run_cli(argv: list[str]) -> int:
    """``studio featmap`` / ``studio cam`` through their own parser, handled as ``studio.cli.main`` does."""
    parser = argparse.ArgumentParser(prog="studio")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudioError as e:
        print(f"error: {e}")
        return 2


@pytest.fixture(scope="module")
def val_image(demo):
    return sorted(demo["val"].images.glob("*.jpg"))[0]


def test_featmap_cli_writes_one_overlay_per_neck_level(checkpoint_factory, val_image, tmp_path, capsys):
    ckpt = checkpoint_factory("det_lite")
    assert run_cli(["featmap", str(ckpt), str(val_image), "--out", str(tmp_path / "neck")]) == 0
    out = capsys.readouterr().out
    pngs = sorted((tmp_path / "neck").glob("*.png"))
    assert [p.name for p in pngs] == [
        f"{val_image.stem}_featmap_{i:02d}_backbone.fpn-{k}.png" for i, k in enumerate(["0", "1", "2", "pool"])
    ]
    assert all(imread_rgb(p).shape == (240, 320, 3) for p in pngs)  # the demo image's own size
    assert "backbone.fpn:0" in out and "4 feature map image(s)" in out

    assert (
        run_cli(
            [
                "featmap",
                str(ckpt),
                str(val_image),
                "--layers",
                "backbone",
                "--topk",
                "4",
                "--out",
                str(tmp_path / "top"),
            ]
        )
        == 0
    )
    grids = sorted((tmp_path / "top").glob("*.png"))
    assert len(grids) == 3 and imread_rgb(grids[0]).shape == (2 * 240 + 4, 2 * 320 + 4, 3)
    capsys.readouterr()

    assert run_cli(["featmap", str(ckpt), str(val_image), "--list-layers"]) == 0
    listing = capsys.readouterr().out
    assert "backbone.fpn (FeaturePyramidNetwork)" in listing
    assert "backbone: backbone.body.6 backbone.body.12 backbone.body.16" in listing

    assert run_cli(["featmap", str(ckpt), str(val_image)]) == 2
    assert "--out DIR is required" in capsys.readouterr().out
    assert (
        run_cli(["featmap", str(ckpt), str(val_image), "--layers", "backbone.fpm", "--out", str(tmp_path / "bad")]) == 2
    )
    assert "backbone.fpm" in capsys.readouterr().out and not (tmp_path / "bad").exists()


def test_cam_cli_prints_mass_in_box_and_writes_overlays(checkpoint_factory, val_image, tmp_path, capsys):
    ckpt = checkpoint_factory("det_lite")
    out = tmp_path / "cam"
    assert (
        run_cli(["cam", str(ckpt), str(val_image), "--method", "gradcam", "--box-index", "0", "--out", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert "gradcam on backbone.fpn:0, backbone.fpn:1, backbone.fpn:2, backbone.fpn:pool" in text
    assert "target 0: box 0 " in text and "CAM mass in box" in text and "of the image" in text
    stem = val_image.stem
    assert {p.name for p in out.iterdir()} == {
        f"{stem}_gradcam.png",
        f"{stem}_gradcam_target0.png",
        f"{stem}_gradcam.json",
    }
    stats = json.loads((out / f"{stem}_gradcam.json").read_text())
    (row,) = stats["targets"]
    assert row["kind"] == "box" and row["detection"] == 0 and 0 <= row["area_share"] <= 1
    assert imread_rgb(out / f"{stem}_gradcam.png").shape == (240, 320, 3)

    assert (
        run_cli(
            [
                "cam",
                str(ckpt),
                str(val_image),
                "--method",
                "eigencam",
                "--max-boxes",
                "2",
                "--layer",
                "neck",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(json.loads((out / f"{stem}_eigencam.json").read_text())["targets"]) == 2
    capsys.readouterr()
    assert (
        run_cli(
            [
                "cam",
                str(ckpt),
                str(val_image),
                "--method",
                "gradcam++",
                "--class",
                "disc",
                "--layer",
                "stage3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "target 0: class disc" in capsys.readouterr().out
    assert run_cli(["cam", str(ckpt), str(val_image), "--box-index", "999", "--out", str(out)]) == 2
    assert "box index 999" in capsys.readouterr().out

    res = api_explain.cam(ckpt, val_image, method="eigencam", box_index=0)  # no out: maps only, nothing written
    assert res.files == [] and res.cam.combined.shape == (240, 320)


def test_predict_to_coco_writes_reviewable_annotations(checkpoint_factory, demo, tmp_path, capsys):
    ckpt = checkpoint_factory("seg_lite")
    coco = tmp_path / "labels" / "pred.json"
    assert (
        main(
            [
                "predict",
                str(ckpt),
                str(demo["val"].images),
                "--out",
                str(tmp_path / "pred"),
                "--score-thr",
                "0.05",
                "--to-coco",
                str(coco),
                "--to-coco-thr",
                "0.1",
            ]
        )
        == 0
    )
    assert f"wrote {coco}" in capsys.readouterr().out
    ds = Dataset.load(coco)
    images_dir = recorded_images_dir(coco, ds)
    assert images_dir == demo["val"].images.resolve()
    assert sorted(im["file_name"] for im in ds.images) == sorted(p.name for p in demo["val"].images.glob("*.jpg"))
    assert all(image_path(images_dir, im).is_file() for im in ds.images)
    assert ds.class_names == ["disc", "triangle", "square", "star"]
    assert ds.annotations, "a random seg_lite scores ~0.2 everywhere: there must be predictions above 0.1"
    assert all(a["score"] >= 0.1 for a in ds.annotations)
    assert check_dataset(ds, images_dir).exit_code == 0  # valid geometry, ready for the editor

    s = api.predict(ckpt, [demo["val"].images], tmp_path / "again", score_thr=0.05)
    assert s.coco_json is None and s.coco_annotations == 0


def _dets(h: int = 40, w: int = 60) -> Detections:
    masks = np.zeros((3, h, w), bool)
    masks[0, 5:15, 5:15] = True  # two parts: the big one first in the polygons
    masks[0, 20:23, 40:43] = True
    masks[2, 30:35, 30:35] = True
    boxes = np.array([[5, 5, 43, 23], [0, 0, 10, 10], [-5, 28, 36, 80]], np.float32)
    return Detections(boxes, np.array([0.9, 0.7, 0.3], np.float32), np.array([1, 2, 2], np.int64), masks)


def test_predictions_become_annotations_by_class_name():
    ds = Dataset()
    ds.add_category("star")  # id 1
    ds.add_category("disc")  # id 2
    im = ds.add_image("a.jpg", 60, 40)
    cmap = ClassMap((5, 9), ("disc", "cube"))  # the training set's ids differ
    dets = _dets()
    out = predictions_to_annotations(ds, {im["id"]: dets}, cmap, score_thr=0.5)
    assert ds.annotations == [] and len(out.annotations) == 2  # a copy; 0.3 is below the threshold
    first, second = out.annotations
    assert first["category_id"] == 2 and first["score"] == pytest.approx(0.9)  # "disc" by name
    # the polygons follow the pixels' edges (pixel i covers i - 0.5 .. i + 0.5), so they rasterize back to the
    # mask: the 3x3 part too, which the old pixel-centre trace shrank to 2x2 (a 4 px square, 44 % of its area)
    assert len(first["segmentation"]) == 2 and first["bbox"] == [4.5, 4.5, 38.0, 18.0]
    assert polygons_area(first["segmentation"][1:]) == pytest.approx(9.0)
    assert np.array_equal(segmentation_to_mask(first["segmentation"], 40, 60) > 0, dets.masks[0])
    assert out.category(second["category_id"])["name"] == "cube"  # a class the dataset lacked is added
    assert second["segmentation"] == [] and second["bbox"] == [0.0, 0.0, 10.0, 10.0]  # empty mask: the box

    boxes_only = predictions_to_annotations(ds, {im["id"]: dets}, cmap, score_thr=0.0, with_masks=False)
    assert [a["segmentation"] for a in boxes_only.annotations] == [[], [], []]
    assert boxes_only.annotations[2]["bbox"] == [0.0, 28.0, 36.0, 12.0]  # clipped to the image

    shape = detection_shape(dets, 0)
    assert shape.largest_polygon == shape.polygons[0] and len(shape.polygons) == 2
    with pytest.raises(StudioError, match=r"a\.jpg.*masks are 60x40 but the image is 30x20"):
        bad = Dataset(
            images=[{"id": 1, "file_name": "a.jpg", "width": 30, "height": 20}], categories=[], annotations=[]
        )
        predictions_to_annotations(bad, {1: dets}, cmap)
    with pytest.raises(StudioError, match="image 7"):
        predictions_to_annotations(ds, {7: dets}, cmap)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a real training: about 4 min on 2 free cores, far more on a busy machine
def test_cam_mass_is_inside_the_box_on_a_trained_balloon_model(shared_data, tmp_path):
    """det_fast trained from scratch on balloon (30 epochs at 320 px: about 4 min on 2 cores).

    For each detection among the 3 best per val image that is right (IoU >= 0.5 with a balloon), the
    CAM puts more of its mass inside the box than the box's share of the image area, on average and
    for most boxes: a map blind to the object would put about the same. (False positives are left
    out: nothing says where their CAM should be.) EigenCAM has one map per image, shared by every box:
    its mass is measured inside the union of the image's balloons.
    """
    from studio.core.config.init import init_config
    from studio.core.explain.cam import mass_in_boxes
    from studio.core.geometry import box_iou
    from studio.core.inference.predictor import Predictor

    for split in ("train", "val"):
        api.dataset_import(shared_data / "balloon" / split / "via_region_data.json", tmp_path / f"{split}.json")
    init_config(
        tmp_path / "train.json",
        tmp_path / "cfg.yaml",
        val_ann=tmp_path / "val.json",
        arch="det_fast",
        overrides={
            "data": {"image_size": 320, "workers": 1},
            "train": {"epochs": 30, "batch_size": 8, "device": "cpu", "eval_every": 30},
        },
    )
    api.train(tmp_path / "cfg.yaml", work_dir=tmp_path / "run")
    pred = Predictor.from_checkpoint(tmp_path / "run" / "last.pt", device="cpu")
    val = Dataset.load(tmp_path / "val.json")
    for method in ("gradcam", "gradcam++", "eigencam"):
        rows = []
        for im in val.images:
            gts = [a["bbox"] for a in val.anns_for_image(im["id"])]
            try:
                res = api_explain.cam(
                    pred, shared_data / "balloon" / "val" / im["file_name"], method=method, max_boxes=3
                )
            except StudioError:  # no detection on this image
                continue
            if method == "eigencam":
                # one map for the whole image (no target): its mass belongs on the objects, all of them, so it
                # is measured against the union of the ground-truth boxes, not box by box
                xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in gts], np.float64)
                mass, area = mass_in_boxes(res.cam.targets[0].map, xyxy)
                rows.append((mass or 0.0, area))
                continue
            for row in res.stats():
                x0, y0, x1, y1 = row["boxes"][0]
                if max(box_iou([x0, y0, x1 - x0, y1 - y0], g) for g in gts) >= 0.5:
                    rows.append((row["mass_in_box"] or 0.0, row["area_share"]))
        assert len(rows) >= 5, f"only {len(rows)} correct detections (images for EigenCAM): the model did not learn"
        mass, area = np.mean(rows, axis=0)
        wins = sum(m > a for m, a in rows)
        what = "images (balloons' union)" if method == "eigencam" else "correct boxes"
        print(
            f"{method}: {len(rows)} {what}, CAM mass in box {mass:.3f} vs area share {area:.3f}, "
            f"{wins}/{len(rows)} above"
        )
        assert mass > 1.5 * area and wins >= len(rows) / 2, method
