"""Job runs in Glue's terms: admission (MaxConcurrentRuns, queuing), creation, completion with
retries, and stop requests. Shared by the service (StartJobRun, BatchStopJobRun) and the loop's
duties; a state change and its outbox event are written in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import definitions, errors, job_bookmark, store
from orchestrator.states import JobRunState
from orchestrator.store.definitions import Definition
from orchestrator.store.job_runs import JobRun, RunOptions

_J = JobRunState
DEFAULT_TIMEOUT = 2880 * 60.0  # Glue's default for GlueVersion <= 4.0, in seconds


@dataclasses.dataclass(frozen=True)
class Request:
    """One run to create, of ``job_name`` (created ERROR when the job no longer exists)."""

    job_name: str
    arguments: Mapping[str, str] = dataclasses.field(default_factory=dict)
    trigger_name: str | None = None
    workflow_run_id: str | None = None
    workflow_name: str | None = None
    predecessor_runs: Sequence[Mapping[str, str]] = ()
    attempt: int = 0
    previous_run_id: str | None = None
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    not_before: dt.datetime | None = None
    owner: str | None = None
    chain_id: str | None = None  # started along a chain of standalone triggers


def create(tx: store.Tx, requests: Sequence[Request], *, direct: bool) -> list[JobRun]:
    """Create job runs by Glue's admission rules, a few statements for any number of them.

    Over a job's ``MaxConcurrentRuns`` a direct start (StartJobRun) raises
    ConcurrentRunsExceededException and a trigger's start is recorded FAILED; with queuing
    enabled either waits in WAITING. A trigger naming a deleted job records an ERROR run, as
    Glue does. Runs that end at once write their completion events.
    """
    stamp = store.now()
    admission = store.job_runs.admission(tx, (r.job_name for r in requests))  # locked for this transaction
    occupied = Counter({name: slots for name, (_, slots) in admission.items()})
    runs = []
    for request in requests:
        job = admission.get(request.job_name)
        run = _admit(tx, request, job[0] if job else None, occupied, stamp, direct)
        if run.state == _J.STARTING.value:
            occupied[run.job_name] += 1
        runs.append(run)
    store.job_runs.insert(tx, runs)
    for run in runs:
        if run.terminal:
            completion_event(tx, run)
    return runs


def _admit(tx: store.Tx, request: Request, job: Definition | None, occupied: Counter[str], stamp: dt.datetime,
           direct: bool) -> JobRun:
    common: dict[str, Any] = {
        "id": store.new_id("jr"), "job_name": request.job_name, "created_on": stamp,
        "workflow_run_id": request.workflow_run_id, "workflow_name": request.workflow_name,
        "trigger_name": request.trigger_name, "attempt": request.attempt,
        "previous_run_id": request.previous_run_id, "arguments": dict(request.arguments),
        "predecessor_runs": [dict(p) for p in request.predecessor_runs], "not_before": request.not_before,
        "chain_id": request.chain_id,
    }  # fmt: skip
    if job is None:
        if direct:
            raise errors.EntityNotFoundException(f"Job {request.job_name} not found")
        return store.job_runs.new(
            state=_J.ERROR.value, completed_on=stamp, started_on=stamp,
            error_message=f"Job {request.job_name} does not exist (deleted?)", **common,
        )  # fmt: skip
    spec = job.spec
    options = run_options(spec, common["arguments"], request.overrides)
    common.update(command=spec["command"]["name"], options=options, timeout=options.timeout)
    if problem := job_bookmark.option_problem(tx, request.job_name, options.effective_arguments):
        if direct:
            raise errors.InvalidInputException(problem)
        return store.job_runs.new(state=_J.FAILED.value, started_on=stamp, completed_on=stamp, execution_time=0,
                                  error_message=problem, **common)
    limit = spec.get("execution_property", {}).get("max_concurrent_runs", 1)
    if request.attempt == 0 and occupied[request.job_name] >= limit:
        message = f"Concurrent runs exceeded for {request.job_name} (MaxConcurrentRuns {limit})"
        if options.job_run_queuing_enabled:  # a direct start waits too (Glue's job-run-statuses)
            return store.job_runs.new(state=_J.WAITING.value, state_detail=f"Waiting: MaxConcurrentRuns {limit} reached",
                                      **common)
        if direct:
            raise errors.ConcurrentRunsExceededException(message)
        return store.job_runs.new(state=_J.FAILED.value, started_on=stamp, completed_on=stamp, execution_time=0,
                                  error_message=message, **common)
    if request.not_before is not None and request.not_before > stamp:
        return store.job_runs.new(state=_J.WAITING.value, state_detail=f"Retry due at {request.not_before.isoformat()}",
                                  **common)
    return store.job_runs.new(state=_J.STARTING.value, owner=request.owner, **common)


def action_overrides(action: Mapping[str, Any]) -> dict[str, Any]:
    """What a trigger action sets for the runs it starts (over the job's own definition)."""
    return {"timeout": action.get("timeout"), "notification_property": action.get("notification_property")}


def run_options(spec: Mapping[str, Any], run_args: Mapping[str, str], overrides: Mapping[str, Any]) -> RunOptions:
    """What a run is started with, frozen at creation (a later UpdateJob does not change it)."""
    notification = overrides.get("notification_property") or spec.get("notification_property") or {}
    return RunOptions(
        script=spec["command"].get("script_location"),
        python_version=spec["command"].get("python_version"),
        effective_arguments=definitions.effective_arguments(
            spec.get("default_arguments", {}), run_args, spec.get("non_overridable_arguments", {})
        ),
        timeout=float(_seconds(overrides.get("timeout") or spec.get("timeout")) or DEFAULT_TIMEOUT),
        notify_delay_after=_seconds(notification.get("notify_delay_after")),
        max_retries=int(spec.get("max_retries", 0)),
        retry_policy=spec.get("retry_policy"),
        worker_type=overrides.get("worker_type") or spec.get("worker_type"),
        number_of_workers=overrides.get("number_of_workers") or spec.get("number_of_workers"),
        max_capacity=overrides.get("max_capacity") or spec.get("max_capacity"),
        job_run_queuing_enabled=bool(overrides.get("job_run_queuing_enabled",
                                                   spec.get("job_run_queuing_enabled", False))),
    )


def _seconds(value: Any) -> float | None:
    """Durations in a stored spec are text like "90s" (a bare number would read as minutes)."""
    if value is None or value == "":
        return None
    return float(value) if isinstance(value, int | float) else definitions.parse_duration(value)


def retry_delay(policy: Mapping[str, Any] | None, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based), by tenacity's exponential strategy."""
    initial = _seconds((policy or {}).get("initial_delay")) or 0.0
    if not initial or policy is None:
        return 0.0
    import tenacity

    wait = tenacity.wait_exponential(
        multiplier=initial, exp_base=float(policy.get("multiplier", 2)), max=_seconds(policy.get("max_delay")) or 300.0
    )
    jitter = _seconds(policy.get("jitter")) or 0.0

    class _State:
        attempt_number = attempt

    delay = float(wait(_State()))  # type: ignore[arg-type]
    return delay + ((rng or random).uniform(0, jitter) if jitter else 0.0)


def deadline(start: dt.datetime, seconds: float | None) -> dt.datetime:
    return start + dt.timedelta(seconds=float(seconds or DEFAULT_TIMEOUT))


def complete(
    tx: store.Tx, run: JobRun, state: JobRunState, *, error_message: str | None = None,
    stamp: dt.datetime | None = None,
) -> tuple[JobRun | None, JobRun | None]:
    """Record a run's end with its outbox event; create the retry it earns.

    Returns (the ended run, its retry); the ended run is None when nothing was written because
    the run had ended already (another process won). A run being stopped ends STOPPED, or
    TIMEOUT when the watchdog stopped it.
    """
    stamp = stamp or store.now()
    if run.stop_reason == _J.TIMEOUT.value and state in (_J.STOPPED, _J.FAILED):
        state = _J.TIMEOUT
        error_message = f"Job run timed out after {_minutes(run.timeout)}"
    elif run.stop_reason == _J.STOPPED.value and state is _J.FAILED:
        state = _J.STOPPED
    if state is _J.SUCCEEDED and (refused := job_bookmark.conflict(tx, run)):
        state, error_message = _J.FAILED, refused
    started = run.started_on or stamp
    values = {
        "completed_on": stamp, "execution_time": max(0, int((stamp - started).total_seconds())),
        "error_message": error_message, "timeout_at": None, "notify_at": None, "last_modified_on": stamp,
    }  # fmt: skip
    if not store.job_runs.set_state(tx, run.id, state.value, **values):
        return None, None
    done = run.replace(state=state.value, started_on=started, **values)
    if state is _J.SUCCEEDED:
        job_bookmark.promote(tx, run, stamp)
    else:
        job_bookmark.discard(tx, run)
    retry = None
    retries = state is _J.FAILED and run.attempt < run.options.max_retries
    if retries and store.definitions.get(tx, "job", run.job_name) is not None:  # a deleted job is not retried
        delay = retry_delay(run.options.retry_policy, run.attempt + 1)
        request = Request(
            run.job_name, arguments=run.arguments, trigger_name=run.trigger_name,
            workflow_run_id=run.workflow_run_id, workflow_name=run.workflow_name,
            predecessor_runs=run.predecessor_runs, attempt=run.attempt + 1, previous_run_id=run.id,
            overrides={"timeout": run.timeout}, not_before=stamp + dt.timedelta(seconds=delay) if delay else None,
            chain_id=run.chain_id,
        )  # fmt: skip
        retry = create(tx, [request], direct=False)[0]
    completion_event(tx, done, retry_id=retry.id if retry else None)
    return done, retry


def completion_event(tx: store.Tx, run: JobRun, retry_id: str | None = None) -> None:
    payload = {"job_name": run.job_name, "state": run.state, "error_message": run.error_message, "retry_id": retry_id}
    if run.chain_id:
        payload["chain_id"] = run.chain_id
    store.outbox.insert(tx, store.outbox.JOB_RUN_COMPLETED, workflow_run_id=run.workflow_run_id,
                        job_run_id=run.id, payload=payload)


def _minutes(seconds: float | None) -> str:
    if not seconds:
        return "its timeout"
    return f"{seconds:g} seconds" if seconds < 60 else f"{math.ceil(seconds / 60)} minutes"


def request_stop(tx: store.Tx, run: JobRun) -> bool:
    """Ask a run to stop: one never started ends STOPPED at once; a running one goes STOPPING
    for its owner to signal."""
    if run.state == _J.WAITING.value or (run.state == _J.STARTING.value and not run.owner):
        return complete(tx, run, _J.STOPPED)[0] is not None
    return store.job_runs.set_state(tx, run.id, _J.STOPPING.value, stop_reason=_J.STOPPED.value)


def promote_waiting(tx: store.Tx, job_name: str) -> list[str]:
    """Move queued (WAITING, no retry delay) runs of a job to STARTING while slots are free."""
    waiting = store.job_runs.queued(tx, job_name)
    if not waiting:
        return []
    job = store.definitions.get(tx, "job", job_name)
    if job is None:
        return []
    limit = job.spec.get("execution_property", {}).get("max_concurrent_runs", 1)
    free = limit - store.job_runs.occupied(tx, [job_name]).get(job_name, 0)
    return [
        run.id for run in waiting[: max(0, free)]
        if store.job_runs.set_state(tx, run.id, _J.STARTING.value, expect=[_J.WAITING.value], state_detail=None)
    ]  # fmt: skip
