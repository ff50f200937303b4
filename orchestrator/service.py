"""The service layer: one function per Glue operation. The CLI, the HTTP API and the tests call
only these. Each operation is one transaction; store functions never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator import definitions, errors, graph, job_run, models, scheduler, store
from orchestrator.settings import Settings
from orchestrator.states import (
    JOB_RUN_ACTIVE,
    JOB_RUN_TERMINAL,
    JobRunState,
    TriggerType,
    WorkflowRunStatus,
)

Store = store.Store
_ACTIVE = [s.value for s in JOB_RUN_ACTIVE]


# --- definitions ---------------------------------------------------------------------------

def validate(paths: Sequence[Path]) -> definitions.Definitions:
    return definitions.load_files(paths)


def apply(db: Store, defs: definitions.Definitions, settings: Settings | None = None) -> list[tuple[str, str, str]]:
    """Create or update everything in ``defs`` in one transaction; returns (kind, name, outcome).

    Engines are checked first (a missing extra or Java is reported here, not at run time).
    """
    _check_engines(defs, settings)
    outcomes: list[tuple[str, str, str]] = []
    with db.transaction() as tx:
        for wf in defs.workflows:
            outcomes.append(("workflow", wf.name, store.upsert_definition(tx, "workflow", wf.name, {
                "definition": {"glue": wf.to_glue(), "spec": wf.model_dump(mode="json")}})))
        for job in defs.jobs:
            outcomes.append(("job", job.name, store.upsert_definition(tx, "job", job.name, {
                "definition": {"glue": job.to_glue(), "spec": job.model_dump(mode="json")}})))
        for crawler in defs.crawlers:
            outcomes.append(("crawler", crawler.name, store.upsert_definition(tx, "crawler", crawler.name, {
                "definition": {"glue": crawler.to_glue(), "spec": crawler.model_dump(mode="json")}})))
        for trig in defs.triggers:
            outcomes.append(("trigger", trig.name, store.upsert_definition(tx, "trigger", trig.name, {
                "workflow_name": trig.workflow_name, "type": trig.type.value, "state": _trigger_state(trig),
                "definition": {"glue": trig.to_glue(), "spec": trig.model_dump(mode="json")}})))
    return outcomes


def _trigger_state(trig: definitions.Trigger) -> str:
    if trig.type is TriggerType.ON_DEMAND:
        return "CREATED"
    return "ACTIVATED" if trig.start_on_creation else "CREATED"


def _check_engines(defs: definitions.Definitions, settings: Settings | None) -> None:
    from engines import registry

    problems: list[errors.Problem] = []
    settings = settings or Settings()
    home = settings.home / "engines"
    options = settings.engine_options()
    checked: dict[str, str | None] = {}
    for job in defs.jobs:
        command = job.command.name
        if command not in checked:
            try:
                registry.engine_class(command)(home / command, options.get(command)).check()
                checked[command] = None
            except errors.AdhereError as exc:
                checked[command] = exc.message
        if checked[command]:
            problems.append(errors.Problem(f"Jobs[{job.name}].Command.Name", str(checked[command])))
    if problems:
        raise errors.ValidationError(problems)


def _definition(db_or_tx: Any, kind: str, name: str) -> dict[str, Any]:
    row = store.get_definition(db_or_tx, kind, name)
    if row is None:
        raise errors.EntityNotFoundException(f"{kind.capitalize()} {name} not found")
    return row


def _with_times(row: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {**row["definition"]["glue"], **extra, "CreatedOn": row["created_on"], "LastModifiedOn": row["last_modified_on"]}


def get_job(db: Store, name: str) -> dict[str, Any]:
    with db.read() as conn:
        return _with_times(_definition(conn, "job", name))


def get_jobs(db: Store) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_with_times(r) for r in store.list_definitions(conn, "job")]


def get_triggers(db: Store, workflow_name: str | None = None) -> list[dict[str, Any]]:
    with db.read() as conn:
        where = {"workflow_name": workflow_name} if workflow_name else {}
        return [_trigger_glue(r) for r in store.list_definitions(conn, "trigger", **where)]


def _trigger_glue(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row["definition"]["glue"], "State": row["state"],
            "AdhereActions": row["definition"]["spec"]["actions"]}


def list_workflows(db: Store) -> list[str]:
    with db.read() as conn:
        return [r["name"] for r in store.list_definitions(conn, "workflow")]


def get_workflow(db: Store, name: str) -> dict[str, Any]:
    with db.read() as conn:
        row = _definition(conn, "workflow", name)
        triggers = [_trigger_glue(r) for r in store.list_definitions(conn, "trigger", workflow_name=name)]
        runs = store.list_workflow_runs(conn, name, limit=1)
    out = _with_times(row, Name=name)
    out["Graph"] = _public_graph(graph.run_graph(triggers, {}))
    if runs:
        out["LastRun"] = _workflow_run_glue(db, runs[0], include_graph=False)
    return out


# --- workflow runs -------------------------------------------------------------------------

def start_workflow_run(db: Store, name: str, run_properties: Mapping[str, str] | None = None,
                       *, direct: bool = True) -> str:
    """StartWorkflowRun: snapshot the trigger graph, record the run and its start event."""
    with db.transaction() as tx:
        wf = _definition(tx, "workflow", name)
        store.lock_definition(tx, "workflow", name)
        spec = wf["definition"]["spec"]
        run_id = store.new_id("wr")
        stamp = store.now()
        limit = spec.get("max_concurrent_runs")
        props = {**spec.get("default_run_properties", {}), **dict(run_properties or {})}
        triggers = [_trigger_glue(r) for r in store.list_definitions(tx, "trigger", workflow_name=name)]
        values = {"id": run_id, "workflow_name": name, "started_on": stamp, "run_properties": props,
                  "triggers": triggers, "status": WorkflowRunStatus.RUNNING.value}
        if limit and store.count_workflow_runs(tx, name, [WorkflowRunStatus.RUNNING.value,
                                                         WorkflowRunStatus.STOPPING.value]) >= limit:
            message = f"Concurrent runs exceeded for workflow: {name}."
            if direct:
                raise errors.ConcurrentRunsExceededException(message)
            store.insert_workflow_run(tx, **{**values, "status": WorkflowRunStatus.ERROR.value,
                                             "error_message": message, "completed_on": stamp})
            return run_id
        store.insert_workflow_run(tx, **values)
        store.insert_event(tx, scheduler.WORKFLOW_RUN_STARTED, workflow_run_id=run_id)
    return run_id


def _run(conn: Any, name: str | None, run_id: str) -> dict[str, Any]:
    run = store.get_workflow_run(conn, run_id)
    if run is None or (name and run["workflow_name"] != name):
        raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
    return run


def get_workflow_run(db: Store, name: str | None, run_id: str, include_graph: bool = True) -> dict[str, Any]:
    with db.read() as conn:
        run = _run(conn, name, run_id)
    return _workflow_run_glue(db, run, include_graph=include_graph)


def workflow_run_status(db: Store, run_id: str) -> str:
    """The run's Status alone (what a follower polls)."""
    with db.read() as conn:
        run = store.get_workflow_run_status(conn, run_id)
    if run is None:
        raise errors.EntityNotFoundException(f"Workflow run {run_id} not found")
    return run


