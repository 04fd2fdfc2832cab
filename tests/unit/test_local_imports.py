"""Imports inside functions are there only to defer a heavy library, and each says which.

A function-level import hides a dependency from the reader (and once hid import loops). Studio keeps
one only where importing at module level would load a heavy library (torch, OpenCV, ONNX, Qt...) into
every user of the module: the command line would start slowly, or the window would load torch in its
own process. Such an import ends with ``# deferred: <what it loads>``. An optional dependency, imported
in a ``try`` that catches its ImportError, may stay where it is needed. This test reads every module's
imports (as text, nothing is imported) and fails on a function-level import that defers nothing heavy,
or one without the comment.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: libraries worth deferring: each takes a noticeable time to import (numpy and pydantic: about 80 and 50 ms, which
#: `studio --help` would pay), or must stay out of a process (Qt, torch)
HEAVY = frozenset(
    {
        "numpy",
        "pydantic",
        "torch",
        "torchvision",
        "cv2",
        "onnx",
        "onnxruntime",
        "onnxslim",
        "onnxconverter_common",
        "tensorrt",
        "cuda",
        "modelopt",
        "matplotlib",
        "pycocotools",
        "scipy",
        "PySide6",
        "pyqtgraph",
        "superqt",
        "shiboken6",
    }
)
MARK = "# deferred"


def _file(module: str) -> Path | None:
    base = REPO / module.replace(".", "/")
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([base] if base else []))
    return [base] + [f"{base}.{a.name}" for a in node.names if _file(f"{base}.{a.name}") is not None]


def _module_of(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(REPO).with_suffix("")
    is_package = rel.name == "__init__"
    parts = rel.parts[:-1] if is_package else rel.parts
    return ".".join(parts), is_package


@cache
def _top_level(module: str) -> frozenset[str]:
    """What ``module`` imports when it is imported (module-level statements, including under if/try)."""
    path = _file(module)
    if path is None:
        return frozenset()
    _, is_package = _module_of(path)
    out: set[str] = set()
    for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):  # read by type checkers only
            stmt = ast.Module(body=stmt.orelse, type_ignores=[])
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__":
                out.update(_targets(node, module, is_package))
    return frozenset(out)


@cache
def _loads(module: str) -> frozenset[str]:
    """Every module importing ``module`` loads (its parents' __init__ included), transitively."""
    seen: set[str] = set()
    stack = [module]
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        if parts[0] == "studio":
            stack.extend(_top_level(m))
    return frozenset(seen)


def _heavy(modules) -> set[str]:
    return {m.split(".")[0] for m in modules} & HEAVY


def _is_type_checking(test: ast.expr) -> bool:
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for h in node.handlers:
        if h.type is None:
            return True
        for t in h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]:
            names.add(getattr(t, "id", getattr(t, "attr", "")))
    return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def function_level_imports() -> list[tuple[str, int, str, set[str]]]:
    """``(file, line, text, heavy libraries the import adds to its module)`` for each import inside a function
    (an optional dependency, imported in a ``try`` that catches its ImportError, is left out)."""
    out = []
    for path in sorted((REPO / "studio").rglob("*.py")):
        module, is_package = _module_of(path)
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        already = _heavy(_loads(module))
        tree = ast.parse(source)
        optional = {
            id(n)
            for t in ast.walk(tree)
            if isinstance(t, ast.Try) and _catches_import_error(t)
            for s in t.body
            for n in ast.walk(s)
        }
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in optional:
                    added: set[str] = set()
                    for target in _targets(node, module, is_package):
                        added |= _heavy(_loads(target))
                    text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                    out.append((str(path.relative_to(REPO)), node.lineno, text, added - already))
    return out


def test_function_level_imports_only_defer_heavy_libraries_and_say_so():
    found = function_level_imports()
    assert found, "the scan found no function-level import at all: is it reading the right folder?"
    needless = [f"{f}:{n}: {t.strip()}" for f, n, t, heavy in found if not heavy]
    unmarked = [f"{f}:{n}: {t.strip()} (loads {', '.join(sorted(h))})" for f, n, t, h in found if h and MARK not in t]
    assert not needless, "these imports defer nothing heavy: move them to the top of their module\n" + "\n".join(
        needless
    )
    assert not unmarked, f"say why with '{MARK}: <library>' at the end of the line\n" + "\n".join(unmarked)


def test_the_scan_sees_a_needless_and_a_deferred_import(tmp_path, monkeypatch):
    """The scan itself: a light import in a function is flagged, a torch import is recognised as heavy."""
    pkg = tmp_path / "studio"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "light.py").write_text("import json\n")
    (pkg / "uses_torch.py").write_text("import torch\n")
    (pkg / "client.py").write_text(
        "def a():\n    from studio import light\n\n\ndef b():\n    from studio import uses_torch  # deferred: torch\n"
    )
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    _top_level.cache_clear()
    _loads.cache_clear()
    try:
        found = {n: heavy for _f, n, _t, heavy in function_level_imports()}
    finally:
        _top_level.cache_clear()
        _loads.cache_clear()
    assert found == {2: set(), 6: {"torch"}}
