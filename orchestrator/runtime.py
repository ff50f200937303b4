"""The job-side runtime API: what a job script imports (the role of awsglue.utils).

Importable with the standard library alone; the service (and through it the store) is reached
lazily, only when a script reads or writes workflow run properties, through the URL its
orchestrator passes in ``ADHERE_DB_URL``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

# Keys Glue itself may pass that a script never declares.
_GLUE_RESERVED = ("JOB_ID", "JOB_RUN_ID", "SECURITY_CONFIGURATION", "encryption-type")


class GlueArgumentError(SystemExit):
    """A required job argument was missing (Glue's getResolvedOptions exits the same way)."""


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """Glue's ``getResolvedOptions``: the values of ``--NAME value`` for each name in ``options``.

    Every named option is required; arguments not asked for are ignored. ``JOB_NAME`` etc.
    work like any other name.
    """
    parser = argparse.ArgumentParser(prog=os.path.basename(args[0]) if args else "job", add_help=False)
    for name in options:
        parser.add_argument(f"--{name}", required=True, dest=name)
    known, _ = parser.parse_known_args(list(args[1:]))
    return {name: getattr(known, name) for name in options}


def _context() -> tuple[str, str, str]:
    run_id = os.environ.get("ADHERE_WORKFLOW_RUN_ID") or _argv_value("--WORKFLOW_RUN_ID")
    name = os.environ.get("ADHERE_WORKFLOW_NAME") or _argv_value("--WORKFLOW_NAME")
    url = os.environ.get("ADHERE_DB_URL")
    if not (run_id and name and url):
        raise RuntimeError(
            "workflow run properties are only available to a job started by adhere inside a workflow run"
        )
    return url, name, run_id


def _argv_value(key: str) -> str | None:
    argv = sys.argv
    for i, item in enumerate(argv[:-1]):
        if item == key:
            return argv[i + 1]
    return None


def get_run_properties() -> dict[str, str]:
    """The current workflow run's properties (GetWorkflowRunProperties)."""
    from orchestrator import service
    from orchestrator.service import workflow_runs

    url, name, run_id = _context()
    db = service.connect(url)
    try:
        return workflow_runs.get_workflow_run_properties(db, name, run_id)
    finally:
        db.close()


def put_run_properties(properties: Mapping[str, str]) -> None:
    """Upsert properties on the current workflow run (PutWorkflowRunProperties)."""
    from orchestrator import service
    from orchestrator.service import workflow_runs

    url, name, run_id = _context()
    db = service.connect(url)
    try:
        workflow_runs.put_workflow_run_properties(db, name, run_id, properties)
    finally:
        db.close()
