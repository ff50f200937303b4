"""Job bookmarks (GetJobBookmark, ResetJobBookmark), their history, and what a job's script
calls through the runtime API: its context at ``Job.init``, its listings, its ``commit()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator import errors, job_bookmark, store
from orchestrator.service import remote, resources
from orchestrator.store.bookmarks import Version


def entry(version: Version) -> dict[str, Any]:
    """Glue's JobBookmarkEntry."""
    out = {"JobName": version.job_name, "Version": version.version, "Run": version.run, "Attempt": version.attempt,
           "PreviousRunId": version.previous_run_id, "RunId": version.run_id, "JobBookmark": version.job_bookmark}
    return {k: v for k, v in out.items() if v is not None}


@remote.callable
def get_job_bookmark(db: store.Store, job_name: str, run_id: str | None = None) -> dict[str, Any]:
    """GetJobBookmark: the current entry, or the one a run committed."""
    with db.read() as tx:
        resources.stored(tx, "job", job_name)
        found = (store.bookmarks.committed_by(tx, job_name, run_id) if run_id
                 else store.bookmarks.latest(tx, job_name))
    if found is None:
        raise errors.EntityNotFoundException(f"Continuation for job {job_name} not found" if run_id is None
                                             else f"Job run {run_id} committed no bookmark of {job_name}")
    return {"JobBookmarkEntry": entry(found)}


@remote.callable
def reset_job_bookmark(db: store.Store, job_name: str, run_id: str | None = None) -> dict[str, Any]:
    """ResetJobBookmark: the next run reads everything, or (``run_id``) what came after that run.
    Output already written is not touched: only sources are tracked."""
    with db.transaction() as tx:
        resources.stored(tx, "job", job_name, lock=True)
        return {"JobBookmarkEntry": entry(job_bookmark.reset(tx, job_name, run_id))}


@remote.callable
def job_bookmark_history(db: store.Store, job_name: str, max_results: int | None = 100) -> dict[str, Any]:
    """Every version, newest first, with how it came (COMMIT, RESET, REWIND), when, and what the
    committing run's sources listed (adhere's)."""
    with db.read() as tx:
        resources.stored(tx, "job", job_name)
        found = store.bookmarks.history(tx, job_name, max_results)
    return {"JobBookmarkEntries": [{**entry(v), "Reason": v.reason, "CommittedOn": v.committed_on,
                                    **({"Listed": v.listed} if v.listed else {})} for v in found]}


def _run(tx: store.Tx, job_name: str, run_id: str) -> store.job_runs.JobRun:
    run = store.job_runs.get(tx, run_id)
    if run is None or run.job_name != job_name:
        raise errors.EntityNotFoundException(f"Job run {run_id} of {job_name} not found")
    return run


@remote.callable
def job_bookmark_context(db: store.Store, job_name: str, run_id: str) -> dict[str, Any]:
    """What ``Job.init`` starts from: mode, version, state, and the states bounding a pause
    window or a pinned re-run."""
    with db.read() as tx:
        return job_bookmark.context(tx, _run(tx, job_name, run_id))


@remote.callable
def record_job_bookmark_listing(db: store.Store, job_name: str, run_id: str, context: str, base_version: int,
                                listed_at_ms: int) -> dict[str, Any]:
    """When a run listed a source (the first time counts): what a pinned re-run reads again."""
    with db.transaction() as tx:
        _run(tx, job_name, run_id)
        store.bookmarks.record_listing(tx, run_id, context, job_name, base_version, listed_at_ms)
    return {}


@remote.callable
def commit_job_bookmark(db: store.Store, job_name: str, run_id: str, base_version: int, job_bookmark_text: str,
                        listed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``commit()``: stage the run's new state; its SUCCEEDED end makes it version ``Version``."""
    with db.transaction() as tx:
        run = _run(tx, job_name, run_id)
        try:
            version = job_bookmark.stage(tx, run, base_version, job_bookmark_text, dict(listed) if listed else None)
        except ValueError as exc:
            raise errors.InvalidInputException(f"JobBookmark is not a bookmark state: {exc}") from None
    return {"Staged": True, "Version": version}
