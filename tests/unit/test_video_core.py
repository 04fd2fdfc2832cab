"""The video core without a real model: sources (file, camera, fake camera, broken files), the pipeline's
outputs, cancel and failures, and frames extracted into a folder."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from studio.core.data.classes import ClassMap
from studio.core.detections import Detections
from studio.core.errors import CancelledError, StudioError
from studio.core.jobs import CancelToken
from studio.core.safe_names import UnsafeNameError
from studio.core.video.display import display_problem
from studio.core.video.frames import extract_frames
from studio.core.video.jobs import predict_sources
from studio.core.video.pipeline import VideoCancelled, run_video
from studio.core.video.sinks import count_frames
from studio.core.video.sources import CameraSource, FakeCamera, VideoError, open_source, split_inputs
from studio.core.video.synthetic import write_video

N = 12


class BoxModel:
    """A stand-in model: one box around the red rectangle's corner, score 0.9, class 1; counts its calls."""

    class_map = ClassMap((1, 2), ("red", "green"))

    def __init__(self):
        self.calls = 0

    def predict(self, images):
        self.calls += 1
        out = []
        for im in images:
            ys, xs = np.nonzero((im[..., 0] > 200) & (im[..., 1] < 80))
            if len(xs) == 0:
                out.append(Detections.empty())
                continue
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            out.append(Detections(box, np.array([0.9], np.float32), np.array([1], np.int64)))
        return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", N, fps=10)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_inputs_are_split_into_images_and_video_sources():
    images, videos = split_inputs(["a.jpg", "dir", "b.MP4", "c.webm", "rtsp://cam/1", "http://x/y.m3u8"])
    assert images == ["a.jpg", "dir"]
    assert videos == ["b.MP4", "c.webm", "rtsp://cam/1", "http://x/y.m3u8"]


def test_every_frame_is_written_to_the_video_and_the_json_lines(clip, tmp_path):
    seen = []
    with open_source(clip) as src:
        assert (src.fps, src.frame_count, src.width) == (10.0, N, 320)
        s = run_video(
            BoxModel(), src, video_out=tmp_path / "o.mp4", jsonl_out=tmp_path / "o.jsonl", on_frame=seen.append
        )
    assert (s.frames, s.detections, s.status) == (N, N, "finished")
    assert count_frames(tmp_path / "o.mp4") == N
    lines = _lines(tmp_path / "o.jsonl")
    assert [r["frame"] for r in lines] == list(range(N)) == [r.index for r in seen]
    assert lines[3]["timestamp"] == pytest.approx(0.3)
    det = lines[0]["detections"][0]
    assert set(det) == {"bbox", "score", "category_id"} and det["category_id"] == 1 and det["score"] == 0.9
    assert det["bbox"][2] == pytest.approx(48, abs=2)  # the 48 px red square's box, x y w h
    assert seen[-1].fps > 0 and seen[0].image.shape == (240, 320, 3)
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind


def test_cancel_after_k_frames_keeps_a_playable_video_with_the_same_frames(clip, tmp_path):
    cancel = CancelToken()

    def stop_at_5(result):
        if result.index == 4:
            cancel.cancel()

    with open_source(clip) as src, pytest.raises(VideoCancelled) as e:
        run_video(
            BoxModel(),
            src,
            video_out=tmp_path / "o.mp4",
            jsonl_out=tmp_path / "o.jsonl",
            on_frame=stop_at_5,
            cancel=cancel,
        )
    assert isinstance(e.value, CancelledError) and e.value.summary.frames == 5
    assert count_frames(tmp_path / "o.mp4") == 5
    assert [r["frame"] for r in _lines(tmp_path / "o.jsonl")] == [0, 1, 2, 3, 4]


def test_ctrl_c_in_the_model_is_a_cancel_with_the_files_closed(clip, tmp_path):
    class Interrupted(BoxModel):
        def predict(self, images):
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().predict(images)

    with open_source(clip) as src, pytest.raises(VideoCancelled) as e:
        run_video(Interrupted(), src, video_out=tmp_path / "o.mp4", jsonl_out=tmp_path / "o.jsonl")
    assert e.value.summary.frames == 3 and count_frames(tmp_path / "o.mp4") == 3
    assert len(_lines(tmp_path / "o.jsonl")) == 3


def test_a_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="broken.mp4: cannot open the video"):
        open_source(bad)
    with pytest.raises(VideoError, match="video file not found"):
        open_source(tmp_path / "missing.mp4")