def get_workflow_runs(db: Store, name: str | None = None, include_graph: bool = False,
                      limit: int = 100) -> list[dict[str, Any]]:
    with db.read() as conn:
        if name:
            _definition(conn, "workflow", name)
        runs = store.list_workflow_runs(conn, name, limit=limit)
    return [_workflow_run_glue(db, r, include_graph=include_graph) for r in runs]


def _workflow_run_glue(db: Store, run: Mapping[str, Any], include_graph: bool) -> dict[str, Any]:
    t = models.job_runs
    with db.read() as conn:
        rows = store.job_runs_where(conn, t.c.workflow_run_id == run["id"], order=t.c.created_on)
    by_job: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_job.setdefault(row["job_name"], []).append(row)
    latest = {name: runs[-1]["state"] for name, runs in by_job.items()}
    out: dict[str, Any] = {
        "Name": run["workflow_name"],
        "WorkflowRunId": run["id"],
        "PreviousRunId": run.get("previous_run_id"),
        "WorkflowRunProperties": run.get("run_properties") or {},
        "StartedOn": run["started_on"],
        "CompletedOn": run.get("completed_on"),
        "Status": run["status"],
        "ErrorMessage": run.get("error_message"),
        "Statistics": graph.statistics(run["triggers"], latest),
    }
    if include_graph:
        glue_runs = {name: [job_run.to_glue(r) for r in runs] for name, runs in by_job.items()}
        out["Graph"] = _public_graph(graph.run_graph(run["triggers"], glue_runs))
    return {k: v for k, v in out.items() if v is not None}


