"""bench/gpu_check.py's CPU dry run: every check that can run on the CPU passes, the others say why they skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKS = [
    "demo_set",
    "train_seg_fast_bf16",
    "train_seg_fast_fp16",
    "train_fasterrcnn_fp16",
    "eval",
    "predict",
    "featmap",
    "cam",
    "onnx_export",
    "ort_cpu_provider",
    "ort_cuda_provider",
    "ort_tensorrt_provider",
    "train_speed",
    "imports",
]


def test_quick_cpu_run_passes_every_check_it_can_run(tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--device", "cpu", "--quick", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    report = json.loads(out.read_text())
    failures = {c["name"]: c["traceback"] for c in report["checks"] if c["status"] == "fail"}
    assert proc.returncode == 0 and report["ok"] and not failures, (failures, proc.stdout[-3000:], proc.stderr[-3000:])
    assert [c["name"] for c in report["checks"]] == CHECKS
    env_ = report["environment"]
    for key in ("torch", "torchvision", "onnxruntime", "device_name", "python", "onnxruntime_providers"):
        assert env_.get(key), key
    by_name = {c["name"]: c for c in report["checks"]}
    for name in ("train_seg_fast_fp16", "train_fasterrcnn_fp16"):  # fp16 needs CUDA: skipped with the reason
        assert by_name[name]["status"] == "skip" and "needs CUDA" in by_name[name]["reason"]
    for name in ("ort_cuda_provider", "ort_tensorrt_provider"):  # the CPU onnxruntime has neither
        assert by_name[name]["status"] in ("skip", "pass")
        if by_name[name]["status"] == "skip":
            assert "has no" in by_name[name]["reason"]
    bf16 = by_name["train_seg_fast_bf16"]
    assert bf16["status"] == "pass" and bf16["details"]["status"] == "finished"
    assert by_name["onnx_export"]["details"]["verified"] is True
    cpu_provider = by_name["ort_cpu_provider"]["details"]  # the provider checks' code path, on the provider here
    assert cpu_provider["providers_used"] == ["CPUExecutionProvider"] and cpu_provider["box_match"]["images"] == 2
    assert by_name["train_speed"]["details"]["device"]["64px_none"]["images_per_s"] > 0
    assert "pydantic" in by_name["imports"]["details"]["distributions"]  # a carried wheel, seen as loaded
    assert set(report["skipped"]) == {n for n, c in by_name.items() if c["status"] == "skip"}


def _gpu_check():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(REPO / "bench"))
    return gpu_check


def test_a_failing_check_is_recorded_with_its_traceback_and_the_run_goes_on(tmp_path):
    gpu_check = _gpu_check()
    checks = gpu_check.Checks("cpu", gpu_check.Plan.make(quick=True), tmp_path)
    checks.run("eval", checks.evaluate)  # no checkpoint: nothing was trained
    checks.run("demo_set", checks.demo_set)
    fail, ok = checks.results
    assert fail.status == "fail" and "no trained seg_fast checkpoint" in fail.reason
    assert "Traceback" in fail.traceback and "def checkpoint" not in fail.reason
    assert ok.status == "pass"


def test_an_import_beyond_the_gpu_machine_fails_the_imports_check(tmp_path, monkeypatch):
    gpu_check = _gpu_check()
    monkeypatch.setattr(gpu_check, "loaded_distributions", lambda: {"numpy", "some-new-dependency"})
    checks = gpu_check.Checks("cpu", gpu_check.Plan.make(quick=True), tmp_path)
    checks.run("imports", checks.imports)
    assert checks.results[0].status == "fail" and "some-new-dependency" in checks.results[0].reason
