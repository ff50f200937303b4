"""The store: the one place state lives and the only code that speaks SQL (SQLAlchemy 2; SQLite
by default, PostgreSQL in production; the schema changes through alembic alone).

One module per entity, each a set of verbs over typed rows that take the caller's ``Tx``:
``store.job_runs.get(tx, run_id)``, ``store.firings.record(tx, scope, trigger)``.
"""

from __future__ import annotations

from orchestrator.store import (
    bookmarks,
    catalog,
    crawls,
    definitions,
    firings,
    job_runs,
    notifications,
    orchestrators,
    outbox,
    received_events,
    schedules,
    tags,
    wakeups,
    workflow_run_nodes,
    workflow_runs,
)
from orchestrator.store.database import HEAD_REVISION, Store, Tx, new_id, now, safe_url

__all__ = [
    "HEAD_REVISION",
    "Store",
    "Tx",
    "bookmarks",
    "catalog",
    "crawls",
    "definitions",
    "firings",
    "job_runs",
    "new_id",
    "notifications",
    "now",
    "orchestrators",
    "outbox",
    "received_events",
    "safe_url",
    "schedules",
    "tags",
    "wakeups",
    "workflow_run_nodes",
    "workflow_runs",
]
