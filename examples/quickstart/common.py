"""Shared by the quickstart scripts: Glue-style arguments and this run's output folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.runtime import getResolvedOptions

HERE = Path(__file__).resolve().parent


def options(*names: str) -> dict[str, str]:
    """``getResolvedOptions`` for ``names``, plus the workflow run id when adhere passed one."""
    optional = [n for n in ("WORKFLOW_RUN_ID",) if f"--{n}" in sys.argv]
    return getResolvedOptions(sys.argv, [*names, *optional])


def out_dir(opts: dict[str, str]) -> Path:
    """out/<workflow run id>/ (out/manual/ outside a workflow run): runs never mix."""
    path = HERE / "out" / opts.get("WORKFLOW_RUN_ID", "manual")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path.relative_to(HERE)}")


def read(path: Path) -> Any:
    return json.loads(path.read_text())
