"""Workflow runs (StartWorkflowRun, GetWorkflowRun, GetWorkflowRuns, StopWorkflowRun,
GetWorkflowRunProperties, PutWorkflowRunProperties)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from orchestrator import errors, job_run, store
from orchestrator.service import shapes
from orchestrator.service.workflows import workflow
from orchestrator.states import WorkflowRunStatus
from orchestrator.store.workflow_runs import WorkflowRun

_W = WorkflowRunStatus


def start_workflow_run(db: store.Store, name: str, run_properties: Mapping[str, str] | None = None,
                       *, direct: bool = True) -> str:
    """StartWorkflowRun: snapshot the trigger graph, record the run and its start event.

    Over the workflow's MaxConcurrentRuns a direct start raises ConcurrentRunsExceededException;
    a start by a trigger (``direct=False``) records the run in ERROR, as Glue does.
    """
    with db.transaction() as tx:
        wf = store.definitions.get(tx, "workflow", name, lock=True)  # admission is serialised
        if wf is None:
            raise errors.EntityNotFoundException(f"Workflow {name} not found")
        stamp = store.now()
        triggers = [shapes.snapshot_trigger(t) for t in store.definitions.find(tx, "trigger", workflow_name=name)]
        props = {**wf.spec.get("default_run_properties", {}), **{str(k): str(v) for k, v in (run_properties or {}).items()}}
        run = WorkflowRun(store.new_id("wr"), name, None, _W.RUNNING.value, None, stamp, None, None, props, triggers)
        limit = wf.spec.get("max_concurrent_runs")
        if limit and store.workflow_runs.count_active(tx, name) >= limit:
            message = f"Concurrent runs exceeded for workflow: {name}."
            if direct:
                raise errors.ConcurrentRunsExceededException(message)
            store.workflow_runs.insert(tx, dataclasses.replace(run, status=_W.ERROR.value, error_message=message,
                                                               completed_on=stamp))
            return run.id
        store.workflow_runs.insert(tx, run)
        store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_STARTED, workflow_run_id=run.id)
    return run.id


def _run(tx: store.Tx, name: str | None, run_id: str) -> WorkflowRun:
    run = store.workflow_runs.get(tx, run_id)
    if run is None or (name and run.workflow_name != name):
        raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
    return run


def shape(tx: store.Tx, run: WorkflowRun, *, include_graph: bool) -> dict[str, Any]:
    """GetWorkflowRun's WorkflowRun of a row, read with its job runs and crawls."""
    job_runs = store.job_runs.of_workflow_run(tx, run.id)
    crawls = store.crawls.of_workflow_run(tx, run.id)
    return shapes.workflow_run(run, job_runs, crawls, include_graph=include_graph)


def get_workflow_run(db: store.Store, name: str | None, run_id: str, include_graph: bool = True) -> dict[str, Any]:
    with db.read() as tx:
        return shape(tx, _run(tx, name, run_id), include_graph=include_graph)


def get_workflow_runs(db: store.Store, name: str | None = None, include_graph: bool = False,
                      limit: int = 100) -> list[dict[str, Any]]:
    """GetWorkflowRuns, newest first (of every workflow when ``name`` is None)."""
    with db.read() as tx:
        if name:
            workflow(tx, name)
        return [shape(tx, run, include_graph=include_graph) for run in store.workflow_runs.find(tx, name, limit)]


def workflow_run_status(db: store.Store, run_id: str) -> str:
    """The run's Status alone (what a follower polls)."""
    with db.read() as tx:
        status = store.workflow_runs.status(tx, run_id)
    if status is None:
        raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
    return status


def stop_workflow_run(db: store.Store, name: str | None, run_id: str) -> None:
    """StopWorkflowRun: no trigger fires any more; active runs are stopped; STOPPING -> STOPPED."""
    with db.transaction() as tx:
        run = _run(tx, name, run_id)
        if not store.workflow_runs.set_status(tx, run_id, _W.STOPPING.value):
            raise errors.IllegalWorkflowStateException(
                f"Workflow run {run_id} is {run.status}, not RUNNING; it cannot be stopped"
            )
        for active in store.job_runs.of_workflow_run(tx, run_id, active=True):
            job_run.request_stop(tx, active)
        store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_STOPPING, workflow_run_id=run_id)


def get_workflow_run_properties(db: store.Store, name: str | None, run_id: str) -> dict[str, str]:
    with db.read() as tx:
        return dict(_run(tx, name, run_id).run_properties)


def put_workflow_run_properties(db: store.Store, name: str | None, run_id: str,
                                properties: Mapping[str, str]) -> None:
    """PutWorkflowRunProperties: upsert keys, under the run's row lock (so that jobs and other
    writers never lose each other's keys); only while the run is RUNNING or STOPPING."""
    with db.transaction() as tx:
        before = store.workflow_runs.merge_properties(tx, run_id, properties)
        if before is None or (name and before.workflow_name != name):
            raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
        if before.status not in store.workflow_runs.ACTIVE:
            raise errors.IllegalWorkflowStateException(f"Workflow run {run_id} is {before.status}")
