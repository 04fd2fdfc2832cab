"""The model architecture of plugins/studio_fcos_mobilenet (FCOS on MobileNetV3-Large FPN) like a built-in one:
listed by the zoo and the config editor, trained, evaluated, and exported to ONNX with verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.core import plugins

ARCH = "fcos_mobilenet_v3"
PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


@pytest.fixture(scope="module", autouse=True)
def _plugins_and_one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as tests/e2e/test_export.py: two threads on a shared 2-core machine spin-wait
    plugins.configure([PLUGINS_DIR], repo=False, user=False, entry_points=False, env_paths=False)
    yield
    plugins.reset()
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(demo, tmp_path_factory):
    """One epoch of fcos_mobilenet_v3 on the 10 demo train images at 96 px (5 iterations), evaluated on the 4 val
    images; with the augment-extras plugin's augmentations in the pipeline."""
    from studio import api
    from studio.core.config.init import init_config

    folder = tmp_path_factory.mktemp("fcos_plugin")
    init_config(
        demo["train"].annotations,
        folder / "cfg.yaml",
        val_ann=demo["val"].annotations,
        arch=ARCH,
        overrides={
            "data": {
                "image_size": 96,
                "workers": 0,
                "augment": {
                    "extra": [{"name": "grayscale", "p": 0.3}, {"name": "cutout", "p": 0.5, "params": {"size": 0.2}}]
                },
            },
            "model": {"score_thr": 0.01},
            "train": {"epochs": 1, "batch_size": 2, "device": "cpu", "warmup_iters": 2},
        },
    )
    res = api.train(folder / "cfg.yaml", work_dir=folder / "run")
    assert res.status == "finished", res
    return folder / "run"


def test_the_plugin_architecture_is_in_the_zoo_and_the_config_editor(capsys):
    from studio.core.config.form import field_specs

    assert main(["models"]) == 0
    assert ARCH in capsys.readouterr().out
    choice = field_specs().field("model.arch").choice(ARCH)
    assert (
        choice is not None and choice.task == "detect" and choice.family == "fcos" and "(plugin)" in choice.description
    )


def test_it_trains_evaluates_and_predicts(run, demo, tmp_path, capsys):
    from studio.core import checkpoint as ckpt_io

    ck = ckpt_io.load(run / "best.pt")
    assert ck.arch == ARCH and ck.data["finished"] is True
    assert [e.name for e in ck.config.data.augment.extra] == ["grayscale", "cutout"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["bbox_mAP"] is not None and metrics.get("segm_mAP") is None
    assert main(["eval", str(run), "--out", str(tmp_path / "ev")]) == 0
    assert "bbox_mAP" in capsys.readouterr().out
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["bbox_mAP"] == pytest.approx(
        metrics["bbox_mAP"], abs=1e-6
    )
    assert (
        main(
            [
                "predict",
                str(run / "best.pt"),
                str(demo["val"].images),
                "--out",
                str(tmp_path / "pred"),
                "--score-thr",
                "0",
            ]
        )
        == 0
    )
    preds = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert preds and {p["category_id"] for p in preds} <= {1, 2, 3, 4} and "segmentation" not in preds[0]


def test_it_exports_to_onnx_and_the_export_verifies_itself(run, demo, tmp_path):
    from studio.core.export.jobs import export_checkpoint

    res = export_checkpoint(
        run / "best.pt",
        "onnx",
        {"dynamic": True},
        tmp_path / "onnx",
        verify_ann=demo["val"].annotations,
        verify_images=demo["val"].images,
        n_verify=4,
        latency_runs=2,
    )
    report = res.report
    assert res.model.name == "model.onnx" and report["arch"] == ARCH and report["verified"] is True
    assert report["box_match"]["images"] == 4
    assert report["box_match"]["match_rate"] >= 0.99 or report["box_match"]["pytorch_detections"] == 0, report[
        "box_match"
    ]
    assert report["map_delta"] is not None and abs(report["map_delta"]) <= 0.002
    assert report["box_match"]["pytorch_detections"] > 0  # score threshold 0.01: a random-ish model still detects
