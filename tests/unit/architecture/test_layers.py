"""The layer rule, checked over every import statement of the package (function-level ones
included): base -> inputs -> engine -> analysis -> interfaces, never upwards, no cycles.

See docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[3] / "src" / "mscpk"

#: Layer rank of each top-level part of the package (lower may never import higher).
LAYERS = {"errors": 0, "_version": 0, "utils": 0, "data": 0,
          "inputs": 1, "engine": 2, "analysis": 3, "store": 4, "interfaces": 5}
#: Modules that may hold function-level imports of other mscpk modules: only to keep heavy
#: third-party libraries off the command line's start-up path (never to dodge a cycle).
LAZY_ALLOWED = ("mscpk.interfaces.cli",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported mscpk module, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            func = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_func) for a in child.names if a.name.split(".")[0] == "mscpk")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                if mod.split(".")[0] == "mscpk":
                    # "from mscpk.x import y" runs mscpk.x (a package's __init__ too) and may
                    # import the submodule mscpk.x.y: both are edges of the graph
                    out.append((mod, child.lineno, in_func))
                    for a in child.names:
                        sub = f"{mod}.{a.name}"
                        if _exists(sub):
                            out.append((sub, child.lineno, in_func))
            visit(child, func)

    visit(tree, False)
    return out


def _exists(mod: str) -> bool:
    rel = Path(*mod.split(".")[1:])
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def _layer(mod: str) -> int | None:
    parts = mod.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def _graph() -> dict[str, list[tuple[str, int, bool]]]:
    return {_module_name(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def test_every_module_is_in_a_layer():
    loose = [m for m in _graph() if m != "mscpk" and _layer(m) is None]
    assert not loose, f"modules outside every layer: {loose}; add them to a layer folder"


def test_no_upward_import():
    bad = []
    for mod, imps in _graph().items():
        if mod == "mscpk":  # the facade sits on top of every layer
            continue
        for target, line, _ in imps:
            if target == "mscpk":
                bad.append(f"{mod}:{line} imports the facade 'mscpk'")
            elif _layer(target) is not None and _layer(target) > _layer(mod):
                bad.append(f"{mod}:{line} imports {target} (a higher layer)")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_function_level_imports_only_where_allowed():
    bad = [f"{mod}:{line} imports {target} inside a function"
           for mod, imps in _graph().items() if mod != "mscpk" and not mod.startswith(LAZY_ALLOWED)
           for target, line, in_func in imps if in_func]
    assert not bad, "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    # a package's __init__ that imports its submodules is part of the graph: a submodule that
    # imports its own package (``from mscpk.x import sibling``) closes a cycle through it
    graph = {mod: {t for t, _, _ in imps if t != mod} for mod, imps in _graph().items() if mod != "mscpk"}
    assert _cycles(graph) == []


def test_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The check can fail: an engine module importing the analysis layer is reported."""
    fake = tmp_path / "mscpk"
    (fake / "engine").mkdir(parents=True)
    (fake / "analysis").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "engine" / "__init__.py").write_text("")
    (fake / "analysis" / "__init__.py").write_text("")
    (fake / "analysis" / "summary.py").write_text("")
    (fake / "engine" / "simulate.py").write_text("def f():\n    from mscpk.analysis import summary\n")
    monkeypatch.setattr(__import__(__name__), "PKG", fake, raising=False)
    globals()["PKG"] = fake
    try:
        with pytest.raises(AssertionError, match="engine.simulate:2 imports mscpk.analysis.summary"):
            test_no_upward_import()
    finally:
        globals()["PKG"] = Path(__file__).resolve().parents[3] / "src" / "mscpk"


def test_module_sizes():
    big = {_module_name(p): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 600}
    assert not big, f"modules above 600 lines: {big}"


def test_top_folder_is_small():
    top = [p.name for p in PKG.glob("*.py")]
    assert len(top) <= 8, top
