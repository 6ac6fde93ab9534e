"""The package's import graph has no cycle (issue 11): every ``import`` of ``losatok_plugin`` modules counts,
at module level or inside functions (a lazy import is still a dependency), except type-only imports under
``if TYPE_CHECKING:``. Layers only import downwards: the model layer never imports the loader that builds it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "losatok_plugin"


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> modules of the package it imports`` (parent packages are not counted as edges)."""
    mods = _modules(root)
    pkg = root.name
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        found: set[str] = set()

        def visit(node: ast.AST, base: list[str] = base, found: set[str] = found) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    for stmt in child.orelse:
                        visit(ast.Module(body=[stmt], type_ignores=[]))
                    continue
                if isinstance(child, ast.Import):
                    found.update(a.name for a in child.names if a.name.split(".")[0] == pkg)
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        stem = base[: len(base) - child.level + 1]
                        module = ".".join(stem + ([child.module] if child.module else []))
                    else:
                        module = child.module or ""
                    if module.split(".")[0] == pkg:
                        for a in child.names:
                            found.add(f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module)
                visit(child)

        visit(ast.parse(path.read_text()))
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_the_checker_sees_a_cycle(tmp_path):
    pkg = tmp_path / "losatok_plugin"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "loader.py").write_text("def f():\n    from .models.vae import VAE\n")
    (pkg / "models" / "vae.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..other import X\n"
        "class VAE:\n    def load(self):\n        from ..loader import f\n"
    )
    (pkg / "other.py").write_text("from .models import vae\n")
    assert find_cycles(import_graph(pkg)) == [["losatok_plugin.loader", "losatok_plugin.models.vae"]]


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "losatok_plugin.models.losatok_vae" in graph and graph["losatok_plugin.models.losatok_vae"]
    assert find_cycles(graph) == []


def test_layers_import_downwards_only():
    graph = import_graph()
    upper = ("training", "cli", "integrations", "loading", "teachers", "recipes", "eval", "generation", "batch")
    for module, deps in graph.items():
        if module.startswith(("losatok_plugin.models.", "losatok_plugin.nn.", "losatok_plugin.checkpoints")):
            bad = sorted(d for d in deps if d.split(".")[1] in upper)
            assert not bad, f"{module} imports the layers above it: {bad}"


def test_no_sys_path_edits_in_the_package_or_recipes():
    """The package is installed (editable); recipes import it and ``recipes.data`` as packages."""
    root = PACKAGE.parent
    offenders = [
        str(p.relative_to(root))
        for folder in ("losatok_plugin", "recipes")
        for p in sorted((root / folder).rglob("*.py"))
        if "sys.path" in p.read_text()
    ]
    assert offenders == []
