"""Shared fixtures: the real data in ../shared/data (skipped when absent) and the synthetic demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
