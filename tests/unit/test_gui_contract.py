"""studio.gui must never import the command line (studio.cli*): the import-linter contract in pyproject.toml,
run for real. What the Train page shares with ``studio train`` (the console reporter, the duration format)
lives in studio.core."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
CONTRACT = "studio.gui never imports the command line"


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_gui_contract_is_kept():
    r = _lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{CONTRACT} KEPT" in r.stdout


def test_gui_contract_catches_a_cli_import(tmp_path):
    shutil.copytree(REPO / "studio", tmp_path / "studio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "studio" / "gui" / "train" / "sneaky.py"
    bad.write_text("def reporter():\n    from studio.cli_engine import ConsoleReporter\n\n    return ConsoleReporter\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert f"{CONTRACT} BROKEN" in r.stdout
    assert "studio.gui.train.sneaky" in r.stdout and "studio.cli_engine" in r.stdout
