"""The tree stays clean under ruff: ``ruff check`` and ``ruff format --check`` with the settings in pyproject.toml."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATHS = ["studio", "plugins", "tests", "bench"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("ruff") is None:
        pytest.fail(f"ruff is not installed in {sys.prefix}; run ./dev.sh test (it installs the [test] extras)")
    cmd = [sys.executable, "-m", "ruff", *args, "--no-cache", *PATHS]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_ruff_check_is_clean():
    r = _ruff("check")
    assert r.returncode == 0, f"ruff check found problems (fix them; ruff check --fix does some):\n{r.stdout}{r.stderr}"


def test_ruff_format_is_clean():
    r = _ruff("format", "--check")
    assert r.returncode == 0, f"ruff format would change files (run ruff format on them):\n{r.stdout}{r.stderr}"