def _public_graph(g: dict[str, Any]) -> dict[str, Any]:
    for node in g["Nodes"]:
        trig = node.get("TriggerDetails", {}).get("Trigger")
        if trig:
            trig.pop("AdhereActions", None)
    return g


def stop_workflow_run(db: Store, name: str | None, run_id: str) -> None:
    """StopWorkflowRun: no trigger fires any more; active runs are stopped; STOPPING -> STOPPED."""
    with db.transaction() as tx:
        run = _run(tx, name, run_id)
        if not store.set_workflow_run_status(tx, run_id, WorkflowRunStatus.STOPPING):
            raise errors.IllegalWorkflowStateException(
                f"Workflow run {run_id} is {run['status']}, not RUNNING; it cannot be stopped"
            )
        t = models.job_runs
        for row in store.job_runs_where(tx, t.c.workflow_run_id == run_id, t.c.state.in_(_ACTIVE)):
            _request_stop(tx, row)
        store.insert_event(tx, scheduler.WORKFLOW_RUN_STOPPING, workflow_run_id=run_id)


def _request_stop(tx: store.Tx, row: Mapping[str, Any]) -> bool:
    state = JobRunState(row["state"])
    if state in (JobRunState.WAITING,) or (state is JobRunState.STARTING and not row["owner"]):
        job_run.complete(tx, row, JobRunState.STOPPED)  # never started: nothing to kill
        return True
    return store.set_job_run_state(tx, row["id"], JobRunState.STOPPING, stop_reason=JobRunState.STOPPED.value)


def get_workflow_run_properties(db: Store, name: str | None, run_id: str) -> dict[str, str]:
    with db.read() as conn:
        return dict(_run(conn, name, run_id).get("run_properties") or {})


def put_workflow_run_properties(db: Store, name: str | None, run_id: str, properties: Mapping[str, str]) -> None:
    """PutWorkflowRunProperties: upsert keys; only while the run is not finished."""
    with db.transaction() as tx:
        run = _run(tx, name, run_id)
        if run["status"] not in (WorkflowRunStatus.RUNNING.value, WorkflowRunStatus.STOPPING.value):
            raise errors.IllegalWorkflowStateException(f"Workflow run {run_id} is {run['status']}")
        props = {**(run.get("run_properties") or {}), **{str(k): str(v) for k, v in properties.items()}}
        store.update_workflow_run(tx, run_id, run_properties=props)


def find_run(db: Store, run_id: str) -> tuple[str, dict[str, Any]]:
    """("workflow", GetWorkflowRun) or ("job", GetJobRun) for an id of either kind."""
    with db.read() as conn:
        if store.get_workflow_run(conn, run_id):
            return "workflow", get_workflow_run(db, None, run_id)
        row = store.get_job_run(conn, run_id)
    if row is None:
        raise errors.EntityNotFoundException(f"Run {run_id} not found")
    return "job", job_run.to_glue(row)


# --- job runs ------------------------------------------------------------------------------