def test_a_truncated_file_keeps_the_frames_before_the_cut(tmp_path):
    full = write_video(tmp_path / "full.avi", 40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with open_source(cut) as src, pytest.raises(VideoError) as e:
        run_video(BoxModel(), src, video_out=tmp_path / "o.mp4", jsonl_out=tmp_path / "o.jsonl")
    kept = e.value.summary.frames
    assert 5 < kept < 40
    assert "cut.avi" in str(e.value) and f"frame {kept}" in str(e.value) and "truncated" in str(e.value)
    assert f"the {kept} frames before it are kept" in str(e.value)
    assert count_frames(tmp_path / "o.mp4") == kept == len(_lines(tmp_path / "o.jsonl"))


def test_a_stream_url(tmp_path):
    """A video served over http reads like a file (it has a length); a refused URL is named."""
    write_video(tmp_path / "served.mkv", 6)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with open_source(f"http://127.0.0.1:{server.server_port}/served.mkv") as src:
            assert not src.live and src.stem == "served"
            s = run_video(BoxModel(), src, jsonl_out=tmp_path / "o.jsonl")
        assert s.frames == 6 and len(_lines(tmp_path / "o.jsonl")) == 6
    finally:
        server.shutdown()
    with pytest.raises(VideoError, match=r"rtsp://127.0.0.1:9/live: cannot open the stream"):
        open_source("rtsp://127.0.0.1:9/live")


def test_a_missing_camera_is_a_clear_error():
    with pytest.raises(VideoError, match="camera 7: cannot be opened: no such camera"):
        CameraSource(7)
    with pytest.raises(VideoError, match="camera 7"):
        open_source("7")


def test_a_fake_camera_that_disappears_keeps_what_was_done(clip, tmp_path):
    cam = FakeCamera(clip, index=3)
    assert cam.live and cam.frame_count is None and cam.stem == "camera3"
    with cam, pytest.raises(VideoError) as e:
        run_video(BoxModel(), cam, video_out=tmp_path / "o.mp4", jsonl_out=tmp_path / "o.jsonl")
    assert str(e.value).startswith(f"camera 3: stopped delivering frames after frame {N - 1}")
    assert count_frames(tmp_path / "o.mp4") == N


def test_a_looping_fake_camera_runs_until_cancelled(clip):
    cancel = CancelToken()
    frames = []

    def on_frame(r):
        frames.append(r.timestamp)
        if len(frames) == N + 5:
            cancel.cancel()

    with FakeCamera(clip, loop=True) as cam, pytest.raises(VideoCancelled):
        run_video(BoxModel(), cam, on_frame=on_frame, cancel=cancel)
    assert len(frames) == N + 5 and frames == sorted(frames)  # clock timestamps, rising


def test_predict_sources_names_each_output_after_its_source(clip, tmp_path):
    out = predict_sources(BoxModel(), [clip, clip], tmp_path / "out")
    assert [s.video.name for s in out] == ["clip_pred.mp4", "clip_1_pred.mp4"]
    assert [s.jsonl.name for s in out] == ["clip_pred.jsonl", "clip_1_pred.jsonl"]
    assert count_frames(out[1].video) == N


def test_show_without_a_display_is_a_message(monkeypatch, clip, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in display_problem()
    with pytest.raises(StudioError, match="--show: there is no display"):
        predict_sources(BoxModel(), [clip], tmp_path, show=True)
    assert not list(tmp_path.iterdir())  # refused before any work


def test_frames_every_n(clip, tmp_path):
    s = extract_frames(clip, tmp_path / "f", every=4, min_diff=0)
    assert [p.name for p in s.written] == ["clip_000000.jpg", "clip_000004.jpg", "clip_000008.jpg"]
    assert s.frames_read == N


def test_frames_at_scene_changes(tmp_path):
    video = write_video(tmp_path / "cuts.mp4", 30, cuts=[7, 19])
    s = extract_frames(video, tmp_path / "f", scene_change=0.1)
    assert [p.name for p in s.written] == ["cuts_000000.jpg", "cuts_000007.jpg", "cuts_000019.jpg"]


def test_near_duplicates_are_skipped(tmp_path):
    still = write_video(tmp_path / "still.mp4", 20, cuts=list(range(1, 20)))  # a new shot each frame...
    s = extract_frames(still, tmp_path / "all", every=1, min_diff=0)
    assert len(s.written) == 20
    moving = write_video(tmp_path / "slow.mp4", 20)  # ... against a small object moving 4 px a frame
    s = extract_frames(moving, tmp_path / "few", every=1)
    assert 0 < len(s.written) < 10 and s.duplicates == 20 - len(s.written)


def test_frames_refuse_to_overwrite_and_stay_in_the_folder(clip, tmp_path):
    extract_frames(clip, tmp_path / "f", every=6, min_diff=0)
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "f").iterdir())
    with pytest.raises(StudioError, match="are there already .*--overwrite"):
        extract_frames(clip, tmp_path / "f", every=6)
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "f").iterdir()) == before
    assert len(extract_frames(clip, tmp_path / "f", every=6, overwrite=True, min_diff=0).written) == 2
    odd = tmp_path / "..odd name!.mp4"
    odd.write_bytes(clip.read_bytes())
    s = extract_frames(odd, tmp_path / "g", every=100)
    assert [p.name for p in s.written] == ["odd_name_000000.jpg"] and s.written[0].parent == tmp_path / "g"


def test_frames_options_are_checked(clip, tmp_path):
    with pytest.raises(StudioError, match="choose one"):
        extract_frames(clip, tmp_path, every=2, scene_change=0.2)
    with pytest.raises(StudioError, match="--every must be"):
        extract_frames(clip, tmp_path, every=0)
    with pytest.raises(StudioError, match="--scene-change must be"):
        extract_frames(clip, tmp_path, scene_change=2.0)
    with pytest.raises(StudioError, match="--format"):
        extract_frames(clip, tmp_path, every=1, image_format="gif")


def test_frames_cancel(clip, tmp_path):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(CancelledError):
        extract_frames(clip, tmp_path / "f", every=1, cancel=cancel)


def test_unsafe_frame_name_is_refused(clip, tmp_path, monkeypatch):
    import studio.core.video.frames as frames

    monkeypatch.setattr(frames, "safe_stem", lambda stem: "../escape")
    with pytest.raises(UnsafeNameError):
        extract_frames(clip, tmp_path / "f", every=100)
    assert not (tmp_path / "escape_000000.jpg").exists()


def test_api_video_run_drives_a_preview_from_a_fake_camera(clip, tmp_path):
    """What the app's Preview does: a loaded model, a camera (here a fake one), live results, no files."""
    from studio import api

    seen = []
    with FakeCamera(clip, realtime=True, loop=True) as cam:
        s = api.video_run(BoxModel(), cam, on_frame=seen.append, max_frames=4)
    assert s.frames == 4 and [r.index for r in seen] == [0, 1, 2, 3] and s.video is None and s.jsonl is None
    assert seen[-1].timestamp >= 0.25  # paced at the file's 10 FPS, as a camera would be
    assert 5 < seen[-1].fps < 12  # the live rate: the camera's 10 FPS, not the model's speed
    assert all(len(r.detections) == 1 for r in seen)


def test_two_workers_keep_frame_order(clip, tmp_path):
    """Frames inferred two at a time, the even ones slower: results still come out in frame order, all of them."""

    class Uneven(BoxModel):
        def predict(self, images):
            red = int(np.nonzero(images[0][..., 0] > 200)[1].min())  # the red square's x: differs per frame
            threading.Event().wait(0.03 if red % 8 == 2 else 0.0)
            return super().predict(images)

    seen = []
    with open_source(clip) as src:
        s = run_video(Uneven(), src, jsonl_out=tmp_path / "o.jsonl", on_frame=seen.append, workers=2)
    assert s.frames == N and [r.index for r in seen] == list(range(N))
    lines = _lines(tmp_path / "o.jsonl")
    assert [r["frame"] for r in lines] == list(range(N))
    with open_source(clip) as src:
        run_video(BoxModel(), src, jsonl_out=tmp_path / "one.jsonl")
    assert lines == _lines(tmp_path / "one.jsonl")


def test_video_parallelism_follows_the_measured_best_per_runtime(monkeypatch):
    """ONNX Runtime on a CPU: one single-threaded call per core; OpenVINO and GPUs: one call on all cores but one."""
    from studio import api_video

    monkeypatch.setattr(api_video.os, "cpu_count", lambda: 4)
    assert api_video.video_parallelism("m/model.onnx", "cpu") == (1, 4)
    assert api_video.video_parallelism("m/model.xml", "cpu") == (3, 1)
    assert api_video.video_parallelism("m/model.onnx", "cuda") == (3, 1)
    monkeypatch.setattr(api_video.os, "cpu_count", lambda: 1)
    assert api_video.video_parallelism("m/model.onnx", "cpu") == (1, 1)
