"""The layering of DESIGN.md, held by a check over every module's imports (STYLE 18).

Imports are read from the source (every ``import`` statement, at any depth, TYPE_CHECKING
ones included), so a rule cannot be dodged by importing late; only module-level imports
count for cycles, since a function's import cannot deadlock the interpreter's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "engines", "catalog", "migrations")
PURE = ("orchestrator.states", "orchestrator.predicates", "orchestrator.graph", "orchestrator.definitions",
        "orchestrator.events", "orchestrator.resume")


def _modules() -> dict[str, Path]:
    found = {}
    for package in (*PACKAGES, "benchmarks", "examples"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str:
    """``orchestrator.store.tables`` stays a module; a name imported from a module is the module."""
    while name and name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, top_level_only: bool = False) -> Iterator[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if _resolve(full) == full else base


def _violations(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module in modules
        for target in _imports(module)
        if any(target == f or target.startswith(f"{f}.") for f in forbidden)
    )


def _in(*prefixes: str) -> list[str]:
    return [m for m in MODULES if any(m == p or m.startswith(f"{p}.") for p in prefixes)]


def test_the_pure_core_imports_no_io() -> None:
    forbidden = ("orchestrator.store", "engines", "orchestrator.service", "orchestrator.cli", "orchestrator.api",
                 "orchestrator.runner", "sqlalchemy", "ray", "pyspark")  # fmt: skip
    assert _violations(_in(*PURE), forbidden) == []


def test_the_cli_goes_through_the_service() -> None:
    assert _violations(_in("orchestrator.cli"), ("orchestrator.store", "sqlalchemy")) == []


def test_engines_know_nothing_of_scheduling_or_the_store() -> None:
    forbidden = ("orchestrator.scheduler", "orchestrator.store", "orchestrator.service", "orchestrator.runner")
    assert _violations(_in("engines"), forbidden) == []


def test_the_orchestrator_never_imports_ray_or_pyspark() -> None:
    assert _violations(_in("orchestrator"), ("ray", "pyspark")) == []


def test_only_the_store_and_migrations_speak_sql() -> None:
    speaking = [m for m in MODULES if not m.startswith(("orchestrator.store", "migrations"))
                and m != "orchestrator.runtime_sql"]  # a job's own data, not the store
    assert _violations(speaking, ("sqlalchemy", "alembic", "psycopg")) == []


def test_no_import_cycles() -> None:
    graph = nx.DiGraph()
    for module in MODULES:
        graph.add_node(module)
        for target in _imports(module, top_level_only=True):
            if (resolved := _resolve(target)) in MODULES and resolved != module:
                graph.add_edge(module, resolved)
    assert [sorted(c) for c in nx.simple_cycles(graph)] == []


@pytest.mark.parametrize("module", ["orchestrator.cli", "orchestrator.store.job_runs", "engines.base"])
def test_the_check_sees_imports(module: str) -> None:
    """The rules above are not vacuous: the reader finds the imports modules do have."""
    assert list(_imports(module))
