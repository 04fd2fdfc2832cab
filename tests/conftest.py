"""Shared fixtures: the real data in ../shared/data (skipped when absent) and the synthetic demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# Plugins are off in the tests (the zoo and the format tables hold the built-ins only) and the user's
# plugins folder is never read; a test that needs plugins configures them (the repo_plugins fixture).
os.environ.setdefault("STUDIO_PLUGINS", "0")
os.environ.setdefault("STUDIO_USER_PLUGINS", "0")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PLUGINS_DIR = REPO / "plugins"


@pytest.fixture
def repo_plugins():
    """The registry with the repository's plugins/ only (no user folder, no entry points); reset afterwards."""
    from studio.core import plugins

    yield plugins.configure([PLUGINS_DIR], repo=False, user=False, entry_points=False, env_paths=False)
    plugins.reset()


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_config(tmp_path_factory):
    """The recent-workspaces list goes to a temporary folder, never the user's."""
    os.environ["STUDIO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("user_config"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data folder {SHARED_DATA} not found (see the README: tests use ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """A small synthetic demo set: {'train': DemoSplit, 'val': DemoSplit}."""
    from studio.core.demo import generate

    return generate(tmp_path_factory.mktemp("demo") / "demo", n_train=10, n_val=4, seed=1)


def make_checkpoint(
    path: Path, demo_split, arch: str = "seg_lite", size: int = 96, seed: int = 0, calibrate_bn: bool = False
) -> Path:
    """A Studio checkpoint of ``arch`` with random (seeded) weights for the demo classes, without training.

    Enough for tests of loading, export, feature maps and CAM, which need a real model and class map but
    not a useful one. ``calibrate_bn`` sets BatchNorm's running statistics to those of a few random
    images: with the initial ones (mean 0, variance 1) some random models' features collapse and every
    score is the same (SSDlite: all 0.2000), so which tied box comes first is up to each backend's sort.
    """
    import torch

    from studio.core import checkpoint as ckpt_io
    from studio.core.config.init import init_config
    from studio.core.data.classes import ClassMap
    from studio.core.dataset.model import Dataset
    from studio.core.models import build_model, get_arch

    path = Path(path)
    cfg = init_config(
        demo_split.annotations,
        path.with_suffix(".yaml"),
        arch=arch,
        overrides={"data": {"image_size": size, "workers": 0}, "train": {"device": "cpu"}},
    )
    cmap = ClassMap.from_dataset(Dataset.load(demo_split.annotations))
    torch.manual_seed(seed)
    model = build_model(arch, cmap.num_classes, image_size=size)
    if calibrate_bn:
        model.eval()
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batch
                m.train()
        with torch.no_grad():
            model([torch.rand(3, size * 3 // 4, size) for _ in range(4)])
    payload = {
        "arch": arch,
        "task": get_arch(arch).task,
        "classes": cmap.to_dict(),
        "config": cfg.model_dump(mode="json"),
        "model": model.state_dict(),
        "ema": None,
        "epoch": 0,
        "best_metric": None,
        "finished": False,
        "partial": False,
    }
    return ckpt_io.save(path, payload)


@pytest.fixture(scope="session")
def checkpoint_factory(tmp_path_factory, demo):
    """``checkpoint_factory(arch, size=96, calibrate_bn=False) -> Path``: random-weight checkpoints, cached."""
    made: dict = {}
    folder = tmp_path_factory.mktemp("ckpts")

    def make(arch: str = "seg_lite", size: int = 96, calibrate_bn: bool = False) -> Path:
        key = (arch, size, calibrate_bn)
        if key not in made:
            made[key] = make_checkpoint(
                folder / f"{arch}_{size}{'_bn' if calibrate_bn else ''}.pt",
                demo["train"],
                arch,
                size,
                calibrate_bn=calibrate_bn,
            )
        return made[key]

    return make


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, demo) -> Path:
    """best.pt of a seg_lite run trained briefly (3 epochs, 96 px) on the 10 demo images: a model that has
    learned a little."""
    from studio import api
    from studio.core.config.init import init_config

    folder = tmp_path_factory.mktemp("trained")
    init_config(
        demo["train"].annotations,
        folder / "cfg.yaml",
        val_ann=demo["val"].annotations,
        arch="seg_lite",
        overrides={
            "model": {"score_thr": 0.01},  # it has learned little: its scores are low
            "data": {"image_size": 96, "workers": 0},
            "train": {"epochs": 3, "batch_size": 2, "device": "cpu", "warmup_iters": 2, "warmup_fraction": None},
        },
    )
    api.train(folder / "cfg.yaml", work_dir=folder / "run")
    return folder / "run" / "best.pt"


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size="256k") -> Path``: a fresh tmpfs of that size (a disk that fills up), unmounted afterwards.

    Needs root and permission to mount (a container may refuse): the test is skipped, saying why, otherwise.
    """
    import subprocess

    mounted: list[Path] = []

    def make(size: str = "256k") -> Path:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("a full disk is simulated with a small tmpfs, and mounting one needs root")
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True, text=True
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (to simulate a full disk): {r.stderr.strip() or r.returncode}")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
