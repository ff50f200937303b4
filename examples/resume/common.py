"""Shared by the resume example's jobs: this run's day (a run property) and its folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.runtime import get_run_properties

HERE = Path(__file__).resolve().parent


def day_dir() -> Path:
    """out/<day>/: the same folder in a run and in the runs that resume it."""
    path = HERE / "out" / get_run_properties()["day"]
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path.relative_to(HERE)}")


def read(path: Path) -> Any:
    return json.loads(path.read_text())
