"""One prepared check of Studio's GPU path, for a machine lent for a few minutes: every check in one call.

``PYTHONPATH=. python bench/gpu_check.py [--device cuda|cpu] [--quick] --out REPORT.json``

On the demo set it trains ``seg_fast`` with bf16 and with fp16 mixed precision and
``fasterrcnn_mobilenet_v3_large_320_fpn`` with fp16; evaluates, predicts, draws feature maps and a Grad-CAM of the
trained checkpoint on the device; exports it to ONNX and verifies the export against ONNX Runtime; runs the export
on ONNX Runtime's CUDA and TensorRT execution providers where this onnxruntime has them; measures training
images/s on the device against the CPU, and the peak GPU memory against the pre-flight's estimate; and checks that
Studio loaded no package that the lent GPU machines lack (tools/gpu_machine_packages.txt) beyond the carried
wheels (tools/gpu_wheels.txt). See docs/gpu.md for the one-line command with the wheels.

Every check is recorded as pass, fail (with its traceback) or skip (with the reason: fp16 needs CUDA, a provider
this onnxruntime lacks...), and the script goes on after a failure. The report also holds the versions of torch,
torchvision, onnxruntime and the rest, and the device's name. Exit code 0 when every check that ran passed, else 1.
``--quick`` (the CPU dry run of CI, tests/e2e/test_gpu_check.py) uses tiny images and one epoch.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import itertools
import json
import math
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TOOLS = REPO / "tools"


class Skip(Exception):
    """Raised by a check that cannot run here; its message is the reason recorded."""


@dataclass
class CheckResult:
    name: str
    status: str  # pass, fail, skip
    seconds: float
    details: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0
    reason: str | None = None  # why skipped, or the error of a failure
    traceback: str | None = None


@dataclass(frozen=True)
class Plan:
    """Sizes of one run of the check: the quick CPU dry run, or the full run on a GPU."""

    quick: bool
    image_size: int
    batch: int
    epochs: int
    n_train: int
    n_val: int
    speed_sizes: tuple[int, ...]  # seg_fast images/s and peak memory at these sizes
    speed_batch: int
    speed_steps: int
    cpu_steps: int
    warmup_steps: int  # on the GPU; one on the CPU, whose steps are slow and need no kernels tuned

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 64, 2, 1, 4, 2, (64,), 2, 1, 1, 1)
        return cls(False, 320, 8, 2, 48, 8, (320, 640), 8, 20, 2, 3)


class Checks:
    """Runs the checks in order, sharing the demo set, the trained checkpoint and the exported model."""

    def __init__(self, device: str, plan: Plan, work: Path):
        self.device, self.plan, self.work = device, plan, work
        self.results: list[CheckResult] = []
        self.ckpt: Path | None = None
        self.onnx: Path | None = None
        self.demo: dict = {}

    # ------------------------------------------------------------------ running
    def run(self, name: str, fn: Callable[[], dict]) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            res = CheckResult(name, "pass", 0.0, fn() or {})
        except Skip as e:
            res = CheckResult(name, "skip", 0.0, reason=str(e))
        except Exception as e:  # noqa: BLE001 - every failure is recorded and the next check runs
            res = CheckResult(name, "fail", 0.0, reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        res.seconds = round(time.perf_counter() - t0, 2)
        res.cpu_seconds = round(time.process_time() - c0, 2)  # this process's CPU time: less disturbed by others
        self.results.append(res)
        print(f"[gpu_check] {name}: {res.status} in {res.seconds:.1f}s {res.reason or ''}".rstrip(), flush=True)
        self._free()

    def _free(self) -> None:
        import torch  # deferred: torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def all(self) -> None:
        self.run("demo_set", self.demo_set)
        self.run("train_seg_fast_bf16", lambda: self.train("seg_fast", "bf16"))
        self.run("train_seg_fast_fp16", lambda: self.train("seg_fast", "fp16"))
        self.run("train_fasterrcnn_fp16", lambda: self.train("fasterrcnn_mobilenet_v3_large_320_fpn", "fp16"))
        self.run("eval", self.evaluate)
        self.run("predict", self.predict)
        self.run("featmap", self.featmap)
        self.run("cam", self.cam)
        self.run("onnx_export", self.onnx_export)
        self.run("ort_cpu_provider", lambda: self.ort_provider("cpu", "CPUExecutionProvider"))  # the baseline
        self.run("ort_cuda_provider", lambda: self.ort_provider("gpu", "CUDAExecutionProvider"))
        self.run("ort_tensorrt_provider", lambda: self.ort_provider("tensorrt", "TensorrtExecutionProvider"))
        self.run("train_speed", self.train_speed)
        self.run("imports", self.imports)

    # ------------------------------------------------------------------ the checks
    def demo_set(self) -> dict:
        from studio.core.demo import generate

        self.demo = generate(self.work / "demo", n_train=self.plan.n_train, n_val=self.plan.n_val, seed=0)
        return {"train_images": self.plan.n_train, "val_images": self.plan.n_val}

    def config(self, arch: str, amp: str, name: str, size: int | None = None) -> Path:
        from studio.core.config.init import init_config

        if not self.demo:
            raise RuntimeError("no demo set (the demo_set check failed)")
        path = self.work / f"{name}.yaml"
        overrides = {
            "data": {"image_size": size or self.plan.image_size, **({"workers": 0} if self.plan.quick else {})},
            "train": {
                "epochs": self.plan.epochs,
                "batch_size": self.plan.batch,
                "device": self.device,
                "amp": amp,
                "warmup_iters": 2,
                "eval_every": 1,
            },
        }
        init_config(
            self.demo["train"].annotations, path, val_ann=self.demo["val"].annotations, arch=arch, overrides=overrides
        )
        return path

    def train(self, arch: str, amp: str) -> dict:
        import torch  # deferred: torch

        from studio import api
        from studio.core.config.loader import load_config
        from studio.core.training.events import EventKind
        from studio.core.training.memory import estimate_gpu_memory

        if amp == "fp16" and not self.cuda:
            raise Skip(
                "fp16 mixed precision (autocast with GradScaler) needs CUDA; train.amp=fp16 is refused on the CPU"
            )
        name = f"{arch}_{amp}"
        cfg = self.config(arch, amp, name)
        events: list = []
        res = api.train(cfg, work_dir=self.work / "runs" / name, callbacks=[events.append])
        losses = [e.loss for e in events if e.kind is EventKind.ITERATION]
        details: dict[str, Any] = {
            "status": res.status,
            "epochs_done": res.epochs_done,
            "metrics": res.metrics,
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "images_per_s": round(next((e.images_per_s for e in reversed(events) if hasattr(e, "images_per_s")), 0), 2),
        }
        if self.cuda:
            details["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            details["preflight_estimate_mib"] = round(estimate_gpu_memory(load_config(cfg)).bytes / 2**20, 1)
        if res.status != "finished":
            raise AssertionError(f"the run ended {res.status} ({res.reason})")
        if not losses or not all(math.isfinite(v) for v in losses):
            raise AssertionError(f"losses not all finite: {losses}")
        ckpt = res.run_dir / "last.pt"
        if not ckpt.is_file():
            raise AssertionError(f"no checkpoint {ckpt}")
        if arch == "seg_fast" and self.ckpt is None:
            self.ckpt = ckpt  # what eval, predict, feature maps, CAM and export use
        return details

    def checkpoint(self) -> Path:
        if self.ckpt is None:
            raise RuntimeError("no trained seg_fast checkpoint (train_seg_fast_bf16 failed)")
        return self.ckpt

    def val_image(self) -> Path:
        return sorted(Path(self.demo["val"].images).iterdir())[0]

    def on_device(self, fn: Callable[[], Any]) -> tuple[Any, dict]:
        """``fn()`` and, on CUDA, the GPU memory it peaked at: more than none proves it ran on the GPU."""
        import torch  # deferred: torch

        if not self.cuda:
            return fn(), {}
        torch.cuda.reset_peak_memory_stats()
        out = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
        if peak <= 0:
            raise AssertionError("nothing was allocated on the GPU: the job did not run there")
        return out, {"peak_gpu_mib": round(peak, 1)}

    def evaluate(self) -> dict:
        from studio import api

        (res, out), mem = self.on_device(
            lambda: api.evaluate(self.checkpoint(), device=self.device, out=self.work / "eval")
        )
        if not (Path(out) / "metrics.json").is_file() and not any(Path(out).iterdir()):
            raise AssertionError(f"no report written in {out}")
        return {"metrics": dict(res.metrics), **mem}

    def predict(self) -> dict:
        from studio import api

        s, mem = self.on_device(
            lambda: api.predict(
                self.checkpoint(), [self.demo["val"].images], self.work / "pred", score_thr=0.0, device=self.device
            )
        )
        if s.images != self.plan.n_val:
            raise AssertionError(f"predicted {s.images} of {self.plan.n_val} images")
        return {"images": s.images, "detections": s.detections, **mem}

    def featmap(self) -> dict:
        from studio import api

        r, mem = self.on_device(
            lambda: api.featmap(self.checkpoint(), self.val_image(), self.work / "featmap", device=self.device)
        )
        if not r.maps or not all(f.is_file() for f in r.files):
            raise AssertionError("no feature map drawn")
        return {"maps": len(r.maps), "files": len(r.files), **mem}

    def cam(self) -> dict:
        from studio import api

        r, mem = self.on_device(
            lambda: api.cam(
                self.checkpoint(), self.val_image(), self.work / "cam", max_boxes=2, score_thr=0.0, device=self.device
            )
        )
        if not r.files:
            raise AssertionError("no CAM drawn")
        return {"targets": len(r.cam.targets), "files": len(r.files), **mem}

    def onnx_export(self) -> dict:
        from studio.core.export.jobs import export_checkpoint
        from studio.core.export.report import box_compared

        r = export_checkpoint(  # studio.api_export.export, with fewer latency runs in the quick run
            self.checkpoint(),
            "onnx",
            {},
            self.work / "onnx",
            n_verify=self.plan.n_val,
            device="gpu" if self.cuda else "cpu",
            latency_runs=2 if self.plan.quick else 10,
        )
        rep = r.report
        self.onnx = r.model
        bm = rep.get("box_match") or {}
        details = {
            "verified": rep["verified"],
            "box_match": bm,
            "map_delta": rep.get("map_delta"),
            "latency_ms": rep.get("latency_ms"),
            "latency_skipped": rep.get("latency_skipped"),
            "warnings": rep.get("warnings"),
        }
        if not rep["verified"]:
            raise AssertionError(f"the export was not verified: {rep.get('warnings')}")
        if box_compared(bm) and bm.get("match_rate", 0.0) < 0.9:
            raise AssertionError(f"PyTorch and ONNX Runtime disagree: {bm}")
        return details

    def ort_provider(self, device: str, provider: str) -> dict:
        """The export on ``provider``: the same boxes as on ONNX Runtime's CPU provider (IoU >= 0.9 for 90%)."""
        import onnxruntime as ort  # deferred: onnxruntime

        from studio.core.export.runtime import load_exported
        from studio.core.export.verify import box_match
        from studio.core.imageio import imread_rgb

        available = ort.get_available_providers()
        if provider not in available:
            raise Skip(f"this onnxruntime ({ort.__version__}) has no {provider} (it has {', '.join(available)})")
        if self.onnx is None:
            raise RuntimeError("no exported model (onnx_export failed)")
        images = [imread_rgb(p) for p in sorted(Path(self.demo["val"].images).iterdir())]
        ref = load_exported(self.onnx, device="cpu", score_thr=0.05).predict(images)
        model = load_exported(self.onnx, device=device, score_thr=0.05)
        got = model.predict(images)
        bm = box_match(ref, got).to_dict()
        details = {"providers_used": model.backend.session.get_providers(), "box_match": bm}
        if bm["compared"] and bm["match_rate"] < 0.9:
            raise AssertionError(f"{provider} and the CPU provider disagree: {bm}")
        return details

    def train_speed(self) -> dict:
        """seg_fast training images/s on the device against the CPU, and the peak GPU memory against the
        pre-flight's estimate (the check fails where the estimate is below what was measured)."""
        out: dict[str, Any] = {"device": {}, "cpu": {}}
        size0 = self.plan.speed_sizes[0]
        runs = [
            (self.device, s, amp)
            for s in self.plan.speed_sizes
            for amp in (("none", "bf16") if self.cuda else ("none",))
        ]
        if self.cuda:
            runs.append(("cpu", size0, "none"))
        under = []
        for dev, size, amp in runs:
            steps = self.plan.cpu_steps if dev == "cpu" else self.plan.speed_steps
            m = measure_speed(self.demo, self.work, dev, size, amp, steps, self.plan)
            out["device" if dev == self.device else "cpu"][f"{size}px_{amp}"] = m
            if m.get("peak_gpu_mib") and m["peak_gpu_mib"] > m["preflight_estimate_mib"]:
                under.append(
                    f"{size}px {amp}: measured {m['peak_gpu_mib']} MiB > estimate {m['preflight_estimate_mib']}"
                )
        if self.cuda:
            cpu = out["cpu"][f"{size0}px_none"]["images_per_s"]
            out["speedup_vs_cpu"] = round(out["device"][f"{size0}px_none"]["images_per_s"] / max(cpu, 1e-9), 1)
        else:
            out["speedup_vs_cpu"] = None
            out["note"] = "the device is the CPU: no GPU to compare, no GPU memory to measure"
        if under:
            raise AssertionError("the pre-flight estimate is below the measured peak GPU memory: " + "; ".join(under))
        return out

    def imports(self) -> dict:
        """Every third-party distribution Studio loaded is on the lent GPU machines or among the carried wheels."""
        loaded = loaded_distributions()
        allowed = read_names(TOOLS / "gpu_machine_packages.txt") | read_names(TOOLS / "gpu_wheels.txt")
        missing = sorted(d for d in loaded if d not in allowed)
        if missing:
            raise AssertionError(f"loaded, but neither on the GPU machine nor carried as a wheel: {missing}")
        return {"distributions": sorted(loaded)}


