"""Plugins from the command line: `studio plugins`, `studio doctor`, and the repository's example plugins
used through the ordinary commands (dataset import/export as CVAT, cam --method xgradcam,
export --format torch-weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.core import plugins

REPO = Path(__file__).resolve().parents[2]
PLUGINS_DIR = REPO / "plugins"

BROKEN_MANIFEST = """name = "half-done"
version = "0.1"
[[dataset_formats]]
name = "halfdone"
object = ".missing_module"
"""


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread, as tests/e2e/test_export.py: two threads on a shared 2-core machine spin-wait."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def with_broken(tmp_path):
    place = tmp_path / "more_plugins"
    (place / "half_done").mkdir(parents=True)
    (place / "half_done" / "studio-plugin.toml").write_text(BROKEN_MANIFEST)
    (place / "bad_toml").mkdir()
    (place / "bad_toml" / "studio-plugin.toml").write_text("name = [\n")
    plugins.configure([PLUGINS_DIR, place], repo=False, user=False, entry_points=False, env_paths=False)
    yield place
    plugins.reset()


def test_studio_plugins_lists_every_plugin_and_what_it_contributes(repo_plugins, capsys):
    assert main(["plugins", "--no-load"]) == 0
    out = capsys.readouterr().out
    # the parser's --format choices needed the dataset and export format tables; nothing else was imported
    assert out.startswith("6 plugins: 2 loaded, 4 ready") and "FAILED" not in out
    assert "dataset format  cvat  loaded" in out and "model architecture  fcos_mobilenet_v3  ready" in out
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("6 plugins: 6 loaded")
    words = " ".join(out.split())
    for line in (
        "dataset format cvat loaded",
        "model architecture fcos_mobilenet_v3 loaded",
        "augmentation grayscale loaded",
        "CAM method xgradcam loaded",
        "export format torch-weights loaded",
        "panel dataset_summary loaded",
    ):
        assert line in words, line
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["errors"] == [] and {p["name"] for p in data["plugins"]} >= {"cvat", "fcos-mobilenet"}
    cvat = next(p for p in data["plugins"] if p["name"] == "cvat")
    assert cvat["status"] == "loaded" and cvat["contributions"][0] == {
        "kind": "dataset_formats",
        "name": "cvat",
        "title": "cvat",
        "object": ".cvat_xml",
        "state": "loaded",
        "error": None,
    }
    from studio import api

    reg = api.plugins()  # the same as a Python call
    assert reg.errors() == [] and {c.kind for p in reg.plugins for c in p.contributions} == set(plugins.KINDS)


def test_broken_plugins_are_reported_by_plugins_and_doctor_and_stop_nothing(with_broken, capsys):
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert "8 plugins: 6 loaded, 1 with errors, 1 broken" in out
    assert "half-done 0.1  [ERRORS]" in out and "cannot import module 'half_done.missing_module'" in out
    assert f"{with_broken / 'bad_toml' / 'studio-plugin.toml'}: broken TOML" in out
    assert main(["doctor"]) == 0  # the report goes on: a broken plugin is a finding, not a failure
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(ln.startswith("!!") and " plugins " in ln and "1 broken" in ln for ln in lines)
    assert any(
        ln.startswith("!!") and "half-done" in ln and "halfdone" in ln and "cannot import module" in ln for ln in lines
    )
    assert any(ln.startswith("ok") and " cvat " in ln and "dataset format cvat" in ln for ln in lines)
    assert " onnxruntime " in out  # and every other check is still there
    with pytest.raises(SystemExit):
        main(["dataset", "import", "--help"])  # the CLI starts: the broken format is just not offered
    assert "halfdone" not in capsys.readouterr().out


def test_a_fresh_process_finds_plugins_through_the_environment(tmp_path):
    place = tmp_path / "env_plugins"
    (place / "half_done").mkdir(parents=True)
    (place / "half_done" / "studio-plugin.toml").write_text(BROKEN_MANIFEST)
    env = {
        **os.environ,
        "STUDIO_PLUGINS": "1",
        "STUDIO_USER_PLUGINS": "0",
        "STUDIO_PLUGIN_PATH": str(place),
        "PYTHONPATH": str(REPO),
    }
    r = subprocess.run(
        [sys.executable, "-m", "studio.cli", "plugins", "--no-load"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    # the parser's dataset format choices imported the formats: the broken one is reported, the CLI runs
    assert r.returncode == 1, r.stderr
    assert (
        r.stdout.startswith("7 plugins: 2 loaded, 4 ready, 1 with errors")
        and f"{place} (STUDIO_PLUGIN_PATH)" in r.stdout
    )
    assert "cannot import module 'half_done.missing_module'" in r.stdout and "cvat 1.0.0  [loaded]" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "studio.cli", "plugins", "--no-load"],
        capture_output=True,
        text=True,
        env={**env, "STUDIO_PLUGINS": "0"},
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0 and "plugins are turned off (STUDIO_PLUGINS=0)" in r.stdout


def test_dataset_import_and_export_as_cvat_from_the_command_line(repo_plugins, demo, tmp_path, capsys):
    out = tmp_path / "cvat"
    assert (
        main(
            [
                "dataset",
                "export",
                "--format",
                "cvat",
                str(demo["val"].annotations),
                "--images",
                str(demo["val"].images),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "annotations.xml").is_file() and len(list((out / "images").iterdir())) == 4
    assert main(["dataset", "import", str(out), "-o", str(tmp_path / "back.json")]) == 0  # detected as cvat
    text = capsys.readouterr().out
    assert "4 images" in text and "(disc, triangle, square, star)" in text
    back = json.loads((tmp_path / "back.json").read_text())
    assert back["info"]["description"] == "imported from cvat (cvat)"
    (out / "annotations.xml").write_text(
        "<annotations><image name='a.jpg' width='9' height='9'><polygon label='x' points='1,1;2,2'/>"
        "</image></annotations>"
    )
    assert main(["dataset", "import", "--format", "cvat", str(out), "-o", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "annotations.xml: image 'a.jpg' polygon 0: degenerate polygon: 2 point(s)" in err
    assert not (tmp_path / "bad.json").exists()


def test_cam_with_a_plugin_method(repo_plugins, checkpoint_factory, demo, tmp_path, capsys):
    ckpt = checkpoint_factory("seg_lite", 96)
    image = sorted(demo["val"].images.iterdir())[0]
    assert (
        main(
            [
                "cam",
                str(ckpt),
                str(image),
                "--method",
                "xgradcam",
                "--score-thr",
                "0",
                "--max-boxes",
                "2",
                "--out",
                str(tmp_path / "cam"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("xgradcam on ") and "CAM mass in box" in out
    assert any(p.suffix == ".png" for p in (tmp_path / "cam").iterdir())
    with pytest.raises(SystemExit):
        main(["cam", str(ckpt), str(image), "--method", "nocam", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'nocam'" in capsys.readouterr().err and "layercam" in "".join(
        plugins.registry().declared_names("cam_methods")
    )


def test_export_to_a_plugin_format_verifies_itself(repo_plugins, checkpoint_factory, demo, tmp_path, capsys):
    from studio.core.export.jobs import export_checkpoint

    ckpt = checkpoint_factory("det_lite", 96)
    assert (
        main(
            [
                "export",
                str(ckpt),
                "--format",
                "torch-weights",
                "--verify-ann",
                str(demo["val"].annotations),
                "--verify-images",
                str(demo["val"].images),
                "--n-verify",
                "2",
                "--out",
                str(tmp_path / "tw"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "exported into" in out
    report = json.loads((tmp_path / "tw" / "export_report.json").read_text())
    assert report["format"] == "torch-weights" and report["verified"] is True and report["model"] == "model.pt"
    assert report["box_match"]["match_rate"] == 1.0 and report["map_delta"] == 0.0
    assert set(report["latency_ms"]) == {"pytorch_cpu", "torch_weights_cpu"}
    assert sorted(report["files"]) == ["README.md", "export_report.json", "model.pt"]
    from studio_torch_weights.exporter import load_model  # importable: the registry put plugins/ on sys.path

    model = load_model(tmp_path / "tw" / "model.pt")
    assert model.studio_arch == "det_lite" and not model.training
    import torch

    payload = torch.load(tmp_path / "tw" / "model.pt", weights_only=True)
    assert payload["score_thr"] == report["options"]["score_thr"] and "score_threshold" not in payload
    payload["score_threshold"] = payload.pop("score_thr")  # a model.pt written before the key was renamed
    torch.save(payload, tmp_path / "older.pt")
    assert load_model(tmp_path / "older.pt").roi_heads.score_thresh == model.roi_heads.score_thresh
    res = export_checkpoint(ckpt, "torch-weights", {"fp16_weights": True}, tmp_path / "half", n_verify=0)
    assert res.model.stat().st_size < (tmp_path / "tw" / "model.pt").stat().st_size * 0.6
    assert res.report["verified"] is False and any("not verified" in w for w in res.report["warnings"])
    assert main(["export", str(ckpt), "--format", "torch-weights", "--opset", "17", "--out", str(tmp_path / "x")]) == 2
    assert "the torch-weights format has no option 'opset'" in capsys.readouterr().err
