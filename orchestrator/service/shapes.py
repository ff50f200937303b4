"""Rows to Glue's response shapes (JobRun, WorkflowRun, Job, Trigger, Workflow, Database, Table,
Partition, ...).

Datetimes stay datetimes here; the CLI and the HTTP API format them for their wire. Nothing
adhere keeps for itself (a trigger's compiled actions, say) leaves through these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import graph
from orchestrator.store.catalog import Database, Partition, Table, TableVersion
from orchestrator.store.crawls import Crawl
from orchestrator.store.definitions import Definition
from orchestrator.store.job_runs import TERMINAL, JobRun
from orchestrator.store.workflow_run_nodes import RunNode
from orchestrator.store.workflow_runs import WorkflowRun

INTERNAL_KEYS = ("AdhereActions",)


def _present(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if v is not None}


def job_run(run: JobRun, *, predecessors: bool = True) -> dict[str, Any]:
    """Glue's JobRun."""
    options = run.options
    out: dict[str, Any] = {
        "Id": run.id,
        "Attempt": run.attempt,
        "PreviousRunId": run.previous_run_id,
        "TriggerName": run.trigger_name,
        "JobName": run.job_name,
        "JobMode": "SCRIPT",
        "StartedOn": run.started_on or run.created_on,
        "LastModifiedOn": run.last_modified_on,
        "CompletedOn": run.completed_on if run.state in TERMINAL else None,
        "JobRunState": run.state,
        "Arguments": run.arguments,
        "ErrorMessage": run.error_message,
        "ExecutionTime": run.execution_time or 0,
        "Timeout": math.ceil(run.timeout / 60) if run.timeout else None,
        "WorkerType": options.worker_type,
        "NumberOfWorkers": options.number_of_workers,
        "MaxCapacity": options.max_capacity,
        "NotificationProperty": (
            {"NotifyDelayAfter": math.ceil(options.notify_delay_after / 60)} if options.notify_delay_after else None
        ),
        "LogGroupName": f"/adhere/{run.command or 'jobs'}",
        "StateDetail": run.state_detail,
        "JobRunQueuingEnabled": options.job_run_queuing_enabled,
        "PredecessorRuns": run.predecessor_runs if predecessors else None,
    }
    return _present(out)


def crawl(c: Crawl) -> dict[str, Any]:
    """Glue's Crawl (a node's CrawlerDetails)."""
    return _present({"State": c.state, "StartedOn": c.started_on, "CompletedOn": c.completed_on,
                     "ErrorMessage": c.error_message, "LogGroup": "/adhere/crawlers", "LogStream": c.crawler_name})


def definition(row: Definition) -> dict[str, Any]:
    """A stored definition as Get* returns it (Job, Workflow, Crawler), with its times."""
    return {**row.glue, "CreatedOn": row.created_on, "LastModifiedOn": row.last_modified_on}


def trigger(row: Definition) -> dict[str, Any]:
    """Glue's Trigger, with its current State."""
    return {**row.glue, "State": row.state}


def public(trig: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in trig.items() if k not in INTERNAL_KEYS}


def workflow_graph(triggers: Sequence[Mapping[str, Any]], job_runs: Sequence[JobRun] = (),
                   crawls: Sequence[Crawl] = ()) -> dict[str, Any]:
    """Glue's WorkflowGraph: nodes with their runs (none for GetWorkflow) and edges."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in job_runs:
        runs.setdefault(run.job_name, []).append(job_run(run))
    by_crawler: dict[str, list[dict[str, Any]]] = {}
    for c in crawls:
        by_crawler.setdefault(c.crawler_name, []).append(crawl(c))
    return graph.run_graph([public(t) for t in triggers], runs, by_crawler)


def workflow_run(run: WorkflowRun, job_runs: Sequence[JobRun], crawls: Sequence[Crawl],
                 *, include_graph: bool, carried: Sequence[RunNode] = ()) -> dict[str, Any]:
    """Glue's WorkflowRun; ``Statistics`` count each node once, by its latest run. A resumed
    run's carried nodes show the runs (in ``job_runs``/``crawls`` too) and the state an earlier
    run gave them, as Glue copies them; a node the operator skipped counts as SUCCEEDED."""
    latest_jobs = {r.job_name: r.state for r in job_runs if r.workflow_run_id == run.id}  # the last one wins
    latest_crawls = {c.crawler_name: c.state for c in crawls if c.workflow_run_id == run.id}
    for node in carried:
        latest = latest_jobs if node.node_type == "job" else latest_crawls
        if node.state and node.node_name not in latest:
            latest[node.node_name] = node.state
    out: dict[str, Any] = {
        "Name": run.workflow_name,
        "WorkflowRunId": run.id,
        "PreviousRunId": run.previous_run_id,
        "WorkflowRunProperties": run.run_properties,
        "StartedOn": run.started_on,
        "CompletedOn": run.completed_on,
        "Status": run.status,
        "ErrorMessage": run.error_message,
        "Statistics": graph.statistics(run.triggers, latest_jobs, latest_crawls),
        "StartingEventBatchCondition": run.starting_event_batch_condition,
    }
    if include_graph:
        out["Graph"] = workflow_graph(run.triggers, job_runs, crawls)
    return _present(out)


# --- the Data Catalog ----------------------------------------------------------------------------


def database(row: Database, catalog_id: str) -> dict[str, Any]:
    """Glue's Database: its DatabaseInput with the times and catalog Glue adds."""
    return {**row.definition, "Name": row.name, "CreateTime": row.create_time, "CatalogId": catalog_id}


def table(row: Table | TableVersion, catalog_id: str) -> dict[str, Any]:
    """Glue's Table (the current state, or an archived version): its TableInput with the
    database, times, version and catalog Glue adds. Lake Formation does not govern tables here."""
    name = row.name if isinstance(row, Table) else row.table_name
    return {**row.definition, "Name": name, "DatabaseName": row.database_name, "CreateTime": row.create_time,
            "UpdateTime": row.update_time, "VersionId": str(row.version_id), "CatalogId": catalog_id,
            "IsRegisteredWithLakeFormation": False}


def table_version(row: Table | TableVersion, catalog_id: str) -> dict[str, Any]:
    """Glue's TableVersion."""
    return {"Table": table(row, catalog_id), "VersionId": str(row.version_id)}


def partition(row: Partition, catalog_id: str, *, exclude_column_schema: bool = False) -> dict[str, Any]:
    """Glue's Partition; ``exclude_column_schema`` leaves out its StorageDescriptor's Columns
    (GetPartitions' ExcludeColumnSchema)."""
    out = {**row.definition, "Values": row.values, "DatabaseName": row.database_name,
           "TableName": row.table_name, "CreationTime": row.create_time, "CatalogId": catalog_id}
    descriptor = out.get("StorageDescriptor")
    if exclude_column_schema and isinstance(descriptor, Mapping) and "Columns" in descriptor:
        out["StorageDescriptor"] = {k: v for k, v in descriptor.items() if k != "Columns"}
    return out
