"""The import structure, checked for real: the import-linter contracts in pyproject.toml (studio.core never
imports Qt; studio.core is layered) and no import cycle outside the GUI, function-local imports included."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_core_contract_is_kept():
    r = _lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "studio.core stays free of Qt KEPT" in r.stdout


def test_contract_catches_a_qt_import(tmp_path):
    shutil.copytree(REPO / "studio", tmp_path / "studio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "studio" / "core" / "sneaky.py"
    bad.write_text("from PySide6 import QtCore\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert "BROKEN" in r.stdout and "studio.core.sneaky" in r.stdout


# ---------------------------------------------------------------------- layers
LAYERS = "studio.core is layered"


def test_core_layers_are_kept():
    r = _lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{LAYERS} KEPT" in r.stdout


def test_layers_catch_an_import_up_the_layers(tmp_path):
    shutil.copytree(REPO / "studio", tmp_path / "studio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "studio" / "core" / "dataset" / "sneaky.py"
    bad.write_text("def f():\n    from studio.core.inference.predictor import Predictor\n\n    return Predictor\n")
    r = _lint(tmp_path)
    assert r.returncode != 0
    assert f"{LAYERS} BROKEN" in r.stdout
    assert "studio.core.dataset is not allowed to import studio.core.inference" in r.stdout


# ---------------------------------------------------------------------- cycles
def import_cycles(graph, modules) -> list[list[str]]:
    """The strongly connected components of ``graph`` restricted to ``modules`` that hold more than one module
    (or a module importing itself), each as one cycle ``[a, b, ..., a]`` through its first module."""
    modules = set(modules)
    succ = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in sorted(modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in succ:  # Tarjan's algorithm, iteratively (the graph is deep enough to matter)
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in succ[node]:
                    components.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    cycles = []
    for comp in components:
        first = comp[0]
        nxt = next(m for m in succ[first] if m in comp)
        back = graph.find_shortest_chain(importer=nxt, imported=first) if nxt != first else (first,)
        cycles.append([first, *back])
    return cycles


def test_no_import_cycles_outside_the_gui():
    graph = grimp.build_graph("studio", cache_dir=None)  # function-local imports count too
    checked = {m for m in graph.modules if not (m == "studio.gui" or m.startswith("studio.gui."))}
    assert any(m.startswith("studio.core.") for m in checked)
    cycles = import_cycles(graph, checked)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(m)
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert import_cycles(graph, graph.modules) == [["p.a", "p.b", "p.c", "p.a"]]
