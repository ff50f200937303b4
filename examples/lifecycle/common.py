"""Shared by the example's scripts: Glue's arguments and this run's output folder."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestrator.runtime import get_run_properties, getResolvedOptions


def options(*names: str) -> dict[str, str]:
    return getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "WORKFLOW_RUN_ID", *names])


def out_dir(workflow_run_id: str) -> Path:
    """out/<workflow run id>/ (the run property out_dir, relative to this folder)."""
    base = Path(get_run_properties().get("out_dir", "out"))
    if not base.is_absolute():
        base = Path(__file__).resolve().parent / base
    folder = base / workflow_run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder
