"""``studio benchmark``: a row per format and backend (measured, or the reason it is not), written as Markdown and
JSON into the folder named and nowhere else; refusals before any work; cancel leaves the folder as it was."""

from __future__ import annotations

import json

import pytest

from studio.cli import main
from studio.core.errors import CancelledError, StudioError
from studio.core.export.benchmark import JSON_NAME, MARKDOWN_NAME, benchmark_checkpoint, check_formats
from studio.core.jobs import CancelToken


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine two threads spin-wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rows(out) -> dict[tuple[str, str], dict]:
    table = json.loads((out / JSON_NAME).read_text())
    return {(r["format"], r["backend"]): r for r in table["rows"]}


def test_benchmark_prints_a_row_per_format_and_the_reasons(checkpoint_factory, demo, tmp_path, capsys):
    ckpt = checkpoint_factory("det_lite", 64)
    out = tmp_path / "bench"
    args = ["benchmark", str(ckpt), "--formats", "pytorch", "engine", "-o", str(out)]
    args += ["--ann", str(demo["val"].annotations), "--images", str(demo["val"].images)]
    assert main([*args, "--n-images", "2", "--runs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "| pytorch | PyTorch eager (CPU) |" in printed
    assert "| pytorch | PyTorch eager (CUDA) |" in printed and "no CUDA device" in printed
    assert "| engine | TensorRT engine |" in printed and "NVIDIA GPU" in printed
    assert sorted(p.name for p in out.iterdir()) == [JSON_NAME, MARKDOWN_NAME]  # no export was possible here
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]  # nothing beside the folder named
    rows = _rows(out)
    cpu = rows[("pytorch", "pytorch_cpu")]
    assert cpu["latency_ms"] > 0 and cpu["fps"] == pytest.approx(1000 / cpu["latency_ms"], rel=0.01)
    assert cpu["map"] is not None and cpu["map_delta"] == 0 and cpu["box_match"] == 1.0 and cpu["size_mb"] > 0
    assert rows[("engine", "tensorrt")]["latency_ms"] is None and "GPU" in rows[("engine", "tensorrt")]["reason"]
    assert "| format | backend |" in (out / MARKDOWN_NAME).read_text()


def test_a_plain_image_folder_gives_latency_without_map(checkpoint_factory, demo, tmp_path):
    from studio.core.imageio import list_images, save_image

    folder = tmp_path / "pics"
    for p in list_images(demo["val"].images)[:2]:
        from studio.core.imageio import imread_rgb

        save_image(folder / p.name, imread_rgb(p))
    r = benchmark_checkpoint(checkpoint_factory("det_lite", 64), ["pytorch"], tmp_path / "b", images=folder, runs=1)
    (row,) = [x for x in r.rows if x.backend == "pytorch_cpu"]
    assert row.latency_ms > 0 and row.map is None and r.table["metric"] is None
    assert "no annotations" in r.table["images"]


def test_refusals_before_any_work(checkpoint_factory, tmp_path, capsys):
    ckpt = checkpoint_factory("det_lite", 64)
    with pytest.raises(StudioError, match="unknown benchmark format 'tflite'"):
        check_formats(["onnx", "tflite"])
    assert check_formats(["engine", "pytorch"]) == ["pytorch", "engine"]  # the table's order
    cases = [
        (["--n-images", "0"], "at least one image"),
        (["--runs", "0"], "at least one timed run"),
        (["--images", str(tmp_path / "nowhere")], "not found"),
    ]
    for extra, why in cases:
        out = tmp_path / "never"
        assert main(["benchmark", str(ckpt), "-o", str(out), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("error: ") and why in err, (extra, err)
        assert not out.exists()


def test_cancel_leaves_the_folder_as_it_was(checkpoint_factory, demo, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        benchmark_checkpoint(
            checkpoint_factory("det_lite", 64), ["pytorch", "onnx"], out, ann=demo["val"].annotations, cancel=token
        )
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


@pytest.mark.slow
def test_every_backend_here_is_measured(checkpoint_factory, demo, tmp_path, capsys):
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra: pip install 'studio[openvino]'")
    ckpt = checkpoint_factory("det_fast", 96, calibrate_bn=True)
    out = tmp_path / "bench"
    args = ["benchmark", str(ckpt), "-o", str(out), "--ann", str(demo["val"].annotations)]
    assert main([*args, "--n-images", "4", "--runs", "3", "--score-thr", "0.01", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    for fmt in ("pytorch", "onnx", "openvino", "engine"):
        assert f"| {fmt} |" in printed, fmt
    rows = _rows(out)
    for key in (("pytorch", "pytorch_cpu"), ("onnx", "onnxruntime_cpu"), ("openvino", "openvino_cpu")):
        r = rows[key]
        assert r["reason"] is None and r["latency_ms"] > 0 and r["size_mb"] > 0, r
        assert abs(r["map_delta"]) <= 0.002 and r["box_match"] >= 0.95, r
    assert rows[("openvino", "openvino_cpu")]["file"] == "exports/openvino/model.xml"
    assert (out / "exports" / "openvino" / "model.bin").is_file()
    assert rows[("engine", "tensorrt")]["reason"]
