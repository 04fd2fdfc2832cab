"""`studio predict` / `studio infer` on generated videos, a camera that is missing, broken files, a cancel, and
`studio dataset frames` into a folder that `dataset new` takes."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.core.export.jobs import export_checkpoint
from studio.core.export.runtime import ExportedModel
from studio.core.imageio import list_images
from studio.core.video.sinks import count_frames
from studio.core.video.synthetic import write_video

FRAMES = 8
COCO_KEYS = {"bbox", "score", "category_id", "segmentation"}  # a mask model's COCO results


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: two on the shared 2-core machine spin-wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", FRAMES, fps=12)


@pytest.fixture(scope="module")
def onnx_model(trained_checkpoint, tmp_path_factory) -> Path:
    """The briefly trained seg_lite as plain ONNX (dynamic size: what predict runs), unverified (fast)."""
    res = export_checkpoint(
        trained_checkpoint, "onnx", {"dynamic": True}, tmp_path_factory.mktemp("x") / "e", n_verify=0
    )
    return res.model


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _check_outputs(out: Path, stem: str = "clip") -> list[dict]:
    video, jsonl = out / f"{stem}_pred.mp4", out / f"{stem}_pred.jsonl"
    assert count_frames(video) == FRAMES
    lines = _lines(jsonl)
    assert [r["frame"] for r in lines] == list(range(FRAMES))
    assert [r["timestamp"] for r in lines[:3]] == [0, pytest.approx(1 / 12, abs=1e-3), pytest.approx(2 / 12, abs=1e-3)]
    dets = [d for r in lines for d in r["detections"]]
    assert dets and all(set(d) == COCO_KEYS for d in dets)
    assert all(len(d["bbox"]) == 4 and "counts" in d["segmentation"] for d in dets)
    return lines


@pytest.fixture(scope="module")
def predicted(trained_checkpoint, clip, tmp_path_factory) -> tuple[Path, str]:
    """`studio predict CKPT clip.mp4`: its output folder and what it printed."""
    out = tmp_path_factory.mktemp("predicted")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["predict", str(trained_checkpoint), str(clip), "--out", str(out), "--device", "cpu"]) == 0
    return out, buf.getvalue()


def test_predict_writes_every_frame_and_the_json_lines(predicted):
    out, printed = predicted
    assert f"on {FRAMES} frames" in printed
    assert "score threshold" in printed  # the same default rule as for images, and said
    _check_outputs(out)


def test_infer_writes_what_predict_writes(predicted, onnx_model, clip, tmp_path):
    assert main(["infer", str(onnx_model), str(clip), "--out", str(tmp_path)]) == 0
    inf = _check_outputs(tmp_path)
    pred = _lines(predicted[0] / "clip_pred.jsonl")
    # the same model and preprocessing: about the same detections on every frame
    n_pred, n_inf = (sum(len(r["detections"]) for r in x) for x in (pred, inf))
    assert abs(n_pred - n_inf) <= max(2, n_pred // 10)


def test_images_and_videos_in_one_call(onnx_model, clip, demo, tmp_path, capsys):
    image = list_images(demo["val"].images)[0]
    assert main(["infer", str(onnx_model), str(image), str(clip), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "on 1 images" in out and f"on {FRAMES} frames" in out
    assert (tmp_path / "predictions.json").is_file() and (tmp_path / image.name).is_file()
    _check_outputs(tmp_path)


def test_infer_on_a_video_imports_no_torch(onnx_model, clip, tmp_path):
    code = (
        "import sys\n"
        "from studio.api_video import infer_video\n"
        f"s = infer_video({str(onnx_model)!r}, [{str(clip)!r}], {str(tmp_path)!r}, max_frames=2)\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]\n"
        "print(s[0].frames)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "2"


def test_a_missing_camera_is_exit_2_with_a_message(onnx_model, tmp_path, capsys):
    assert main(["infer", str(onnx_model), "--camera", "7", "--out", str(tmp_path / "out")]) == 2
    assert "error: camera 7: cannot be opened: no such camera" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_input_at_all_is_a_message(onnx_model, tmp_path, capsys):
    assert main(["infer", str(onnx_model), "--out", str(tmp_path)]) == 2
    assert "--camera" in capsys.readouterr().err


def test_corrupt_and_truncated_videos(onnx_model, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(range(256)) * 40)
    assert main(["infer", str(onnx_model), str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.mp4: cannot open the video" in capsys.readouterr().err
    full = write_video(tmp_path / "full.avi", 30)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert main(["infer", str(onnx_model), str(cut), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "cut.avi: frame" in err and "truncated" in err and "frames before it are kept" in err
    kept = count_frames(tmp_path / "o" / "cut_pred.mp4")
    assert 0 < kept < 30 and len(_lines(tmp_path / "o" / "cut_pred.jsonl")) == kept


def test_ctrl_c_is_exit_130_with_a_playable_video(onnx_model, clip, tmp_path, capsys, monkeypatch):
    calls = []
    real = ExportedModel.predict

    def interrupted(self, images):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, images)

    monkeypatch.setattr(ExportedModel, "predict", interrupted)
    assert main(["infer", str(onnx_model), str(clip), "--out", str(tmp_path)]) == 130
    assert "cancelled: " in capsys.readouterr().err
    assert count_frames(tmp_path / "clip_pred.mp4") == 3 == len(_lines(tmp_path / "clip_pred.jsonl"))


def test_dataset_frames_then_dataset_new(tmp_path, capsys):
    video = write_video(tmp_path / "shots.mkv", 24, cuts=[8, 16])
    out = tmp_path / "frames"
    assert main(["dataset", "frames", str(video), "--every", "5", "--min-diff", "0", "-o", str(out)]) == 0
    assert "wrote 5 frames of 24" in capsys.readouterr().out
    assert main(["dataset", "frames", str(video), "--every", "5", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    cuts = tmp_path / "cuts"
    assert main(["dataset", "frames", str(video), "--scene-change", "0.1", "-o", str(cuts), "--format", "png"]) == 0
    assert [p.name for p in sorted(cuts.iterdir())] == ["shots_000000.png", "shots_000008.png", "shots_000016.png"]
    ann = tmp_path / "new.json"
    assert main(["dataset", "new", str(out), "--classes", "red", "green", "-o", str(ann)]) == 0
    assert len(json.loads(ann.read_text())["images"]) == 5
