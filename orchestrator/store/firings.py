"""Trigger firings: at most one per trigger and scope, held by a unique key, not by care in the code."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from orchestrator.store import tables
from orchestrator.store.database import Tx, now

_t = tables.trigger_firings


@functools.cache
def _record(postgres: bool) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, in the dialect's own words (imported on use).
    RETURNING, not rowcount: psycopg reports rowcount -1 for this INSERT."""
    if postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(_t).on_conflict_do_nothing().returning(_t.c.id)


_FIRED = sa.select(_t.c.trigger_name).where(_t.c.scope == sa.bindparam("_scope"))


def record(tx: Tx, scope: str, trigger_name: str) -> bool:
    """Record that a trigger fired in a scope (a workflow run); False if it already had."""
    params = {"scope": scope, "trigger_name": trigger_name, "fired_on": now()}
    return tx.execute(_record(tx.is_postgres), params).first() is not None


def fired(tx: Tx, scope: str) -> set[str]:
    return set(tx.execute(_FIRED, {"_scope": scope}).scalars())
