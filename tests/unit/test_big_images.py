"""``studio predict`` / ``studio infer`` on big images: decoded reduced (libjpeg DCT scaling), predictions
mapped back to the file's pixels; and the --score-thr range check."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from studio import api
from studio.cli import main
from studio.core.data import decode
from studio.core.data.decode import decode_for_model
from studio.core.detections import Detections, ImagePrediction, UpscaledMasks, check_score_thr
from studio.core.errors import StudioError
from studio.core.imageio import imread_rgb


def _photo(path: Path, w: int, h: int, seed: int = 0) -> Path:
    """A synthetic photo: discs and boxes of flat colours on a gradient (compresses well, decodes fast)."""
    rng = np.random.default_rng(seed)
    small = np.zeros((h // 8, w // 8, 3), np.uint8)
    small[:] = np.linspace(40, 160, w // 8, dtype=np.uint8)[None, :, None]
    for _ in range(10):
        x, y = int(rng.integers(0, w // 8)), int(rng.integers(0, h // 8))
        r = int(rng.integers(h // 80 + 2, h // 24 + 3))
        cv2.circle(small, (x, y), r, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory) -> Path:
    """6000 x 4000 (24 MP: above the 16 MP limit)."""
    return _photo(tmp_path_factory.mktemp("big") / "big.jpg", 6000, 4000)


def _recording(monkeypatch, module) -> list[int]:
    """Wrap ``module.decode_for_model`` to record the reduction factor of each decode."""
    factors: list[int] = []
    real = module.decode_for_model

    def spy(path, input_size, *a, **kw):
        img, factor, size = real(path, input_size, *a, **kw)
        factors.append(factor)
        return img, factor, size

    monkeypatch.setattr(module, "decode_for_model", spy)
    return factors


# ---------------------------------------------------------------------------------------- decoding
def test_decode_for_model_reduces_big_images_only(big_jpeg, tmp_path):
    img, factor, size = decode_for_model(big_jpeg, 640)
    assert factor == 8 and img.shape == (500, 750, 3) and size == (6000, 4000)  # 750 >= 640: the largest reduction
    img, factor, size = decode_for_model(big_jpeg, 1000)
    assert factor == 4 and img.shape == (1000, 1500, 3) and size == (6000, 4000)  # 750 < 1000 <= 1500
    img, factor, size = decode_for_model(big_jpeg, 4000)
    assert factor == 1 and img.shape == (4000, 6000, 3) and size == (6000, 4000)  # no reduction keeps 4000 px
    small = _photo(tmp_path / "small.jpg", 1200, 800)
    img, factor, size = decode_for_model(small, 96)  # 0.96 MP: decoded in full, as before
    assert factor == 1 and size == (1200, 800) and np.array_equal(img, imread_rgb(small))
    img, factor, size = decode_for_model(small, 96, min_pixels=0)
    assert factor == 8 and img.shape == (100, 150, 3) and size == (1200, 800)
    png = tmp_path / "big.png"  # not a JPEG: decoded in full, then shrunk by the same factor
    cv2.imwrite(str(png), cv2.imread(str(small)))
    img, factor, size = decode_for_model(png, 96, min_pixels=0)
    assert factor == 8 and img.shape == (100, 150, 3) and size == (1200, 800)
    # the reduced image is the same picture: compare with the full decode shrunk by the factor
    ref = cv2.resize(imread_rgb(small), (150, 100), interpolation=cv2.INTER_AREA)
    assert np.abs(decode_for_model(small, 96, min_pixels=0)[0].astype(int) - ref).mean() < 4


def test_decode_for_model_reports_the_upright_size_of_a_turned_jpeg(tmp_path):
    from PIL import Image

    src = _photo(tmp_path / "stored.jpg", 1200, 800)
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees clockwise to display
    turned = tmp_path / "turned.jpg"
    Image.open(src).save(turned, exif=exif, quality=92)
    full = imread_rgb(turned)
    assert full.shape == (1200, 800, 3)  # displayed upright
    img, factor, size = decode_for_model(turned, 96, min_pixels=0)
    assert factor == 8 and img.shape == (150, 100, 3) and size == (800, 1200)
    ref = cv2.resize(full, (100, 150), interpolation=cv2.INTER_AREA)
    assert np.abs(img.astype(int) - ref).mean() < 4  # turned the same way as the full decode


def test_upscaled_detections_are_in_the_files_pixels():
    masks = np.zeros((2, 50, 75), bool)
    masks[0, 10:20, 30:40] = True
    masks[1, 45:50, 70:75] = True  # at the bottom-right edge: the partial last block is cropped away
    d = Detections(
        np.array([[30, 10, 40, 20], [70, 45, 75, 50]], np.float32),
        np.array([0.9, 0.4], np.float32),
        np.array([1, 2], np.int64),
        masks,
    )
    up = d.upscaled(8, 598, 397)
    assert np.allclose(up.boxes, [[240, 80, 320, 160], [560, 360, 598, 397]])  # x 8, clipped to the image
    assert isinstance(up.masks, UpscaledMasks) and up.masks.shape == (2, 397, 598) and len(up.masks) == 2
    m0 = up.masks[0]
    assert m0.shape == (397, 598) and m0.dtype == bool
    ys, xs = np.nonzero(m0)
    assert (
        abs(xs.min() - 240) <= 4 and abs(xs.max() - 319) <= 4 and abs(ys.min() - 80) <= 4 and abs(ys.max() - 159) <= 4
    )
    assert abs(int(m0.sum()) - 80 * 80) < 0.1 * 80 * 80
    assert up.masks[1].shape == (397, 598) and up.masks[1][390, 590]
    kept = up.above(0.5)
    assert len(kept) == 1 and isinstance(kept.masks, UpscaledMasks) and np.array_equal(kept.masks[0], m0)
    assert np.asarray(up.masks).shape == (2, 397, 598) and np.array_equal(np.asarray(up.masks)[0], m0)
    assert d.upscaled(1, 75, 50) is d
    item = ImagePrediction(Path("x.jpg"), np.zeros((50, 75, 3), np.uint8), d, 598, 397, 8)
    assert np.allclose(item.original().boxes, up.boxes)


# ---------------------------------------------------------------------------------------- studio predict
def test_predict_decodes_a_big_image_reduced_and_writes_original_pixels(
    checkpoint_factory, big_jpeg, tmp_path, monkeypatch
):
    from studio.core.inference import predictor

    factors = _recording(monkeypatch, predictor)
    ckpt = checkpoint_factory("det_lite", calibrate_bn=True)  # a 96 px model
    s = api.predict(ckpt, [big_jpeg], tmp_path / "pred", score_thr=0.0, device="cpu")
    assert factors == [8]  # 6000 x 4000 decoded at 750 x 500
    results = json.loads(s.results_json.read_text())
    assert s.detections == len(results) > 0
    boxes = np.array([r["bbox"] for r in results])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 6000.01).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= 4000.01).all()
    assert (boxes[:, 0] + boxes[:, 2]).max() > 750 * 2  # original pixels, not the decoded image's
    drawn = cv2.imread(str(tmp_path / "pred" / "big.jpg"))
    assert drawn.shape == (500, 750, 3)  # the drawn copy has the decoded (reduced) size


def test_reduced_and_full_decode_give_the_same_predictions(checkpoint_factory, tmp_path, monkeypatch):
    """The same file predicted with the reduced decode (limit lowered to 0) and in full: the model sees the
    same pixels, and the predictions come back in the file's pixels. (Comparing the two runs' boxes directly
    fails by chance: a random model's scores saturate, so which 100 of its tied boxes are kept is a tie.)"""
    from studio.core.inference import predictor

    photo = _photo(tmp_path / "photo.jpg", 1200, 800, seed=3)
    ckpt = checkpoint_factory("seg_lite", calibrate_bn=True)
    factors = _recording(monkeypatch, predictor)
    inputs: list[np.ndarray] = []
    real_preprocess = predictor.preprocess

    def recording_preprocess(image, *args, **kwargs):
        out = real_preprocess(image, *args, **kwargs)
        inputs.append(out[0])
        return out

    monkeypatch.setattr(predictor, "preprocess", recording_preprocess)
    runs = {}
    for name, limit in (("full", 10**12), ("reduced", 0)):
        monkeypatch.setattr(decode, "BIG_IMAGE_PIXELS", limit)
        s = api.predict(ckpt, [photo], tmp_path / name, score_thr=0.0, device="cpu")
        runs[name] = json.loads(s.results_json.read_text())
    assert factors == [1, 8]
    full_in, red_in = inputs
    assert full_in.shape == red_in.shape  # the same model input size
    assert np.abs(full_in - red_in).mean() < 0.02  # and nearly the same pixels (0..1)
    full, red = runs["full"], runs["reduced"]
    assert len(full) > 10 and len(red) > 10
    assert all(r["segmentation"]["size"] == [800, 1200] for r in red)  # masks at the file's size
    for rs in (full, red):  # boxes in the file's 1200 x 800 pixels, not the decoded 150 x 100
        b = np.array([r["bbox"] for r in rs], float)
        assert (b[:, 0] + b[:, 2]).max() > 150 and (b[:, 0] + b[:, 2]).max() <= 1200.01
        assert (b[:, 1] + b[:, 3]).max() <= 800.01
    for r in red[:5]:  # each mask lies around its box
        m = mask_utils.decode({"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode()})
        if m.any():
            ys, xs = np.nonzero(m)
            x, y, w, h = r["bbox"]
            assert xs.min() >= x - w / 2 - 30 and xs.max() <= x + 1.5 * w + 30
            assert ys.min() >= y - h / 2 - 30 and ys.max() <= y + 1.5 * h + 30


# ---------------------------------------------------------------------------------------- studio infer
class _FakeSegBackend:
    """An end-to-end "export": one box at input pixels (8, 8)-(24, 16) with a full mask, whatever the image."""

    name = "fake"

    def run(self, x):
        b = x.shape[0]
        boxes = np.zeros((b, 2, 4), np.float32)
        boxes[:, 0] = [8, 8, 24, 16]
        return {
            "num_dets": np.ones((b, 1), np.int32),
            "boxes": boxes,
            "scores": np.full((b, 2), 0.9, np.float32),
            "labels": np.ones((b, 2), np.int32),
            "masks": np.ones((b, 2, 14, 14), np.float32),
        }


def test_infer_decodes_a_big_image_reduced_and_writes_original_pixels(big_jpeg, tmp_path, monkeypatch):
    from studio.core.export import runtime
    from studio.core.export.jobs import infer_images
    from studio.core.export.runtime import ExportedModel, ModelInfo

    info = ModelInfo(
        "onnx-e2e", "seg_lite", "segment", {"cat_ids": [7], "names": ["thing"]}, 32, False, False, None, 0.05, 2, 14
    )
    monkeypatch.setattr(
        runtime,
        "load_exported",
        lambda path, device="cpu", score_thr=None: ExportedModel(_FakeSegBackend(), info),
    )
    factors = _recording(monkeypatch, runtime)
    s = infer_images(tmp_path / "model.onnx", [big_jpeg], tmp_path / "out")
    assert factors == [8]
    (r,) = json.loads(s.results_json.read_text())
    # input pixels -> file pixels: x 6000 / 32, y 4000 / 21 (the 21 rows the image fills of the 32 px input)
    assert np.allclose(r["bbox"], [1500, 8 * 4000 / 21, 3000, 8 * 4000 / 21], atol=1.0), r["bbox"]
    assert r["segmentation"]["size"] == [4000, 6000]
    m = mask_utils.decode({"size": [4000, 6000], "counts": r["segmentation"]["counts"].encode()}).astype(bool)
    rect = np.zeros_like(m)
    rect[1524:3048, 1500:4500] = True
    assert (m & rect).sum() / (m | rect).sum() > 0.85
    assert cv2.imread(str(tmp_path / "out" / "big.jpg")).shape == (500, 750, 3)


# ---------------------------------------------------------------------------------------- --score-thr
def test_check_score_threshold():
    assert check_score_thr(None) is None and check_score_thr(0) == 0.0 and check_score_thr(1) == 1.0
    for bad, shown in (
        (5, "5"),
        (5.0, "5"),
        (-0.1, "-0.1"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (True, "True"),
        ("0.5", "'0.5'"),
    ):
        with pytest.raises(StudioError) as e:
            check_score_thr(bad)
        assert str(e.value) == f"--score-thr must be between 0 and 1, got {shown}"
    with pytest.raises(StudioError, match="--to-coco-thr must be between 0 and 1, got 2"):
        check_score_thr(2, "--to-coco-thr")


@pytest.mark.parametrize(
    "argv_tail, expect",
    [
        (["--score-thr", "5"], "--score-thr must be between 0 and 1, got 5"),
        (["--score-thr", "nan"], "--score-thr must be between 0 and 1, got nan"),
        (["--score-thr", "-1"], "--score-thr must be between 0 and 1, got -1"),
        (["--to-coco", "{tmp}/c.json", "--to-coco-thr", "2"], "--to-coco-thr must be between 0 and 1, got 2"),
    ],
)
def test_predict_score_thr_range(checkpoint_factory, demo, tmp_path, capsys, argv_tail, expect):
    ckpt = checkpoint_factory("det_lite")
    argv = [
        "predict",
        str(ckpt),
        str(demo["val"].images),
        "--out",
        str(tmp_path / "pred"),
        *[a.format(tmp=tmp_path) for a in argv_tail],
    ]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert f"error: {expect}" in out.err and "Traceback" not in out.err + out.out
    assert not (tmp_path / "pred").exists() and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("value", ["5", "nan", "-0.5"])
def test_infer_score_thr_range(tmp_path, capsys, value):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not loaded: the range is checked first")
    _photo(tmp_path / "a.jpg", 64, 48)
    assert (
        main(["infer", str(model), str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"), "--score-thr", value]) == 2
    )
    out = capsys.readouterr()
    assert f"error: --score-thr must be between 0 and 1, got {value}" in out.err and "Traceback" not in out.err
    assert not (tmp_path / "out").exists()
    with pytest.raises(StudioError, match="--score-thr must be between 0 and 1"):
        api.infer(model, [tmp_path / "a.jpg"], tmp_path / "out", score_thr=float(value))
