"""The four big pages' state modules never import Qt: the import-linter contract in pyproject.toml, run for
real, against the tree as it is and against copies with a Qt import slipped in (directly, and through a
GUI module that imports Qt itself)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
CONTRACT = "the pages' state modules stay free of Qt"
STATES = (
    "studio.gui.config.state",
    "studio.gui.editor.state",
    "studio.gui.editor.navigation",
    "studio.gui.editor.paint",
    "studio.gui.editor.shapes",
    "studio.gui.editor.tool_options",
    "studio.gui.inspect.predictions_state",
    "studio.gui.train.state",
)


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "studio", tmp_path / "studio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contract_names_the_state_modules():
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (c,) = [c for c in contracts if c["name"] == CONTRACT]
    assert c["type"] == "forbidden" and set(c["source_modules"]) == set(STATES)
    assert set(c["forbidden_modules"]) == {"PySide6", "pyqtgraph", "superqt", "shiboken6"}
    for name in STATES:
        assert (REPO / (name.replace(".", "/") + ".py")).is_file(), name


def test_state_contract_is_kept():
    r = _lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{CONTRACT} KEPT" in r.stdout


@pytest.mark.parametrize(
    ("module", "line", "forbidden"),
    [
        ("train/state.py", "from PySide6.QtCore import QTimer  # a timer in the state\n", "PySide6"),
        ("editor/state.py", "import pyqtgraph  # a chart in the state\n", "pyqtgraph"),
        # indirectly: a GUI module that imports Qt itself
        ("config/state.py", "from studio.gui.common import palette  # colours for the titles\n", "PySide6"),
    ],
)
def test_state_contract_catches_a_qt_import(tmp_path, module, line, forbidden):
    root = _copy(tmp_path)
    path = root / "studio" / "gui" / module
    path.write_text(path.read_text() + "\n" + line)
    r = _lint(root)
    assert r.returncode != 0
    assert f"{CONTRACT} BROKEN" in r.stdout
    source = "studio.gui." + module.removesuffix(".py").replace("/", ".")
    assert source in r.stdout and forbidden in r.stdout, r.stdout


QT = ("PySide6", "pyqtgraph", "superqt", "shiboken6")
STATE_TESTS = ("test_config_state.py", "test_editor_state.py", "test_predictions_state.py", "test_train_state.py")
NO_QT_RUN = """
import importlib.abc, sys
import pytest

QT = {qt!r}

class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in QT:
            raise ImportError(f"{{name}} is blocked: the state tests run without Qt")
        return None

sys.meta_path.insert(0, NoQt())
code = pytest.main(["-q", "-p", "no:pytest-qt", "-p", "no:cacheprovider", *{files!r}])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in QT)
print("QT LOADED:", loaded)
sys.exit(int(code) or (3 if loaded else 0))
"""


def test_the_state_tests_pass_without_qt():
    """The four state test files, run where PySide6 (and pyqtgraph, superqt, shiboken6) cannot be imported:
    they pass, and no Qt module is in sys.modules afterwards."""
    files = [str(Path(__file__).with_name(f)) for f in STATE_TESTS]
    script = NO_QT_RUN.format(qt=QT, files=files)
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "QT LOADED: []" in r.stdout and " passed" in r.stdout and "skipped" not in r.stdout
