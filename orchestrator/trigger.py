"""Firing a trigger outside a workflow run's graph: a standalone trigger's actions, or the start
of a workflow run by its start trigger's schedule or event batch.

Standalone triggers follow Glue's chain rule: the jobs and crawlers a scheduled or on-demand
trigger starts carry a new chain id, the conditional triggers that watch them fire only on
completions that carry one, and what they start inherits it. So a StartJobRun never fires a
conditional trigger, and each chain is evaluated like an implicit workflow run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator import crawl, job_run, store, workflow_run
from orchestrator.store.definitions import Definition
from orchestrator.store.job_runs import JobRun
from orchestrator.store.workflow_runs import WorkflowRun


def fire_standalone(tx: store.Tx, row: Definition, *, direct: bool = False, chain_id: str | None = None,
                    predecessor_runs: Sequence[Mapping[str, str]] = ()) -> list[JobRun]:
    """Start a standalone trigger's jobs and crawlers, on a new chain unless ``chain_id`` continues
    one. Over a job's MaxConcurrentRuns a ``direct`` start (StartTrigger) raises; a scheduled or
    conditional one records the run FAILED, with Glue's message."""
    chain = chain_id or store.new_id("ch")
    requests = []
    for action in row.spec.get("actions") or []:
        if action.get("crawler_name") and not action.get("job_name"):
            crawl.start(tx, action["crawler_name"], trigger_name=row.name, chain_id=chain)
            continue
        requests.append(job_run.Request(
            action["job_name"], arguments=action.get("arguments") or {}, trigger_name=row.name,
            overrides=job_run.action_overrides(action), predecessor_runs=predecessor_runs, chain_id=chain,
        ))  # fmt: skip
    return job_run.create(tx, requests, direct=direct) if requests else []


def start_workflow(tx: store.Tx, row: Definition, run_properties: Mapping[str, str] | None = None,
                   batch_condition: Mapping[str, int] | None = None) -> WorkflowRun:
    """A workflow's start trigger fired on its own (schedule, event batch): a run in ERROR when
    the workflow is at MaxConcurrentRuns, as Glue records it."""
    assert row.workflow_name is not None
    return workflow_run.start(tx, row.workflow_name, run_properties, direct=False, batch_condition=batch_condition)
