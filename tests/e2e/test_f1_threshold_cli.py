"""`studio eval` prints and writes the F1-optimal score threshold; `studio predict` uses a run's as its default,
says so, and gives way to --score-thr."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from studio.cli import main
from studio.core import checkpoint as ckpt_io
from studio.core.evaluation import evaluate, write_report
from studio.core.evaluation.f1 import F1_CURVE_JSON, F1_CURVE_PNG

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_f1_curve import _hand_case  # noqa: E402  (the hand-computed case: F1 is highest at 0.30)


@pytest.mark.slow
def test_eval_prints_the_f1_optimal_threshold_and_writes_the_curve(checkpoint_factory, demo, tmp_path, capsys):
    ckpt = checkpoint_factory("seg_lite")
    out = tmp_path / "report"
    args = ["eval", str(ckpt), "--ann", str(demo["val"].annotations), "--images", str(demo["val"].images)]
    assert main([*args, "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert (out / F1_CURVE_PNG).is_file()
    data = orjson.loads((out / F1_CURVE_JSON).read_bytes())
    assert set(data["iou_types"]) == {"bbox", "segm"}
    best = data["suggested"]
    if best is None:  # random weights may find nothing at IoU 0.5
        assert "F1 is 0 at every score threshold" in printed
    else:
        assert best["iou_type"] == "segm"  # a mask model is judged by its masks
        assert f"F1 is highest at score >= {best['score']:.2f} (F1 {best['f1']:.3f}" in printed
        assert f"use --score-thr {best['score']:.2f}" in printed


def _run_with_suggestion(src: Path, folder: Path, epoch: int, best_epoch: int) -> Path:
    """``src``'s weights as a run's checkpoint whose best epoch wrote the hand case's report into the folder."""
    folder.mkdir()
    ds, res = _hand_case()
    result = evaluate(ds, res)
    write_report(folder, result)
    data = dict(ckpt_io.load(src).data)
    data.update(epoch=epoch, best_epoch=best_epoch, metric_name="bbox_mAP", best_metric=result.metrics["bbox_mAP"])
    return ckpt_io.save(folder / ("best.pt" if epoch == best_epoch else "last.pt"), data)


def _scores(folder: Path) -> list[float]:
    return [r["score"] for r in orjson.loads((folder / "predictions.json").read_bytes())]


@pytest.mark.slow
def test_predict_defaults_to_the_runs_f1_threshold_and_says_so(checkpoint_factory, demo, tmp_path, capsys):
    best = _run_with_suggestion(checkpoint_factory("seg_lite"), tmp_path / "run", 5, 5)
    images = str(demo["val"].images)

    assert main(["predict", str(best.parent), images, "--out", str(tmp_path / "a"), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "score threshold 0.30: where F1 is highest on the run's val set (F1 0.750" in printed
    assert str(best.parent / F1_CURVE_JSON) in printed and "--score-thr overrides" in printed
    assert all(s >= 0.3 for s in _scores(tmp_path / "a"))

    args = ["predict", str(best), images, "--out", str(tmp_path / "b"), "--device", "cpu", "--score-thr", "0.05"]
    assert main(args) == 0
    assert "score threshold 0.05 (--score-thr)" in capsys.readouterr().out
    low = _scores(tmp_path / "b")
    assert low and min(low) < 0.3, "a random seg_lite scores ~0.2: the option must let those through"


@pytest.mark.slow
def test_a_checkpoint_of_another_epoch_keeps_the_config_threshold(checkpoint_factory, demo, tmp_path, capsys):
    last = _run_with_suggestion(checkpoint_factory("seg_lite"), tmp_path / "run", 9, 5)  # last.pt after the best
    assert main(["predict", str(last), str(demo["val"].images), "--out", str(tmp_path / "a"), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "score threshold 0.05 (the config's model.score_thr; --score-thr overrides)" in printed
    assert min(_scores(tmp_path / "a")) < 0.3


@pytest.mark.slow
def test_export_records_the_suggestion_and_infer_uses_it(checkpoint_factory, demo, tmp_path, capsys):
    from studio.cli_export import main as export_main
    from studio.core.export.jobs import export_checkpoint
    from studio.core.export.runtime import load_exported

    best = _run_with_suggestion(checkpoint_factory("det_lite", 64), tmp_path / "run", 5, 5)
    r = export_checkpoint(best, "onnx", {"dynamic": True}, tmp_path / "export", n_verify=0)
    info = load_exported(r.model).info
    assert info.suggested_score_thr == 0.3 and info.score_thr == 0.05  # the graph keeps its low floor
    assert orjson.loads(r.report_path.read_bytes())["options"]["suggested_score_thr"] == 0.3

    images = str(demo["val"].images)
    assert export_main(["infer", str(r.model), images, "--out", str(tmp_path / "a")]) == 0
    assert "score threshold 0.30: where F1 was highest on the run's val set" in capsys.readouterr().out
    assert all(s >= 0.3 for s in _scores(tmp_path / "a"))
    assert export_main(["infer", str(r.model), images, "--out", str(tmp_path / "b"), "--score-thr", "0.05"]) == 0
    assert "score threshold 0.05 (--score-thr)" in capsys.readouterr().out
    assert min(_scores(tmp_path / "b")) < 0.3, "a random det_lite scores ~0.2: the option lets those through"

    plain = checkpoint_factory("det_lite", 64)  # no run report beside it: nothing recorded, the graph's floor
    r = export_checkpoint(plain, "onnx", {"dynamic": True}, tmp_path / "export2", n_verify=0)
    assert load_exported(r.model).info.suggested_score_thr is None
    assert export_main(["infer", str(r.model), images, "--out", str(tmp_path / "c")]) == 0
    assert "score threshold 0.05 (the lowest the exported graph keeps" in capsys.readouterr().out
