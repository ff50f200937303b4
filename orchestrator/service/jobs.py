"""Jobs (CreateJob, UpdateJob, DeleteJob, GetJob, GetJobs, ListJobs, BatchGetJobs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator import store
from orchestrator.service import paging, remote, resources, shapes
from orchestrator.settings import Settings


def create_job(db: store.Store, settings: Settings, job: Mapping[str, Any]) -> dict[str, Any]:
    """CreateJob: a job named as no other (AlreadyExistsException), with its tags."""
    model = resources.load("job", job, settings)
    with db.transaction() as tx:
        resources.save(tx, "job", model, create=True)
    return {"Name": model.name}


def update_job(db: store.Store, settings: Settings, job_name: str, job_update: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateJob: the whole definition is replaced by ``job_update`` (Glue's JobUpdate); tags stay."""
    model = resources.load("job", {**job_update, "Name": job_name}, settings)
    with db.transaction() as tx:
        resources.save(tx, "job", model, create=False)
    return {"JobName": job_name}


@remote.callable
def delete_job(db: store.Store, job_name: str) -> dict[str, Any]:
    """DeleteJob: idempotent, as in Glue. Its runs stay in the history; triggers that still name
    it record an ERROR run when they fire (Glue's rule for a deleted job)."""
    with db.transaction() as tx:
        resources.remove(tx, "job", job_name)
    return {"JobName": job_name}


def get_job(db: store.Store, job_name: str) -> dict[str, Any]:
    with db.read(one_statement=True) as tx:
        return {"Job": shapes.definition(resources.stored(tx, "job", job_name))}


@remote.callable
def get_jobs(db: store.Store, next_token: str | None = None, max_results: int | None = None) -> dict[str, Any]:
    """GetJobs, in name order, a page at a time."""
    after = paging.decode(next_token)
    with db.read() as tx:
        rows = store.definitions.find(tx, "job", after=after[0] if after else None,
                                      limit=max_results + 1 if max_results else None)
    rows, token = paging.page(rows, max_results, lambda r: [r.name])
    return {"Jobs": [shapes.definition(r) for r in rows], **({"NextToken": token} if token else {})}


def list_jobs(db: store.Store, next_token: str | None = None, max_results: int | None = None,
              tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    """ListJobs: names, optionally only of jobs carrying every given tag."""
    return resources.list_names(db, "job", "JobNames", next_token, max_results, tags)


def batch_get_jobs(db: store.Store, job_names: Sequence[str]) -> dict[str, Any]:
    with db.read() as tx:
        found = store.definitions.get_many(tx, "job", job_names)
    return {"Jobs": [shapes.definition(found[n]) for n in dict.fromkeys(job_names) if n in found],
            "JobsNotFound": [n for n in dict.fromkeys(job_names) if n not in found]}


