"""The definitions package's own shape: leaf-only re-exports, sibling imports, small modules, state
texts from states.py (the layering of the whole code is tests/unit/test_layers.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestrator import states
from orchestrator.definitions import problems

ROOT = Path(__file__).resolve().parents[2] / "orchestrator"
PACKAGE = sorted((ROOT / "definitions").glob("*.py"))


def imports(path: Path) -> list[str]:
    """Every module a file imports, ``from a import b`` counted as both ``a`` and ``a.b``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def test_init_imports_only_leaf_modules() -> None:
    """Submodules import each other directly; the package itself must not import them back."""
    ours = {m for m in imports(ROOT / "definitions" / "__init__.py")
            if m.startswith("orchestrator.") and m != "orchestrator.definitions"}
    assert {m.rsplit(".", 1)[0] for m in ours} <= {
        "orchestrator.definitions.arguments",
        "orchestrator.definitions.durations",
        "orchestrator.definitions.models",
        "orchestrator.definitions",
    }
    assert not {"orchestrator.definitions.loading", "orchestrator.definitions.checks"} & ours


@pytest.mark.parametrize("path", PACKAGE, ids=lambda p: p.name)
def test_submodules_import_siblings_not_the_package_names(path: Path) -> None:
    modules = {p.stem for p in PACKAGE}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "orchestrator.definitions":
            assert {a.name for a in node.names} <= modules, f"{path.name}: import modules, not names"
        if isinstance(node, ast.ImportFrom) and node.module == "orchestrator":
            assert "definitions" not in {a.name for a in node.names}, path.name


@pytest.mark.parametrize("path", PACKAGE, ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) < 400


def test_state_texts_come_from_the_states_module() -> None:
    assert problems.JOB_STATES_TEXT == "SUCCEEDED, STOPPED, FAILED, TIMEOUT"
    assert problems.CRAWL_STATES_TEXT == "SUCCEEDED, CANCELLED, FAILED"
    assert set(problems.JOB_STATES_TEXT.split(", ")) == set(states.JOB_CONDITION_STATES)
    assert set(problems.CRAWL_STATES_TEXT.split(", ")) == set(states.CRAWL_CONDITION_STATES)


def test_the_pure_functions_load_without_pydantic() -> None:
    """The loop and job scripts merge arguments and parse stored durations; the models (and
    pydantic, ~50 ms of every start) load only when a model name is asked for."""
    import subprocess
    import sys

    code = ("import sys; from orchestrator.definitions import effective_arguments, parse_duration; "
            "import orchestrator.job_run, orchestrator.scheduler; print('pydantic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
