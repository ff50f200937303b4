"""Starting a workflow run: by StartWorkflowRun, or by its start trigger's schedule or event batch.

The run keeps a snapshot of the workflow's triggers (later changes to them do not reach it) and
is announced by its start event in the same transaction, which the scheduler consumes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from orchestrator import errors, store
from orchestrator.states import WorkflowRunStatus
from orchestrator.store.definitions import Definition
from orchestrator.store.workflow_runs import WorkflowRun

_W = WorkflowRunStatus


def snapshot_trigger(row: Definition) -> dict[str, Any]:
    """A trigger as a workflow run keeps it: Glue's shape plus the actions adhere runs."""
    return {**row.glue, "State": row.state, "AdhereActions": row.spec["actions"]}


def start(tx: store.Tx, name: str, run_properties: Mapping[str, Any] | None = None, *, direct: bool,
          batch_condition: Mapping[str, int] | None = None) -> WorkflowRun:
    """Record a RUNNING run of workflow ``name`` and its start event.

    Over the workflow's MaxConcurrentRuns a direct start raises ConcurrentRunsExceededException;
    a start by a trigger (``direct=False``) records the run in ERROR, as Glue does.
    """
    wf = store.definitions.get(tx, "workflow", name, lock=True)  # admission is serialised
    if wf is None:
        raise errors.EntityNotFoundException(f"Workflow {name} not found")
    stamp = store.now()
    triggers = [snapshot_trigger(t) for t in store.definitions.find(tx, "trigger", workflow_name=name)]
    props = {**wf.spec.get("default_run_properties", {}), **{str(k): str(v) for k, v in (run_properties or {}).items()}}
    run = WorkflowRun(store.new_id("wr"), name, None, _W.RUNNING.value, None, stamp, None, None, props, triggers,
                      dict(batch_condition) if batch_condition else None)
    if at_limit(tx, wf):
        message = f"Concurrent runs exceeded for workflow: {name}."
        if direct:
            raise errors.ConcurrentRunsExceededException(message)
        run = dataclasses.replace(run, status=_W.ERROR.value, error_message=message, completed_on=stamp)
        store.workflow_runs.insert(tx, run)
        return run
    store.workflow_runs.insert(tx, run)
    store.outbox.insert(tx, store.outbox.WORKFLOW_RUN_STARTED, workflow_run_id=run.id)
    return run


def at_limit(tx: store.Tx, wf: Definition) -> bool:
    limit = wf.spec.get("max_concurrent_runs")
    return bool(limit) and store.workflow_runs.count_active(tx, wf.name) >= limit
