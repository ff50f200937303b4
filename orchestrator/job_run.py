"""Job runs: admission (concurrency, queuing), creation, completion with retries, Glue's JobRun shape.

Shared by the service (StartJobRun) and the scheduler (trigger actions). Functions take the
caller's transaction; the state change and its outbox event are written together.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import definitions, errors, store
from orchestrator.states import JOB_RUN_ACTIVE, JOB_RUN_TERMINAL, JobRunState

COMPLETED = "JOB_RUN_COMPLETED"
# States that hold one of a job's MaxConcurrentRuns slots (WAITING runs are queued, not running).
_OCCUPYING = [s.value for s in JOB_RUN_ACTIVE if s is not JobRunState.WAITING]
DEFAULT_TIMEOUT = 2880 * 60.0  # Glue's default for GlueVersion <= 4.0, in seconds


def job_spec(job_row: Mapping[str, Any]) -> dict[str, Any]:
    return job_row["definition"]["spec"]


def create(
    tx: store.Tx,
    job_name: str,
    job_row: Mapping[str, Any] | None,
    *,
    arguments: Mapping[str, str] | None = None,
    direct: bool,
    trigger_name: str | None = None,
    workflow_run: Mapping[str, Any] | None = None,
    predecessor_runs: Sequence[Mapping[str, str]] = (),
    attempt: int = 0,
    previous_run_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    not_before: dt.datetime | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Create a job run, applying Glue's admission rules; returns the new row.

    A direct start over ``MaxConcurrentRuns`` raises ConcurrentRunsExceededException; a
    trigger start is recorded FAILED; with queuing enabled, either waits in WAITING. A
    trigger naming a deleted job records an ERROR run, as Glue does.
    """
    overrides = dict(overrides or {})
    stamp = store.now()
    run_id = store.new_id("jr")
    values: dict[str, Any] = {
        "id": run_id,
        "job_name": job_name,
        "workflow_run_id": workflow_run["id"] if workflow_run else None,
        "workflow_name": workflow_run["workflow_name"] if workflow_run else None,
        "trigger_name": trigger_name,
        "attempt": attempt,
        "previous_run_id": previous_run_id,
        "arguments": dict(arguments or {}),
        "predecessor_runs": [dict(p) for p in predecessor_runs],
        "created_on": stamp,
        "not_before": not_before,
    }
    if job_row is None:
        if direct:
            raise errors.EntityNotFoundException(f"Job {job_name} not found")
        values.update(
            state=JobRunState.ERROR.value, command="", completed_on=stamp, started_on=stamp,
            error_message=f"Job {job_name} does not exist (deleted?)",
        )
        store.insert_job_run(tx, **values)
        _completion_event(tx, values)
        return values
    spec = job_spec(job_row)
    values["command"] = spec["command"]["name"]
    values["options"] = _options(spec, values["arguments"], overrides)
    values["timeout"] = values["options"]["timeout"]
    store.lock_definition(tx, "job", job_name)
    limit = spec.get("execution_property", {}).get("max_concurrent_runs", 1)
    queuing = overrides.get("job_run_queuing_enabled", spec.get("job_run_queuing_enabled", False))
    if attempt == 0 and store.count_active_job_runs(tx, job_name, _OCCUPYING) >= limit:
        if direct and not queuing:  # with queuing, a direct start waits too (Glue's job-run-statuses)
            raise errors.ConcurrentRunsExceededException(
                f"Concurrent runs exceeded for {job_name} (MaxConcurrentRuns {limit})"
            )
        if queuing:
            values.update(state=JobRunState.WAITING.value, state_detail=f"Waiting: MaxConcurrentRuns {limit} reached")
        else:
            values.update(
                state=JobRunState.FAILED.value, started_on=stamp, completed_on=stamp, execution_time=0,
                error_message=f"Concurrent runs exceeded for {job_name} (MaxConcurrentRuns {limit})",
            )
            store.insert_job_run(tx, **values)
            _completion_event(tx, values)
            return values
    elif not_before is not None and not_before > stamp:
        values.update(state=JobRunState.WAITING.value, state_detail=f"Retry due at {not_before.isoformat()}")
    else:
        values.update(state=JobRunState.STARTING.value, owner=owner)
    store.insert_job_run(tx, **values)
    return values