def cycle(loader) -> Iterator:
    while True:
        yield from loader


def measure_speed(demo: dict, work: Path, device: str, size: int, amp: str, steps: int, plan: Plan) -> dict:
    """Training images/s of seg_fast (forward, backward, optimiser, data pipeline) after the plan's warm-up
    steps; on CUDA also the peak memory and the pre-flight's estimate for the same config."""
    import torch  # deferred: torch

    from studio.core.config.loader import validate
    from studio.core.training.memory import estimate_gpu_memory
    from studio.core.training.trainer import Trainer

    raw = {
        "model": {"arch": "seg_fast"},
        "data": {
            "train": {"ann": str(demo["train"].annotations)},
            "image_size": size,
            **({"workers": 0} if plan.quick else {}),
        },
        "train": {"device": device, "batch_size": plan.speed_batch, "epochs": 1000, "amp": amp},
    }
    cfg = validate(raw, str(work / f"speed_{device}_{size}_{amp}.yaml"))
    gc.collect()  # the last measurement's trainer gone before this one's peak memory is counted
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    trainer = Trainer(cfg, work / "speed_run")
    trainer.setup()
    batches = cycle(trainer.train_loader)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    warmup = plan.warmup_steps if trainer.device.type == "cuda" else 1
    trainer.train_epoch(1, itertools.islice(batches, warmup))  # caches built, kernels warm
    sync()
    t0 = time.perf_counter()
    trainer.train_epoch(1, itertools.islice(batches, steps))
    sync()
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"images_per_s": round(steps * plan.speed_batch / seconds, 2), "batch": plan.speed_batch}
    if trainer.device.type == "cuda":
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(trainer.device) / 2**20, 1)
        out["preflight_estimate_mib"] = round(estimate_gpu_memory(cfg).bytes / 2**20, 1)
    del trainer
    return out


