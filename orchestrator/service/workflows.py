"""Workflows (GetWorkflow with its graph and last run, ListWorkflows)."""

from __future__ import annotations

from typing import Any

from orchestrator import errors, store
from orchestrator.service import shapes


def workflow(tx: store.Tx, name: str) -> store.definitions.Definition:
    row = store.definitions.get(tx, "workflow", name)
    if row is None:
        raise errors.EntityNotFoundException(f"Workflow {name} not found")
    return row


def list_workflows(db: store.Store) -> list[str]:
    with db.read() as tx:
        return [row.name for row in store.definitions.find(tx, "workflow")]


def get_workflow(db: store.Store, name: str, include_graph: bool = True) -> dict[str, Any]:
    from orchestrator.service import workflow_runs

    with db.read() as tx:
        row = workflow(tx, name)
        triggers = store.definitions.find(tx, "trigger", workflow_name=name)
        runs = store.workflow_runs.find(tx, name, limit=1)
        last = workflow_runs.shape(tx, runs[0], include_graph=False) if runs else None
    out = {**shapes.definition(row), "Name": name}
    if include_graph:
        out["Graph"] = shapes.workflow_graph([shapes.trigger(t) for t in triggers])
    if last is not None:
        out["LastRun"] = last
    return out
