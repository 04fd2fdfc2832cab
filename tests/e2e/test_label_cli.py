"""``studio label auto | accept | next`` and retraining with ``--set train.epochs=+N``, on the demo set."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio import api
from studio.cli import main
from studio.core.dataset import provenance
from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir
from studio.core.training.run_index import summarize_run

REPO = Path(__file__).resolve().parents[2]
LABELLED = 3  # demo images that keep their annotations; the rest are unlabelled


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def project(tmp_path, demo) -> Path:
    """The demo train images, the first three labelled, the others not (a project half way through)."""
    ds = Dataset.load(demo["train"].annotations)
    keep = {im["id"] for im in ds.images[:LABELLED]}
    for a in [a for a in ds.annotations if a["image_id"] not in keep]:
        ds.remove_annotation(a["id"])
    path = tmp_path / "proj" / "ann.json"
    path.parent.mkdir()
    record_images_dir(ds, demo["train"].images, path.parent)
    ds.save(path)
    return path


def test_auto_adds_pending_proposals_to_unlabelled_images_and_reruns_replace(capsys, project, trained_checkpoint):
    before = Dataset.load(project)
    out = project.parent / "sub" / "auto.json"
    out.parent.mkdir()
    code, stdout, _ = run(capsys, "label", "auto", trained_checkpoint, project, "--score-thr", "0.01", "-o", out)
    assert code == 0 and f"wrote {out}:" in stdout and "on 7 images" in stdout and "(run/best.pt)" in stdout
    res = Dataset.load(out)
    new = [a for a in res.annotations if provenance.is_pending(a)]
    assert new and {a["image_id"] for a in new} <= {im["id"] for im in res.images[LABELLED:]}
    assert all(a["source"] == "model" and a["checkpoint"] == "run/best.pt" and a["score"] >= 0.01 for a in new)
    assert len(res.annotations) - len(new) == len(before.annotations)  # the accepted ones are kept
    assert recorded_images_dir(out, res) == recorded_images_dir(project, before)  # re-anchored beside OUT
    assert Dataset.load(project).to_dict() == before.to_dict()  # the input is untouched

    code, stdout, _ = run(capsys, "label", "auto", trained_checkpoint, out, "--score-thr", "0.01", "-o", out)
    assert code == 0 and f"{len(new)} earlier proposals replaced" in stdout
    assert len(Dataset.load(out).annotations) == len(res.annotations)  # replaced, not piled up


def test_all_images_runs_the_labelled_ones_too(capsys, project, trained_checkpoint):
    out = project.parent / "all.json"
    code, stdout, _ = run(capsys, "label", "auto", trained_checkpoint, project, "--all-images", "-o", out)
    assert code == 0 and "on 10 images" in stdout


def test_accept_by_score_keeps_provenance(capsys, project, trained_checkpoint):
    auto = project.parent / "auto.json"
    assert run(capsys, "label", "auto", trained_checkpoint, project, "--score-thr", "0.01", "-o", auto)[0] == 0
    scores = sorted(a["score"] for a in Dataset.load(auto).annotations if provenance.is_pending(a))
    hi, lo = scores[len(scores) * 3 // 4], scores[len(scores) // 4]
    want_acc = sum(s >= hi for s in scores)
    want_rej = sum(s < lo for s in scores)
    out = project.parent / "accepted.json"
    code, stdout, _ = run(capsys, "label", "accept", auto, "--min-score", hi, "--reject-below", lo, "-o", out)
    assert code == 0
    assert f"{want_acc} proposals accepted, {want_rej} rejected" in stdout
    res = Dataset.load(out)
    accepted = [a for a in res.annotations if a.get("source") == "model" and not provenance.is_pending(a)]
    assert len(accepted) == want_acc and all(a["score"] >= hi and a["checkpoint"] for a in accepted)
    assert provenance.count_pending(res.annotations) == len(scores) - want_acc - want_rej
    # -o may name the input: replaced in place, atomically
    code, stdout, _ = run(capsys, "label", "accept", out, "--min-score", "0", "-o", out)
    assert code == 0 and "0 still pending" in stdout and provenance.count_pending(Dataset.load(out).annotations) == 0


def test_next_prints_k_unlabelled_images_best_first(capsys, project, trained_checkpoint):
    code, stdout, stderr = run(capsys, "label", "next", project, "--model", trained_checkpoint, "-k", "4")
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 4
    rows = [line.split("\t") for line in lines]
    names = [r[0] for r in rows]
    ds = Dataset.load(project)
    unlabelled = {im["file_name"] for im in provenance.unlabelled_images(ds)}
    assert set(names) <= unlabelled and len(set(names)) == 4
    figures = [float(r[1]) for r in rows]
    assert figures == sorted(figures, reverse=True)
    assert all(r[2].startswith("uncertainty ") for r in rows)
    assert "of 7 unlabelled (3 labelled" in stderr


def test_bad_input_exits_2_naming_the_file(capsys, project, trained_checkpoint, tmp_path):
    code, _, err = run(capsys, "label", "auto", tmp_path / "nope.pt", project, "-o", tmp_path / "o.json")
    assert code == 2 and "nope.pt" in err
    code, _, err = run(
        capsys, "label", "auto", trained_checkpoint, tmp_path / "missing.json", "-o", tmp_path / "o.json"
    )
    assert code == 2 and "missing.json" in err
    code, _, err = run(capsys, "label", "auto", trained_checkpoint, project, "-o", tmp_path)
    assert code == 2 and "is a folder" in err
    notes = tmp_path / "notes.json"
    notes.write_text("[1, 2]")
    code, _, err = run(capsys, "label", "accept", project, "--min-score", "0.5", "-o", notes)
    assert code == 2 and "notes.json" in err and notes.read_text() == "[1, 2]"
    code, _, err = run(capsys, "label", "accept", project, "--min-score", "0.2", "--reject-below", "0.5", "-o", notes)
    assert code == 2 and "--reject-below" in err
    code, _, err = run(capsys, "label", "next", project, "--model", tmp_path / "gone", "-k", "2")
    assert code == 2 and "gone" in err
    with pytest.raises(SystemExit) as e:
        main(["label", "auto", str(trained_checkpoint), str(project), "--score-thr", "2", "-o", "x.json"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["label", "next", str(project), "--model", str(trained_checkpoint), "-k", "0"])


def test_a_missing_image_is_skipped_with_a_warning(capsys, project, trained_checkpoint):
    ds = Dataset.load(project)
    gone = ds.images[-1]
    folder = recorded_images_dir(project, ds)
    images = project.parent / "images"
    shutil.copytree(folder, images)
    (images / gone["file_name"]).unlink()
    out = project.parent / "auto.json"
    code, stdout, stderr = run(capsys, "label", "auto", trained_checkpoint, project, "--images", images, "-o", out)
    assert code == 0 and "on 6 images" in stdout and "1 image skipped" in stdout
    assert "warning:" in stderr and gone["file_name"] in stderr and f"image {gone['id']}" in stderr


@pytest.mark.slow
def test_an_exported_onnx_model_labels_through_the_infer_runtime(capsys, project, trained_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    api.export(trained_checkpoint, "onnx", out=tmp_path / "export", n_verify=0)
    onnx = next((tmp_path / "export").rglob("*.onnx"))
    out = tmp_path / "onnx.json"
    code, stdout, _ = run(capsys, "label", "auto", onnx, project, "--score-thr", "0.01", "-o", out)
    assert code == 0 and "on 7 images" in stdout and f"({onnx.name})" in stdout
    assert provenance.count_pending(Dataset.load(out).annotations) > 0


@pytest.mark.slow
def test_retrain_extends_the_run_on_the_grown_labelled_set(capsys, project, tmp_path, demo):
    """Train on 3 labelled images, label more (here: the demo's own annotations of all 10), then
    `--set train.epochs=+1` continues the run: one more epoch, on the grown set (more iterations per epoch)."""
    from studio.core.config.init import init_config

    ds = Dataset.load(project)
    train = project.parent / "train.json"
    labelled = ds.subset([im["id"] for im in ds.images[:LABELLED]])
    record_images_dir(labelled, demo["train"].images, train.parent)
    labelled.save(train)
    cfg = tmp_path / "cfg.yaml"
    init_config(
        train,
        cfg,
        val_ann=demo["val"].annotations,
        arch="seg_lite",
        overrides={
            "data": {"image_size": 64, "workers": 0},
            "train": {"epochs": 1, "batch_size": 1, "device": "cpu", "time_limit": 600, "eval_every": 1},
        },
    )
    rundir = tmp_path / "run"
    assert run(capsys, "train", cfg, "--work-dir", rundir)[0] == 0
    first = summarize_run(rundir)
    assert first.epochs_done == 1
    full = Dataset.load(demo["train"].annotations)
    record_images_dir(full, demo["train"].images, train.parent)
    full.save(train)  # the grown labelled set, saved where the run reads it
    code, _, err = run(
        capsys, "train", rundir / "config.yaml", "--resume", rundir / "last.pt", "--set", "train.epochs=+1"
    )
    assert code == 0, err
    after = summarize_run(rundir)
    assert after.epochs_done == 2 and after.status == "finished"
    started = [json.loads(line) for line in (rundir / "events.jsonl").read_text().splitlines()]
    iters = [e["iters_per_epoch"] for e in started if e.get("kind") == "started"]
    assert iters == [LABELLED, 10]
    # the API does the same: retrain(run, epochs_more=1)
    res = api.retrain(rundir, epochs_more=1)
    assert res.status == "finished" and summarize_run(rundir).epochs_done == 3


@pytest.mark.slow
def test_active_learning_bench_runs_quick(tmp_path):
    """bench/active_learning.py --quick: the whole loop (label next, label auto, extend, eval) on the demo set."""
    out = tmp_path / "results.json"
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "active_learning.py"),
            "--quick",
            "--rounds",
            "1",
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    (run,) = res["runs"]
    (row,) = run["rounds"]
    assert row["labelled"] == 8 and len(row["ranked"]["chosen"]) == 4 and len(row["random"]["chosen"]) == 4
    assert len(set(row["ranked"]["chosen"]) | set(run["start"])) == 8  # picks are new images
    assert res["seeds"] == [0] and run["random_seed"] == 1 and "overall" in res["accepted_unchanged"]["0.5"]
    assert [len(res["mean"][arm]) for arm in ("ranked", "random")] == [2, 2]  # round 0 and round 1
    assert res["mean"]["ranked"][1]["bbox_mAP_50"] == row["ranked"]["bbox_mAP_50"]  # one seed: its own figures
    assert "ranked beats random in" in r.stdout and "seed 0 round 1 (8 labelled" in r.stdout

    def combine(*paths: Path) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(REPO / "bench" / "active_learning.py"), "--combine", *map(str, paths)]
        return subprocess.run([*cmd, "--out", str(tmp_path / "all.json")], capture_output=True, text=True)

    again = combine(out)  # the summary of a results file: the same figures
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "all.json").read_text())["mean"] == res["mean"]
    twice = combine(out, out)
    assert twice.returncode == 2 and "a seed appears twice" in twice.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert combine(broken).returncode == 2
