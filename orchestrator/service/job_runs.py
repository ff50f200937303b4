"""Job runs (StartJobRun, GetJobRun, GetJobRuns, BatchStopJobRun) and their logs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from orchestrator import errors, job_run, store
from orchestrator.service import paging, remote, resources, shapes
from orchestrator.settings import Settings
from orchestrator.states import JobRunState

_J = JobRunState


@remote.callable(wakes=True)
def start_job_run(db: store.Store, job_name: str, arguments: Mapping[str, str] | None = None, *,
                  job_run_id: str | None = None, timeout: float | None = None,
                  notify_delay_after: float | None = None, worker_type: str | None = None,
                  number_of_workers: int | None = None, job_run_queuing_enabled: bool | None = None,
                  max_capacity: float | None = None) -> str:
    """StartJobRun; with ``job_run_id`` it is Glue's manual retry of that run (PreviousRunId).
    ``timeout`` and ``notify_delay_after`` are seconds."""
    overrides: dict[str, Any] = {"timeout": timeout, "worker_type": worker_type, "number_of_workers": number_of_workers,
                                 "max_capacity": max_capacity}
    if notify_delay_after:
        overrides["notification_property"] = {"notify_delay_after": notify_delay_after}
    if job_run_queuing_enabled is not None:
        overrides["job_run_queuing_enabled"] = job_run_queuing_enabled
    with db.transaction() as tx:
        resources.stored(tx, "job", job_name)
        if job_run_id:
            previous = store.job_runs.get(tx, job_run_id)
            if previous is None or previous.job_name != job_name:
                raise errors.EntityNotFoundException(f"Job run {job_run_id} of {job_name} not found")
            arguments = {**previous.arguments, **dict(arguments or {})}
        request = job_run.Request(job_name, arguments=dict(arguments or {}), previous_run_id=job_run_id,
                                  overrides=overrides)
        return job_run.create(tx, [request], direct=True)[0].id


def _run(tx: store.Tx, job_name: str | None, run_id: str) -> store.job_runs.JobRun:
    run = store.job_runs.get(tx, run_id)
    if run is None or (job_name and run.job_name != job_name):
        raise errors.EntityNotFoundException(f"Job run {run_id} not found")
    return run


@remote.callable
def get_job_run(db: store.Store, job_name: str | None, run_id: str, predecessors_included: bool = True) -> dict[str, Any]:
    """Glue's JobRun; ``PredecessorRuns`` only when asked for (GetJobRun's PredecessorsIncluded)."""
    with db.read(one_statement=True) as tx:
        return shapes.job_run(_run(tx, job_name, run_id), predecessors=predecessors_included)


@remote.callable
def get_job_runs(db: store.Store, job_name: str, next_token: str | None = None,
                 max_results: int | None = 200) -> dict[str, Any]:
    """GetJobRuns, newest first (as Glue returns them), a page at a time."""
    offset = paging.offset(next_token)
    with db.read() as tx:
        resources.stored(tx, "job", job_name)
        runs = store.job_runs.of_job(tx, job_name, max_results + 1 if max_results else None, offset)
    runs, token = paging.page_by_offset(runs, max_results, offset)
    return {"JobRuns": [shapes.job_run(r) for r in runs], **({"NextToken": token} if token else {})}


@remote.callable(wakes=True)
def batch_stop_job_run(db: store.Store, job_name: str, run_ids: Sequence[str]) -> dict[str, Any]:
    """BatchStopJobRun: per-id success or error, in one transaction."""
    ok: list[dict[str, str]] = []
    failed: list[dict[str, Any]] = []
    with db.transaction() as tx:
        runs = store.job_runs.get_many(tx, run_ids)
        for run_id in run_ids:
            run = runs.get(run_id)
            if run is None or run.job_name != job_name:
                failed.append(_stop_error(job_name, run_id, "EntityNotFoundException", "Job run not found"))
            elif run.terminal or run.state == _J.STOPPING.value:
                failed.append(_stop_error(job_name, run_id, "InvalidInputException",
                                          f"Job run is {run.state}, it cannot be stopped"))
            elif job_run.request_stop(tx, run):
                ok.append({"JobName": job_name, "JobRunId": run_id})
            else:
                failed.append(_stop_error(job_name, run_id, "ConcurrentModificationException", "Job run changed state"))
    return {"SuccessfulSubmissions": ok, "Errors": failed}


def _stop_error(job_name: str, run_id: str, code: str, message: str) -> dict[str, Any]:
    return {"JobName": job_name, "JobRunId": run_id, "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}


@remote.callable
def get_job_run_logs(db: store.Store, settings: Settings, run_id: str) -> Iterator[str]:
    """The run's log lines (stdout, then stderr), through its engine (an adhere extension)."""
    with db.read() as tx:
        run = store.job_runs.get(tx, run_id)
    if run is None:
        raise errors.EntityNotFoundException(f"Job run {run_id} not found")
    if not run.engine_run_id:
        return iter(())
    from engines import registry

    return registry.Registry(settings.home, settings.engine_options()).get(run.command).logs(run.engine_run_id)
