"""The house (docs/design.md, 'The house'): no import cycle among the project's modules, each
package imports only what its row of the table allows, and the stages of ``analysis.mohba`` import
only the stages before them (features → model → fit → encode → cluster → saved → describe → write).

The graph is built from the source, not by importing it: every ``import`` and ``from ... import``
of every ``.py`` in envs/, marl/, analysis/ and experiments/ counts, at module level, inside
functions and under ``if TYPE_CHECKING`` alike, and so does ``importlib.import_module`` with a
literal or f-string name (an f-string's fields match one dotted part, so ``f"envs.{env_id}"``
reaches every ``envs.X``). ``from package import name`` is an edge to ``package.name`` when that is
a module, else to ``package``. A package does not depend on its own ``__init__`` by being a parent:
Python runs that first, whatever it imports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "marl", "analysis", "experiments")
FORBIDDEN = {
    "envs": ("marl", "analysis", "experiments", "torch", "ray"),
    "marl": ("experiments",),
    "analysis": ("marl", "experiments", "ray"),
}
"""Package → the top-level names it must never import (docs/design.md, 'The house')."""
MOHBA = "analysis.mohba"
MOHBA_STAGES = ("features", "model", "fit", "encode", "cluster", "saved", "describe", "write")
"""``analysis.mohba``'s stages in the order of the analysis: each imports only the ones before it."""
MOHBA_LIBRARIES = ("changepoints", "concepts", "figures")
"""``analysis.mohba`` modules that stages use and that import no stage."""


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every .py of the packages (a package is its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(node: ast.AST, module: str, is_package: bool, names: list[str]) -> list[str]:
    """The dotted names one AST node imports (empty for other nodes)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        return [f"{base}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module" and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [arg.value]
        if isinstance(arg, ast.JoinedStr):
            pattern = "".join(re.escape(v.value) if isinstance(v, ast.Constant) else r"[^.]+" for v in arg.values)
            return [name for name in names if re.fullmatch(pattern, name)]
    return []


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest prefix of ``name`` that is a project module (else its top-level name: a third party)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return parts[0]


def import_graph() -> nx.DiGraph:
    """Project modules and the third-party top-level names they import, edges importer → imported."""
    modules = _modules()
    names = sorted(modules)
    graph = nx.DiGraph()
    for module, path in modules.items():
        graph.add_node(module, project=True)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in _imported(node, module, path.name == "__init__.py", names):
                target = _resolve(name, modules)
                if target != module:
                    graph.add_edge(module, target)
    return graph


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph()


def test_the_graph_sees_every_kind_of_import(graph):
    assert graph.has_edge("experiments.pipeline", "experiments.stages")  # module level
    assert graph.has_edge("marl.record", "marl.loading")  # inside a function
    assert graph.has_edge("experiments.cli", "experiments.commands.analyze")  # import_module(f"...")
    assert graph.has_edge("envs", "envs.cleanup.scripted")
    assert graph.has_edge("envs.cleanup.world", "envs.cleanup.render")  # from package import module


def test_no_import_cycle(graph):
    project = graph.subgraph(n for n, data in graph.nodes(data=True) if data.get("project"))
    cycles = sorted(nx.simple_cycles(project), key=len)
    assert not cycles, "import cycles (move what both sides need into a module of its own):\n" + "\n".join(
        " → ".join([*c, c[0]]) for c in cycles
    )


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_what_the_house_allows(graph, package):
    bad = sorted(
        (source, target) for source, target in graph.edges if source.split(".")[0] == package and target.split(".")[0] in FORBIDDEN[package]
    )
    assert not bad, f"{package}/ may not import {', '.join(FORBIDDEN[package])}: " + "; ".join(f"{s} → {t}" for s, t in bad)


def _goes_back(source: str, target: str) -> bool:
    """Whether ``analysis.mohba`` module ``source`` importing ``target`` breaks the order: a stage
    importing a later stage, or a library importing any stage."""
    if target not in MOHBA_STAGES:
        return False
    return source in MOHBA_LIBRARIES or MOHBA_STAGES.index(target) > MOHBA_STAGES.index(source)


def test_mohba_stages_import_only_earlier_stages(graph):
    inside = sorted(n.removeprefix(MOHBA + ".") for n in graph.nodes if n.startswith(MOHBA + "."))
    assert inside == sorted(MOHBA_STAGES + MOHBA_LIBRARIES), "place every analysis/mohba module among the stages or the libraries"
    edges = [(s.removeprefix(MOHBA + "."), t.removeprefix(MOHBA + ".")) for s, t in graph.edges if s.startswith(MOHBA + ".")]
    bad = sorted((s, t) for s, t in edges if t in inside and _goes_back(s, t))
    assert not bad, "analysis.mohba imports against the order of its stages: " + "; ".join(f"{s} → {t}" for s, t in bad)
