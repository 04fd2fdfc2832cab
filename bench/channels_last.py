"""Training-step time of a conv model with and without the channels_last memory format (and torch.compile).

Times forward + backward + SGD step of ``--arch`` (default ``seg_fast``) on random images with four
objects each, both memory formats alternating in the same run so that other load on the machine
disturbs both alike. ``--compile`` also times the compiled model (first call: the compile time).
The CPU default of :data:`studio.core.models.accel.CPU_CHANNELS_LAST` comes from this script.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="seg_fast")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per format (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to start on a CPU)")
    a = ap.parse_args()

    import torch

    from studio.core.models import build_model, get_arch
    from studio.core.models.accel import compile_model, to_channels_last
    from studio.core.training.memory import _random_targets

    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    masks = get_arch(a.arch).task == "segment"

    def make(channels_last: bool):
        torch.manual_seed(0)
        m = build_model(a.arch, 3, image_size=a.size).train().to(dev)
        if channels_last:
            to_channels_last(m)
        return m, torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)

    images = [torch.rand(3, a.size, a.size, device=dev) for _ in range(a.batch)]
    targets = [{k: v.to(dev) for k, v in t.items()} for t in _random_targets(a.batch, a.size, masks)]

    def step(m, opt) -> float:
        t0 = time.perf_counter()
        loss = sum(m(images, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    models = {"contiguous": make(False), "channels_last": make(True)}
    times: dict[str, list[float]] = {k: [] for k in models}
    for m, opt in models.values():
        for _ in range(2):
            step(m, opt)
    for _ in range(a.steps):  # alternate, so that background load hits both formats alike
        for k, (m, opt) in models.items():
            times[k].append(step(m, opt))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{a.arch} {a.size} px, batch {a.batch}, {dev}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for k, v in med.items():
        print(f"  {k:14s} {v * 1000:7.1f} ms / step (median of {a.steps})")
    print(f"  channels_last / contiguous: {med['channels_last'] / med['contiguous']:.2f}x the step time")
    inference: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for m, _ in models.values():
            m.eval()(images)
        for _ in range(a.steps):
            for k, (m, _) in models.items():
                t0 = time.perf_counter()
                m(images)
                inference[k].append(time.perf_counter() - t0)
    inf = {k: statistics.median(v) for k, v in inference.items()}
    for k, v in inf.items():
        print(f"  {k:14s} {v * 1000:7.1f} ms / inference batch")
    print(f"  channels_last / contiguous: {inf['channels_last'] / inf['contiguous']:.2f}x the inference time")
    if a.compile:
        m, opt = make(False)
        m.train()
        compile_model(m, dev.type, a.arch)
        first = step(m, opt)
        rest = statistics.median(step(m, opt) for _ in range(a.steps))
        print(f"  compiled: first step {first:.1f} s (compiling), then {rest * 1000:.1f} ms / step")
        print(f"  compiled / contiguous: {rest / med['contiguous']:.2f}x the step time")


if __name__ == "__main__":
    main()
