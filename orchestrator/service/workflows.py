"""Workflows (CreateWorkflow, UpdateWorkflow, DeleteWorkflow, GetWorkflow with its graph and
last run, ListWorkflows, BatchGetWorkflows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import errors, store
from orchestrator.service import remote, resources, shapes
from orchestrator.settings import Settings


def create_workflow(db: store.Store, settings: Settings, workflow: Mapping[str, Any]) -> dict[str, Any]:
    """CreateWorkflow: a workflow without triggers yet (CreateTrigger with WorkflowName adds them)."""
    model = resources.load("workflow", workflow, settings)
    with db.transaction() as tx:
        resources.save(tx, "workflow", model, create=True)
    return {"Name": model.name}


def update_workflow(db: store.Store, settings: Settings, name: str, *, description: str | None = None,
                    default_run_properties: Mapping[str, str] | None = None,
                    max_concurrent_runs: int | None = None) -> dict[str, Any]:
    """UpdateWorkflow: the members given replace the workflow's; its triggers stay."""
    with db.transaction() as tx:
        current = resources.stored(tx, "workflow", name, lock=True)
        given = {"Description": description, "DefaultRunProperties": default_run_properties,
                 "MaxConcurrentRuns": max_concurrent_runs}
        merged = {**current.glue, **{k: v for k, v in given.items() if v is not None}}
        merged = {k: v for k, v in merged.items() if k not in ("CreatedOn", "LastModifiedOn")}
        resources.save(tx, "workflow", resources.load("workflow", merged, settings), create=False)
    return {"Name": name}


@remote.callable
def delete_workflow(db: store.Store, name: str) -> dict[str, Any]:
    """DeleteWorkflow with its triggers (they belong to it; its jobs and crawlers stay).
    Refused while a run of it is RUNNING or STOPPING; a missing workflow is no error."""
    with db.transaction() as tx:
        if store.definitions.get(tx, "workflow", name, lock=True) is None:
            return {"Name": name}
        check_deletable(tx, name)
        for trig in store.definitions.find(tx, "trigger", workflow_name=name):
            resources.remove(tx, "trigger", trig.name)
        resources.remove(tx, "workflow", name)
    return {"Name": name}


def check_deletable(tx: store.Tx, name: str) -> None:
    """A workflow with a run under way is not deleted (the run would lose its definition)."""
    if (active := store.workflow_runs.count_active(tx, name)) > 0:
        raise errors.ConcurrentModificationException(
            f"Workflow {name} has {active} run{'s' if active > 1 else ''} under way; stop "
            f"{'them' if active > 1 else 'it'} (StopWorkflowRun) before deleting it")


@remote.callable
def list_workflows(db: store.Store, next_token: str | None = None, max_results: int | None = None) -> dict[str, Any]:
    return resources.list_names(db, "workflow", "Workflows", next_token, max_results, None)


def get_workflow(db: store.Store, name: str, include_graph: bool = False) -> dict[str, Any]:
    with db.read() as tx:
        return {"Workflow": _shape(tx, resources.stored(tx, "workflow", name), include_graph)}


def batch_get_workflows(db: store.Store, names: Sequence[str], include_graph: bool = False) -> dict[str, Any]:
    with db.read() as tx:
        found = store.definitions.get_many(tx, "workflow", names)
        wanted = list(dict.fromkeys(names))
        return {"Workflows": [_shape(tx, found[n], include_graph) for n in wanted if n in found],
                "MissingWorkflows": [n for n in wanted if n not in found]}


def _shape(tx: store.Tx, row: store.definitions.Definition, include_graph: bool) -> dict[str, Any]:
    from orchestrator.service import workflow_runs

    out = {**shapes.definition(row), "Name": row.name}
    if include_graph:
        triggers = store.definitions.find(tx, "trigger", workflow_name=row.name)
        out["Graph"] = shapes.workflow_graph([shapes.trigger(t) for t in triggers])
    runs = store.workflow_runs.find(tx, row.name, limit=1)
    if runs:
        out["LastRun"] = workflow_runs.shape(tx, runs[0], include_graph=False)
    return out