def start_job_run(db: Store, job_name: str, arguments: Mapping[str, str] | None = None, *,
                  job_run_id: str | None = None, timeout: float | None = None,
                  notify_delay_after: float | None = None, worker_type: str | None = None,
                  number_of_workers: int | None = None, job_run_queuing_enabled: bool | None = None) -> str:
    """StartJobRun; with ``job_run_id`` it is Glue's manual retry of that run (PreviousRunId)."""
    overrides: dict[str, Any] = {"timeout": timeout, "worker_type": worker_type,
                                 "number_of_workers": number_of_workers}
    if notify_delay_after:
        overrides["notification_property"] = {"notify_delay_after": notify_delay_after}
    if job_run_queuing_enabled is not None:
        overrides["job_run_queuing_enabled"] = job_run_queuing_enabled
    with db.transaction() as tx:
        job_row = _definition(tx, "job", job_name)
        previous = None
        if job_run_id:
            previous = store.get_job_run(tx, job_run_id)
            if previous is None or previous["job_name"] != job_name:
                raise errors.EntityNotFoundException(f"Job run {job_run_id} of {job_name} not found")
            arguments = {**previous["arguments"], **dict(arguments or {})}
        row = job_run.create(tx, job_name, job_row, arguments=arguments or {}, direct=True,
                             previous_run_id=job_run_id, overrides=overrides)
        return row["id"]


def get_job_run(db: Store, job_name: str | None, run_id: str) -> dict[str, Any]:
    with db.read() as conn:
        row = store.get_job_run(conn, run_id)
    if row is None or (job_name and row["job_name"] != job_name):
        raise errors.EntityNotFoundException(f"Job run {run_id} not found")
    return job_run.to_glue(row)


def get_job_runs(db: Store, job_name: str, limit: int = 200) -> list[dict[str, Any]]:
    """GetJobRuns, newest first (as Glue returns them)."""
    t = models.job_runs
    with db.read() as conn:
        _definition(conn, "job", job_name)
        rows = store.job_runs_where(conn, t.c.job_name == job_name, order=t.c.created_on.desc(), limit=limit)
    return [job_run.to_glue(r) for r in rows]


def batch_stop_job_run(db: Store, job_name: str, run_ids: Sequence[str]) -> dict[str, Any]:
    """BatchStopJobRun: per-id success or error, in one transaction."""
    ok: list[dict[str, str]] = []
    failed: list[dict[str, Any]] = []
    with db.transaction() as tx:
        for run_id in run_ids:
            row = store.get_job_run(tx, run_id)
            if row is None or row["job_name"] != job_name:
                failed.append(_stop_error(job_name, run_id, "EntityNotFoundException", "Job run not found"))
            elif JobRunState(row["state"]) in JOB_RUN_TERMINAL or row["state"] == JobRunState.STOPPING.value:
                failed.append(_stop_error(job_name, run_id, "InvalidInputException",
                                          f"Job run is {row['state']}, it cannot be stopped"))
            elif _request_stop(tx, row):
                ok.append({"JobName": job_name, "JobRunId": run_id})
            else:
                failed.append(_stop_error(job_name, run_id, "ConcurrentModificationException", "Job run changed state"))
    return {"SuccessfulSubmissions": ok, "Errors": failed}


def _stop_error(job_name: str, run_id: str, code: str, message: str) -> dict[str, Any]:
    return {"JobName": job_name, "JobRunId": run_id, "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}


def job_run_logs(db: Store, settings: Settings, run_id: str) -> Iterator[str]:
    """The run's log lines (stdout, then stderr), through its engine."""
    with db.read() as conn:
        row = store.get_job_run(conn, run_id)
    if row is None:
        raise errors.EntityNotFoundException(f"Job run {run_id} not found")
    if not row["engine_run_id"]:
        return iter(())
    from engines import registry

    return registry.Registry(settings.home, settings.engine_options()).get(row["command"]).logs(row["engine_run_id"])


def get_notifications(db: Store, limit: int = 100) -> list[dict[str, Any]]:
    with db.read() as conn:
        return store.list_notifications(conn, limit)


def serving_orchestrators(db: Store) -> list[dict[str, Any]]:
    """Live ``adhere serve`` processes on this store (by heartbeat)."""
    with db.read() as conn:
        rows = store.list_orchestrators(conn)
    limit = store.now() - dt.timedelta(seconds=15)
    return [r for r in rows if r["serving"] and r["heartbeat_on"] > limit]
