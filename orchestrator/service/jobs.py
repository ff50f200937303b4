"""Jobs (GetJob, GetJobs)."""

from __future__ import annotations

from typing import Any

from orchestrator import errors, store
from orchestrator.service import shapes


def _job(tx: store.Tx, name: str) -> store.definitions.Definition:
    row = store.definitions.get(tx, "job", name)
    if row is None:
        raise errors.EntityNotFoundException(f"Job {name} not found")
    return row


def get_job(db: store.Store, name: str) -> dict[str, Any]:
    with db.read() as tx:
        return shapes.definition(_job(tx, name))


def get_jobs(db: store.Store) -> list[dict[str, Any]]:
    with db.read() as tx:
        return [shapes.definition(row) for row in store.definitions.find(tx, "job")]
