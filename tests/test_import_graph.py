"""The house has no import circle: no dso module reaches itself through its imports.

Every `import` / `from ... import` naming a dso module counts, at module level or inside a
function (a lazy import still ties the two modules together). Edges to a module's own parent
packages are left out: importing `dso.train.lora` runs `dso/train/__init__.py`, whose lazy
exports are strings, not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """dso modules named by the imports of one file (resolving `from pkg import module`)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name in known and not me.startswith(name + ".") and name != me:
                found.add(name)
    return found


def import_graph() -> nx.DiGraph:
    """Directed graph module -> dso module it imports."""
    files = list((SRC / "dso").rglob("*.py"))
    known = {_module_name(p) for p in files}
    graph = nx.DiGraph()
    for path in files:
        me = _module_name(path)
        graph.add_node(me)
        graph.add_edges_from((me, other) for other in _imports(path, known))
    return graph


def test_the_graph_sees_lazy_imports() -> None:
    """The scan is not blind: a function-level import (eval/cli.py -> dso.train) is an edge."""
    graph = import_graph()
    assert graph.number_of_nodes() > 50
    assert graph.has_edge("dso.eval.cli", "dso.train")
    assert graph.has_edge("dso.train.checkpoint", "dso.train.lora")


def test_no_import_circle() -> None:
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles[:5])