def _options(spec: Mapping[str, Any], run_args: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """What the run is started with, frozen at creation (a later UpdateJob does not change it)."""
    timeout = _seconds(overrides.get("timeout") or spec.get("timeout")) or DEFAULT_TIMEOUT
    notification = overrides.get("notification_property") or spec.get("notification_property") or {}
    return {
        "script": spec["command"].get("script_location"),
        "python_version": spec["command"].get("python_version"),
        "effective_arguments": definitions.effective_arguments(
            spec.get("default_arguments", {}), run_args, spec.get("non_overridable_arguments", {})
        ),
        "timeout": float(timeout),
        "notify_delay_after": _seconds(notification.get("notify_delay_after")),
        "max_retries": int(spec.get("max_retries", 0)),
        "retry_policy": spec.get("retry_policy"),
        "worker_type": overrides.get("worker_type") or spec.get("worker_type"),
        "number_of_workers": overrides.get("number_of_workers") or spec.get("number_of_workers"),
        "max_capacity": spec.get("max_capacity"),
        "job_run_queuing_enabled": overrides.get("job_run_queuing_enabled", spec.get("job_run_queuing_enabled", False)),
    }


def _seconds(value: Any) -> float | None:
    """Durations in a stored spec are text like "90s" (a bare number would read as minutes)."""
    if value is None or value == "":
        return None
    return float(value) if isinstance(value, int | float) else definitions.parse_duration(value)


def retry_delay(policy: Mapping[str, Any] | None, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based), by tenacity's exponential strategy."""
    initial = _seconds((policy or {}).get("initial_delay")) or 0.0
    if not initial:
        return 0.0
    import tenacity

    wait = tenacity.wait_exponential(
        multiplier=initial, exp_base=float(policy.get("multiplier", 2)),  # type: ignore[union-attr]
        max=_seconds(policy.get("max_delay")) or 300.0,  # type: ignore[union-attr]
    )
    jitter = _seconds(policy.get("jitter")) or 0.0  # type: ignore[union-attr]

    class _State:
        attempt_number = attempt

    delay = float(wait(_State()))  # type: ignore[arg-type]
    return delay + ((rng or random).uniform(0, jitter) if jitter else 0.0)


def complete(
    tx: store.Tx,
    run: Mapping[str, Any],
    state: JobRunState,
    *,
    error_message: str | None = None,
    stamp: dt.datetime | None = None,
    events_out: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Record a run's end with its outbox event; start the retry it earns.

    Returns (the ended run, its retry); the ended run is None when nothing was written
    because the run was already terminal (another process won). With ``events_out`` the
    event is written already consumed and appended there: the caller hands it to the
    scheduler within this same transaction.
    """
    stamp = stamp or store.now()
    if run.get("stop_reason") == JobRunState.TIMEOUT.value and state in (JobRunState.STOPPED, JobRunState.FAILED):
        state = JobRunState.TIMEOUT
        error_message = f"Job run timed out after {_minutes(run.get('timeout'))}"
    elif run.get("stop_reason") == JobRunState.STOPPED.value and state is JobRunState.FAILED:
        state = JobRunState.STOPPED
    started = run.get("started_on") or stamp
    values = {
        "completed_on": stamp,
        "execution_time": max(0, int((stamp - started).total_seconds())),
        "error_message": error_message,
        "timeout_at": None,
        "notify_at": None,
        "stamp": stamp,
    }
    if not store.set_job_run_state(tx, run["id"], state, **values):
        return None, None
    done = {**run, **values, "state": state.value}
    retry = None
    options = run.get("options") or {}
    if state is JobRunState.FAILED and run["attempt"] < options.get("max_retries", 0):
        job_row = store.get_definition(tx, "job", run["job_name"])
        if job_row is not None:
            delay = retry_delay(options.get("retry_policy"), run["attempt"] + 1)
            retry = create(
                tx, run["job_name"], job_row, arguments=run["arguments"], direct=False,
                trigger_name=run.get("trigger_name"),
                workflow_run=_workflow_ref(run), predecessor_runs=run.get("predecessor_runs") or (),
                attempt=run["attempt"] + 1, previous_run_id=run["id"],
                overrides={"timeout": run.get("timeout")},
                not_before=stamp + dt.timedelta(seconds=delay) if delay else None,
            )
    event = _completion_event(tx, done, retry_id=retry["id"] if retry else None, consumed=events_out is not None)
    if events_out is not None:
        events_out.append(event)
    return done, retry


def _workflow_ref(run: Mapping[str, Any]) -> dict[str, Any] | None:
    if not run.get("workflow_run_id"):
        return None
    return {"id": run["workflow_run_id"], "workflow_name": run["workflow_name"]}


def _minutes(seconds: float | None) -> str:
    if not seconds:
        return "its timeout"
    return f"{seconds:g} seconds" if seconds < 60 else f"{math.ceil(seconds / 60)} minutes"


def _completion_event(
    tx: store.Tx, run: Mapping[str, Any], retry_id: str | None = None, consumed: bool = False
) -> dict[str, Any]:
    event = {
        "kind": COMPLETED, "workflow_run_id": run.get("workflow_run_id"), "job_run_id": run["id"],
        "payload": {"job_name": run["job_name"], "state": run["state"], "error_message": run.get("error_message"),
                    "retry_id": retry_id},
    }
    store.insert_event(tx, processed=consumed, **event)
    return event


def to_glue(row: Mapping[str, Any], *, predecessors: bool = True) -> dict[str, Any]:
    """Glue's JobRun shape (datetimes stay datetimes; the CLI and API format them)."""
    options = row.get("options") or {}
    out: dict[str, Any] = {
        "Id": row["id"],
        "Attempt": row["attempt"],
        "PreviousRunId": row.get("previous_run_id"),
        "TriggerName": row.get("trigger_name"),
        "JobName": row["job_name"],
        "JobMode": "SCRIPT",
        "StartedOn": row.get("started_on") or row.get("created_on"),
        "LastModifiedOn": row.get("last_modified_on"),
        "CompletedOn": row.get("completed_on") if row["state"] in _TERMINAL_VALUES else None,
        "JobRunState": row["state"],
        "Arguments": row.get("arguments") or {},
        "ErrorMessage": row.get("error_message"),
        "ExecutionTime": row.get("execution_time") or 0,
        "Timeout": math.ceil(row["timeout"] / 60) if row.get("timeout") else None,
        "WorkerType": options.get("worker_type"),
        "NumberOfWorkers": options.get("number_of_workers"),
        "MaxCapacity": options.get("max_capacity"),
        "NotificationProperty": (
            {"NotifyDelayAfter": math.ceil(options["notify_delay_after"] / 60)}
            if options.get("notify_delay_after") else None
        ),
        "LogGroupName": f"/adhere/{row.get('command') or 'jobs'}",
        "StateDetail": row.get("state_detail"),
        "JobRunQueuingEnabled": options.get("job_run_queuing_enabled"),
    }
    if predecessors:
        out["PredecessorRuns"] = row.get("predecessor_runs") or []
    return {k: v for k, v in out.items() if v is not None}


_TERMINAL_VALUES = frozenset(s.value for s in JOB_RUN_TERMINAL)


def promote_waiting(tx: store.Tx, job_name: str) -> list[str]:
    """Move queued (WAITING, no retry delay) runs of a job to STARTING while slots are free."""
    from orchestrator import models

    t = models.job_runs
    waiting = store.job_runs_where(tx, t.c.job_name == job_name, t.c.state == JobRunState.WAITING.value,
                                   t.c.not_before.is_(None))
    if not waiting:
        return []
    job_row = store.get_definition(tx, "job", job_name)
    if job_row is None:
        return []
    limit = job_spec(job_row).get("execution_property", {}).get("max_concurrent_runs", 1)
    free = limit - store.count_active_job_runs(tx, job_name, _OCCUPYING)
    promoted = []
    for row in waiting[: max(0, free)]:
        if store.set_job_run_state(tx, row["id"], JobRunState.STARTING, expect=[JobRunState.WAITING.value],
                                   state_detail=None):
            promoted.append(row["id"])
    return promoted