def read_names(path: Path) -> set[str]:
    """Distribution names of a list (one a line, ``name==version`` allowed, # comments), normalised."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(normalise(line.split("==", 1)[0]))
    return names


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def loaded_distributions() -> set[str]:
    """The distributions of the third-party modules loaded in this process (the standard library, modules of no
    installed distribution, as Studio itself from the source tree, and CUDA's libraries left out)."""
    by_module = importlib.metadata.packages_distributions()
    tops = {m.split(".", 1)[0] for m in list(sys.modules)}
    out = set()
    for top in tops:
        if top in sys.stdlib_module_names or top.startswith("_") and top[1:] in sys.stdlib_module_names:
            continue
        for dist in map(normalise, by_module.get(top, [])):
            # nvidia-* / cuda-*: CUDA's own libraries, part of whatever CUDA build of torch the machine has
            if dist != "studio" and not dist.startswith(("nvidia-", "cuda-")):
                out.add(dist)
    return out


def environment(device: str) -> dict:
    """Versions and the device's name, whatever fails later."""
    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "device": device}
    for dist in ("torch", "torchvision", "onnxruntime", "onnx", "numpy", "opencv-python-headless", "pydantic"):
        try:
            env[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            env[dist] = None
    try:
        import onnxruntime as ort  # deferred: onnxruntime
        import torch  # deferred: torch

        env["onnxruntime_providers"] = ort.get_available_providers()
        env["cuda_available"] = torch.cuda.is_available()
        env["torch_cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            env["device_name"] = torch.cuda.get_device_name(0)
            env["cudnn"] = torch.backends.cudnn.version()
            env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        else:
            env["device_name"] = platform.processor() or platform.machine()
        env["cpu_threads"] = torch.get_num_threads()
    except Exception as e:  # noqa: BLE001 - recorded; the checks then fail on their own
        env["error"] = f"{type(e).__name__}: {e}"
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny images, one epoch: the CPU dry run of CI")
    ap.add_argument("--out", required=True, type=Path, metavar="REPORT.json")
    ap.add_argument("--work", type=Path, help="keep the demo set, runs and exports here (default: a temporary folder)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    env = environment(a.device)
    plan = Plan.make(a.quick)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = a.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        checks = Checks(a.device, plan, work)
        if a.device == "cuda" and not env.get("cuda_available"):
            checks.results.append(
                CheckResult("cuda_device", "fail", 0.0, reason="--device cuda, but torch sees no GPU")
            )
        else:
            checks.all()
    failed = [r.name for r in checks.results if r.status == "fail"]
    report = {
        "ok": not failed,
        "failed": failed,
        "skipped": {r.name: r.reason for r in checks.results if r.status == "skip"},
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time(), 1),
        "plan": asdict(plan),
        "environment": env,
        "checks": [asdict(r) for r in checks.results],
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"[gpu_check] {'all checks passed' if not failed else 'FAILED: ' + ', '.join(failed)}; report {a.out}")
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
