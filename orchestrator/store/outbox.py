"""The outbox: every state change that others react to, written in the transaction that makes it.

The scheduler consumes events; ``claim`` locks them with SKIP LOCKED on PostgreSQL so that
several schedulers share the outbox without waiting for each other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, now

_t = tables.events

# Kinds of events.
JOB_RUN_COMPLETED = "JOB_RUN_COMPLETED"
CRAWL_COMPLETED = "CRAWL_COMPLETED"
NODE_SKIPPED = "NODE_SKIPPED"  # a resumed run's node the operator recorded SUCCEEDED
WORKFLOW_RUN_STARTED = "WORKFLOW_RUN_STARTED"
WORKFLOW_RUN_STOPPING = "WORKFLOW_RUN_STOPPING"
WORKFLOW_RUN_ENDED = "WORKFLOW_RUN_ENDED"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One outbox event; ``id`` is None for an event consumed in the transaction that wrote it."""

    kind: str
    workflow_run_id: str | None
    job_run_id: str | None
    payload: Mapping[str, Any]
    id: int | None = None
    created_on: dt.datetime | None = None


_BP = sa.bindparam
_INSERT = sa.insert(_t)
_UNPROCESSED = (
    sa.select(_t.c.kind, _t.c.workflow_run_id, _t.c.job_run_id, _t.c.payload, _t.c.id, _t.c.created_on)
    .where(_t.c.processed.is_(False)).order_by(_t.c.id).limit(_BP("_limit"))
)
_UNPROCESSED_IN_SCOPE = _UNPROCESSED.where(sa.or_(_t.c.workflow_run_id == _BP("_scope"), _t.c.job_run_id == _BP("_scope")))
_MARK = sa.update(_t).where(_t.c.id.in_(_BP("_ids", expanding=True))).values(processed=True)
_ANY = sa.select(_t.c.id).where(_t.c.processed.is_(False)).limit(1)
_ANY_OF_RUN = _ANY.where(_t.c.workflow_run_id == _BP("_run"))


def insert(tx: Tx, kind: str, *, workflow_run_id: str | None = None, job_run_id: str | None = None,
           payload: Mapping[str, Any] | None = None, processed: bool = False) -> Event:
    """Write an event. In a transaction with ``consumed`` set (the loop's), it is recorded
    processed and handed to the scheduler there, in this same transaction."""
    event = Event(kind, workflow_run_id, job_run_id, dict(payload or {}))
    local = tx.consumed is not None and not processed
    tx.execute(_INSERT, {"kind": kind, "workflow_run_id": workflow_run_id, "job_run_id": job_run_id,
                         "payload": event.payload, "created_on": now(), "processed": processed or local})
    if local:
        tx.consumed.append(event)  # type: ignore[union-attr]
    return event


def claim(tx: Tx, limit: int = 500, scope: str | None = None) -> list[Event]:
    """Unprocessed events, oldest first, of one workflow or job run with ``scope``; marked
    processed in this transaction (so a rollback hands them to the next claimer)."""
    query = _UNPROCESSED_IN_SCOPE if scope else _UNPROCESSED
    if tx.is_postgres:
        query = query.with_for_update(skip_locked=True)
    events = [Event(*row) for row in tx.execute(query, {"_limit": limit, "_scope": scope})]
    if events:
        tx.execute(_MARK, {"_ids": [e.id for e in events]})
    return events


def has_unprocessed(tx: Tx, workflow_run_id: str | None = None) -> bool:
    if workflow_run_id is None:
        return tx.execute(_ANY).first() is not None
    return tx.execute(_ANY_OF_RUN, {"_run": workflow_run_id}).first() is not None

